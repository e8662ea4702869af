"""ONS "Crime in England and Wales: Police Force Area data tables" workbooks (quarterly editions).

Two sheets are read; the others (% change, rates, knife crime, anti-social behaviour) are derived
from the same returns or out of scope.

- **Table P1**, recorded offences (numbers) in the 12 months ending the edition's date, one row per
  area and one column per offence group or subgroup, goes to `core_counts__recorded_crime` with
  `period_grain = 'rolling_year'` and `period` the first day of the 12-month window (year ending
  March 2018 → 2017-04-01). Column headers are mapped through the version-controlled
  `pipelines/reference/ons_table_labels.csv` (published label → scheme, category); a header that is
  not there stops the file with `MalformedFileError` naming the file, sheet and label. `..` (not
  available) is written as an empty count with `count_note = 'not available (..)'`, never 0.
- **Table P3**, rates per 1,000, also carries each area's mid-year population estimate (the year is
  read from the column header, "mid-2017"); it goes to `core_population`.

Input rows and counts: every non-empty row between a sheet's header and its footnotes, in P1 and
in P3, is an input row. `row_number` runs through P1's rows and then P3's, and `raw_row` names the
sheet and the sheet row, so every row traces back to its cell. A force row is loaded (P1: one count
per offence column; P3: its population). **Region, country and national total rows (area codes
E12…, E92…, W92…, K04…) are quarantined with the reason "not a force (region/country total)"**:
they are published figures, so they stay visible and traceable (the raw row keeps every value, for
reconciliation later) instead of vanishing from the counts. A P3 population of `..` (Greater
Manchester, year ending September and December 2019) is quarantined, since `core_population` has no
note column to say why a population would be empty.

`release_date`: no sheet carries the edition's publication date (the "Correction" sheet of two
editions dates only the correction to table P5), so it is set to the first day of the third month
after the period's end (year ending March 2018 → 2018-06-01): a stated convention that orders the
editions, not the true publication date.

Header and data rows are found by content, not by fixed row numbers: the header is the row whose
first cells read "Area Code", "Area Name"; the row above it holds the upper header level; the data
end at the first footnote line (text in the first column only).

`read` gives P1's rows and then P3's as text (P1's labelled columns, P3's population column, and the
Notes title that names the 12 months); `to_canonical` resolves and checks them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import fastexcel
import polars as pl

from pipelines import reference
from pipelines.ingest.sources.base import RAW_EXTRAS, Canonical, SheetReader, Source
from pipelines.ingest.steps import DIGITS, grain, period_start, sheet_raw_row, unknown_force
from pipelines.ingest.textfile import MalformedFileError

SOURCE = "ons_pfa_tables"
LABELS_CSV = "pipelines/reference/ons_table_labels.csv"
NOT_AVAILABLE = ".."
NOT_AVAILABLE_NOTE = "not available (..)"
NOT_A_FORCE = "not a force (region/country total)"
# GSS entity codes of areas above force level: English regions, countries, England and Wales.
_TOTAL_CODE = re.compile(r"^(E12|E92|W92|K04)\d{6}")
_GSS_CODE = re.compile(r"^[EWKNS]\d{8}")
_MONTHS = {
    m: i
    for i, m in enumerate(
        [
            "january",
            "february",
            "march",
            "april",
            "may",
            "june",
            "july",
            "august",
            "september",
            "october",
            "november",
            "december",
        ],
        1,
    )
}
AREA_CODE, AREA_NAME = "Area Code", "Area Name"
# The raw column holding the Notes sheet's title, which names the edition's 12 months.
EDITION = "edition"
TABLES = ("Notes", "Table P1", "Table P3")
_MID_YEAR = re.compile(r"mid-(\d{4})", re.IGNORECASE)


def clean_label(text: str) -> str:
    """A header label without layout noise: whitespace and line breaks collapsed, and footnote
    markers glued to words removed ("Stalking and harassment 5" and "Residential burglary6,7" lose
    their digits; "(excluding fraud4)" becomes "(excluding fraud)")."""
    label = re.sub(r"\s+", " ", text).strip()
    label = re.sub(r"(?<=[A-Za-z)])\s?\d+(?:,\d+)*(?=\)|$)", "", label)
    return re.sub(r"\s+", " ", label).strip()


@cache
def table_labels() -> pl.DataFrame:
    """The label mapping: published_label (cleaned) → scheme, category, parent_category."""
    labels = pl.read_csv(reference.REFERENCE_DIR / "ons_table_labels.csv", infer_schema=False)
    duplicated = labels.filter(pl.col("published_label").is_duplicated())["published_label"].unique().to_list()
    if duplicated:
        raise ValueError(f"{LABELS_CSV}: labels listed twice: {duplicated}")
    return labels


def _sheet(names: list[str], wanted: str) -> str | None:
    """The workbook's own spelling of a sheet name (ONS leaves trailing spaces: 'Table P1 ')."""
    return next((n for n in names if n.strip().lower() == wanted.lower()), None)


