"""Mix divergence and homogeneity: how far each force's offence or outcome mix departs from its peers'.

Each force's Jensen–Shannon distance is measured from the pooled mix of the comparable, complete
forces without it, and calibrated against a Dirichlet-multinomial null fitted to those forces' own
spread, so an ordinary force gets an ordinary p-value; the multinomial ("chance alone") p-value is
kept beside it. Homogeneity (chi-square, Cramér's V, adjusted residuals) is tested across the
comparable, complete forces.
"""

from __future__ import annotations

import duckdb
import numpy as np
import polars as pl

from pipelines.analysis import stats
from pipelines.analysis.counts import by_category, mix_counts
from pipelines.analysis.indicators import Mix
from pipelines.analysis.peers import compared_forces, screen_status, territorial
from pipelines.analysis.windows import Window, window_for


def mix_findings(
    con: duckdb.DuckDBPyConnection, mixes: list[Mix], windows: dict[str, Window], include: frozenset[str] = frozenset()
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(per force distance, per force × category detail, per mix homogeneity) for every mix, each in
    its source's window (`windows`, filled with the standard window of every source it lacks)."""
    per_force, per_category, per_mix = [], [], []
    for mix in mixes:
        window = window_for(con, mix.source, windows)
        if window is None:
            continue
        long = mix_counts(con, mix, window).filter(pl.col("force_id").is_in(list(territorial())))
        if long.height == 0:
            continue
        forces, categories, table = by_category(long)
        keep = table.sum(axis=1) > 0
        forces, table = [f for f, k in zip(forces, keep) if k], table[keep]
        pool = compared_forces(con, mix.source, window, include)
        pooled = np.array([f in pool for f in forces])
        if pooled.sum() < 3:
            continue
        homogeneity, residuals = mix_homogeneity(mix, window, table, pooled)
        per_mix.append(homogeneity)
        for i, force in enumerate(forces):
            force_row, category_rows = force_divergence(mix, window, forces, categories, table, pooled, i, residuals)
            per_force.append({**force_row, "status": screen_status(force, pool, include)})
            per_category.extend(category_rows)
    return with_mix_q_values(pl.DataFrame(per_force)), pl.DataFrame(per_category), pl.DataFrame(per_mix)


def mix_homogeneity(mix: Mix, window: Window, table: np.ndarray, pooled: np.ndarray) -> tuple[dict, np.ndarray]:
    """The homogeneity row of the mix across the `pooled` forces (rows of `table`), and every cell's
    adjusted residual (NaN for a force not pooled)."""
    test = stats.homogeneity(table[pooled])
    row = {
        "mix_id": mix.mix_id,
        "window_start": window.start,
        "window_end": window.end,
        "forces_compared": int(pooled.sum()),
        "chi2": test.chi2,
        "dof": test.dof,
        "p_value": test.p_value,
        "cramers_v": test.cramers_v,
    }
    residuals = np.full(table.shape, np.nan)
    residuals[pooled] = test.adjusted_residuals
    return row, residuals


def force_divergence(
    mix: Mix,
    window: Window,
    forces: list[str],
    categories: list[str],
    table: np.ndarray,
    pooled: np.ndarray,
    i: int,
    residuals: np.ndarray,
) -> tuple[dict, list[dict]]:
    """(the distance row of force `forces[i]` (row `i` of `table`, forces × categories), without its
    status; its row per category), measured from the mix of the other `pooled` forces."""
    others = pooled.copy()
    others[i] = False
    reference_counts = table[others].sum(axis=0)
    result = stats.mix_divergence(table[i], reference_counts, seed=i, other_units=table[others])
    force_row = {
        "mix_id": mix.mix_id,
        "force_id": forces[i],
        "window_start": window.start,
        "window_end": window.end,
        "total": int(table[i].sum()),
        "distance": result.distance,
        "null_median": result.null_median,
        "null_q95": result.null_q95,
        "p_value": result.p_value,
        "p_chance": result.p_chance,
    }
    own, ref = table[i] / table[i].sum(), reference_counts / reference_counts.sum()
    category_rows = [
        {
            "mix_id": mix.mix_id,
            "force_id": forces[i],
            "window_start": window.start,
            "category": category,
            "share": own[j],
            "reference_share": ref[j],
            "contribution": float(result.contributions[j]),
            "adjusted_residual": float(residuals[i, j]),
        }
        for j, category in enumerate(categories)
    ]
    return force_row, category_rows


def with_mix_q_values(force_frame: pl.DataFrame) -> pl.DataFrame:
    """Benjamini–Hochberg q-values of the distances, one family per mix, over the forces compared."""
    if force_frame.height == 0:
        return force_frame
    q = np.full(force_frame.height, np.nan)
    p = force_frame["p_value"].to_numpy()
    for mix_id in force_frame["mix_id"].unique().to_list():
        members = ((force_frame["mix_id"] == mix_id) & (force_frame["status"] == "ranked")).to_numpy()
        q[members] = stats.q_values(p[members], "bh")
    return force_frame.with_columns(pl.Series("q_bh", q))
