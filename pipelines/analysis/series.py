"""Indicator series over time and their breaks.

For every indicator and force: the share per period over the source's whole span, breaks in it
(tested at every registered event that can move the indicator, and searched for elsewhere) and, for
a source published in releases (vintages), how much each release revised the one before.

Each rule below keeps a test from measuring something other than the event:

- **Transition periods.** An event is tested at the first full period after it. A period the event
  falls inside (its date is not the period's first day) is a transition period, on neither side.
- **Within one release.** A source with release dates (the Met's) is built and tested per release,
  from `recorded_crime_releases`: a series spliced across releases would show the splice itself as
  a break. A registered event is tested in every release with enough points on each side of it,
  breaks are searched for within each release, and a change between releases of the same month is
  a *revision*, reported as such (the largest per pair of consecutive releases), never as a break.
- **Non-overlapping years.** Rolling years published quarterly share three quarters with their
  neighbours, so consecutive points are not independent. An event is tested on the years of its
  first full year's phase (periods a whole number of years from the first rolling year starting on
  or after it; the year containing the event is a transition), and breaks are searched for on the
  years ending with the latest period.
- **Events name what they can affect.** An event is tested only on the indicators its `affects`
  selects (`selects`), and only for the forces in its scope; a detected break is matched only to
  such an event.

The test at a registered event (`test_method`):

- monthly or quarterly (`seasonal_difference`): the year-on-year change of the first `CHOW_SPAN`
  full periods after the event against the year-on-year change of the `CHOW_SPAN` periods before
  it (`stats.seasonal_shift_test`), both ends of every difference inside one release. Lines either
  side over eight months (the Chow test) read the seasonal swing as trend: on the Met's
  violence-with-injury share at CONNECT (release of December 2024, transition month left out) they
  gave F = 1.0, p = 0.39 on a drop the year-on-year comparison measures at 3.8 points. A release
  without the year before the event cannot tell the event from the season, so the event is not
  tested in it. The p-value treats the months as independent; they are not quite, and the Met's
  series also move for reasons no registry records: at mid-month dates more than a year from any
  registered event, 47% of these tests on the Met's two indicators gave p < 0.05 (28% p < 0.01).
  Read p as a screen and level_shift as the finding.
- yearly, and rolling years on non-overlapping years (`level_shift`): one line through up to
  `YEAR_SPAN` years either side with a jump at the event (`stats.chow_test` with a common slope,
  the transition year left out as a gap in time). On `ons_rec_crime_pfa`, lines either side over
  eight overlapping quarterly years made 74% of tests at arbitrary dates "significant" at 5%;
  non-overlapping years alone still gave 65% (sixteen years are no straight line, and a change of
  slope counted as a break); the level shift over four years either side gives 10%.
"""

from __future__ import annotations

from datetime import date
from fnmatch import fnmatchcase

import duckdb
import numpy as np
import polars as pl

from pipelines.analysis import stats
from pipelines.analysis.counts import indicator_counts
from pipelines.analysis.indicators import Indicator
from pipelines.analysis.windows import Window
from pipelines.periods import GRAIN_MONTHS, add_months, month_index

# Periods on each side of a registered event used to test for a shift there: monthly or quarterly
# periods, then years (a line fits a few years of a share, not eight years either side).
CHOW_SPAN = 8
YEAR_SPAN = 4
# Shortest series searched for breaks, and the fewest points on each side of a detected break:
# sub-annual series, then yearly ones (non-overlapping years are few, and each is a year's counts).
MIN_POINTS, MIN_SIZE = 12, 4
YEAR_MIN_POINTS, YEAR_MIN_SIZE = 6, 3
BASES = {
    "month": "monthly",
    "quarter": "quarterly",
    "rolling_year": "non-overlapping years",
    "financial_year": "yearly",
    "calendar_year": "yearly",
}

BREAKS_SCHEMA = pl.Schema(
    {
        "indicator_id": pl.String,
        "force_id": pl.String,
        "release_date": pl.Date,
        "period": pl.Date,
        "break_kind": pl.String,
        "event": pl.String,
        "level_shift": pl.Float64,
        "f_stat": pl.Float64,
        "p_value": pl.Float64,
        "matches_event": pl.String,
        "test_basis": pl.String,
        "test_method": pl.String,
        "previous_release_date": pl.Date,
    }
)
SERIES_SCHEMA = pl.Schema(
    {
        "indicator_id": pl.String,
        "force_id": pl.String,
        "period": pl.Date,
        "release_date": pl.Date,
        "numerator": pl.Int64,
        "denominator": pl.Int64,
    }
)
_SERIES_COLUMNS = {
    "force_id": pl.String,
    "release_date": pl.Date,
    "period": pl.Date,
    "period_grain": pl.String,
    "numerator": pl.Int64,
    "denominator": pl.Int64,
}