def _required_sheet(names: list[str], wanted: str, path: Path) -> str:
    """The workbook's own spelling of a sheet it must have; `MalformedFileError` if it has none."""
    name = _sheet(names, wanted)
    if name is None:
        raise MalformedFileError(path, None, f"no sheet {wanted!r} (expected the sheets {list(TABLES)})")
    return name


def recognises(path: Path) -> bool:
    """True for a PFA data tables workbook: a Notes sheet titled "... - PFA tables" and tables P1 and P3."""
    try:
        names = fastexcel.read_excel(str(path)).sheet_names
    except Exception:
        return False
    notes_name = _sheet(names, "Notes")
    if notes_name is None or not all(_sheet(names, s) for s in TABLES):
        return False
    notes = _read_sheets(path, [notes_name])[notes_name]
    return bool(notes.height) and "pfa tables" in (notes.row(0)[1] or "").lower()


def _read_sheets(path: Path, sheets: list[str]) -> dict[str, pl.DataFrame]:
    """Every cell of the sheets as text (numbers as calamine renders them), in sheet order."""
    frames = pl.read_excel(path, sheet_name=sheets, engine="calamine", has_header=False, infer_schema_length=0)
    return {name: frame.with_row_index("sheet_row", offset=1) for name, frame in frames.items()}


def year_ending(title: pl.Expr) -> pl.Expr:
    """The last month of the edition's 12-month window, from the Notes title ("Crime in England and
    Wales, year ending December 2019 - PFA tables"), as its first day; null if the title does not say."""
    found = title.str.extract_groups(r"(?i)year ending (\w+) (\d{4})")
    month = found.struct.field("1").str.to_lowercase().replace_strict(_MONTHS, default=None, return_dtype=pl.Int32)
    return pl.date(found.struct.field("2").cast(pl.Int32), month, 1)


def edition_title(notes: pl.DataFrame, path: Path) -> str:
    """The Notes sheet's title; `MalformedFileError` unless it names the 12 months ('year ending <month> <year>')."""
    title = notes.row(0)[1] or ""
    if pl.select(year_ending(pl.lit(title))).item() is None:
        raise MalformedFileError(
            path, None, f"sheet 'Notes': title {title!r} does not say 'year ending <month> <year>'"
        )
    return title


@dataclass
class Block:
    """The data rows of a table sheet: `frame` has `sheet_row`, `Area Code`, `Area Name` and one
    text column per labelled data column, named by its cleaned label."""

    sheet: str
    frame: pl.DataFrame
    labels: list[str]


