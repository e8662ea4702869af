"""Findings: where, and how far, each force's share departs from its peers', screened and ranked.

For every indicator (a category's share of its parent, `pipelines.analysis.indicators`), every force
and a window, a finding measures the force's share against the pooled share of its peers *without
the force itself*, places it on a funnel plot with plain binomial and overdispersion-adjusted limits
(Spiegelhalter 2005), and controls the false discovery rate across every force × indicator compared
together (one family: kind, source, window, measure). A finding is ranked only when it survives every
screen (`pipelines.analysis.screens`); every other one says why. The statistics themselves live in
`pipelines.analysis.stats`.

`for_peers_and_window` is the one place that decides whether findings are read from the table the
load wrote (the standard view) or computed on demand.
"""

from __future__ import annotations

from collections.abc import Iterable, Set
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from pipelines.analysis import screens, stats
from pipelines.analysis.counts import indicator_counts
from pipelines.analysis.indicators import Indicator, load_indicators, with_witness_indicators
from pipelines.analysis.peers import force_names, not_comparable, peer_groups, territorial
from pipelines.analysis.windows import Window, previous_window, window_for, windows_between

LEVELS = {"95%": 0.95, "99.8%": 0.998}
# The model whose limits and z decide significance and ranking: with tens of thousands of crimes per
# force almost every difference is "significant" under the binomial, so between-force variation
# (additive random effects, tau^2) is part of the yardstick.
SIGNIFICANCE_MODEL = "additive"
# A finding is significant when its Benjamini–Yekutieli q-value is under this: shares within one
# parent are dependent, and BY controls the false discovery rate under any dependence.
SIGNIFICANCE_Q = 0.05
# Findings that were tested (the screens decide ranks, not tests): q-values are taken over these.
TESTED = ("ranked", "supply_suspect", "contradicted")
# The peer group the load's `divergence` table holds.
STANDARD_PEERS = "all"


# --- one choice of peers and window ---------------------------------------------------------------------------


def for_peers_and_window(
    con: duckdb.DuckDBPyConnection,
    peer_group: str = STANDARD_PEERS,
    start: date | str | None = None,
    end: date | str | None = None,
    *,
    indicators: Path | None = None,
    include: Iterable[str] = (),
) -> pl.DataFrame:
    """Every finding for the peer group `peer_group` (`all`, `region`, `nearest` or a CSV file of groups)
    in the window from month `start` to month `end` (a date in the month, or YYYY-MM; neither: each
    source's standard window), for the standard indicators or those in the file `indicators`, with the
    areas in `include` compared and ranked although not comparable by default.

    The standard view (peers `all`, standard windows and indicators, nothing included) is read from
    the `divergence` table the load wrote; any other is computed here. Either way the rows come in
    the same order: ranked, then the supply list, then the rest, each by indicator and force."""
    include = frozenset(include)
    if is_standard(peer_group, start, end, indicators, include):
        return con.sql("""
            select * from divergence
            order by rank nulls last, supply_rank nulls last, indicator_id, force_id
        """).pl()
    return findings(
        con,
        load_indicators(indicators),
        peer_group=peer_group,
        peers=peer_groups(con, peer_group),
        windows=windows_between(con, start, end),
        include=include,
    )


def is_standard(
    peer_group: str, start: date | str | None, end: date | str | None, indicators: Path | None, include: frozenset[str]
) -> bool:
    """Whether the load's `divergence` table holds the findings for this choice."""
    return peer_group == STANDARD_PEERS and not start and not end and not indicators and not include


# --- every finding ----------------------------------------------------------------------------------------------