# --- the series -------------------------------------------------------------------------------------------


def has_releases(con: duckdb.DuckDBPyConnection, source: str) -> bool:
    """Whether the source's offence counts carry release dates (vintages)."""
    [(n,)] = con.sql(
        "select count(*) from recorded_crime_releases where source = $s and release_date is not null",
        params={"s": source},
    ).fetchall()
    return n > 0


def indicator_series(con: duckdb.DuckDBPyConnection, indicator: Indicator, cache: dict | None = None) -> pl.DataFrame:
    """force_id, release_date, period, period_grain, numerator, denominator per period over the
    source's whole span at its finest grain: one series per release for a source with release dates
    (release_date empty otherwise). Periods with no denominator are left out."""
    grains = con.sql(
        "select distinct period_grain from recorded_crime where source = $s union "
        "select distinct period_grain from crime_outcomes where source = $s",
        params={"s": indicator.source},
    ).fetchall()
    if not grains:
        return pl.DataFrame(schema=_SERIES_COLUMNS)
    grain = min((g for (g,) in grains), key=GRAIN_MONTHS.__getitem__)
    everything = Window(indicator.source, date(1900, 1, 1), date(2100, 1, 1), grain, 1)
    by_release = indicator.measure == "offences" and has_releases(con, indicator.source)
    counts = indicator_counts(con, indicator, everything, by_period=True, by_release=by_release, cache=cache)
    if not by_release:
        counts = counts.with_columns(pl.lit(None, dtype=pl.Date).alias("release_date"))
    return (
        counts.filter(pl.col("denominator") > 0)
        .select(
            pl.col("force_id"),
            pl.col("release_date").cast(pl.Date),
            pl.col("period"),
            pl.lit(grain).alias("period_grain"),
            pl.col("numerator").cast(pl.Int64),
            pl.col("denominator").cast(pl.Int64),
        )
        .sort("force_id", "release_date", "period", nulls_last=False)
    )


def latest_points(series: pl.DataFrame) -> pl.DataFrame:
    """Each force's period from the latest release that has it (as `recorded_crime` takes it)."""
    return (
        series.sort("release_date", nulls_last=False)
        .group_by("force_id", "period", maintain_order=True)
        .last()
        .sort("force_id", "period")
    )


# --- which events can move which indicator -------------------------------------------------------------------


def selects(affects: str | None, indicator: Indicator) -> bool:
    """Whether an event's `affects` names the indicator: `;`-separated selectors, any of which may
    match; `*` every indicator, `none` none (a data gap is never tested), `measure=offences` or
    `measure=outcomes` the indicators of that measure, anything else an indicator_id glob pattern
    (`*burglary*`, matched case-sensitively). An empty `affects` selects nothing: no default."""
    for selector in (s.strip() for s in (affects or "").split(";")):
        if not selector or selector == "none":
            continue
        if selector.startswith("measure="):
            if indicator.measure == selector.removeprefix("measure="):
                return True
        elif fnmatchcase(indicator.indicator_id, selector):
            return True
    return False


def events_for(events: pl.DataFrame, indicator: Indicator, force_id: str) -> list[tuple[date, str]]:
    """The events (event_date, event), in date order, that can move `indicator` in `force_id`'s
    series: scope national or that force, and an `affects` that selects the indicator."""
    return sorted(
        (event_date, event)
        for event_date, scope, event, affects in events.select("event_date", "scope", "event", "affects").iter_rows()
        if scope in ("national", force_id) and selects(affects, indicator)
    )


# --- tests on one force's series in one release ------------------------------------------------------------


def _months_between(periods: list[date]) -> int:
    """The series' step: the smallest gap between consecutive periods."""
    gaps = [month_index(b) - month_index(a) for a, b in zip(periods, periods[1:])]
    return max(1, min(gaps)) if gaps else 1


