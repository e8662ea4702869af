"""The divergence engine: where, and how far, each force's classification departs from its peers.

For every indicator (a category's share of its parent, defined as data in
`pipelines/reference/indicators.csv`), every force and a period window, it measures the force's
share against the pooled share of its peers *without the force itself*, places it on a funnel plot
with plain binomial and overdispersion-adjusted limits (Spiegelhalter 2005), and controls the false
discovery rate across every force × indicator compared together. Alongside it: offence-mix
divergence (Jensen–Shannon, calibrated by multinomial draws), chi-square homogeneity with adjusted
residuals, case-mix adjusted outcome ratios (indirect standardisation) and breaks over time tested
at registered events and searched for elsewhere.

The statistics themselves live in `pipelines.stats`; this module chooses the data, the windows and
the peers, applies the data-quality guards and writes the findings.

Guards:
- a force-month a source lacks is left out of the window, and the finding says how many months the
  force supplied (never read as zero);
- a denominator under the indicator's `min_denominator` is shown but not ranked;
- a window never spans a national counting-rule change: it starts after the latest one inside it;
- only territorial forces of England and Wales are compared, unless a peer group names others.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from pipelines import reference, schema, stats

LEVELS = {"95%": 0.95, "99.8%": 0.998}
# The model whose limits and z decide significance and ranking: with tens of thousands of crimes per
# force almost every difference is "significant" under the binomial, so between-force variation
# (additive random effects, tau^2) is part of the yardstick.
SIGNIFICANCE_MODEL = "additive"
# Periods on each side of a registered event used to test for a shift there.
CHOW_SPAN = 8
# A window covers the latest twelve months (or the latest period of a coarser source) ending at the
# latest period that at least half of the territorial forces supplied.
WINDOW_MONTHS = {"month": 12, "quarter": 12, "rolling_year": 12, "financial_year": 12}


@dataclass(frozen=True)
class Indicator:
    indicator_id: str
    label: str
    source: str
    measure: str  # "offences" (recorded_crime) or "outcomes" (crime_outcomes)
    numerator_scheme: str
    numerator: tuple[str, ...]
    denominator_scheme: str
    denominator: str  # "*" every category of the scheme, "*-A;B" all but those, or "A;B"
    min_denominator: int
    sentence: str


def load_indicators(path: Path | None = None) -> list[Indicator]:
    """The standard indicators, or those in `path` (same columns): users add indicators as data."""
    path = path or reference.REFERENCE_DIR / "indicators.csv"
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    found = []
    for row in rows:
        if row["measure"] not in ("offences", "outcomes"):
            raise ValueError(f"{path}: indicator {row['indicator_id']}: measure must be 'offences' or 'outcomes', not {row['measure']!r}")
        found.append(Indicator(
            indicator_id=row["indicator_id"], label=row["label"], source=row["source"], measure=row["measure"],
            numerator_scheme=row["numerator_scheme"], numerator=tuple(row["numerator"].split(";")),
            denominator_scheme=row["denominator_scheme"], denominator=row["denominator"],
            min_denominator=int(row["min_denominator"]), sentence=row["sentence"],
        ))
    return found


@dataclass
class Window:
    source: str
    start: date
    end: date  # exclusive
    period_grain: str
    periods_expected: int
    notes: list[str] = field(default_factory=list)


def _months(grain: str) -> int:
    return {"month": 1, "quarter": 3, "rolling_year": 12, "financial_year": 12}[grain]


def standard_window(con: duckdb.DuckDBPyConnection, source: str) -> Window | None:
    """The latest window of the source that at least half of the territorial forces supplied."""
    rows = con.sql("""
        select c.period, c.period_grain, count(distinct c.force_id) as forces
        from recorded_crime as c
        join forces as f using (force_id)
        where c.source = $source and f.is_territorial_ew
        group by all
        union all
        select o.period, o.period_grain, count(distinct o.force_id)
        from crime_outcomes as o
        join forces as f using (force_id)
        where o.source = $source and f.is_territorial_ew
        group by all
    """, params={"source": source}).pl()
    if rows.height == 0:
        return None
    rows = rows.group_by("period", "period_grain").agg(pl.col("forces").max())
    well_supplied = rows.filter(pl.col("forces") >= 22).sort("period")
    if well_supplied.height == 0:
        well_supplied = rows.sort("forces", "period")
    grain = well_supplied.row(-1)[1]
    step = _months(grain)
    changes = con.sql("""
        select event_date, event from breaks
        where scope = 'national' and kind = 'counting_rule_change' order by event_date
    """).fetchall()

    def changes_inside(start: date, end: date) -> list[tuple[date, str]]:
        return [(d, e) for d, e in changes if start < d < end]

    if step >= 12:
        # A rolling year cannot be cut short: take the latest one that no national counting-rule
        # change falls inside, or, if every one does, the latest with a note saying so.
        candidates = [p for p in reversed(well_supplied.filter(pl.col("period_grain") == grain)["period"].to_list())]
        clean = [p for p in candidates if not changes_inside(p, _add_months(p, step))]
        chosen = clean[0] if clean else candidates[0]
        window = Window(source, chosen, _add_months(chosen, step), grain, periods_expected=1)
        if chosen != candidates[0]:
            window.notes.append(f"latest rolling year without a counting-rule change inside it")
        for _, event in changes_inside(window.start, window.end):
            window.notes.append(f"this rolling year spans a counting-rule change: {event}")
        return window

    last = well_supplied.row(-1)[0]
    first = rows.filter(pl.col("period_grain") == grain)["period"].min()
    end = _add_months(last, step)
    # Not before the source's first period: months no force could have supplied are not "missing".
    start = max(_add_months(end, -max(WINDOW_MONTHS[grain], step)), first)
    inside = changes_inside(start, end)
    if inside:
        # Never compare across a national counting-rule change: start after the latest one in the window.
        event_date, event = inside[-1]
        start = _add_months(date(event_date.year, event_date.month, 1), 0 if event_date.day == 1 else 1)
    window = Window(source, start, end, grain, periods_expected=max(1, (_month_index(end) - _month_index(start)) // step))
    if inside:
        window.notes.append(f"window starts {start:%b %Y}, after a counting-rule change: {inside[-1][1]}")
    return window


def windows_between(con: duckdb.DuckDBPyConnection, start: str | None, end: str | None) -> dict[str, Window] | None:
    """Windows from month `start` to month `end` (YYYY-MM, inclusive) for every source, or None for
    the standard windows. A rolling-year source cannot be summed over overlapping years: it gets the
    one rolling year ending with `end`."""
    if not start and not end:
        return None
    windows = {}
    for (source,) in con.sql("select distinct source from recorded_crime union select distinct source from crime_outcomes").fetchall():
        standard = standard_window(con, source)
        if standard is None:
            continue
        step = _months(standard.period_grain)
        last = date.fromisoformat(f"{end}-01") if end else _add_months(standard.end, -1)
        if step >= 12:
            first = _add_months(last, 1 - step)
            windows[source] = Window(source, first, _add_months(first, step), standard.period_grain, 1)
            continue
        first = date.fromisoformat(f"{start}-01") if start else standard.start
        stop = _add_months(last, step)
        periods = max(1, (_month_index(stop) - _month_index(first)) // step)
        windows[source] = Window(source, first, stop, standard.period_grain, periods)
    return windows


def _month_index(d: date) -> int:
    return d.year * 12 + d.month - 1


def _add_months(d: date, months: int) -> date:
    index = _month_index(d) + months
    return date(index // 12, index % 12 + 1, 1)


def _category_filter(column: str, spec: str, prefix: str) -> tuple[str, dict]:
    """SQL condition selecting the categories `spec` names, with its parameters."""
    if spec == "*":
        return "true", {}
    if spec.startswith("*-"):
        return f"{column} <> all(${prefix})", {prefix: spec[2:].split(";")}
    return f"{column} = any(${prefix})", {prefix: spec.split(";")}


def indicator_counts(con: duckdb.DuckDBPyConnection, indicator: Indicator, window: Window, by_period: bool = False) -> pl.DataFrame:
    """Numerator, denominator and periods supplied per force in the window (forces with no data are
    absent), or per force and period when `by_period`."""
    if indicator.measure == "offences":
        table, column, extra = "recorded_crime", "category", ""
        scheme_column = "scheme"
    else:
        table, extra = "crime_outcomes", " and outcome is not null and count_basis = 'offences_recorded_in_period'"
        column = indicator.numerator_scheme  # outcome or outcome_group
        scheme_column = None
    num_cond, num_params = _category_filter(column, ";".join(indicator.numerator), "num")
    den_cond, den_params = _category_filter(
        indicator.denominator_scheme if indicator.measure == "outcomes" else column, indicator.denominator, "den")
    if scheme_column:
        num_cond = f"scheme = $num_scheme and {num_cond}"
        den_cond = f"scheme = $den_scheme and {den_cond}"
        num_params["num_scheme"] = indicator.numerator_scheme
        den_params["den_scheme"] = indicator.denominator_scheme
    measure = "offence_count" if indicator.measure == "offences" else "outcome_count"
    keys = "force_id, period" if by_period else "force_id"
    sql = f"""
        select {keys},
               cast(coalesce(sum({measure}) filter (where {num_cond}), 0) as bigint) as numerator,
               cast(coalesce(sum({measure}) filter (where {den_cond}), 0) as bigint) as denominator,
               cast(count(distinct period) as integer) as periods_supplied
        from {table}
        where source = $source and period >= $start and period < $end and period_grain = $grain{extra}
        group by {keys}
    """
    params = {"source": indicator.source, "start": window.start, "end": window.end, "grain": window.period_grain,
              **num_params, **den_params}
    return con.sql(sql, params=params).pl()


@cache
def _force_names() -> dict[str, str]:
    forces = reference.forces()
    return dict(zip(forces["force_id"], forces["short_name"]))


def _territorial() -> set[str]:
    forces = reference.forces()
    return set(forces.filter(pl.col("is_territorial_ew"))["force_id"])


def compare(counts: pl.DataFrame, indicator: Indicator, window: Window, peers: dict[str, list[str]] | None = None,
            peer_group: str = "all") -> pl.DataFrame:
    """One finding per force: share, Wilson interval, benchmark of its peers without itself, funnel limits
    (binomial and overdispersed), adjusted z and p. `peers` maps a force to its peer forces; None means every
    other force in `counts`. q-values are added later, across everything compared together."""
    counts = counts.filter(pl.col("denominator") > 0).sort("force_id")
    if counts.height < 3:
        return pl.DataFrame()
    forces = counts["force_id"].to_list()
    x = counts["numerator"].to_numpy().astype(float)
    n = counts["denominator"].to_numpy().astype(float)
    ranked = n >= indicator.min_denominator
    # Overdispersion is estimated from the forces large enough to rank; every force is then judged with it.
    fit = stats.funnel(x[ranked], n[ranked]) if ranked.sum() >= 3 else stats.funnel(x, n)
    if peers is None:
        total_x, total_n = x.sum(), n.sum()
        target = (total_x - x) / (total_n - n)
    else:
        index = {f: i for i, f in enumerate(forces)}
        target = np.full(len(forces), np.nan)
        for i, force in enumerate(forces):
            others = [index[p] for p in peers.get(force, []) if p in index and p != force]
            if others and n[others].sum() > 0:
                target[i] = x[others].sum() / n[others].sum()
    with np.errstate(divide="ignore", invalid="ignore"):  # a zero benchmark gives an undefined ratio, kept as NaN
        return _compare_arrays(counts, indicator, window, forces, x, n, ranked, fit, target, peer_group)


def _compare_arrays(counts: pl.DataFrame, indicator: Indicator, window: Window, forces: list[str], x: np.ndarray,
                    n: np.ndarray, ranked: np.ndarray, fit: stats.Funnel, target: np.ndarray, peer_group: str) -> pl.DataFrame:
    ranked = ranked & np.isfinite(target)  # no peer with data: shown, not ranked
    share = x / n
    lower, upper = stats.wilson_interval(x, n)
    s = 1 / (2 * np.sqrt(n))
    y, t = np.arcsin(np.sqrt(share)), np.arcsin(np.sqrt(target))
    z_plain = (y - t) / s
    z_additive = (y - t) / np.sqrt(s**2 + fit.tau2)
    z_multiplicative = z_plain / np.sqrt(fit.phi) if fit.phi > 1 else z_plain
    z = z_additive if SIGNIFICANCE_MODEL == "additive" else z_multiplicative
    columns: dict[str, object] = {
        "indicator_id": indicator.indicator_id, "force_id": forces, "peer_group": peer_group,
        "window_start": window.start, "window_end": window.end, "period_grain": window.period_grain,
        "numerator": x.astype(np.int64), "denominator": n.astype(np.int64),
        "share": share, "share_lower": lower, "share_upper": upper, "benchmark": target,
        "difference": share - target, "ratio": share / target,
        "phi": fit.phi, "tau2": fit.tau2, "z_plain": z_plain, "z": z, "p_value": stats.two_sided_p(z),
        "periods_supplied": counts["periods_supplied"].to_numpy(), "periods_expected": window.periods_expected,
        "is_ranked": ranked,
    }
    for name, level in LEVELS.items():
        key = name.replace("%", "").replace(".", "")
        for model, label in (("binomial", "plain"), (SIGNIFICANCE_MODEL, "od")):
            lo, hi = fit.limits(n, target, level, model)
            columns[f"limit{key}_{label}_lower"] = lo
            columns[f"limit{key}_{label}_upper"] = hi
    return pl.DataFrame(columns)


def _position(row: dict) -> str:
    share = row["share"]
    if row["benchmark"] is None or not np.isfinite(row["benchmark"]):
        return "no benchmark: no peer supplied data"
    if share > row["limit998_od_upper"]:
        return "above the 99.8% overdispersed limit"
    if share < row["limit998_od_lower"]:
        return "below the 99.8% overdispersed limit"
    if share > row["limit95_od_upper"]:
        return "above the 95% overdispersed limit"
    if share < row["limit95_od_lower"]:
        return "below the 95% overdispersed limit"
    return "within the overdispersed limits"


def _sentence(row: dict, indicator: Indicator, window_note: str) -> str:
    name = _force_names().get(row["force_id"], row["force_id"])
    share = format(row["share"], ".1%")
    if row["benchmark"] is None or not np.isfinite(row["benchmark"]):
        return f"{name} {indicator.sentence.format(share=share)}; no comparable force supplied data for this window."
    text = f"{name} {indicator.sentence.format(share=share)}; comparable forces {row['benchmark']:.1%}; {_position(row)}"
    notes = []
    if row["periods_supplied"] < row["periods_expected"]:
        notes.append(f"{row['periods_supplied']} of {row['periods_expected']} periods supplied")
    if not row["is_ranked"] and row["denominator"] < indicator.min_denominator:
        notes.append(f"denominator {row['denominator']} is under {indicator.min_denominator}: shown, not ranked")
    if window_note:
        notes.append(window_note)
    return text + (f" ({'; '.join(notes)})" if notes else "") + "."


def findings(con: duckdb.DuckDBPyConnection, indicators: list[Indicator], peer_group: str = "all",
             peers: dict[str, list[str]] | None = None, windows: dict[str, Window] | None = None) -> pl.DataFrame:
    """Every force × indicator finding, with q-values across all of them and a rank (1 = largest divergence)."""
    windows = dict(windows or {})
    compared = _territorial() | ({f for group in peers.values() for f in group} if peers else set())
    parts, by_id = [], {}
    for indicator in indicators:
        window = windows.get(indicator.source)
        if window is None:
            window = standard_window(con, indicator.source)
            if window is None:
                continue
            windows[indicator.source] = window
        counts = indicator_counts(con, indicator, window).filter(pl.col("force_id").is_in(list(compared)))
        frame = compare(counts, indicator, window, peers, peer_group)
        if frame.height:
            parts.append(frame)
            by_id[indicator.indicator_id] = indicator
    if not parts:
        return pl.DataFrame()
    result = pl.concat(parts, how="vertical_relaxed")
    p = result["p_value"].to_numpy().copy()
    p[~result["is_ranked"].to_numpy()] = np.nan  # unranked findings take no part in the FDR family
    result = result.with_columns(
        pl.Series("q_bh", stats.q_values(p, "bh")),
        pl.Series("q_by", stats.q_values(p, "by")),
        pl.when(pl.col("difference").is_nan() | pl.col("difference").is_null()).then(None)
        .when(pl.col("difference") > 0).then(pl.lit("above")).otherwise(pl.lit("below")).alias("direction"),
    )
    sentences = [
        _sentence(row, by_id[row["indicator_id"]], "; ".join(windows[by_id[row["indicator_id"]].source].notes))
        for row in result.iter_rows(named=True)
    ]
    result = result.with_columns(
        pl.Series("position", [_position(r) for r in result.iter_rows(named=True)]),
        pl.Series("sentence", sentences),
    )
    # Rank by the overdispersion-adjusted z (an effect measured against between-force spread), ranked rows only.
    order = result.with_row_index("_i").filter(pl.col("is_ranked")).sort(
        [pl.col("z").abs(), pl.col("difference").abs(), "indicator_id", "force_id"], descending=[True, True, False, False]
    )["_i"].to_list()
    rank: list[int | None] = [None] * result.height
    for position, i in enumerate(order, start=1):
        rank[i] = position
    return result.with_columns(pl.Series("rank", rank, dtype=pl.Int32)).sort("rank", nulls_last=True)


# --- offence and outcome mixes ------------------------------------------------------------------------


@dataclass(frozen=True)
class Mix:
    mix_id: str
    label: str
    source: str
    measure: str
    scheme: str  # a recorded_crime scheme, or outcome_group / outcome for outcomes
    categories: str  # as an indicator's denominator: "*", "*-A;B" or "A;B"


def load_mixes() -> list[Mix]:
    with (reference.REFERENCE_DIR / "mixes.csv").open(newline="", encoding="utf-8") as handle:
        return [Mix(**row) for row in csv.DictReader(handle)]


def mix_counts(con: duckdb.DuckDBPyConnection, mix: Mix, window: Window) -> pl.DataFrame:
    """Counts per force and category of the mix in the window (long)."""
    if mix.measure == "offences":
        column, table, measure = "category", "recorded_crime", "offence_count"
        extra = " and scheme = $scheme"
        params = {"scheme": mix.scheme}
    else:
        column, table, measure = mix.scheme, "crime_outcomes", "outcome_count"
        extra = " and outcome is not null and count_basis = 'offences_recorded_in_period'"
        params = {}
    condition, cat_params = _category_filter(column, mix.categories, "cats")
    return con.sql(f"""
        select force_id, {column} as category, cast(sum({measure}) as bigint) as n
        from {table}
        where source = $source and period >= $start and period < $end and period_grain = $grain
          and {column} is not null and {condition}{extra}
        group by all
    """, params={"source": mix.source, "start": window.start, "end": window.end, "grain": window.period_grain,
                 **params, **cat_params}).pl()


def mix_findings(con: duckdb.DuckDBPyConnection, mixes: list[Mix], windows: dict[str, Window]) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(per force distance, per force × category detail, per mix homogeneity) for every mix."""
    territorial = _territorial()
    per_force, per_category, per_mix = [], [], []
    for mix in mixes:
        window = windows.get(mix.source) or standard_window(con, mix.source)
        if window is None:
            continue
        windows[mix.source] = window
        long = mix_counts(con, mix, window).filter(pl.col("force_id").is_in(list(territorial)))
        if long.height == 0:
            continue
        wide = long.pivot(on="category", index="force_id", values="n").fill_null(0).sort("force_id")
        forces, categories = wide["force_id"].to_list(), [c for c in wide.columns if c != "force_id"]
        table = wide.select(categories).to_numpy().astype(float)
        keep = table.sum(axis=1) > 0
        forces, table = [f for f, k in zip(forces, keep) if k], table[keep]
        if len(forces) < 3:
            continue
        test = stats.homogeneity(table)
        per_mix.append({"mix_id": mix.mix_id, "window_start": window.start, "window_end": window.end,
                        "forces_compared": len(forces), "chi2": test.chi2, "dof": test.dof,
                        "p_value": test.p_value, "cramers_v": test.cramers_v})
        totals = table.sum(axis=0)
        for i, force in enumerate(forces):
            others = totals - table[i]
            result = stats.mix_divergence(table[i], others, seed=i)
            per_force.append({"mix_id": mix.mix_id, "force_id": force, "window_start": window.start,
                              "window_end": window.end, "total": int(table[i].sum()), "distance": result.distance,
                              "null_median": result.null_median, "null_q95": result.null_q95, "p_value": result.p_value})
            own, ref = table[i] / table[i].sum(), others / others.sum()
            for j, category in enumerate(categories):
                per_category.append({"mix_id": mix.mix_id, "force_id": force, "window_start": window.start,
                                     "category": category, "share": own[j], "reference_share": ref[j],
                                     "contribution": float(result.contributions[j]),
                                     "adjusted_residual": float(test.adjusted_residuals[i, j])})
    force_frame = pl.DataFrame(per_force)
    if force_frame.height:
        force_frame = force_frame.with_columns(pl.Series("q_bh", stats.q_values(force_frame["p_value"].to_numpy(), "bh")))
    return force_frame, pl.DataFrame(per_category), pl.DataFrame(per_mix)


