"""Periods: every grain a source publishes at, the months a period covers, and month arithmetic.

One table of grains for the whole project (the schema's SQL, the divergence windows, the readers and
the charts all read it). A rolling year covers twelve months but is published every quarter, so
consecutive rolling years are three months apart: `GRAIN_MONTHS` is what a period covers,
`GRAIN_STEPS` the time between consecutive periods.
"""

from __future__ import annotations

from datetime import date

GRAIN_MONTHS = {"month": 1, "quarter": 3, "rolling_year": 12, "financial_year": 12, "calendar_year": 12}
GRAIN_STEPS = GRAIN_MONTHS | {"rolling_year": 3}


def month_index(day: date) -> int:
    """Months since year 0: consecutive months have consecutive indices."""
    return day.year * 12 + day.month - 1


def add_months(day: date, months: int) -> date:
    """The first day of the month `months` after (or before, if negative) `day`'s month."""
    index = month_index(day) + months
    return date(index // 12, index % 12 + 1, 1)
