"""Case-mix adjusted outcome ratios (indirect standardisation of police.uk last outcomes).

A force's expected outcomes of a group are Σ_k crimes_fk × rate_k, the rate per crime type among the
force's peers (the comparable, complete forces); observed ÷ expected has limits that allow for
between-force spread (a DerSimonian–Laird τ² on the log ratio), as the findings' funnels do.
"""

from __future__ import annotations

import duckdb
import numpy as np
import polars as pl

from pipelines.analysis import stats
from pipelines.analysis.counts import by_category, outcome_counts
from pipelines.analysis.peers import compared_forces, screen_status, territorial
from pipelines.analysis.windows import Window


def outcome_ratios(
    con: duckdb.DuckDBPyConnection,
    source: str,
    window: Window,
    peers: dict[str, list[str]] | None = None,
    include: frozenset[str] = frozenset(),
) -> pl.DataFrame:
    """For each outcome group: observed ÷ expected per force, expected from the force's crimes with a
    usable outcome by crime type and its peers' rate of that outcome per crime type (the comparable,
    complete forces; `peers` narrows them). Limits allow for between-force spread (a DerSimonian–Laird
    τ² on the log ratio, fitted on the compared forces), as the findings' funnels do."""
    long = outcome_counts(con, source, window).filter(pl.col("force_id").is_in(list(territorial())))
    if long.height == 0:
        return pl.DataFrame()
    forces, categories, exposure = by_category(long, aggregate="sum")
    pool = compared_forces(con, source, window, include)
    pooled = np.array([f in pool for f in forces])
    reference = reference_forces(forces, pool, peers)
    rows = []
    for group in sorted(long["outcome_group"].unique().to_list()):
        events = group_events(long.filter(pl.col("outcome_group") == group), forces, categories)
        result = stats.indirect_standardisation(events, exposure, reference=reference, fit_units=pooled)
        for i, force in enumerate(forces):
            rows.append(
                {
                    "outcome_group": group,
                    "force_id": force,
                    "window_start": window.start,
                    "window_end": window.end,
                    "observed": float(result.observed[i]),
                    "expected": float(result.expected[i]),
                    "standardised_ratio": float(result.ratio[i]),
                    "ratio_lower": float(result.lower[i]),
                    "ratio_upper": float(result.upper[i]),
                    "ratio_lower_poisson": float(result.lower_poisson[i]),
                    "ratio_upper_poisson": float(result.upper_poisson[i]),
                    "tau2": float(result.tau2),
                    "status": screen_status(force, pool, include),
                }
            )
    return pl.DataFrame(rows)


def reference_forces(forces: list[str], pool: set[str], peers: dict[str, list[str]] | None) -> np.ndarray:
    """forces × forces: True where the column's force is in the row's force's reference (its peers
    among the `pool` of comparable, complete forces, every one of them if `peers` is None; never itself)."""
    index = {f: i for i, f in enumerate(forces)}
    reference = np.zeros((len(forces), len(forces)), dtype=bool)
    for i, force in enumerate(forces):
        members = pool if peers is None else set(peers.get(force, [])) & pool
        for other in members - {force}:
            if other in index:
                reference[i, index[other]] = True
    return reference


def group_events(long: pl.DataFrame, forces: list[str], categories: list[str]) -> np.ndarray:
    """forces × categories counts of one outcome group (long: force_id, category, n), zero where a
    force or a crime type has none."""
    events = long.pivot(on="category", index="force_id", values="n").fill_null(0)
    events = pl.DataFrame({"force_id": forces}).join(events, on="force_id", how="left").fill_null(0)
    for c in categories:
        if c not in events.columns:
            events = events.with_columns(pl.lit(0).alias(c))
    return events.select(categories).to_numpy().astype(float)