def test_points(periods: list[date], grain: str, event_date: date) -> tuple[list[int], list[int]]:
    """Indices of the periods compared on each side of an event: (before, after), nearest last and
    first. A transition period (the event falls inside it, not on its first day) is on neither side.
    Monthly or quarterly: up to CHOW_SPAN periods each side. Rolling years: only the years in phase
    with the first rolling year starting on or after the event (twelve months apart, never
    overlapping), up to YEAR_SPAN each side; other yearly grains likewise."""
    step = GRAIN_MONTHS[grain]
    used: list[int] = list(range(len(periods)))
    if grain == "rolling_year":
        first = next((p for p in periods if p >= event_date), None)
        if first is None:
            return [], []
        used = [i for i, p in enumerate(periods) if (month_index(p) - month_index(first)) % 12 == 0]
    span = YEAR_SPAN if step >= 12 else CHOW_SPAN
    before = [i for i in used if add_months(periods[i], step) <= event_date][-span:]
    after = [i for i in used if periods[i] >= event_date][:span]
    return before, after


def _registered(periods: list[date], share: np.ndarray, grain: str, event_date: date) -> dict | None:
    """The test at one event, or None where the series lacks enough points on a side of it."""
    step = GRAIN_MONTHS[grain]
    before, after = test_points(periods, grain, event_date)
    if step >= 12:
        if len(before) < 3 or len(after) < 3:
            return None
        points = before + after
        t = np.array([month_index(periods[i]) / 12 for i in points])
        test = stats.chow_test(share[points], len(before), t, common_slope=True)
        return {"period": periods[after[0]], "test": test, "method": "level_shift"}
    # Monthly or quarterly: times in periods from the series' first, so a quarter is one step.
    origin = month_index(periods[0])
    t = np.array([(month_index(p) - origin) // step for p in periods])
    offset = month_index(event_date) - origin
    inside = offset // step  # the period the event date falls in
    start, gap = (inside, 0) if event_date.day == 1 and offset % step == 0 else (inside + 1, 1)
    season = 12 // step
    pairs_after, pairs_before = stats.seasonal_pairs(t, start, season=season, span=CHOW_SPAN, gap=gap)
    if len(pairs_after) < 3 or len(pairs_before) < 2:
        return None  # without the year before inside this release, the season cannot be told from the event
    test = stats.seasonal_shift_test(share, t, start, season=season, span=CHOW_SPAN, gap=gap)
    return {"period": add_months(periods[0], start * step), "test": test, "method": "seasonal_difference"}


def _detection_points(periods: list[date], grain: str) -> tuple[list[int], int, int]:
    """Indices of the points searched for breaks, with the fewest points and segment size."""
    if grain == "rolling_year":
        last = month_index(periods[-1])
        return [i for i, p in enumerate(periods) if (last - month_index(p)) % 12 == 0], YEAR_MIN_POINTS, YEAR_MIN_SIZE
    if GRAIN_MONTHS[grain] >= 12:
        return list(range(len(periods))), YEAR_MIN_POINTS, YEAR_MIN_SIZE
    return list(range(len(periods))), MIN_POINTS, MIN_SIZE


def _breaks_in(periods: list[date], share: np.ndarray, grain: str, events: list[tuple[date, str]]) -> list[dict]:
    """Registered and detected breaks in one series (one force, one release)."""
    found = []
    basis = BASES[grain]
    for event_date, event in events:
        result = _registered(periods, share, grain, event_date)
        if result is None:
            continue
        test = result["test"]
        found.append(
            {
                "period": result["period"],
                "break_kind": "registered",
                "event": event,
                "level_shift": test.level_shift,
                "f_stat": test.f_stat,
                "p_value": test.p_value,
                "matches_event": None,
                "test_basis": basis,
                "test_method": result["method"],
            }
        )
    used, min_points, min_size = _detection_points(periods, grain)
    if len(used) < min_points:
        return found
    points = [periods[i] for i in used]
    step = _months_between(points)
    for detected in stats.binary_segmentation(share[used], min_size=min_size):
        when = points[detected.index]
        near = [
            event
            for event_date, event in events
            if add_months(when, -2 * step) <= event_date <= add_months(when, 2 * step)
        ]
        found.append(
            {
                "period": when,
                "break_kind": "detected",
                "event": None,
                "level_shift": detected.size,
                "f_stat": detected.f_stat,
                "p_value": detected.p_value,
                "matches_event": near[0] if near else None,
                "test_basis": basis,
                "test_method": "binary_segmentation",
            }
        )
    return found


def revisions(series: pl.DataFrame, indicator: Indicator) -> pl.DataFrame:
    """Per force and pair of consecutive releases, the month both cover whose share the later release
    changed most: level_shift = later share − earlier share, release_date the later release and
    previous_release_date the earlier. A revision is never a break."""
    grain = series["period_grain"][0] if "period_grain" in series.columns and series.height else "month"
    dated = series.filter(pl.col("release_date").is_not_null()).select(
        "force_id", "release_date", "period", (pl.col("numerator") / pl.col("denominator")).alias("share")
    )
    order = (
        dated.select("force_id", "release_date")
        .unique()
        .sort("force_id", "release_date")
        .with_columns(pl.col("release_date").shift(1).over("force_id").alias("previous_release_date"))
        .drop_nulls("previous_release_date")
    )
    earlier = dated.rename({"release_date": "previous_release_date", "share": "earlier"})
    changes = (
        order.join(dated, on=["force_id", "release_date"])
        .join(earlier, on=["force_id", "previous_release_date", "period"])
        .with_columns((pl.col("share") - pl.col("earlier")).alias("level_shift"))
        .sort(pl.col("level_shift").abs(), "period", descending=[True, False])
        .group_by("force_id", "release_date", maintain_order=True)
        .first()
    )
    return (
        changes.select(
            pl.lit(indicator.indicator_id).alias("indicator_id"),
            "force_id",
            "release_date",
            "period",
            pl.lit("revision").alias("break_kind"),
            pl.lit(None, pl.String).alias("event"),
            "level_shift",
            pl.lit(None, pl.Float64).alias("f_stat"),
            pl.lit(None, pl.Float64).alias("p_value"),
            pl.lit(None, pl.String).alias("matches_event"),
            pl.lit(BASES[grain]).alias("test_basis"),
            pl.lit(None, pl.String).alias("test_method"),
            "previous_release_date",
        )
        .cast(BREAKS_SCHEMA)
        .select(list(BREAKS_SCHEMA))
    )


def series_breaks(series: pl.DataFrame, indicator: Indicator, events: pl.DataFrame) -> pl.DataFrame:
    """Every break row (`divergence_breaks` columns) of one indicator's series, as `indicator_series`
    returns it (period_grain optional, monthly if absent; release_date optional): tests at the
    registered events that can move it (`events`: event_date, scope, event, affects), binary
    segmentation within each series, and revisions between consecutive releases."""
    if series.height == 0:
        return pl.DataFrame(schema=BREAKS_SCHEMA)
    if "release_date" not in series.columns:
        series = series.with_columns(pl.lit(None, dtype=pl.Date).alias("release_date"))
    grain = series["period_grain"][0] if "period_grain" in series.columns else "month"
    rows = []
    in_scope: dict[str, list[tuple[date, str]]] = {}
    for (force, release), own in series.sort("force_id", "release_date", "period").group_by(
        "force_id", "release_date", maintain_order=True
    ):
        periods = own["period"].to_list()
        share = (own["numerator"] / own["denominator"]).to_numpy().astype(float)
        if force not in in_scope:
            in_scope[force] = events_for(events, indicator, force)
        for found in _breaks_in(periods, share, grain, in_scope[force]):
            rows.append(
                {
                    "indicator_id": indicator.indicator_id,
                    "force_id": force,
                    "release_date": release,
                    "previous_release_date": None,
                    **found,
                }
            )
    frame = pl.DataFrame(rows, schema=BREAKS_SCHEMA)
    return pl.concat([frame, revisions(series, indicator)])


def series_tables(con: duckdb.DuckDBPyConnection, indicators: list[Indicator]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(divergence_breaks, divergence_series) for the indicators. divergence_series keeps one point
    per force and period, from the latest release that has it, with that release's date."""
    events = con.sql("select event_date, scope, event, affects from breaks").pl()
    breaks, points = [], []
    counts_read: dict = {}  # each source's counts, read once for all of its indicators
    for indicator in indicators:
        series = indicator_series(con, indicator, counts_read)
        if series.height == 0:
            continue
        breaks.append(series_breaks(series, indicator, events))
        points.append(
            latest_points(series).select(
                pl.lit(indicator.indicator_id).alias("indicator_id"),
                "force_id",
                "period",
                "release_date",
                "numerator",
                "denominator",
            )
        )
    breaks_frame = pl.concat(breaks) if breaks else pl.DataFrame(schema=BREAKS_SCHEMA)
    series_frame = pl.concat(points).cast(SERIES_SCHEMA) if points else pl.DataFrame(schema=SERIES_SCHEMA)
    order = ["indicator_id", "force_id", "release_date", "period", "break_kind"]
    return breaks_frame.sort(order, nulls_last=False), series_frame.sort("indicator_id", "force_id", "period")
