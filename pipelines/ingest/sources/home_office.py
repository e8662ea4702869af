"""Home Office police recorded crime and outcomes open data tables (quarterly, by force or by CSP).

Layouts (documented in `docs/home_office_tables.md`):

- recorded crime by force: `Financial Year, Financial Quarter, Force Name, Offence Description,
  Offence Group, Offence Subgroup, Offence Code, Number of Offences`;
- recorded crime by community safety partnership: the same with `CSP Name` after `Force Name`;
- outcomes: `Financial Year, Financial Quarter, Force Name, Offence Description, Offence Group,
  Offence Subgroup, Offence Code, Outcome Description, Outcome Group, Outcome Type,
  Force outcomes for offences recorded in quarter, Force outcomes recorded in quarter`.

Columns are recognised by name, in any order, and names that differ only in case, spacing and
punctuation are the same column (`Force Name`, `force_name`, `FORCE-NAME`). Each layout also
declares what its known copies rename or add (`Layout`): the tidied copy of the outcomes sheet
that analysts pass around names the first count column `offences` and writes `NA` for an empty
cell. A financial year `2019/20` with quarter `1` is the quarter starting 2019-04-01. Offence codes
are normalised (`08N` is `8N`) and kept as published in scheme `ho_offence_code`; counts are also
summed onto the ONS offence group and subgroup named in the row. Outcomes keep both count bases,
which are not interchangeable.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from pipelines import reference
from pipelines.ingest.sources.base import Canonical, Source, TextReader
from pipelines.ingest.steps import (
    COUNT_KEY,
    REFERENCE,
    Check,
    counts_by_scheme,
    coverage_of,
    financial_quarter_start,
    grain,
    offence_code,
    onto_schemes,
    period_checks,
    read_as,
    resolve_force,
    split,
    whole_number,
)

_KEYS = (
    "Financial Year",
    "Financial Quarter",
    "Force Name",
    "Offence Description",
    "Offence Group",
    "Offence Subgroup",
    "Offence Code",
)
CRIME_PFA_HEADER = (*_KEYS, "Number of Offences")
CRIME_CSP_HEADER = (*_KEYS[:3], "CSP Name", *_KEYS[3:], "Number of Offences")
OFFENCES_RECORDED = "Force outcomes for offences recorded in quarter"
OUTCOMES_RECORDED = "Force outcomes recorded in quarter"
OUTCOMES_HEADER = (*_KEYS, "Outcome Description", "Outcome Group", "Outcome Type", OFFENCES_RECORDED, OUTCOMES_RECORDED)
# Each count is written under the offence code and the ONS group and subgroup the row names.
OFFENCE_SCHEMES = {
    "ho_offence_code": "normalised_code",
    "ons_offence_group": "ons_group",
    "ons_offence_subgroup": "ons_subgroup",
}


def header_key(name: str) -> str:
    """A column name with case, spacing and punctuation removed: the part that names the column."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


@dataclass(frozen=True)
class Layout:
    """One way a Home Office table is published or copied. `columns` are the published names (read by
    `header_key`); `renamed` maps a copy's own name for a column to the published one (declared, never
    guessed); `optional` columns may be present; `missing` are the cell values that mean empty."""

    columns: tuple[str, ...]
    renamed: tuple[tuple[str, str], ...] = ()
    optional: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()

    def names(self) -> dict[str, str]:
        """header key → published name, for every column this layout may hold."""
        renamed = dict(self.renamed)
        published = {header_key(c): c for c in (*self.columns, *self.optional) if c not in renamed.values()}
        return published | {header_key(copy): name for copy, name in self.renamed}

    def required(self) -> set[str]:
        renamed = {name: copy for copy, name in self.renamed}
        return {header_key(renamed.get(c, c)) for c in self.columns}

    def recognises(self, header: list[str]) -> bool:
        keys = [header_key(h) for h in header]
        return len(set(keys)) == len(keys) and self.required() <= set(keys) <= set(self.names())


def _recognise(layouts: tuple[Layout, ...]):
    return lambda header: any(layout.recognises(header) for layout in layouts)


def _as_published(raw: pl.LazyFrame, layouts: tuple[Layout, ...]) -> pl.LazyFrame:
    """The raw rows with every column also under its published name, a layout's missing-value
    markers made empty. The file's own columns stay as they were, for the quarantine's raw rows."""
    header = [c for c in raw.collect_schema().names() if c not in ("file_name", "row_number", "duplicate_of_row")]
    layout = next(layout for layout in layouts if layout.recognises(header))
    names = layout.names()
    columns = []
    for column in header:
        value = pl.col(column)
        if layout.missing:
            value = pl.when(value.str.strip_chars().is_in(list(layout.missing))).then(None).otherwise(value)
        columns.append(value.alias(names[header_key(column)]))
    for name in layout.optional:
        if header_key(name) not in {header_key(c) for c in header}:
            columns.append(pl.lit(None, dtype=pl.String).alias(name))
    return raw.with_columns(columns)


