"""Windows: the periods a finding compares, per source.

A source's standard window is the latest span, up to twelve months, that nearly as many territorial
forces supplied in full as supplied its last period (a longer span supplied by a few forces would
compare them on other months); on a rolling-year source it is exactly one rolling year, never a sum
of overlapping ones. A window never spans a national counting-rule change: it starts after the
latest one inside it. A reviewer can choose other months (`windows_between`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import cast

import duckdb
import polars as pl

from pipelines.periods import GRAIN_MONTHS, add_months, month_index

# A window covers the latest twelve months (or the latest period of a coarser source) ending at the
# latest period that at least half of the territorial forces supplied.
WINDOW_MONTHS = {"month": 12, "quarter": 12, "rolling_year": 12, "financial_year": 12, "calendar_year": 12}
# A window is the longest span, up to twelve months, that nearly as many forces supplied in full as
# supplied its last period.
FULL_SUPPLY_SHARE = 0.9
# The latest period "most" territorial forces supplied: at least half of the 43.
WELL_SUPPLIED_FORCES = 22


@dataclass
class Window:
    source: str
    start: date
    end: date  # exclusive
    period_grain: str
    periods_expected: int
    notes: list[str] = field(default_factory=list)

    @property
    def is_single_period(self) -> bool:
        """A window of one rolling or financial year is that period, never a sum of overlapping ones."""
        step = GRAIN_MONTHS[self.period_grain]
        return step >= 12 and month_index(self.end) - month_index(self.start) == step

    def label(self) -> str:
        if self.is_single_period:
            return f"year ending {add_months(self.end, -1):%b %Y}"
        last = add_months(self.end, -GRAIN_MONTHS[self.period_grain])
        return (
            f"{self.start:%b %Y}" if last == self.start else f"{self.start:%b %Y} to {add_months(self.end, -1):%b %Y}"
        )


def period_condition(window: Window) -> tuple[str, dict]:
    """SQL selecting the window's periods at its grain (a one-year window selects exactly that year)."""
    params = {"start": window.start, "grain": window.period_grain}
    if window.is_single_period:
        return "period = $start and period_grain = $grain", params
    return "period >= $start and period < $end and period_grain = $grain", {**params, "end": window.end}


def supplied_periods(con: duckdb.DuckDBPyConnection, source: str) -> pl.DataFrame:
    """(force_id, period, period_grain) every territorial force supplied to the source."""
    return con.sql(
        """
        select distinct c.force_id, c.period, c.period_grain
        from recorded_crime as c join forces as f using (force_id)
        where c.source = $source and f.is_territorial_ew
        union
        select distinct o.force_id, o.period, o.period_grain
        from crime_outcomes as o join forces as f using (force_id)
        where o.source = $source and f.is_territorial_ew
    """,
        params={"source": source},
    ).pl()


# --- the standard window ---------------------------------------------------------------------------------------


def standard_window(con: duckdb.DuckDBPyConnection, source: str) -> Window | None:
    """The source's standard window: the latest span that most territorial forces supplied in full."""
    supplied = supplied_periods(con, source)
    if supplied.height == 0:
        return None
    rows = supplied.group_by("period", "period_grain").agg(pl.col("force_id").n_unique().alias("forces"))
    well_supplied = rows.filter(pl.col("forces") >= WELL_SUPPLIED_FORCES).sort("period")
    if well_supplied.height == 0:
        well_supplied = rows.sort("forces", "period")
    grain = well_supplied.row(-1)[1]
    changes = counting_rule_changes(con)
    if GRAIN_MONTHS[grain] >= 12:
        candidates = list(reversed(well_supplied.filter(pl.col("period_grain") == grain)["period"].to_list()))
        return one_year_window(source, grain, candidates, changes)
    first = cast(date, rows.filter(pl.col("period_grain") == grain)["period"].min())
    by_force = supplied.filter(pl.col("period_grain") == grain).group_by("force_id").agg(pl.col("period"))
    periods_of = {force: set(periods) for force, periods in by_force.iter_rows()}
    return span_window(source, grain, first, well_supplied.row(-1)[0], periods_of, changes)


def counting_rule_changes(con: duckdb.DuckDBPyConnection) -> list[tuple[date, str]]:
    """(event_date, event) of every national counting-rule change in the registry of breaks, in date order."""
    return con.sql("""
        select event_date, event from breaks
        where scope = 'national' and kind = 'counting_rule_change' order by event_date
    """).fetchall()


def _changes_inside(changes: list[tuple[date, str]], start: date, end: date) -> list[tuple[date, str]]:
    return [(d, e) for d, e in changes if start < d < end]


