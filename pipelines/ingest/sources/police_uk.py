"""data.police.uk monthly returns: street-level crime files and outcome files.

`YYYY-MM-<force>-street.csv[.gz]` holds one row per crime or anti-social behaviour record, with
the crime's last outcome so far; `YYYY-MM-<force>-outcomes.csv[.gz]` holds one row per outcome
assigned in the month. `to_canonical` is pure: strings in, canonical rows, counts and quarantine out.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import polars as pl

from pipelines import reference
from pipelines.ingest.sources.base import Canonical, Source, TextReader
from pipelines.ingest.steps import (
    REFERENCE,
    Check,
    coverage_of,
    current_month,
    grain,
    period_checks,
    read_as,
    resolve_force,
    split,
    year_month,
)

_LOCATION_COLUMNS = [
    "Crime ID",
    "Month",
    "Reported by",
    "Falls within",
    "Longitude",
    "Latitude",
    "Location",
    "LSOA code",
    "LSOA name",
]
STREET_HEADER = (*_LOCATION_COLUMNS, "Crime type", "Last outcome category", "Context")
OUTCOMES_HEADER = (*_LOCATION_COLUMNS, "Outcome type")

# police.uk's first month of street-level data.
FIRST_MONTH = date(2010, 12, 1)
# A box round Great Britain and Northern Ireland with a margin: police.uk's anonymised map points all
# fall inside it, so a point outside is a typing or export error, not a place.
LONGITUDE_RANGE = (-11.0, 3.0)
LATITUDE_RANGE = (49.0, 61.0)


def _number(column: str) -> pl.Expr:
    return pl.col(column).str.strip_chars().cast(pl.Float64, strict=False)


def _month_of_file_name() -> pl.Expr:
    """The month a file's name says it returns (`2021-01-kent-street.csv`), or null for another name."""
    named = pl.col("file_name").str.extract(r"^(\d{4}-(?:0[1-9]|1[0-2]))-", 1)
    return (named + "-01").str.to_date("%Y-%m-%d", strict=False)


def _coordinate_checks(column: str, parsed: str, bounds: tuple[float, float]) -> list[Check]:
    low, high = bounds
    value = pl.col(parsed)
    return [
        read_as(column, "a number", parsed, required=False),
        (
            value.is_not_null() & ~value.is_finite(),
            pl.format(f"'{column}' is '{{}}', not a finite number", pl.col(column)),
        ),
        (
            value.is_finite() & ((value < low) | (value > high)),
            pl.format(
                f"'{column}' is '{{}}', outside Great Britain and Northern Ireland ({low:g} to {high:g})",
                pl.col(column),
            ),
        ),
    ]


def _outcome_group(label_column: str) -> pl.Expr:
    outcomes = reference.police_uk_outcomes()
    return (
        pl.col(label_column)
        .replace_strict(outcomes["outcome_label"], outcomes["outcome_group"], default=None, return_dtype=pl.String)
        .alias("outcome_group")
    )


def _unknown_outcome(label_column: str) -> Check:
    """The check that `label_column`, where filled, holds an outcome label police.uk publishes."""
    return (
        pl.col(label_column).is_not_null()
        & ~pl.col(label_column).is_in(reference.police_uk_outcomes()["outcome_label"].implode()),
        pl.format(
            f"unknown outcome '{{}}' in '{label_column}' "
            f"(if police.uk publishes it, add it to {REFERENCE}/police_uk_outcomes.csv)",
            pl.col(label_column),
        ),
    )


def _common(lf: pl.LazyFrame) -> tuple[pl.LazyFrame, list[Check]]:
    """Resolution and checks shared by both police.uk files."""
    force, force_checks = resolve_force("Falls within")
    reported_by, reported_by_checks = resolve_force("Reported by", "reported_by_force_id", required=False)
    lf = lf.with_columns(
        force,
        reported_by,
        year_month("Month").alias("period"),
        _month_of_file_name().alias("file_month"),
        _number("Longitude").alias("longitude"),
        _number("Latitude").alias("latitude"),
    )
    latest = current_month()
    checks = [
        *force_checks,
        *reported_by_checks,
        read_as("Month", "a month in YYYY-MM form", "period"),
        *period_checks("period", "Month", FIRST_MONTH, "police.uk's first month"),
        # A monthly file holds its own month only: another month inside it is a mislabelled row.
        (
            pl.col("period").is_between(FIRST_MONTH, latest)
            & pl.col("file_month").is_not_null()
            & (pl.col("period") != pl.col("file_month")),
            pl.format(
                "'Month' is '{}', but the file is the return for {} (its name)",
                pl.col("Month"),
                pl.col("file_month").dt.strftime("%Y-%m"),
            ),
        ),
        *_coordinate_checks("Longitude", "longitude", LONGITUDE_RANGE),
        *_coordinate_checks("Latitude", "latitude", LATITUDE_RANGE),
    ]
    return lf, checks