def read_block(sheet: str, frame: pl.DataFrame, path: Path, units: str) -> Block:
    """The header labels and data rows of one sheet, found by content.

    Raises `MalformedFileError` when there is no "Area Code, Area Name" header, when the row under
    it is not the expected units row (`units`, e.g. "Numbers"), when two columns share a label, or
    when a column without a header holds values (they would otherwise be lost)."""
    cells = [c for c in frame.columns if c != "sheet_row"]
    first, second = (
        pl.col(cells[0]).str.strip_chars().str.to_lowercase(),
        pl.col(cells[1]).str.strip_chars().str.to_lowercase(),
    )
    header_at = frame.with_row_index("i").filter((first == "area code") & (second == "area name"))["i"]
    if header_at.len() != 1:
        raise MalformedFileError(
            path,
            None,
            f"sheet {sheet!r}: expected one header row starting 'Area Code', 'Area Name', found {header_at.len()}",
        )
    h = header_at[0]
    # The offence header has two levels (e.g. "Victim-based crime" over its groups); a column's
    # label is its lowest non-empty header cell, so the top level labels only the total's column.
    upper = frame.row(h - 1) if h > 0 else (None,) * frame.width
    lower = frame.row(h)
    names = frame.columns
    labels: dict[str, str] = {}
    for index in range(2, len(cells)):
        column = cells[index]
        text = lower[names.index(column)] or upper[names.index(column)]
        if text and text.strip():
            labels[column] = clean_label(text)
    units_row = [c for c in frame.row(h + 1)[1:] if c]
    if not any(units.lower() in c.lower() for c in units_row):
        raise MalformedFileError(
            path, None, f"sheet {sheet!r}: the row under the header should say {units!r}, it says {units_row}"
        )
    repeated = sorted({v for v in labels.values() if list(labels.values()).count(v) > 1})
    if repeated:
        raise MalformedFileError(path, None, f"sheet {sheet!r}: more than one column is labelled {repeated}")

    body = frame.slice(h + 2)
    only_first = pl.all_horizontal(pl.col(c).is_null() for c in cells[1:])
    footnote = (
        only_first
        & pl.col(cells[0]).is_not_null()
        & ~pl.col(cells[0]).str.strip_chars().str.contains(_GSS_CODE.pattern)
    )
    body = body.with_columns(footnote.cum_sum().alias("_after_footnote")).filter(pl.col("_after_footnote") == 0)
    body = body.filter(~pl.all_horizontal(pl.col(c).is_null() for c in cells))
    # Spacer columns are empty, except that a row of '..' (Greater Manchester, December 2019) runs
    # through them too; any other value there would be lost, so it stops the file.
    unlabelled = [
        c for c in cells[2:] if c not in labels and (body[c].is_not_null() & (body[c] != NOT_AVAILABLE)).any()
    ]
    if unlabelled:
        raise MalformedFileError(
            path,
            None,
            f"sheet {sheet!r}: values in a column without a header "
            f"(sheet columns {[cells.index(c) + 1 for c in unlabelled]})",
        )
    return Block(
        sheet=sheet,
        frame=body.select(
            "sheet_row",
            pl.col(cells[0]).str.strip_chars().alias(AREA_CODE),
            pl.col(cells[1]).alias(AREA_NAME),
            *(pl.col(c).str.strip_chars().alias(label) for c, label in labels.items()),
        ),
        labels=list(labels.values()),
    )


def labels_are_mapped(block: Block, path: Path) -> None:
    """`MalformedFileError` naming the file, sheet and label for a column label the mapping lacks."""
    unknown = [label for label in block.labels if label not in table_labels()["published_label"].to_list()]
    if unknown:
        raise MalformedFileError(
            path,
            None,
            f"sheet {block.sheet!r}: offence label {unknown[0]!r} is not in {LABELS_CSV} "
            "(add it with its scheme and category)",
        )


def population_column(block: Block, path: Path) -> str:
    """P3's one column whose label starts "Population" and names its mid-year ("Population figures
    (mid-2017) rounded to 100"), else `MalformedFileError`."""
    columns = [label for label in block.labels if _is_population(label)]
    if len(columns) != 1:
        raise MalformedFileError(path, None, f"sheet {block.sheet!r}: expected one population column, found {columns}")
    if not _MID_YEAR.search(columns[0]):
        raise MalformedFileError(
            path, None, f"sheet {block.sheet!r}: population header {columns[0]!r} names no mid-year ('mid-YYYY')"
        )
    return columns[0]


def _is_population(label: str) -> bool:
    return label.lower().startswith("population")


