"""The steps every source shares: checks and their reasons, whole numbers, months and grains, forces,
offence codes, and sums onto a scheme.

A source's `to_canonical` is built from these, so that a value is read the same way and a row that
cannot be read is quarantined in the same words, whichever publication it comes from. Month
arithmetic and the table of grains are `pipelines.periods`; the reference tables these steps
resolve against are `pipelines.reference`.

A check is a pair of Polars expressions: where the row fails, and the reason a person can act on.
`passed` marks the rows that fail none; `reasons` joins the reasons of those that fail some; `split`
uses both to part the rows a source loads from those it quarantines.
"""

from __future__ import annotations

import json
from datetime import date, datetime

import polars as pl

from pipelines import periods, reference

Check = tuple[pl.Expr, pl.Expr]

# Where a reason tells the reader to add a value.
REFERENCE = "pipelines/reference"
FORCE_ALIASES = f"{REFERENCE}/force_aliases.csv"


# --- checks ---------------------------------------------------------------------------------------


def passed(checks: list[Check]) -> pl.Expr:
    """True where no check failed (cheap: the messages are built only for rows that fail)."""
    return ~pl.any_horizontal([failed.fill_null(False) for failed, _ in checks]).alias("passed")


def reasons(checks: list[Check]) -> pl.Expr:
    """Every failed check's message joined with '; '."""
    messages = pl.concat_list([pl.when(failed).then(message) for failed, message in checks]).list.drop_nulls()
    return messages.list.join("; ").alias("reason")


def read_as(column: str, what: str, parsed: str, *, required: bool = True) -> Check:
    """The check that `column`'s cell was read as `what` into the column `parsed`; the reason quotes the
    cell (`'Offences' is '12.5', not a whole number`). Where not `required`, an empty cell passes."""
    failed = pl.col(parsed).is_null()
    if not required:
        failed = pl.col(column).is_not_null() & failed
    return failed, pl.format(f"'{column}' is '{{}}', not {what}", pl.col(column).fill_null(""))


def split(lf: pl.LazyFrame, checks: list[Check]) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """The rows of `lf` that pass every check, and the rows that fail some, each with its `reason`:
    what a source loads, and what it quarantines."""
    lf = lf.with_columns(passed(checks))
    return lf.filter(pl.col("passed")), lf.filter(~pl.col("passed")).with_columns(reasons(checks))


def sheet_raw_row(columns: list[str]) -> pl.Expr:
    """A spreadsheet row as the quarantine keeps it: JSON of its sheet, its sheet row and `columns`,
    in that order (`{"sheet": "MYE4", "sheet_row": 12, "Code": ...}`)."""
    fields = ["sheet", "sheet_row", *columns]
    return (
        pl.struct(fields)
        .map_elements(lambda row: json.dumps(row, ensure_ascii=False), return_dtype=pl.String)
        .alias("raw_row")
    )


# --- whole numbers --------------------------------------------------------------------------------

# A count as spreadsheets give it: digits only (no sign, no separator).
DIGITS = r"^\d+$"


def whole_number(column: str, *, thousands: bool = True) -> pl.Expr:
    """A published count as an integer, null where the cell is not one: spaces around it are ignored,
    a sign is read, and so (where `thousands`) are thousands separators (`1,234`)."""
    text = pl.col(column).str.strip_chars()
    if thousands:
        text = text.str.replace_all(",", "")
    return text.cast(pl.Int64, strict=False)


# --- months and grains ----------------------------------------------------------------------------

# Counts before the National Crime Recording Standard (April 2002) are not recorded under the rules
# crossforce compares; a source that begins later names its own first period.
NCRS_START = date(2002, 4, 1)
NCRS_LABEL = "the National Crime Recording Standard"


def current_month() -> date:
    """The first day of this month: no return counts a period that has not begun."""
    return date.today().replace(day=1)


def period_checks(period: str, column: str, first: date = NCRS_START, first_label: str = NCRS_LABEL) -> list[Check]:
    """Checks that the parsed `period` column lies in the source's plausible span: from `first`
    to the current month. `column` is the raw column quoted in the reason."""
    latest = current_month()
    value = pl.col(period)
    return [
        (value < first, pl.format(f"'{column}' is '{{}}', before {first_label} ({first:%B %Y})", pl.col(column))),
        (value > latest, pl.format(f"'{column}' is '{{}}', after the current month ({latest:%B %Y})", pl.col(column))),
    ]


def outside_span(month: date) -> str | None:
    """Why one month (a column of a wide export, say) is outside every source's plausible span, or None."""
    if month > current_month():
        return "after the current month"
    if month < NCRS_START:
        return f"before {NCRS_LABEL} ({NCRS_START:%B %Y})"
    return None


def grain(name: str) -> pl.Expr:
    """The `period_grain` column: one of the grains in `pipelines.periods` (else `ValueError`)."""
    if name not in periods.GRAIN_MONTHS:
        raise ValueError(f"{name!r} is not a period grain (one of {', '.join(periods.GRAIN_MONTHS)})")
    return pl.lit(name).alias("period_grain")


def period_start(last_month: pl.Expr, grain_name: str) -> pl.Expr:
    """The first month of the period of `grain_name` whose last month holds the date `last_month` (the
    year ending in month M starts on the first of M − 11)."""
    return last_month.dt.month_start().dt.offset_by(f"-{periods.GRAIN_MONTHS[grain_name] - 1}mo")