def _records(passing: pl.LazyFrame, *columns: pl.Expr) -> pl.LazyFrame:
    """The record-level rows of either file: its provenance, the location columns both files share,
    then `columns`."""
    return passing.select(
        pl.col("file_name"),
        pl.col("row_number"),
        pl.col("Crime ID").alias("crime_id"),
        pl.col("period"),
        pl.col("reported_by_force_id"),
        pl.col("force_id"),
        pl.col("longitude"),
        pl.col("latitude"),
        pl.col("Location").alias("location"),
        pl.col("LSOA code").alias("lsoa_code"),
        pl.col("LSOA name").alias("lsoa_name"),
        *columns,
        pl.col("duplicate_of_row"),
    )


def _count_keys(source: str, category: pl.Expr) -> list[pl.Expr | str]:
    """The key of a monthly police.uk count: file, source, force, month and crime type (`category`)."""
    return [
        "file_name",
        pl.lit(source).alias("source"),
        "force_id",
        "period",
        grain("month"),
        pl.lit("police_uk").alias("scheme"),
        category.alias("category"),
    ]


def _outcome_counts(records: pl.LazyFrame, source: str, count_basis: str, crime_type: str | None) -> pl.LazyFrame:
    """Outcomes per file, force, month, crime type and outcome. An outcomes file carries no crime type
    (`crime_type` None): its counts have no category."""
    by_type = [crime_type] if crime_type else []
    category = pl.col(crime_type) if crime_type else pl.lit(None, dtype=pl.String)
    return (
        records.group_by("file_name", "force_id", "period", *by_type, "outcome", "outcome_group")
        .agg(pl.len().cast(pl.Int64).alias("outcome_count"))
        .select(
            *_count_keys(source, category),
            pl.lit("police_uk").alias("outcome_scheme"),
            "outcome",
            "outcome_group",
            pl.lit(count_basis).alias("count_basis"),
            "outcome_count",
        )
    )


def street_to_canonical(raw: pl.LazyFrame) -> Canonical:
    source = "police_uk_street"
    lf, checks = _common(raw)
    known_types = reference.police_uk_crime_types()["crime_type"].implode()
    lf = lf.with_columns(_outcome_group("Last outcome category"))
    checks += [
        (pl.col("Crime type").is_null(), pl.lit("'Crime type' is empty")),
        (
            pl.col("Crime type").is_not_null() & ~pl.col("Crime type").is_in(known_types),
            pl.format(
                f"unknown crime type '{{}}' "
                f"(if police.uk publishes it, add it to {REFERENCE}/police_uk_crime_types.csv)",
                pl.col("Crime type"),
            ),
        ),
        _unknown_outcome("Last outcome category"),
    ]
    passing, quarantine = split(lf, checks)
    records = _records(
        passing,
        pl.col("Crime type").alias("crime_type"),
        pl.col("Last outcome category").alias("outcome"),
        pl.col("outcome_group"),
        pl.col("Context").alias("context"),
    )
    recorded_crime = (
        records.group_by("file_name", "force_id", "period", "crime_type")
        .agg(pl.len().cast(pl.Int64).alias("offence_count"))
        .select(*_count_keys(source, pl.col("crime_type")), "offence_count")
    )
    return Canonical(
        tables={
            "core_police_uk__street_crimes": records,
            "core_counts__recorded_crime": recorded_crime,
            "core_counts__crime_outcomes": _outcome_counts(
                records, source, "offences_recorded_in_period", "crime_type"
            ),
        },
        loaded=records,
        coverage=coverage_of(records),
        quarantine=quarantine,
    )


def outcomes_to_canonical(raw: pl.LazyFrame) -> Canonical:
    source = "police_uk_outcomes"
    lf, checks = _common(raw)
    lf = lf.with_columns(_outcome_group("Outcome type"))
    checks += [
        (pl.col("Outcome type").is_null(), pl.lit("'Outcome type' is empty")),
        _unknown_outcome("Outcome type"),
    ]
    passing, quarantine = split(lf, checks)
    records = _records(passing, pl.col("Outcome type").alias("outcome"), pl.col("outcome_group"))
    return Canonical(
        tables={
            "core_police_uk__outcome_events": records,
            "core_counts__crime_outcomes": _outcome_counts(records, source, "outcomes_in_period", None),
        },
        loaded=records,
        coverage=coverage_of(records),
        quarantine=quarantine,
    )


def _source(
    source_id: str, label: str, colour: str, header: tuple[str, ...], to_canonical: Callable[[pl.LazyFrame], Canonical]
) -> Source:
    """A police.uk monthly file: published by data.police.uk, read row by row (`Source.row_local`)."""
    return Source(
        id=source_id,
        label=label,
        publisher="data.police.uk",
        colour=colour,
        reader=TextReader(header),
        to_canonical=to_canonical,
        row_local=True,
    )


STREET = _source("police_uk_street", "data.police.uk street-level crime", "#0072B2", STREET_HEADER, street_to_canonical)
OUTCOMES = _source("police_uk_outcomes", "data.police.uk outcomes", "#56B4E9", OUTCOMES_HEADER, outcomes_to_canonical)
SOURCES = (STREET, OUTCOMES)