def read(path: Path) -> pl.DataFrame:
    """The workbook's input rows as text: P1's rows (`sheet`, `sheet_row`, `Area Code`, `Area Name`
    and every labelled column), then P3's (the same with its population column only, since P3's
    rates are derived from P1 and that population), each with the Notes title (`edition`).
    `MalformedFileError` names the file, the sheet and the problem when the sheets are not laid out
    as expected or a label is not in the mapping."""
    names = fastexcel.read_excel(str(path)).sheet_names
    notes_name, p1_name, p3_name = (_required_sheet(names, s, path) for s in TABLES)
    sheets = _read_sheets(path, [notes_name, p1_name, p3_name])
    edition = edition_title(sheets[notes_name], path)
    p1 = read_block(p1_name, sheets[p1_name], path, units="Numbers")
    p3 = read_block(p3_name, sheets[p3_name], path, units="Rate per 1,000")
    labels_are_mapped(p1, path)
    parts = [(p1, p1.labels), (p3, [population_column(p3, path)])]
    return pl.concat(
        [
            block.frame.select(pl.lit(block.sheet).alias("sheet"), "sheet_row", AREA_CODE, AREA_NAME, *columns)
            for block, columns in parts
        ],
        how="diagonal",
    ).with_columns(pl.lit(edition).alias(EDITION))


def _area_checks(rows: pl.LazyFrame) -> pl.LazyFrame:
    """Resolve each row's area to a force and give the reason it is not loaded, if it is not.

    The area code decides first: a region shares its name with a force ("West Midlands"), so a
    total's code (E12/E92/W92/K04) marks it as not a force whatever its name resolves to. Area codes
    may carry a footnote digit glued on ("E230000118"): GSS codes are 9 characters, so only those
    are compared."""
    forces = reference.forces()
    code = pl.col(AREA_CODE).str.slice(0, 9)
    rows = rows.with_columns(
        reference.force_id_of(pl.col(AREA_NAME)).alias("force_id"), code.alias("_code")
    ).with_columns(
        pl.col("force_id").replace_strict(forces["force_id"], forces["pfa_code"], default=None).alias("_pfa_code"),
    )
    reason = (
        pl.when(pl.col("_code").str.contains(_TOTAL_CODE.pattern))
        .then(pl.lit(NOT_A_FORCE))
        .when(pl.col(AREA_NAME).is_null())
        .then(pl.format("no area name (area code '{}')", pl.col(AREA_CODE).fill_null("")))
        .when(pl.col("force_id").is_null())
        .then(unknown_force(AREA_NAME))
        .when(pl.col("_code").is_not_null() & (pl.col("_code") != pl.col("_pfa_code").fill_null("")))
        .then(
            pl.format(
                "area code '{}' is not the code of {} ('{}' in pipelines/reference/forces.csv)",
                pl.col(AREA_CODE),
                pl.col("force_id"),
                pl.col("_pfa_code").fill_null(""),
            )
        )
    )
    rows = rows.with_columns(reason.alias("reason"))
    # Only force rows can repeat a force: a region may resolve to a force's name ("West Midlands").
    first_seen = (
        pl.when(pl.col("reason").is_null()).then(pl.col("sheet_row")).min().over("file_name", "sheet", "force_id")
    )
    repeated = pl.when(pl.col("reason").is_null() & (pl.col("sheet_row") != first_seen)).then(
        pl.format("{} appears twice in the sheet (first in sheet row {})", pl.col("force_id"), first_seen)
    )
    return rows.with_columns(pl.coalesce("reason", repeated).alias("reason")).drop("_code", "_pfa_code")


