"""Reading counts: what an indicator, a mix or an outcome ratio counts in a window, per force.

A force-period a source lacks is absent, never read as zero: each indicator count says how many
periods the force supplied. The analyst views aggregate the whole core tables on every read, so a
source's counts for a window are read once (`cache`) and every indicator of it is summed from them.
"""

from __future__ import annotations

from typing import Literal

import duckdb
import numpy as np
import polars as pl

from pipelines.analysis.indicators import Indicator, Mix
from pipelines.analysis.windows import Window, period_condition

# Outcome groups that are not outcomes: a crime still pending or without a status has no outcome to
# standardise, so it is left out of the exposure as well as the events.
NOT_AN_OUTCOME = ("pending", "unavailable")


def category_filter(column: str, spec: str, prefix: str) -> tuple[str, dict]:
    """SQL condition selecting the categories `spec` names, with its parameters."""
    if spec == "*":
        return "true", {}
    if spec.startswith("*-"):
        return f"{column} <> all(${prefix})", {prefix: spec[2:].split(";")}
    return f"{column} = any(${prefix})", {prefix: spec.split(";")}


def selects(column: str, spec: str) -> pl.Expr:
    """Rows whose `column` is among the categories `spec` names (`*` all, `*-A;B` all but those,
    `A;B` those): an empty category is in `*` only, as SQL's `<> all` and `= any` leave it out."""
    if spec == "*":
        return pl.lit(True)
    if spec.startswith("*-"):
        return pl.col(column).is_not_null() & ~pl.col(column).is_in(spec[2:].split(";"))
    return pl.col(column).is_in(spec.split(";")).fill_null(False)


# --- indicators ---------------------------------------------------------------------------------------------


def indicator_counts(
    con: duckdb.DuckDBPyConnection,
    indicator: Indicator,
    window: Window,
    by_period: bool = False,
    by_release: bool = False,
    cache: dict | None = None,
) -> pl.DataFrame:
    """Numerator, denominator and periods supplied per force in the window (forces with no data are
    absent), or per force and period when `by_period`. With `by_release` (offences only) every
    release of the counts is read (`recorded_crime_releases`), and `release_date` leads the keys.

    The source's counts for the window are read once into `cache` (pass the same dict for many
    indicators: the engine computes well over a hundred on a few sources) and each indicator is
    summed from them."""
    if by_release and indicator.measure != "offences":
        raise ValueError(f"{indicator.indicator_id}: only offence counts are kept per release")
    rows = window_counts(con, indicator, window, by_release, {} if cache is None else cache)
    if indicator.measure == "offences":
        numerator = (pl.col("scheme") == indicator.numerator_scheme) & selects(
            "category", ";".join(indicator.numerator)
        )
        denominator = (pl.col("scheme") == indicator.denominator_scheme) & selects("category", indicator.denominator)
    else:
        if indicator.offence_scheme:
            rows = rows.filter(selects("category", indicator.offences))
        numerator = selects(indicator.numerator_scheme, ";".join(indicator.numerator))
        denominator = selects(indicator.denominator_scheme, indicator.denominator)
    keys = ["force_id", "period"] if by_period else ["force_id"]
    keys = ["release_date", *keys] if by_release else keys
    return rows.group_by(keys).agg(
        pl.col("n").filter(numerator).sum().cast(pl.Int64).alias("numerator"),
        pl.col("n").filter(denominator).sum().cast(pl.Int64).alias("denominator"),
        pl.col("period").n_unique().cast(pl.Int32).alias("periods_supplied"),
    )


def window_counts(
    con: duckdb.DuckDBPyConnection, indicator: Indicator, window: Window, by_release: bool, cache: dict
) -> pl.DataFrame:
    """The counts of the indicator's source in the window, summed by force, period and category (and
    release, or outcome, offence scheme and count basis), read from the database once per `cache`."""
    periods, params = period_condition(window)
    params = {**params, "source": indicator.source}
    span = (indicator.source, window.start, window.end, window.period_grain, window.is_single_period)
    key: tuple
    if indicator.measure == "offences":
        key = ("offences", *span, by_release)
        sql = _offences_sql(periods, by_release)
    else:
        key = ("outcomes", *span, indicator.count_basis, indicator.offence_scheme)
        sql, params = _outcomes_sql(periods, indicator, params)
    if key not in cache:
        cache[key] = con.sql(sql, params=params).pl()
    return cache[key]


def _offences_sql(periods: str, by_release: bool) -> str:
    release = "release_date, " if by_release else ""
    return f"""
        select {release}force_id, period, scheme, category, cast(sum(offence_count) as bigint) as n
        from {"recorded_crime_releases" if by_release else "recorded_crime"}
        where source = $source and {periods}
        group by all
    """


def _outcomes_sql(periods: str, indicator: Indicator, params: dict) -> tuple[str, dict]:
    scheme = " and scheme = $offence_scheme" if indicator.offence_scheme else ""
    params = (
        params
        | {"count_basis": indicator.count_basis}
        | ({"offence_scheme": indicator.offence_scheme} if scheme else {})
    )
    return (
        f"""
        select force_id, period, category, outcome, outcome_group, cast(sum(outcome_count) as bigint) as n
        from crime_outcomes
        where source = $source and {periods} and outcome is not null and count_basis = $count_basis{scheme}
        group by all
    """,
        params,
    )


# --- mixes and outcome ratios ---------------------------------------------------------------------------------


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
    condition, cat_params = category_filter(column, mix.categories, "cats")
    periods, period_params = period_condition(window)
    return con.sql(
        f"""
        select force_id, {column} as category, cast(sum({measure}) as bigint) as n
        from {table}
        where source = $source and {periods}
          and {column} is not null and {condition}{extra}
        group by all
    """,
        params={"source": mix.source, **period_params, **params, **cat_params},
    ).pl()


def outcome_counts(con: duckdb.DuckDBPyConnection, source: str, window: Window) -> pl.DataFrame:
    """Offences recorded in the window with a usable outcome (not NOT_AN_OUTCOME), per force, crime
    type (`category`) and outcome group (long)."""
    periods, period_params = period_condition(window)
    return con.sql(
        f"""
        select force_id, category, outcome_group, cast(sum(outcome_count) as bigint) as n
        from crime_outcomes
        where source = $source and {periods}
          and outcome is not null and count_basis = 'offences_recorded_in_period' and category is not null
          and outcome_group <> all($not_outcomes)
        group by all
    """,
        params={"source": source, **period_params, "not_outcomes": list(NOT_AN_OUTCOME)},
    ).pl()


def by_category(long: pl.DataFrame, aggregate: Literal["sum"] | None = None) -> tuple[list[str], list[str], np.ndarray]:
    """(forces, categories, forces × categories matrix of n) from long counts (force_id, category, n),
    forces and categories in order and a category a force lacks counted as zero.

    Both are sorted, never left in the order the database returned rows: the calibration draws are
    seeded by a force's row and sums run along the categories, so another order would give other
    p-values on the same data."""
    wide = (
        long.pivot(on="category", index="force_id", values="n", aggregate_function=aggregate)
        .fill_null(0)
        .sort("force_id")
    )
    categories = sorted(c for c in wide.columns if c != "force_id")
    return wide["force_id"].to_list(), categories, wide.select(categories).to_numpy().astype(float)
