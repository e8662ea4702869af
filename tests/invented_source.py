"""An invented publication, written as a new source module would be (see CONTRIBUTING.md, "Adding a
source"): quarterly offence counts by force and ONS offence group, one row per count.

    Quarter starting,Force,Offence group,Offences
    2021-04,Kent,Robbery,12

Everything it needs is a shared step (`pipelines.ingest.steps`) or reference data; it is not
published data, and it lives under tests/ so that only the tests register it.
"""

from __future__ import annotations

import polars as pl

from pipelines import reference
from pipelines.ingest.sources.base import Canonical, Source, TextReader
from pipelines.ingest.steps import (
    REFERENCE,
    counts_by_scheme,
    coverage_of,
    grain,
    passed,
    period_checks,
    reasons,
    resolve_force,
    whole_number,
    year_month,
)

HEADER = ("Quarter starting", "Force", "Offence group", "Offences")


def to_canonical(raw: pl.LazyFrame) -> Canonical:
    force, force_checks = resolve_force("Force")
    lf = raw.with_columns(
        force,
        year_month("Quarter starting").alias("period"),
        whole_number("Offences").alias("offence_count"),
        reference.ons_group_of(pl.col("Offence group")).alias("ons_group"),
    )
    checks = [
        *force_checks,
        (
            pl.col("period").is_null(),
            pl.format(
                "'Quarter starting' is '{}', not a month in YYYY-MM form", pl.col("Quarter starting").fill_null("")
            ),
        ),
        *period_checks("period", "Quarter starting"),
        (
            pl.col("offence_count").is_null(),
            pl.format("'Offences' is '{}', not a whole number", pl.col("Offences").fill_null("")),
        ),
        (
            pl.col("ons_group").is_null(),
            pl.format(
                f"unknown 'Offence group' '{{}}' (add it to {REFERENCE}/ons_offence_labels.csv)",
                pl.col("Offence group").fill_null(""),
            ),
        ),
    ]
    lf = lf.with_columns(passed(checks))
    records = lf.filter(pl.col("passed")).with_columns(pl.lit(None, pl.Date).alias("release_date"), grain("quarter"))
    return Canonical(
        tables={
            "core_counts__recorded_crime": counts_by_scheme(
                records, "invented_quarterly", {"ons_offence_group": "ons_group"}
            )
        },
        loaded=records,
        coverage=coverage_of(records),
        quarantine=lf.filter(~pl.col("passed")).with_columns(reasons(checks)),
    )


QUARTERLY = Source(
    id="invented_quarterly",
    label="Invented quarterly counts (a test fixture)",
    publisher="nobody: invented for the tests",
    colour="#123456",
    reader=TextReader(HEADER),
    to_canonical=to_canonical,
)
SOURCES = (QUARTERLY,)