# --- case-mix adjusted outcome ratios ------------------------------------------------------------------


def outcome_ratios(con: duckdb.DuckDBPyConnection, source: str, window: Window) -> pl.DataFrame:
    """For each outcome group: observed ÷ expected per force, expected from the force's crimes with an
    outcome by crime type and the other territorial forces' rate of that outcome per crime type."""
    long = con.sql("""
        select force_id, category, outcome_group, cast(sum(outcome_count) as bigint) as n
        from crime_outcomes
        where source = $source and period >= $start and period < $end and period_grain = $grain
          and outcome is not null and count_basis = 'offences_recorded_in_period' and category is not null
        group by all
    """, params={"source": source, "start": window.start, "end": window.end, "grain": window.period_grain}).pl()
    long = long.filter(pl.col("force_id").is_in(list(_territorial())))
    if long.height == 0:
        return pl.DataFrame()
    exposure = long.pivot(on="category", index="force_id", values="n", aggregate_function="sum").fill_null(0).sort("force_id")
    forces, categories = exposure["force_id"].to_list(), [c for c in exposure.columns if c != "force_id"]
    exposure_matrix = exposure.select(categories).to_numpy().astype(float)
    rows = []
    for group in sorted(long["outcome_group"].unique().to_list()):
        events = (long.filter(pl.col("outcome_group") == group)
                  .pivot(on="category", index="force_id", values="n").fill_null(0))
        events = pl.DataFrame({"force_id": forces}).join(events, on="force_id", how="left").fill_null(0)
        for c in categories:
            if c not in events.columns:
                events = events.with_columns(pl.lit(0).alias(c))
        result = stats.indirect_standardisation(events.select(categories).to_numpy().astype(float), exposure_matrix)
        for i, force in enumerate(forces):
            rows.append({"outcome_group": group, "force_id": force, "window_start": window.start, "window_end": window.end,
                         "observed": float(result.observed[i]), "expected": float(result.expected[i]),
                         "standardised_ratio": float(result.ratio[i]), "ratio_lower": float(result.lower[i]),
                         "ratio_upper": float(result.upper[i])})
    return pl.DataFrame(rows)