def _unless_blank(checks: list[Check], columns: tuple[str, ...]) -> list[Check]:
    """A blank row (a copy's trailing row of `NA`s) is quarantined for being blank, not for each empty cell."""
    blank = pl.all_horizontal([pl.col(c).is_null() for c in columns])
    return [
        (blank, pl.lit("the row is blank (every cell empty or a missing-value marker): it holds no count")),
        *[(failed & ~blank, message) for failed, message in checks],
    ]


def _offence_columns(lf: pl.LazyFrame) -> tuple[pl.LazyFrame, list[Check]]:
    """Force, quarter, code and ONS group and subgroup of each row, with the checks they must pass.
    Derived columns are named apart from any copy's own (`offence_code` is a tidied copy's column),
    so that a quarantined row shows its cells as read."""
    force, force_checks = resolve_force("Force Name")
    lf = lf.with_columns(
        force,
        financial_quarter_start("Financial Year", "Financial Quarter").alias("period"),
        offence_code(pl.col("Offence Code")).alias("normalised_code"),
        reference.ons_group_of(pl.col("Offence Group")).alias("ons_group"),
        reference.ons_subgroup_of(pl.col("Offence Subgroup")).alias("ons_subgroup"),
    )
    checks = [
        *force_checks,
        (
            pl.col("period").is_null(),
            pl.format(
                "'Financial Year' '{}' and 'Financial Quarter' '{}' do not name a quarter "
                "(expected e.g. 2019/20 and 1-4)",
                pl.col("Financial Year").fill_null(""),
                pl.col("Financial Quarter").fill_null(""),
            ),
        ),
        *period_checks("period", "Financial Year"),
        read_as("Offence Code", "a Home Office offence code", "normalised_code"),
        (
            pl.col("ons_group").is_null(),
            pl.format(
                f"unknown 'Offence Group' '{{}}' (add it to {REFERENCE}/ons_offence_labels.csv)",
                pl.col("Offence Group").fill_null(""),
            ),
        ),
        (
            pl.col("Offence Subgroup").is_not_null() & ~reference.is_offence_label(pl.col("Offence Subgroup")),
            pl.format(
                f"unknown 'Offence Subgroup' '{{}}' (add it to {REFERENCE}/ons_offence_labels.csv)",
                pl.col("Offence Subgroup"),
            ),
        ),
    ]
    return lf, checks


def _with_release(records: pl.LazyFrame) -> pl.LazyFrame:
    return records.with_columns(pl.lit(None, dtype=pl.Date).alias("release_date"), grain("quarter"))


def _crime_to_canonical(
    raw: pl.LazyFrame, source: str, area_column: str | None, layouts: tuple[Layout, ...]
) -> Canonical:
    lf, checks = _offence_columns(_as_published(raw, layouts))
    lf = lf.with_columns(whole_number("Number of Offences").alias("offence_count"))
    checks.append(read_as("Number of Offences", "a whole number", "offence_count"))
    checks = _unless_blank(checks, layouts[0].columns)
    passing, quarantine = split(lf, checks)
    records = _with_release(passing)
    tables = {"core_counts__recorded_crime": counts_by_scheme(records, source, OFFENCE_SCHEMES)}
    if area_column:
        tables["core_force_exports__area_counts"] = records.select(
            "file_name",
            "row_number",
            pl.lit(source).alias("source"),
            "release_date",
            "force_id",
            pl.col(area_column).alias("area_name"),
            pl.lit(None, dtype=pl.String).alias("area_code"),
            "period",
            "period_grain",
            pl.col("Offence Description").alias("source_label"),
            pl.lit("ho_offence_code").alias("scheme"),
            pl.col("normalised_code").alias("category"),
            "offence_count",
        )
    return Canonical(tables=tables, loaded=records, coverage=coverage_of(records), quarantine=quarantine)