def year_month(column: str) -> pl.Expr:
    """A `YYYY-MM` cell as the first day of its month; null for anything else."""
    text = pl.col(column).str.strip_chars()
    return pl.when(text.str.contains(r"^\d{4}-(0[1-9]|1[0-2])$")).then((text + "-01").str.to_date("%Y-%m-%d"))


def financial_quarter_start(year_column: str, quarter_column: str) -> pl.Expr:
    """The first day of a financial quarter (`2019/20` and `1` or `Q1` → 2019-04-01); null unless the
    year is `YYYY/YY` and the quarter 1 to 4."""
    year = pl.col(year_column).str.strip_chars().str.extract(r"^(\d{4})/\d{2}$").cast(pl.Int32, strict=False)
    quarter = pl.col(quarter_column).str.strip_chars().str.replace(r"^Q", "").cast(pl.Int32, strict=False)
    quarter = pl.when(quarter.is_between(1, 4)).then(quarter)
    month = (quarter - 1) * 3 + 4  # Q1 starts in April
    return pl.date(year + (month > 12).cast(pl.Int32), (month - 1) % 12 + 1, 1)


def month_named(name: str, month_format: str) -> date | None:
    """The month a name says in `month_format` (`202401` in `%Y%m`), or None. Formatting back must
    give the name exactly, so that a lenient parse (`20241` as January 2024) is not taken for a month."""
    try:
        parsed = datetime.strptime(name, month_format)
    except ValueError:
        return None
    return parsed.date().replace(day=1) if parsed.strftime(month_format) == name else None


# --- forces ---------------------------------------------------------------------------------------


def unknown_force(column: str) -> pl.Expr:
    """The one reason for a force name that does not resolve, naming the value and its column."""
    return pl.format(
        f"unknown force '{{}}' in '{column}' (if it is a real force, add the spelling to {FORCE_ALIASES})",
        pl.col(column),
    )


def resolve_force(column: str, alias: str = "force_id", *, required: bool = True) -> tuple[pl.Expr, list[Check]]:
    """The force_id of each row's spelling in `column` (as `alias`), and its checks: an unknown
    spelling fails, and so, where `required`, does an empty cell. Never a default force."""
    checks = [(pl.col(column).is_not_null() & pl.col(alias).is_null(), unknown_force(column))]
    if required:
        checks.insert(0, (pl.col(column).is_null(), pl.lit(f"'{column}' is empty: the row names no force")))
    return reference.force_id_of(pl.col(column)).alias(alias), checks


# --- offence codes --------------------------------------------------------------------------------


def offence_code(value: pl.Expr) -> pl.Expr:
    """Home Office offence codes in their canonical spelling (`08n` → `8N`), null where a value is not
    one. A table has millions of rows but a few hundred distinct codes: each is normalised once."""
    return value.map_batches(_normalise_distinct, return_dtype=pl.String)


def _normalise_distinct(codes: pl.Series) -> pl.Series:
    distinct = codes.drop_nulls().unique().to_list()
    return codes.replace_strict(
        distinct, [_normalised_or_none(c) for c in distinct], default=None, return_dtype=pl.String
    )


def _normalised_or_none(code: str) -> str | None:
    try:
        return reference.normalise_offence_code(code)
    except ValueError:
        return None


# --- sums onto schemes ----------------------------------------------------------------------------


# The key of a count in the core counts tables (`core_counts__*`), in their column order.
COUNT_KEY = ("file_name", "source", "release_date", "force_id", "period", "period_grain", "scheme", "category")


def onto_schemes(records: pl.LazyFrame, source: str, scheme_columns: dict[str, str]) -> pl.LazyFrame:
    """`records` once for each scheme of `scheme_columns` (scheme → the column holding its category),
    with the columns of `COUNT_KEY`: `source`, the scheme, and that column's value as `category`. Rows
    with no category in a scheme drop out of it."""
    return pl.concat(
        records.filter(pl.col(column).is_not_null()).with_columns(
            pl.lit(source).alias("source"), pl.lit(scheme).alias("scheme"), pl.col(column).alias("category")
        )
        for scheme, column in scheme_columns.items()
    )


def counts_by_scheme(records: pl.LazyFrame, source: str, scheme_columns: dict[str, str]) -> pl.LazyFrame:
    """Sum `offence_count` onto each scheme's category column (rows with no category in a scheme drop
    out); a sum that includes a negative published adjustment says so in `count_note`."""
    return (
        onto_schemes(records, source, scheme_columns)
        .group_by(*COUNT_KEY)
        .agg(
            pl.col("offence_count").sum().cast(pl.Int64),
            pl.when(pl.col("offence_count").min() < 0)
            .then(pl.lit("includes a negative published adjustment"))
            .alias("count_note"),
        )
        .select(*COUNT_KEY, "offence_count", "count_note")
    )


def coverage_of(records: pl.LazyFrame) -> pl.LazyFrame:
    """Rows supplied per file, force and period, for sources with one period per input row."""
    return records.group_by("file_name", "force_id", "period").agg(pl.len().cast(pl.Int64).alias("rows_supplied"))


def no_coverage() -> pl.LazyFrame:
    """The coverage of a source that supplies no force-period counts (events, populations)."""
    return pl.LazyFrame(
        schema={"file_name": pl.String, "force_id": pl.String, "period": pl.Date, "rows_supplied": pl.Int64}
    )
