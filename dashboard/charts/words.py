"""How values, ids and periods read in a chart: numbers and shares as text ("—" when empty), force
and category ids as their labels, and periods in their grain's words ("Jan–Mar 2021", "2017/18")."""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import overload

import polars as pl

from dashboard.charts.sources import SOURCE_WORDS
from pipelines import periods, schema
from pipelines.periods import add_months

# Each grain, shortest first, with its adjective and the noun for one of its periods (singular and
# plural, for titles and counts).
_GRAINS = (
    ("month", "monthly", "month", "months"),
    ("quarter", "quarterly", "quarter", "quarters"),
    ("financial_year", "financial-year", "financial year", "financial years"),
    ("calendar_year", "calendar-year", "year", "years"),
    ("rolling_year", "rolling-year", "rolling year", "rolling years"),
)
GRAIN_ORDER = tuple(grain for grain, *_ in _GRAINS)
GRAIN_WORDS = {grain: adjective for grain, adjective, *_ in _GRAINS}
GRAIN_NOUNS = {grain: (noun, plural) for grain, _, noun, plural in _GRAINS}
GRAIN_MONTHS = periods.GRAIN_MONTHS

_REFERENCE = Path(__file__).resolve().parents[2] / "pipelines" / "reference"


def _read_labels(file: str, key: str, value: str) -> dict[str, str]:
    try:
        with open(_REFERENCE / file, newline="", encoding="utf-8-sig") as handle:
            return {row[key]: row[value] for row in csv.DictReader(handle) if row.get(key) and row.get(value)}
    except OSError:
        return {}


# Outcome group ids (`no_suspect`) → their labels, from pipelines/reference/outcome_groups.csv.
OUTCOME_GROUP_LABELS = _read_labels("outcome_groups.csv", "outcome_group", "label")


def _name(force_id: str, names: Mapping[str, str] | None) -> str:
    return (names or {}).get(force_id, force_id)


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _pct(value: float | None, digits: int = 2) -> str:
    return "—" if value is None or _missing(value) else f"{value * 100:.{digits}f}%"


def _pp(value: float | None) -> str:
    """A difference of proportions in percentage points, signed."""
    return "—" if value is None or _missing(value) else f"{value * 100:+.2f} pp"


def _num(value: float | None, spec: str = ".3g") -> str:
    return "—" if value is None or _missing(value) else format(value, spec)


def _count(value: float | None) -> str:
    return "—" if value is None or _missing(value) else f"{int(value):,}"


@overload
def as_date(value: date) -> date: ...
@overload
def as_date(value: None) -> None: ...
@overload
def as_date(value: object) -> date | None: ...  # a frame's `.min()`, typed as any value polars holds
def as_date(value: object) -> date | None:
    """A datetime (polars Datetime, pandas Timestamp) as its date, so no figure shows `00:00:00`."""
    if isinstance(value, datetime):
        return value.date()
    if value is None or isinstance(value, date):
        return value
    raise TypeError(f"not a date: {value!r}")


def period_words(period: date | None, grain: str) -> str:
    """A period in words at its grain, from the period's first day.

    month → "Jan 2008"; quarter → "Jan–Mar 2008" ("Nov 2008–Jan 2009" across a year end);
    financial_year → "2017/18" (the year from April); calendar_year → "2016"; rolling_year (the
    period is the first day of the 12-month window) → "year to Dec 2016". Any other grain: the month.
    """
    if period is None:
        return "—"
    period = as_date(period)
    if grain == "quarter":
        last = add_months(period, 2)
        if last.year == period.year:
            return f"{period:%b}–{last:%b %Y}"
        return f"{period:%b %Y}–{last:%b %Y}"
    if grain == "financial_year":
        start = period.year if period.month >= 4 else period.year - 1
        return f"{start}/{(start + 1) % 100:02d}"
    if grain == "calendar_year":
        return f"{period.year}"
    if grain == "rolling_year":
        return f"year to {add_months(period, 11):%b %Y}"
    return f"{period:%b %Y}"


def window_words(start: date, end_exclusive: date) -> str:
    """The months from `start` up to (not including) `end_exclusive`, in words.

    One month → "Apr 2021"; months of one year → "Jan–Dec 2018"; across years → "Apr 2021 to Mar 2022".
    The last month named is the one before `end_exclusive`.
    """
    start, end_exclusive = as_date(start), as_date(end_exclusive)
    first = date(start.year, start.month, 1)
    end = date(end_exclusive.year, end_exclusive.month, 1)
    last = add_months(end, -1) if end_exclusive.day == 1 else end
    if last <= first:
        return f"{first:%b %Y}"
    if last.year == first.year:
        return f"{first:%b}–{last:%b %Y}"
    return f"{first:%b %Y} to {last:%b %Y}"


def _described(column: str) -> str:
    """The schema's description of a column, as an axis phrase: no final stop, no backticks."""
    text = schema.describe(column).rstrip(".").replace("`", "")
    return text[:1].upper() + text[1:]


def _humanise(label: str) -> str:
    """`charged_summonsed` → `Charged summonsed`; labels with spaces are kept as they are."""
    if " " in label:
        return label
    text = label.replace("_", " ")
    return text[:1].upper() + text[1:]


def label_for(value: str | None, labels: Mapping[str, str] | None = None) -> str:
    """What a reader sees for an id: its label from `labels`, else an outcome group's or a
    source's label, else the id humanised (`no_suspect` → "No suspect")."""
    if value is None:
        return "—"
    for known in (labels or {}, OUTCOME_GROUP_LABELS, SOURCE_WORDS):
        if value in known:
            return known[value]
    return _humanise(value)


_ID = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")


def readable(text: str, labels: Mapping[str, str] | None = None) -> str:
    """Text with every `snake_case` id in it replaced by its label (see `label_for`), e.g. an
    indicator label "Outcome group no_suspect ÷ …" → "Outcome group "Investigation complete, no
    suspect identified" ÷ …". Text without ids is returned unchanged."""
    if not text or "_" not in text:
        return text

    def swap(match: re.Match) -> str:
        word = match.group(0)
        known = {**OUTCOME_GROUP_LABELS, **SOURCE_WORDS, **(labels or {})}
        if word in known:
            return f"“{known[word]}”" if word in OUTCOME_GROUP_LABELS and word not in (labels or {}) else known[word]
        return word.replace("_", " ")

    return _ID.sub(swap, text)


@overload
def _dates(frame: pl.DataFrame, column: str) -> pl.DataFrame: ...
@overload
def _dates(frame: None, column: str) -> None: ...
def _dates(frame: pl.DataFrame | None, column: str) -> pl.DataFrame | None:
    """The frame with a datetime `column` cast to dates (figures never show `00:00:00`)."""
    if frame is None or column not in frame.columns or not isinstance(frame.schema[column], pl.Datetime):
        return frame
    return frame.with_columns(pl.col(column).cast(pl.Date))