def counts_from_p1(rows: pl.LazyFrame, labels: list[str]) -> tuple[pl.LazyFrame, pl.LazyFrame, pl.LazyFrame]:
    """P1's force rows as recorded-crime counts, plus coverage and every P1 row with its reason.

    A row is loaded only if every cell is a whole number or `..`; otherwise it is quarantined
    with the first bad column named. Coverage counts a force's row as supplied unless every
    figure in it is `..` (then the force-period is missing, as it was for Greater Manchester)."""
    bad_cell = pl.coalesce(
        [
            pl.when(pl.col(c).is_null())
            .then(pl.lit(f"'{c}' is empty"))
            .when(~pl.col(c).str.contains(DIGITS) & (pl.col(c) != NOT_AVAILABLE))
            .then(pl.format(f"'{c}' is '{{}}', neither a whole number nor '..'", pl.col(c)))
            for c in labels
        ]
    )
    rows = rows.with_columns(pl.coalesce("reason", bad_cell).alias("reason"))
    keys = ["file_name", "force_id", "period", "release_date"]
    long = rows.filter(pl.col("reason").is_null()).unpivot(
        index=keys, on=labels, variable_name="published_label", value_name="value"
    )
    counts = long.join(table_labels().lazy(), on="published_label", how="left").select(
        "file_name",
        pl.lit(SOURCE).alias("source"),
        "release_date",
        "force_id",
        "period",
        grain("rolling_year"),
        "scheme",
        "category",
        pl.when(pl.col("value") != NOT_AVAILABLE).then(pl.col("value").cast(pl.Int64)).alias("offence_count"),
        pl.when(pl.col("value") == NOT_AVAILABLE).then(pl.lit(NOT_AVAILABLE_NOTE)).alias("count_note"),
    )
    coverage = (
        counts.group_by("file_name", "force_id", "period")
        .agg(pl.col("offence_count").is_not_null().any().alias("supplied"))
        .filter("supplied")
        .select("file_name", "force_id", "period", pl.lit(1, dtype=pl.Int64).alias("rows_supplied"))
    )
    return counts, coverage, rows


def population_from_p3(rows: pl.LazyFrame, column: str) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """P3's force populations (one row per force, the year read from the column's label) and every
    P3 row with its reason."""
    value = pl.col(column)
    rows = rows.with_columns(
        pl.coalesce(
            "reason",
            pl.when(value.is_null())
            .then(pl.lit("population is empty"))
            .when(value == NOT_AVAILABLE)
            .then(pl.lit("population not available (..)"))
            .when(~value.str.contains(DIGITS))
            .then(pl.format("population is '{}', not a whole number", value)),
        ).alias("reason")
    )
    mid_year = _MID_YEAR.search(column)
    if mid_year is None:
        raise ValueError(f"P3's population column {column!r} names no mid-year ('mid-YYYY')")
    population = rows.filter(pl.col("reason").is_null()).select(
        "file_name",
        pl.lit(SOURCE).alias("source"),
        "force_id",
        pl.lit(int(mid_year[1]), dtype=pl.Int32).alias("year"),
        value.cast(pl.Int64).alias("population"),
    )
    return population, rows


def to_canonical(raw: pl.LazyFrame) -> Canonical:
    """P1 counts, P3 populations, coverage and quarantine: every row of both sheets is loaded or
    quarantined (rows read = rows loaded + rows quarantined)."""
    names = raw.collect_schema().names()
    population = next(c for c in names if _is_population(c))
    labels = [
        c for c in names if c not in (*RAW_EXTRAS, "sheet", "sheet_row", AREA_CODE, AREA_NAME, EDITION, population)
    ]
    end = year_ending(pl.col(EDITION))
    rows = _area_checks(
        raw.with_columns(
            period_start(end, "rolling_year").alias("period"),
            end.dt.offset_by("3mo").alias("release_date"),
        )
    )
    sheet = pl.col("sheet").str.strip_chars()
    counts, coverage, p1 = counts_from_p1(rows.filter(sheet == "Table P1"), labels)
    populations, p3 = population_from_p3(rows.filter(sheet == "Table P3"), population)
    checked = [(p1, labels), (p3, [population])]
    return Canonical(
        tables={"core_counts__recorded_crime": counts, "core_population": populations},
        loaded=pl.concat([part.filter(pl.col("reason").is_null()).select(RAW_EXTRAS) for part, _ in checked]),
        coverage=coverage,
        quarantine=pl.concat(
            [
                part.filter(pl.col("reason").is_not_null()).select(
                    "file_name", "row_number", "reason", sheet_raw_row([AREA_CODE, AREA_NAME, *columns])
                )
                for part, columns in checked
            ]
        ),
    )


PFA_TABLES = Source(
    id=SOURCE,
    label="ONS police force area data tables",
    publisher="Office for National Statistics",
    colour="#CC79A7",
    reader=SheetReader(TABLES, recognise=recognises, read=read),
    to_canonical=to_canonical,
)
SOURCES = (PFA_TABLES,)