def findings(
    con: duckdb.DuckDBPyConnection,
    indicators: list[Indicator],
    peer_group: str = STANDARD_PEERS,
    peers: dict[str, list[str]] | None = None,
    windows: dict[str, Window] | None = None,
    include: frozenset[str] | set[str] = frozenset(),
) -> pl.DataFrame:
    """Every force × indicator finding, screened, with q-values per family and a rank.

    Classification findings are ranked (1 = the largest effect among the significant ones) only when
    they survive every screen: comparable area, every period of the window supplied, a large enough
    denominator, a benchmark, normal supply to the parent, and no contradicting witness. Supply
    findings are ranked in a list of their own (`supply_rank`). `include` names areas that are not
    comparable by default (City of London) to compare and rank them anyway. `windows` (source →
    window) chooses windows; a source it lacks is compared on its standard window."""
    windows = dict(windows or {})
    include = frozenset(include)
    compared = territorial() | ({f for group in peers.values() for f in group} if peers else set())
    by_id = with_witness_indicators(indicators)
    result, history = _compared(con, list(by_id.values()), windows, compared, peers, peer_group, include)
    if result.height == 0:
        return pl.DataFrame()
    result = screens.with_coverage(result, windows, by_id, screens.crime_totals(con))
    result = screens.with_witnesses(result, windows, by_id)
    result, supply_reasons = screens.screen(result, history, by_id)
    result = with_q_values(result)
    result = _with_words(result, windows, by_id, supply_reasons)
    result = result.filter(pl.col("indicator_id").is_in([i.indicator_id for i in indicators]))
    return (
        ranked(result)
        .drop("benchmark_members")
        .sort("rank", "supply_rank", "indicator_id", "force_id", nulls_last=True)
    )