# --- breaks over time -----------------------------------------------------------------------------------


def indicator_series(con: duckdb.DuckDBPyConnection, indicator: Indicator) -> pl.DataFrame:
    """Numerator and denominator per force and period over the source's whole span (its finest grain)."""
    grains = con.sql("select distinct period_grain from recorded_crime where source = $s union select distinct period_grain from crime_outcomes where source = $s",
                     params={"s": indicator.source}).fetchall()
    if not grains:
        return pl.DataFrame()
    grain = min((g for (g,) in grains), key=_months)
    everything = Window(indicator.source, date(1900, 1, 1), date(2100, 1, 1), grain, 1)
    return indicator_counts(con, indicator, everything, by_period=True).filter(pl.col("denominator") > 0).sort("force_id", "period")


def series_breaks(series: pl.DataFrame, indicator: Indicator, events: pl.DataFrame, min_points: int = 12) -> list[dict]:
    """Chow tests at the registered events in scope, and binary segmentation for the rest, per force."""
    found: list[dict] = []
    if series.height == 0:
        return found
    for (force,), rows in series.group_by("force_id"):
        rows = rows.sort("period")
        if rows.height < min_points:
            continue
        periods = rows["period"].to_list()
        share = (rows["numerator"] / rows["denominator"]).to_numpy()
        in_scope = events.filter(pl.col("scope").is_in(["national", force]))
        for event_date, event in in_scope.select("event_date", "event").iter_rows():
            index = next((i for i, p in enumerate(periods) if p >= event_date), None)
            if index is None or index < 3 or len(periods) - index < 3:
                continue
            # Test locally: a line on each side over at most CHOW_SPAN periods, so that trends and
            # other events years away do not enter the test.
            lo = max(0, index - CHOW_SPAN)
            test = stats.chow_test(share[lo:index + CHOW_SPAN], index - lo)
            found.append({"indicator_id": indicator.indicator_id, "force_id": force, "period": periods[index],
                          "break_kind": "registered", "event": event, "level_shift": test.level_shift,
                          "f_stat": test.f_stat, "p_value": test.p_value, "matches_event": None})
        for detected in stats.binary_segmentation(share):
            when = periods[detected.index]
            near = in_scope.filter(
                (pl.col("event_date") >= _add_months(when, -2 * (_months_between(periods)))) &
                (pl.col("event_date") <= _add_months(when, 2 * _months_between(periods)))
            )["event"].to_list()
            found.append({"indicator_id": indicator.indicator_id, "force_id": force, "period": when,
                          "break_kind": "detected", "event": None, "level_shift": detected.size,
                          "f_stat": detected.f_stat, "p_value": detected.p_value,
                          "matches_event": near[0] if near else None})
    return found