def one_year_window(source: str, grain: str, candidates: list[date], changes: list[tuple[date, str]]) -> Window:
    """A rolling year cannot be cut short: the latest of `candidates` (newest first) that no national
    counting-rule change falls inside, or, if every one does, the latest with a note saying so."""
    step = GRAIN_MONTHS[grain]
    clean = [p for p in candidates if not _changes_inside(changes, p, add_months(p, step))]
    chosen = clean[0] if clean else candidates[0]
    window = Window(source, chosen, add_months(chosen, step), grain, periods_expected=1)
    if chosen != candidates[0]:
        window.notes.append("the latest rolling year without a counting-rule change inside it")
    for _, event in _changes_inside(changes, window.start, window.end):
        window.notes.append(f"this rolling year spans a counting-rule change: {event}")
    return window


def span_window(
    source: str, grain: str, first: date, last: date, periods_of: dict[str, set[date]], changes: list[tuple[date, str]]
) -> Window:
    """The longest span ending with the period `last`, up to WINDOW_MONTHS, that nearly as many forces
    supplied in full (`periods_of`: force → the periods it supplied) as supplied `last`: never
    before the source's `first` period, and never across a national counting-rule change."""
    step = GRAIN_MONTHS[grain]
    end = add_months(last, step)
    earliest = max(add_months(end, -WINDOW_MONTHS[grain]), first)
    inside = _changes_inside(changes, earliest, end)
    if inside:
        event_date = inside[-1][0]
        earliest = max(
            earliest, add_months(date(event_date.year, event_date.month, 1), 0 if event_date.day == 1 else 1)
        )

    def full_supply(start: date) -> int:
        span = {add_months(start, i * step) for i in range((month_index(end) - month_index(start)) // step)}
        return sum(span <= periods for periods in periods_of.values())

    at_last = full_supply(last)
    start = last
    while add_months(start, -step) >= earliest and full_supply(add_months(start, -step)) >= FULL_SUPPLY_SHARE * at_last:
        start = add_months(start, -step)
    window = Window(source, start, end, grain, periods_expected=(month_index(end) - month_index(start)) // step)
    longer = add_months(start, -step)
    reason = f"{full_supply(start)} territorial forces supplied every {grain} of it"
    if longer >= earliest:
        reason += f"; only {full_supply(longer)} supplied {longer:%b %Y} as well, so the window starts at {start:%b %Y}"
    window.notes.append(f"window {window.label()}: the latest span most forces supplied in full ({reason})")
    if inside and start <= add_months(date(inside[-1][0].year, inside[-1][0].month, 1), 1):
        window.notes.append(f"it starts after a counting-rule change: {inside[-1][1]}")
    return window


def window_for(con: duckdb.DuckDBPyConnection, source: str, windows: dict[str, Window]) -> Window | None:
    """The window `windows` holds for the source, or else its standard window, then kept in `windows`
    so that every table computed with them compares the same periods; None if it has no data."""
    window = windows.get(source)
    if window is None:
        window = standard_window(con, source)
        if window is not None:
            windows[source] = window
    return window


# --- chosen windows -------------------------------------------------------------------------------------------


def windows_between(
    con: duckdb.DuckDBPyConnection, start: date | str | None, end: date | str | None
) -> dict[str, Window] | None:
    """Windows from month `start` to month `end` (inclusive; a date in the month, or YYYY-MM) for
    every source, or None for the standard windows. A rolling-year source gets exactly the one
    rolling year ending with `end` (the year ending December Y for a calendar year), never a sum of
    overlapping years."""
    if not start and not end:
        return None
    # The dashboard passes dates; the command line passes the months as typed.
    start, end = (
        (date.fromisoformat(f"{m}-01") if isinstance(m, str) else m.replace(day=1)) if m else None for m in (start, end)
    )
    windows = {}
    for (source,) in con.sql(
        "select distinct source from recorded_crime union select distinct source from crime_outcomes"
    ).fetchall():
        standard = standard_window(con, source)
        if standard is not None:
            windows[source] = chosen_window(standard, start, end)
    return windows


def chosen_window(standard: Window, start: date | None, end: date | None) -> Window:
    """The window of the standard window's source from the month `start` to the month `end`
    (first days; None: as the standard window has it). A yearly grain gets the one year ending with
    `end`; a finer grain the periods starting from `start` to `end`."""
    step = GRAIN_MONTHS[standard.period_grain]
    last = end or add_months(standard.end, -1)
    if step >= 12:
        first = add_months(last, 1 - step)
        window = Window(standard.source, first, add_months(first, step), standard.period_grain, 1)
        window.notes.append(f"the {window.label()}, as chosen")
        return window
    first = start or standard.start
    # The window ends with the month `end` names: a quarter starting after it is outside it (the
    # year to December holds the quarters starting January to October, not next January's).
    stop = add_months(last, 1)
    window = Window(
        standard.source, first, stop, standard.period_grain, max(1, (month_index(stop) - month_index(first)) // step)
    )
    window.notes.append(f"window {window.label()}, as chosen")
    return window


def previous_window(window: Window) -> Window:
    """The span of the same length just before the window (the previous non-overlapping year for a year)."""
    length = max(month_index(window.end) - month_index(window.start), GRAIN_MONTHS[window.period_grain])
    return Window(
        window.source, add_months(window.start, -length), window.start, window.period_grain, window.periods_expected
    )