def _compared(
    con: duckdb.DuckDBPyConnection,
    indicators: list[Indicator],
    windows: dict[str, Window],
    compared: Set[str],
    peers: dict[str, list[str]] | None,
    peer_group: str,
    include: frozenset[str],
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(every indicator's findings in its source's window, with its family; the same findings in the
    span just before, for the supply screens), over the forces in `compared`."""
    parts, history = [], []
    counts_read: dict = {}
    for indicator in indicators:
        window = window_for(con, indicator.source, windows)
        if window is None:
            continue
        counts = indicator_counts(con, indicator, window, cache=counts_read).filter(
            pl.col("force_id").is_in(list(compared))
        )
        frame = compare(counts, indicator, window, peers, peer_group, include)
        if frame.height == 0:
            continue
        parts.append(frame.with_columns(pl.lit(family(indicator, window)).alias("family")))
        earlier = previous_window(window)
        prior = compare(
            indicator_counts(con, indicator, earlier, cache=counts_read).filter(
                pl.col("force_id").is_in(list(compared))
            ),
            indicator,
            earlier,
            peers,
            peer_group,
            include,
        )
        if prior.height:
            history.append(
                prior.select(
                    "indicator_id",
                    "force_id",
                    "numerator",
                    "share",
                    "benchmark",
                    "periods_supplied",
                    "periods_expected",
                )
            )
    result = pl.concat(parts, how="vertical_relaxed") if parts else pl.DataFrame()
    return result, pl.concat(history) if history else pl.DataFrame()


def family(indicator: Indicator, window: Window) -> str:
    """The false-discovery family: one kind of indicator, one source, one window, one measure."""
    return f"{indicator.kind}: {indicator.source}, {window.label()}, {indicator.measure}"


def with_q_values(result: pl.DataFrame) -> pl.DataFrame:
    """q-values (BH and BY) within each family over every finding tested, significance by BY, the
    direction of the difference and whether the finding is ranked."""
    tested = result["status"].is_in(list(TESTED)).to_numpy()
    q_bh, q_by = np.full(result.height, np.nan), np.full(result.height, np.nan)
    p = result["p_value"].to_numpy()
    for name in result["family"].unique().to_list():
        members = (result["family"] == name).to_numpy() & tested & np.isfinite(p)
        if members.any():
            q_bh[members] = stats.q_values(p[members], "bh")
            q_by[members] = stats.q_values(p[members], "by")
    return result.with_columns(
        pl.Series("q_bh", q_bh),
        pl.Series("q_by", q_by),
        pl.Series("is_significant", (q_by < SIGNIFICANCE_Q) & tested),
        pl.when(pl.col("difference").is_nan() | pl.col("difference").is_null())
        .then(None)
        .when(pl.col("difference") > 0)
        .then(pl.lit("above"))
        .otherwise(pl.lit("below"))
        .alias("direction"),
        (pl.col("status") == "ranked").alias("is_ranked"),
    )


def ranked(result: pl.DataFrame) -> pl.DataFrame:
    """`rank` over the ranked classification findings and `supply_rank` over the ranked supply ones:
    effect first, significant findings before the rest, each group by the size of the difference
    (Cohen's h, on the arcsine scale shared by shares large and small)."""
    ranks: dict[str, list[int | None]] = {}
    for kind, column in (("classification", "rank"), ("supply", "supply_rank")):
        order = (
            result.with_row_index("_i")
            .filter(pl.col("is_ranked") & (pl.col("indicator_kind") == kind))
            .sort(
                [pl.col("is_significant"), pl.col("effect_h").abs(), "indicator_id", "force_id"],
                descending=[True, True, False, False],
            )["_i"]
            .to_list()
        )
        ranks[column] = [None] * result.height
        for place, i in enumerate(order, start=1):
            ranks[column][i] = place
    return result.with_columns(pl.Series(c, v, dtype=pl.Int32) for c, v in ranks.items())


# --- one indicator: the statistics ---------------------------------------------------------------------------


def compare(
    counts: pl.DataFrame,
    indicator: Indicator,
    window: Window,
    peers: dict[str, list[str]] | None = None,
    peer_group: str = STANDARD_PEERS,
    include: frozenset[str] = frozenset(),
) -> pl.DataFrame:
    """One finding per force: share, Wilson interval, benchmark of its peers without itself, funnel limits
    (binomial and overdispersed), z, p and a status. `peers` maps a force to its peer forces; None means
    every other force. Only forces that are comparable by default (or in `include`) and supplied every
    period of the window enter a benchmark or the overdispersion fit; the others are shown with their
    numbers and a status saying why they are not ranked. q-values are added later, per family."""
    counts = counts.filter(pl.col("denominator") > 0).sort("force_id")
    if counts.height < 3:
        return pl.DataFrame()
    forces = counts["force_id"].to_list()
    x = counts["numerator"].to_numpy().astype(float)
    n = counts["denominator"].to_numpy().astype(float)
    excluded = not_comparable()
    comparable = np.array([f not in excluded or f in include for f in forces])
    complete = counts["periods_supplied"].to_numpy() >= window.periods_expected
    # Published counts can net to a negative number (the Home Office outcomes' "not yet assigned"
    # does, where outcomes outrun the offences of a quarter): such a numerator is no share of its parent.
    proportion = (x >= 0) & (x <= n)
    pooled = comparable & complete & proportion
    large = n >= indicator.min_denominator
    fitted = pooled & large
    fit = (
        stats.funnel(x[fitted], n[fitted])
        if fitted.sum() >= 3
        else stats.funnel(x[pooled], n[pooled])
        if pooled.sum() >= 3
        else None
    )
    target, members = benchmarks(forces, x, n, pooled, peers)
    # Degenerate: every compared count is zero, or the category is the whole parent; nothing to test.
    degenerate = pooled.sum() == 0 or x[pooled].sum() == 0 or bool(np.all(x[pooled] == n[pooled]))
    status = statuses(comparable, complete, proportion, large, target, untested=degenerate or fit is None)
    with np.errstate(divide="ignore", invalid="ignore"):  # a zero benchmark gives an undefined ratio, kept as NaN
        frame = _compare_arrays(counts, indicator, window, forces, x, n, fit, target, peer_group, degenerate)
    return frame.with_columns(
        pl.Series("status", status.tolist(), dtype=pl.String),
        pl.Series("benchmark_members", members, dtype=pl.List(pl.String)),
    )


def statuses(
    comparable: np.ndarray,
    complete: np.ndarray,
    proportion: np.ndarray,
    large: np.ndarray,
    target: np.ndarray,
    untested: bool,
) -> np.ndarray:
    """Each force's status within one indicator: `ranked`, or the first reason it is not, in the order
    comparable area, complete window, a share at all, tested, a benchmark, a large enough denominator."""
    status = np.full(len(target), "ranked", dtype=object)
    status[~large] = "small_denominator"
    status[~np.isfinite(target)] = "no_benchmark"
    if untested:
        status[:] = "degenerate"
    status[~proportion] = "not_a_share"
    status[~complete] = "incomplete"
    status[~comparable] = "non_comparable"
    return status


def benchmarks(
    forces: list[str], x: np.ndarray, n: np.ndarray, pooled: np.ndarray, peers: dict[str, list[str]] | None
) -> tuple[np.ndarray, list[list[str]]]:
    """Each force's benchmark, the pooled share of its peers among the `pooled` forces without itself
    (NaN where it has none), and the forces in it. `peers` None: every other pooled force."""
    if peers is None:
        pool_x, pool_n = x[pooled].sum(), n[pooled].sum()
        with np.errstate(divide="ignore", invalid="ignore"):
            target = (pool_x - np.where(pooled, x, 0)) / (pool_n - np.where(pooled, n, 0))
        return target, [[f for f, p in zip(forces, pooled) if p and f != force] for force in forces]
    index = {f: i for i, f in enumerate(forces)}
    target = np.full(len(forces), np.nan)
    members = []
    for i, force in enumerate(forces):
        others = [index[p] for p in peers.get(force, []) if p in index and p != force and pooled[index[p]]]
        members.append([forces[j] for j in others])
        if others and n[others].sum() > 0:
            target[i] = x[others].sum() / n[others].sum()
    return target, members


def _compare_arrays(
    counts: pl.DataFrame,
    indicator: Indicator,
    window: Window,
    forces: list[str],
    x: np.ndarray,
    n: np.ndarray,
    fit: stats.Funnel | None,
    target: np.ndarray,
    peer_group: str,
    degenerate: bool,
) -> pl.DataFrame:
    share = x / n
    lower, upper = stats.wilson_interval(x, n)
    s = 1 / (2 * np.sqrt(n))
    y, t = np.arcsin(np.sqrt(share)), np.arcsin(np.sqrt(target))
    untested = degenerate or fit is None
    phi, tau2 = (np.nan, np.nan) if fit is None else (fit.phi, fit.tau2)
    z_plain = np.full(len(forces), np.nan) if untested else (y - t) / s
    z = np.full(len(forces), np.nan) if untested else (y - t) / np.sqrt(s**2 + tau2)
    columns: dict[str, object] = {
        "indicator_id": indicator.indicator_id,
        "indicator_kind": indicator.kind,
        "force_id": forces,
        "peer_group": peer_group,
        "window_start": window.start,
        "window_end": window.end,
        "period_grain": window.period_grain,
        "numerator": x.astype(np.int64),
        "denominator": n.astype(np.int64),
        "share": share,
        "share_lower": lower,
        "share_upper": upper,
        "benchmark": target,
        "difference": share - target,
        "ratio": share / target,
        "effect_h": 2 * (y - t),
        "phi": phi,
        "tau2": tau2,
        "z_plain": z_plain,
        "z": z,
        "p_value": stats.two_sided_p(z),
        "periods_supplied": counts["periods_supplied"].to_numpy(),
        "periods_expected": window.periods_expected,
    }
    for name, level in LEVELS.items():
        key = name.replace("%", "").replace(".", "")
        for model, label in (("binomial", "plain"), (SIGNIFICANCE_MODEL, "od")):
            if fit is None:
                lo = hi = np.full(len(forces), np.nan)
            else:
                lo, hi = fit.limits(n, target, level, model)
            columns[f"limit{key}_{label}_lower"] = lo
            columns[f"limit{key}_{label}_upper"] = hi
    return pl.DataFrame(columns)


# --- words ---------------------------------------------------------------------------------------------------


def _with_words(
    result: pl.DataFrame, windows: dict[str, Window], by_id: dict[str, Indicator], supply_reasons: list[list[str]]
) -> pl.DataFrame:
    """`status_reason`, `position` and the finding's `sentence`."""
    reasons = [
        screens.status_reasons(r, by_id[r["indicator_id"]], supply)
        for r, supply in zip(result.iter_rows(named=True), supply_reasons)
    ]
    result = result.with_columns(
        pl.Series("status_reason", ["; ".join(r) or None for r in reasons], dtype=pl.String),
        pl.Series("position", [position(r) for r in result.iter_rows(named=True)]),
    )
    return result.with_columns(
        pl.Series(
            "sentence",
            [
                sentence(row, by_id[row["indicator_id"]], windows[by_id[row["indicator_id"]].source], why)
                for row, why in zip(result.iter_rows(named=True), reasons)
            ],
        )
    )


def position(row: dict) -> str:
    """Where the share lies against its benchmark's overdispersed funnel limits, in words."""
    share = row["share"]
    if row["benchmark"] is None or not np.isfinite(row["benchmark"]):
        return "no benchmark: no comparable force supplied data"
    if row["limit998_od_upper"] is None or not np.isfinite(row["limit998_od_upper"]):
        return "not tested"
    if share > row["limit998_od_upper"]:
        return "above the 99.8% overdispersed limit"
    if share < row["limit998_od_lower"]:
        return "below the 99.8% overdispersed limit"
    if share > row["limit95_od_upper"]:
        return "above the 95% overdispersed limit"
    if share < row["limit95_od_lower"]:
        return "below the 95% overdispersed limit"
    return "within the overdispersed limits"


def sentence(row: dict, indicator: Indicator, window: Window, reasons: list[str]) -> str:
    """The finding in words: the share, how far from its benchmark, the window, what the benchmark
    covers, the witness and, for a finding not ranked, why."""
    pct = screens.pct
    name = force_names().get(row["force_id"], row["force_id"])
    text = f"{name} {indicator.sentence.format(share=pct(row['share']))}"
    if row["benchmark"] is None or not np.isfinite(row["benchmark"]):
        text += "; no comparable force supplied data for this window"
    else:
        points = abs(row["difference"]) * 100
        side = "above" if row["difference"] > 0 else "below" if row["difference"] < 0 else "level with"
        ratio = f" ({row['ratio']:.2f}× their share)" if row["ratio"] is not None and np.isfinite(row["ratio"]) else ""
        text += (
            f": {points:.1f} percentage points {side} comparable forces' {pct(row['benchmark'])}{ratio}, "
            f"{position(row)}"
        )
        if row["z"] is not None and np.isfinite(row["z"]):
            text += (
                f"; z {row['z']:+.1f}, q {row['q_by']:.1e} (BY)"
                if row["q_by"] is not None and np.isfinite(row["q_by"])
                else f"; z {row['z']:+.1f}"
            )
    when = "; ".join(window.notes) or window.label()
    if indicator.measure == "outcomes" and indicator.source == "police_uk_street":
        when += (
            "; last outcomes as each month's file published them (a snapshot: older months carry more final "
            "outcomes), so every force is compared on crimes of the same months"
        )
    text += f". {when[0].upper()}{when[1:]}"
    if row["periods_supplied"] < row["periods_expected"]:
        text += f", {row['periods_supplied']} of its {row['periods_expected']} periods supplied"
    text += f". Benchmark: {row['benchmark_coverage']}."
    if row.get("witness_status"):
        text += (
            f" Witness, {row['witness_label']}: {pct(row['witness_share'])} against {pct(row['witness_benchmark'])}"
            f" for comparable forces ({row['witness_status']})."
        )
    if reasons:
        text += " Not ranked: " + "; ".join(reasons) + "."
    return text