def _months_between(periods: list[date]) -> int:
    """The series' step: the smallest gap between consecutive periods."""
    gaps = [_month_index(b) - _month_index(a) for a, b in zip(periods, periods[1:])]
    return max(1, min(gaps)) if gaps else 1


# --- peer groups -------------------------------------------------------------------------------------------


def peer_groups(con: duckdb.DuckDBPyConnection, kind: str, k: int = 7) -> dict[str, list[str]] | None:
    """Peers per force: `all` (None: every other territorial force), `region` (the force's ONS region),
    `nearest` (the k forces nearest by offence mix and log population), or a CSV file of group_id,force_id
    (each force's peers are the rest of its groups)."""
    territorial = sorted(_territorial())
    if kind == "all":
        return None
    if kind == "region":
        forces = reference.forces().filter(pl.col("is_territorial_ew"))
        return {f: forces.filter(pl.col("region") == r)["force_id"].to_list() for f, r in zip(forces["force_id"], forces["region"])}
    if kind == "nearest":
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
        wide = wide.filter(pl.col("force_id").is_in(territorial)).sort("force_id")
        matrix = wide.drop("force_id").fill_null(strategy="mean").to_numpy().astype(float)
        scale = matrix.std(axis=0)
        matrix = (matrix - matrix.mean(axis=0)) / np.where(scale > 0, scale, 1)  # each feature on one scale
        forces = wide["force_id"].to_list()
        distances = np.linalg.norm(matrix[:, None, :] - matrix[None, :, :], axis=2)
        return {f: [forces[j] for j in np.argsort(distances[i]) if j != i][:k] for i, f in enumerate(forces)}
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


