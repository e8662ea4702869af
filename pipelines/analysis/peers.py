"""Who is compared with whom.

Only territorial forces of England and Wales are compared, unless a peer group names others. Areas
that are not comparable by default (`comparable_by_default` in `forces.csv`: City of London) are
shown but never ranked and never in a benchmark, unless a reviewer includes them. A force enters a
benchmark only if it supplied every period of the window. Peer groups narrow each force's benchmark:
`all`, `region`, `nearest`, or groups read from a file.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from pipelines import reference
from pipelines.analysis.windows import Window, supplied_periods


@cache
def force_names() -> dict[str, str]:
    forces = reference.forces()
    return dict(zip(forces["force_id"], forces["short_name"]))


@cache
def territorial() -> frozenset[str]:
    forces = reference.forces()
    return frozenset(forces.filter(pl.col("is_territorial_ew"))["force_id"])


def not_comparable() -> dict[str, str]:
    """Areas left out of rankings and benchmarks by default, with the reason."""
    forces = reference.forces().filter(~pl.col("comparable_by_default"))
    return dict(zip(forces["force_id"], forces["comparability_note"]))


def compared_forces(
    con: duckdb.DuckDBPyConnection, source: str, window: Window, include: frozenset[str] = frozenset()
) -> set[str]:
    """Territorial forces that may enter a benchmark for the window: comparable by default (or
    included) and supplying every period of it."""
    supplied = supplied_periods(con, source)
    inside = supplied.filter(pl.col("period_grain") == window.period_grain)
    if window.is_single_period:
        inside = inside.filter(pl.col("period") == window.start)
    else:
        inside = inside.filter((pl.col("period") >= window.start) & (pl.col("period") < window.end))
    counts = inside.group_by("force_id").agg(pl.col("period").n_unique().alias("n"))
    complete = set(counts.filter(pl.col("n") >= window.periods_expected)["force_id"])
    excluded = not_comparable()
    return {f for f in complete & territorial() if f not in excluded or f in include}


def screen_status(force: str, pool: set[str], include: frozenset[str]) -> str:
    """`non_comparable`, `incomplete` (not in the benchmark `pool`) or `ranked`."""
    if force in not_comparable() and force not in include:
        return "non_comparable"
    return "ranked" if force in pool else "incomplete"


# --- peer groups -------------------------------------------------------------------------------------------


def peer_groups(con: duckdb.DuckDBPyConnection, kind: str, k: int = 7) -> dict[str, list[str]] | None:
    """Peers per force: `all` (None: every other territorial force), `region` (the force's ONS region),
    `nearest` (the k forces nearest by offence mix and log population), or a CSV file of group_id,force_id
    (each force's peers are the rest of its groups)."""
    if kind == "all":
        return None
    if kind == "region":
        return region_peers()
    if kind == "nearest":
        return nearest_peers(con, k)
    return peers_from_file(kind)


def region_peers() -> dict[str, list[str]]:
    """Each territorial force's peers: the territorial forces of its ONS region (itself among them)."""
    forces = reference.forces().filter(pl.col("is_territorial_ew"))
    return {
        f: forces.filter(pl.col("region") == r)["force_id"].to_list()
        for f, r in zip(forces["force_id"], forces["region"])
    }


def nearest_peers(con: duckdb.DuckDBPyConnection, k: int = 7) -> dict[str, list[str]]:
    """Each territorial force's k nearest forces by offence mix (the latest ONS rolling year, fraud
    excluded) and log population, every feature on one scale."""
    features = con.sql("""
        with mix as (
            select force_id, category, sum(offence_count) as n from recorded_crime
            where source = 'ons_rec_crime_pfa' and scheme = 'ons_offence_group' and category <> 'Fraud offences'
              and period = (select max(period) from recorded_crime where source = 'ons_rec_crime_pfa')
            group by all
        ),
        shares as (select force_id, category, n / sum(n) over (partition by force_id) as share from mix),
        pop as (select force_id, ln(arg_max(population, year)) as log_population from population group by force_id)
        select * from shares left join pop using (force_id)
    """).pl()
    if features.height == 0:
        raise ValueError("nearest peers need the ONS rolling-year offence counts and population: ingest them first")
    wide = features.pivot(on="category", index=["force_id", "log_population"], values="share").fill_null(0)
    wide = wide.filter(pl.col("force_id").is_in(sorted(territorial()))).sort("force_id")
    matrix = wide.drop("force_id").fill_null(strategy="mean").to_numpy().astype(float)
    scale = matrix.std(axis=0)
    matrix = (matrix - matrix.mean(axis=0)) / np.where(scale > 0, scale, 1)  # each feature on one scale
    forces = wide["force_id"].to_list()
    distances = np.linalg.norm(matrix[:, None, :] - matrix[None, :, :], axis=2)
    return {f: [forces[j] for j in np.argsort(distances[i]) if j != i][:k] for i, f in enumerate(forces)}


def peers_from_file(kind: str) -> dict[str, list[str]]:
    """Each force's peers from a CSV file of group_id,force_id: the other members of its groups."""
    path = Path(kind)
    if not path.exists():
        raise ValueError(f"peer group {kind!r}: not 'all', 'region', 'nearest' or a CSV file of group_id,force_id")
    groups = pl.read_csv(path, infer_schema=False)
    resolved = groups.with_columns(reference.force_id_of(pl.col("force_id")).alias("resolved"))
    unknown = resolved.filter(pl.col("resolved").is_null())["force_id"].to_list()
    if unknown:
        raise ValueError(f"{path}: unknown forces {unknown}")
    peers: dict[str, set[str]] = {}
    for _, members in resolved.group_by("group_id"):
        ids = members["resolved"].to_list()
        for force in ids:
            peers.setdefault(force, set()).update(ids)
    return {f: sorted(p - {f}) for f, p in peers.items()}