def outcomes_to_canonical(raw: pl.LazyFrame) -> Canonical:
    source = "ho_outcomes"
    lf, checks = _offence_columns(_as_published(raw, OUTCOMES_LAYOUTS))
    types = reference.ho_outcome_types()
    lf = lf.with_columns(
        pl.col("Outcome Type").str.strip_chars().cast(pl.Int32, strict=False).alias("outcome_number"),
        whole_number(OFFENCES_RECORDED).alias("offences_recorded_in_period"),
        whole_number(OUTCOMES_RECORDED).alias("outcomes_in_period"),
    ).with_columns(
        pl.col("outcome_number")
        .replace_strict(types["outcome_type"], types["outcome_group"], default=None, return_dtype=pl.String)
        .alias("grouped_outcome")
    )
    checks += [
        read_as("Outcome Type", "a Home Office outcome type 0-22", "grouped_outcome"),
        read_as(OFFENCES_RECORDED, "a whole number", "offences_recorded_in_period", required=False),
        read_as(OUTCOMES_RECORDED, "a whole number", "outcomes_in_period", required=False),
    ]
    checks = _unless_blank(checks, OUTCOMES_HEADER)
    passing, quarantine = split(lf, checks)
    records = _with_release(passing)
    long = records.unpivot(
        on=["offences_recorded_in_period", "outcomes_in_period"],
        index=[
            "file_name",
            "release_date",
            "force_id",
            "period",
            "period_grain",
            "normalised_code",
            "ons_group",
            "ons_subgroup",
            "outcome_number",
            "grouped_outcome",
        ],
        variable_name="count_basis",
        value_name="outcome_count",
    ).filter(pl.col("outcome_count").is_not_null())
    outcome_counts = (
        onto_schemes(long, source, OFFENCE_SCHEMES)
        .group_by(*COUNT_KEY, "outcome_number", "grouped_outcome", "count_basis")
        .agg(pl.col("outcome_count").sum().cast(pl.Int64))
        .select(
            *COUNT_KEY,
            pl.lit("ho_outcome_type").alias("outcome_scheme"),
            pl.col("outcome_number").cast(pl.String).alias("outcome"),
            pl.col("grouped_outcome").alias("outcome_group"),
            "count_basis",
            "outcome_count",
            pl.lit(None, dtype=pl.String).alias("count_note"),
        )
    )
    # Every offence recorded in a quarter has one outcome status on this basis ("not yet assigned"
    # included), so the sum over outcome types is the offences recorded: what reconciliation compares.
    recorded = records.filter(pl.col("offences_recorded_in_period").is_not_null()).with_columns(
        pl.col("offences_recorded_in_period").alias("offence_count")
    )
    tables = {
        "core_counts__crime_outcomes": outcome_counts,
        "core_counts__recorded_crime": counts_by_scheme(recorded, source, OFFENCE_SCHEMES),
    }
    return Canonical(tables=tables, loaded=records, coverage=coverage_of(records), quarantine=quarantine)


# The published layouts, and the known copies of the outcomes sheet.
CRIME_PFA_LAYOUTS = (Layout(CRIME_PFA_HEADER),)
CRIME_CSP_LAYOUTS = (Layout(CRIME_CSP_HEADER),)
OFFENCE_CODE_EXPIRED = "Offence Code Expired"
OUTCOMES_LAYOUTS = (
    Layout(OUTCOMES_HEADER, optional=(OFFENCE_CODE_EXPIRED,)),
    # The tidied copy of the 2017/18 sheet (snake_case names, R's `NA` for an empty cell).
    Layout(
        OUTCOMES_HEADER, renamed=(("offences", OFFENCES_RECORDED),), optional=(OFFENCE_CODE_EXPIRED,), missing=("NA",)
    ),
)


def _source(
    source_id: str,
    label: str,
    colour: str,
    layouts: tuple[Layout, ...],
    to_canonical: Callable[[pl.LazyFrame], Canonical],
) -> Source:
    """A Home Office table: recognised in any of its layouts, and named in messages by the first (the
    layout it is published in)."""
    return Source(
        id=source_id,
        label=label,
        publisher="Home Office",
        colour=colour,
        reader=TextReader(layouts[0].columns, recognise=_recognise(layouts)),
        to_canonical=to_canonical,
    )


def _crime_source(source: str, label: str, colour: str, area_column: str | None, layouts: tuple[Layout, ...]) -> Source:
    return _source(source, label, colour, layouts, lambda raw: _crime_to_canonical(raw, source, area_column, layouts))


CRIME_PFA = _crime_source(
    "ho_recorded_crime_pfa", "Home Office police recorded crime open data", "#009E73", None, CRIME_PFA_LAYOUTS
)
CRIME_CSP = _crime_source(
    "ho_recorded_crime_csp",
    "Home Office police recorded crime open data (CSP)",
    "#8FBC8F",
    "CSP Name",
    CRIME_CSP_LAYOUTS,
)
OUTCOMES = _source(
    "ho_outcomes", "Home Office crime outcomes open data", "#F0E442", OUTCOMES_LAYOUTS, outcomes_to_canonical
)
SOURCES = (CRIME_PFA, CRIME_CSP, OUTCOMES)