# --- materialise ---------------------------------------------------------------------------------------------


def materialise(con: duckdb.DuckDBPyConnection) -> None:
    """Recompute every divergence table for the standard indicators, mixes and peer group `all`, and
    refill the schema's other materialised tables (reconciliation)."""
    windows: dict[str, Window] = {}
    indicators = load_indicators()
    tables = {"divergence": findings(con, indicators, windows=windows)}
    tables["divergence_mix"], tables["divergence_mix_categories"], tables["divergence_homogeneity"] = mix_findings(con, load_mixes(), windows)
    ratios = [outcome_ratios(con, source, windows[source]) for source in ("police_uk_street",) if source in windows]
    tables["outcome_ratios"] = pl.concat([r for r in ratios if r.height]) if any(r.height for r in ratios) else pl.DataFrame()
    events = con.sql("select event_date, scope, event from breaks").pl()
    breaks, all_series = [], []
    for indicator in indicators:
        series = indicator_series(con, indicator)
        breaks += series_breaks(series, indicator, events)
        if series.height:
            all_series.append(series.select(pl.lit(indicator.indicator_id).alias("indicator_id"), "force_id", "period",
                                            "numerator", "denominator"))
    tables["divergence_breaks"] = pl.DataFrame(breaks)
    tables["divergence_series"] = pl.concat(all_series) if all_series else pl.DataFrame()
    for statement in schema.refresh_statements():
        con.execute(statement)
    for name, frame in tables.items():
        con.execute(f"delete from {name}")
        if frame.height:
            # Undefined statistics (no peers, too few points) are stored as NULL, which SQL understands, not NaN.
            frame = frame.with_columns(pl.col(pl.Float64).fill_nan(None))
            con.register("incoming", frame.rechunk().to_arrow(compat_level=pl.CompatLevel.oldest()))
            try:
                con.execute(f"insert into {name} by name select * from incoming")
            finally:
                con.unregister("incoming")
