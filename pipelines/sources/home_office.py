"""Home Office police recorded crime and outcomes open data tables (quarterly, by force or by CSP).

Layouts (documented in `docs/home_office_tables.md`):

- recorded crime by force: `Financial Year, Financial Quarter, Force Name, Offence Description,
  Offence Group, Offence Subgroup, Offence Code, Number of Offences`;
- recorded crime by community safety partnership: the same with `CSP Name` after `Force Name`;
- outcomes: `Financial Year, Financial Quarter, Force Name, Offence Description, Offence Group,
  Offence Subgroup, Offence Code, Outcome Description, Outcome Group, Outcome Type,
  Force outcomes for offences recorded in quarter, Force outcomes recorded in quarter`.

Columns are recognised by name, in any order. A financial year `2019/20` with quarter `1` is the
quarter starting 2019-04-01. Offence codes are normalised (`08N` is `8N`) and kept as published in
scheme `ho_offence_code`; counts are also summed onto the ONS offence group and subgroup named in the
row. Outcomes keep both count bases, which are not interchangeable.
"""

from __future__ import annotations

import polars as pl

from pipelines import reference
from pipelines.sources.base import Canonical, SourceFormat, coverage_of, passed, period_checks, reasons
from pipelines.sources.ons_rec_crime import counts_by_scheme, whole_number

_REF = "pipelines/reference"
_KEYS = ("Financial Year", "Financial Quarter", "Force Name", "Offence Description", "Offence Group", "Offence Subgroup", "Offence Code")
CRIME_PFA_HEADER = (*_KEYS, "Number of Offences")
CRIME_CSP_HEADER = (*_KEYS[:3], "CSP Name", *_KEYS[3:], "Number of Offences")
OFFENCES_RECORDED = "Force outcomes for offences recorded in quarter"
OUTCOMES_RECORDED = "Force outcomes recorded in quarter"
OUTCOMES_HEADER = (*_KEYS, "Outcome Description", "Outcome Group", "Outcome Type", OFFENCES_RECORDED, OUTCOMES_RECORDED)


def _same_columns(expected: tuple[str, ...]):
    return lambda header: sorted(header) == sorted(expected)


def _quarter_start() -> pl.Expr:
    year = pl.col("Financial Year").str.strip_chars().str.extract(r"^(\d{4})/\d{2}$").cast(pl.Int32, strict=False)
    quarter = pl.col("Financial Quarter").str.strip_chars().str.replace(r"^Q", "").cast(pl.Int32, strict=False)
    quarter = pl.when(quarter.is_between(1, 4)).then(quarter)
    month = (quarter - 1) * 3 + 4  # Q1 starts in April
    return pl.date(year + (month > 12).cast(pl.Int32), (month - 1) % 12 + 1, 1)


def _normalised_code() -> pl.Expr:
    # A table has millions of rows but a few hundred distinct codes: normalise each distinct code once.
    return pl.col("Offence Code").map_batches(_normalise_distinct, return_dtype=pl.String)


def _normalise_distinct(codes: pl.Series) -> pl.Series:
    distinct = codes.drop_nulls().unique().to_list()
    return codes.replace_strict(distinct, [_try_normalise(c) for c in distinct], default=None, return_dtype=pl.String)


def _try_normalise(code: str) -> str | None:
    try:
        return reference.normalise_offence_code(code)
    except ValueError:
        return None


def _offence_columns(lf: pl.LazyFrame) -> tuple[pl.LazyFrame, list[tuple[pl.Expr, pl.Expr]]]:
    """Force, quarter, code and ONS group and subgroup of each row, with the checks they must pass."""
    lf = lf.with_columns(
        reference.force_id_of(pl.col("Force Name")).alias("force_id"),
        _quarter_start().alias("period"),
        _normalised_code().alias("offence_code"),
        reference.ons_group_of(pl.col("Offence Group")).alias("ons_group"),
        reference.ons_subgroup_of(pl.col("Offence Subgroup")).alias("ons_subgroup"),
    )
    checks = [
        (pl.col("force_id").is_null(),
         pl.format(f"unknown force '{{}}' in 'Force Name' (if it is a real force, add the spelling to {_REF}/force_aliases.csv)", pl.col("Force Name").fill_null(""))),
        (pl.col("period").is_null(),
         pl.format("'Financial Year' '{}' and 'Financial Quarter' '{}' do not name a quarter (expected e.g. 2019/20 and 1-4)",
                   pl.col("Financial Year").fill_null(""), pl.col("Financial Quarter").fill_null(""))),
        *period_checks("period", "Financial Year"),
        (pl.col("offence_code").is_null(),
         pl.format("'Offence Code' is '{}', not a Home Office offence code", pl.col("Offence Code").fill_null(""))),
        (pl.col("ons_group").is_null(),
         pl.format(f"unknown 'Offence Group' '{{}}' (add it to {_REF}/ons_offence_labels.csv)", pl.col("Offence Group").fill_null(""))),
        (pl.col("Offence Subgroup").is_not_null() & pl.col("ons_subgroup").is_null(),
         pl.format(f"unknown 'Offence Subgroup' '{{}}' (add it to {_REF}/ons_offence_labels.csv)", pl.col("Offence Subgroup"))),
    ]
    return lf, checks


