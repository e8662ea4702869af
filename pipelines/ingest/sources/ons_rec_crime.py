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
from pipelines.ingest.sources.base import Canonical, SourceFormat, coverage_of, passed, period_checks, reasons

SOURCE = "ons_rec_crime_pfa"
COUNT = "Rolling year total number of offences"
HEADER = ("12 months ending", "PFA", "Region", "Offence", COUNT)
_REF = "pipelines/reference"


def whole_number(column: str) -> pl.Expr:
    """A published count as an integer: thousands separators allowed, anything else null."""
    return pl.col(column).str.strip_chars().str.replace_all(",", "").cast(pl.Int64, strict=False)


def counts_by_scheme(records: pl.LazyFrame, source: str, scheme_columns: dict[str, str]) -> pl.LazyFrame:
    """Sum `offence_count` onto each scheme's category column (rows with no category in a scheme drop out)."""
    parts = []
    for scheme, column in scheme_columns.items():
        parts.append(
            records.filter(pl.col(column).is_not_null())
            .group_by("file_name", "release_date", "force_id", "period", "period_grain", column)
            .agg(
                pl.col("offence_count").sum().cast(pl.Int64),
                pl.when(pl.col("offence_count").min() < 0).then(pl.lit("includes a negative published adjustment")).alias("count_note"),
            )
            .select(
                "file_name", pl.lit(source).alias("source"), "release_date", "force_id", "period", "period_grain",
                pl.lit(scheme).alias("scheme"), pl.col(column).alias("category"), "offence_count", "count_note",
            )
        )
    return pl.concat(parts)


def to_canonical(raw: pl.LazyFrame) -> Canonical:
    period_end = pl.col("12 months ending").str.strip_chars().str.to_date("%d/%m/%Y", strict=False)
    lf = raw.with_columns(
        reference.force_id_of(pl.col("PFA")).alias("force_id"),
        # A rolling year is named by its last day, spelled variously (`31/12/2018`, but `30/12/2017` for
        # the year ending December 2017): the year ending in month M starts on the first of M − 11.
        period_end.dt.month_start().dt.offset_by("-11mo").alias("period"),
        whole_number(COUNT).alias("offence_count"),
        reference.ons_group_of(pl.col("Offence")).alias("ons_group"),
        reference.ons_subgroup_of(pl.col("Offence")).alias("ons_subgroup"),
    )
    checks = [
        (pl.col("force_id").is_null(),
         pl.format(f"unknown force '{{}}' in 'PFA' (if it is a real force, add the spelling to {_REF}/force_aliases.csv)", pl.col("PFA").fill_null(""))),
        (pl.col("period").is_null(),
         pl.format("'12 months ending' is '{}', not a date in dd/mm/yyyy form", pl.col("12 months ending").fill_null(""))),
        *period_checks("period", "12 months ending"),
        (pl.col("offence_count").is_null(),
         pl.format(f"'{COUNT}' is '{{}}', not a whole number", pl.col(COUNT).fill_null(""))),
        (pl.col("ons_group").is_null(),
         pl.format(f"unknown offence '{{}}' (add it to {_REF}/ons_offence_labels.csv with its ONS group)", pl.col("Offence").fill_null(""))),
    ]
    lf = lf.with_columns(passed(checks))
    records = lf.filter(pl.col("passed")).with_columns(
        pl.lit(None, dtype=pl.Date).alias("release_date"), pl.lit("rolling_year").alias("period_grain")
    )
    return Canonical(
        tables={
            "core_counts__recorded_crime": counts_by_scheme(
                records, SOURCE,
                {"ons_rec_crime_offence": "Offence", "ons_offence_group": "ons_group", "ons_offence_subgroup": "ons_subgroup"},
            )
        },
        loaded=records,
        coverage=coverage_of(records),
        quarantine=lf.filter(~pl.col("passed")).with_columns(reasons(checks)),
    )


FORMAT = SourceFormat(source=SOURCE, header=HEADER, to_canonical=to_canonical)
