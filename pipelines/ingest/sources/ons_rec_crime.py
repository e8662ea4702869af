"""ONS "Recorded crime data at Police Force Area level" (open-data CSV, rolling years 2003–2018).

Columns: `12 months ending, PFA, Region, Offence, Rolling year total number of offences`, dates
dd/mm/yyyy. Fraud bodies (Action Fraud, CIFAS, UK Finance) are listed as if they were forces; they
resolve to their own force_ids, which are marked as not territorial. Negative values are published
adjustments: kept, with a `count_note`. Burglary changes from domestic/non-domestic to
residential/non-residential part way; both pairs are kept as published (the old pair is published as
zero after the change), and the registry of breaks records the change.

Each row is written three ways: as published (`ons_rec_crime_offence`), and summed onto the ONS
offence group (`ons_offence_group`) and subgroup (`ons_offence_subgroup`) it belongs to.
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
    period_checks,
    period_start,
    read_as,
    resolve_force,
    split,
    whole_number,
)

SOURCE = "ons_rec_crime_pfa"
COUNT = "Rolling year total number of offences"
HEADER = ("12 months ending", "PFA", "Region", "Offence", COUNT)


def to_canonical(raw: pl.LazyFrame) -> Canonical:
    period_end = pl.col("12 months ending").str.strip_chars().str.to_date("%d/%m/%Y", strict=False)
    force, force_checks = resolve_force("PFA")
    lf = raw.with_columns(
        force,
        # A rolling year is named by its last day, spelled variously (`31/12/2018`, but `30/12/2017` for
        # the year ending December 2017): what matters is the month it ends in.
        period_start(period_end, "rolling_year").alias("period"),
        whole_number(COUNT).alias("offence_count"),
        reference.ons_group_of(pl.col("Offence")).alias("ons_group"),
        reference.ons_subgroup_of(pl.col("Offence")).alias("ons_subgroup"),
    )
    checks = [
        *force_checks,
        read_as("12 months ending", "a date in dd/mm/yyyy form", "period"),
        *period_checks("period", "12 months ending"),
        read_as(COUNT, "a whole number", "offence_count"),
        (
            pl.col("ons_group").is_null(),
            pl.format(
                f"unknown offence '{{}}' (add it to {REFERENCE}/ons_offence_labels.csv with its ONS group)",
                pl.col("Offence").fill_null(""),
            ),
        ),
    ]
    passing, quarantine = split(lf, checks)
    records = passing.with_columns(pl.lit(None, dtype=pl.Date).alias("release_date"), grain("rolling_year"))
    return Canonical(
        tables={
            "core_counts__recorded_crime": counts_by_scheme(
                records,
                SOURCE,
                {
                    "ons_rec_crime_offence": "Offence",
                    "ons_offence_group": "ons_group",
                    "ons_offence_subgroup": "ons_subgroup",
                },
            )
        },
        loaded=records,
        coverage=coverage_of(records),
        quarantine=quarantine,
    )


RECORDED_CRIME = Source(
    id=SOURCE,
    label="ONS recorded crime by police force area (rolling years)",
    publisher="Office for National Statistics",
    colour="#E69F00",
    reader=TextReader(HEADER),
    to_canonical=to_canonical,
)
SOURCES = (RECORDED_CRIME,)