def _with_release(records: pl.LazyFrame) -> pl.LazyFrame:
    return records.with_columns(pl.lit(None, dtype=pl.Date).alias("release_date"), pl.lit("quarter").alias("period_grain"))


def _crime_to_canonical(raw: pl.LazyFrame, source: str, area_column: str | None) -> Canonical:
    lf, checks = _offence_columns(raw)
    lf = lf.with_columns(whole_number("Number of Offences").alias("offence_count"))
    checks.append((pl.col("offence_count").is_null(),
                   pl.format("'Number of Offences' is '{}', not a whole number", pl.col("Number of Offences").fill_null(""))))
    lf = lf.with_columns(passed(checks))
    records = _with_release(lf.filter(pl.col("passed")))
    tables = {
        "core_counts__recorded_crime": counts_by_scheme(
            records, source, {"ho_offence_code": "offence_code", "ons_offence_group": "ons_group", "ons_offence_subgroup": "ons_subgroup"}
        )
    }
    if area_column:
        tables["core_force_exports__area_counts"] = records.select(
            "file_name", "row_number", pl.lit(source).alias("source"), "release_date", "force_id",
            pl.col(area_column).alias("area_name"), pl.lit(None, dtype=pl.String).alias("area_code"), "period", "period_grain",
            pl.col("Offence Description").alias("source_label"), pl.lit("ho_offence_code").alias("scheme"),
            pl.col("offence_code").alias("category"), "offence_count",
        )
    return Canonical(tables=tables, loaded=records, coverage=coverage_of(records),
                     quarantine=lf.filter(~pl.col("passed")).with_columns(reasons(checks)))


def outcomes_to_canonical(raw: pl.LazyFrame) -> Canonical:
    source = "ho_outcomes"
    lf, checks = _offence_columns(raw)
    types = reference.ho_outcome_types()
    lf = lf.with_columns(
        pl.col("Outcome Type").str.strip_chars().cast(pl.Int32, strict=False).alias("outcome_type"),
        whole_number(OFFENCES_RECORDED).alias("offences_recorded_in_period"),
        whole_number(OUTCOMES_RECORDED).alias("outcomes_in_period"),
    ).with_columns(
        pl.col("outcome_type").replace_strict(types["outcome_type"], types["outcome_group"], default=None, return_dtype=pl.String).alias("outcome_group")
    )
    checks += [
        (pl.col("outcome_group").is_null(),
         pl.format("'Outcome Type' is '{}', not a Home Office outcome type 0-22", pl.col("Outcome Type").fill_null(""))),
        (pl.col("offences_recorded_in_period").is_null() & pl.col(OFFENCES_RECORDED).is_not_null(),
         pl.format(f"'{OFFENCES_RECORDED}' is '{{}}', not a whole number", pl.col(OFFENCES_RECORDED))),
        (pl.col("outcomes_in_period").is_null() & pl.col(OUTCOMES_RECORDED).is_not_null(),
         pl.format(f"'{OUTCOMES_RECORDED}' is '{{}}', not a whole number", pl.col(OUTCOMES_RECORDED))),
    ]
    lf = lf.with_columns(passed(checks))
    records = _with_release(lf.filter(pl.col("passed")))
    long = records.unpivot(
        on=["offences_recorded_in_period", "outcomes_in_period"],
        index=["file_name", "release_date", "force_id", "period", "period_grain", "offence_code", "ons_group", "outcome_type", "outcome_group"],
        variable_name="count_basis", value_name="outcome_count",
    ).filter(pl.col("outcome_count").is_not_null())
    parts = []
    for scheme, column in {"ho_offence_code": "offence_code", "ons_offence_group": "ons_group"}.items():
        parts.append(
            long.group_by("file_name", "release_date", "force_id", "period", "period_grain", column, "outcome_type", "outcome_group", "count_basis")
            .agg(pl.col("outcome_count").sum().cast(pl.Int64))
            .select(
                "file_name", pl.lit(source).alias("source"), "release_date", "force_id", "period", "period_grain",
                pl.lit(scheme).alias("scheme"), pl.col(column).alias("category"), pl.lit("ho_outcome_type").alias("outcome_scheme"),
                pl.col("outcome_type").cast(pl.String).alias("outcome"), "outcome_group", "count_basis", "outcome_count",
                pl.lit(None, dtype=pl.String).alias("count_note"),
            )
        )
    return Canonical(tables={"core_counts__crime_outcomes": pl.concat(parts)}, loaded=records, coverage=coverage_of(records),
                     quarantine=lf.filter(~pl.col("passed")).with_columns(reasons(checks)))


CRIME_PFA = SourceFormat(source="ho_recorded_crime_pfa", header=CRIME_PFA_HEADER,
                         to_canonical=lambda raw: _crime_to_canonical(raw, "ho_recorded_crime_pfa", None),
                         recognise=_same_columns(CRIME_PFA_HEADER))
CRIME_CSP = SourceFormat(source="ho_recorded_crime_csp", header=CRIME_CSP_HEADER,
                         to_canonical=lambda raw: _crime_to_canonical(raw, "ho_recorded_crime_csp", "CSP Name"),
                         recognise=_same_columns(CRIME_CSP_HEADER))
OUTCOMES = SourceFormat(source="ho_outcomes", header=OUTCOMES_HEADER, to_canonical=outcomes_to_canonical,
                        recognise=_same_columns(OUTCOMES_HEADER))
