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
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path

import fastexcel
import polars as pl

from pipelines import reference
from pipelines.ingest.sources.base import QUARANTINE_SCHEMA, Extracted, FileCounts
from pipelines.ingest.textfile import MalformedFileError
from pipelines.periods import add_months

SOURCE = "ons_pfa_tables"
LABELS_CSV = "pipelines/reference/ons_table_labels.csv"
NOT_AVAILABLE = ".."
NOT_AVAILABLE_NOTE = "not available (..)"
NOT_A_FORCE = "not a force (region/country total)"
# GSS entity codes of areas above force level: English regions, countries, England and Wales.
_TOTAL_CODE = re.compile(r"^(E12|E92|W92|K04)\d{6}")
_GSS_CODE = re.compile(r"^[EWKNS]\d{8}")
_MONTHS = {m: i for i, m in enumerate(
    ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november", "december"], 1)}
_WHOLE_NUMBER = r"^\d+$"


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


def recognises(path: Path) -> bool:
    """True for a PFA data tables workbook: a Notes sheet titled "... - PFA tables" and tables P1 and P3."""
    try:
        names = fastexcel.read_excel(str(path)).sheet_names
    except Exception:
        return False
    if not all(_sheet(names, s) for s in ("Notes", "Table P1", "Table P3")):
        return False
    notes = _read_sheets(path, [_sheet(names, "Notes")])[_sheet(names, "Notes")]
    return bool(notes.height) and "pfa tables" in (notes.row(0)[1] or "").lower()


def _read_sheets(path: Path, sheets: list[str]) -> dict[str, pl.DataFrame]:
    """Every cell of the sheets as text (numbers as calamine renders them), in sheet order."""
    frames = pl.read_excel(path, sheet_name=sheets, engine="calamine", has_header=False, infer_schema_length=0)
    return {name: frame.with_row_index("sheet_row", offset=1) for name, frame in frames.items()}


def period_end(notes: pl.DataFrame, path: Path) -> date:
    """The last month of the edition's 12-month window, from the Notes title
    ("Crime in England and Wales, year ending December 2019 - PFA tables"), as its first day."""
    title = notes.row(0)[1] or ""
    m = re.search(r"year ending (\w+) (\d{4})", title, re.IGNORECASE)
    if not m or m[1].lower() not in _MONTHS:
        raise MalformedFileError(path, None, f"sheet 'Notes': title {title!r} does not say 'year ending <month> <year>'")
    return date(int(m[2]), _MONTHS[m[1].lower()], 1)



@dataclass
class Block:
    """The data rows of a table sheet: `frame` has `sheet_row`, `area_code`, `area_name` and one
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
    first, second = pl.col(cells[0]).str.strip_chars().str.to_lowercase(), pl.col(cells[1]).str.strip_chars().str.to_lowercase()
    header_at = frame.with_row_index("i").filter((first == "area code") & (second == "area name"))["i"]
    if header_at.len() != 1:
        raise MalformedFileError(path, None, f"sheet {sheet!r}: expected one header row starting 'Area Code', 'Area Name', found {header_at.len()}")
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
        raise MalformedFileError(path, None, f"sheet {sheet!r}: the row under the header should say {units!r}, it says {units_row}")
    repeated = sorted({v for v in labels.values() if list(labels.values()).count(v) > 1})
    if repeated:
        raise MalformedFileError(path, None, f"sheet {sheet!r}: more than one column is labelled {repeated}")

    body = frame.slice(h + 2)
    only_first = pl.all_horizontal(pl.col(c).is_null() for c in cells[1:])
    footnote = only_first & pl.col(cells[0]).is_not_null() & ~pl.col(cells[0]).str.strip_chars().str.contains(_GSS_CODE.pattern)
    body = body.with_columns(footnote.cum_sum().alias("_after_footnote")).filter(pl.col("_after_footnote") == 0)
    body = body.filter(~pl.all_horizontal(pl.col(c).is_null() for c in cells))
    # Spacer columns are empty, except that a row of '..' (Greater Manchester, December 2019) runs
    # through them too; any other value there would be lost, so it stops the file.
    unlabelled = [c for c in cells[2:] if c not in labels and (body[c].is_not_null() & (body[c] != NOT_AVAILABLE)).any()]
    if unlabelled:
        raise MalformedFileError(path, None, f"sheet {sheet!r}: values in a column without a header (sheet columns {[cells.index(c) + 1 for c in unlabelled]})")
    return Block(
        sheet=sheet,
        frame=body.select(
            "sheet_row",
            pl.col(cells[0]).str.strip_chars().alias("area_code"),
            pl.col(cells[1]).alias("area_name"),
            *(pl.col(c).str.strip_chars().alias(label) for c, label in labels.items()),
        ),
        labels=list(labels.values()),
    )


def _area_checks(frame: pl.DataFrame) -> pl.DataFrame:
    """Resolve each row's area to a force and give the reason it is not loaded, if it is not.

    The area code decides first: a region shares its name with a force ("West Midlands"), so a
    total's code (E12/E92/W92/K04) marks it as not a force whatever its name resolves to. Area codes
    may carry a footnote digit glued on ("E230000118"): GSS codes are 9 characters, so only those
    are compared."""
    forces = reference.forces()
    code = pl.col("area_code").str.slice(0, 9)
    frame = frame.with_columns(
        reference.force_id_of(pl.col("area_name")).alias("force_id"),
        code.alias("_code"),
    ).with_columns(
        pl.col("force_id").replace_strict(forces["force_id"], forces["pfa_code"], default=None).alias("_pfa_code"),
    )
    reason = (
        pl.when(pl.col("_code").str.contains(_TOTAL_CODE.pattern)).then(pl.lit(NOT_A_FORCE))
        .when(pl.col("area_name").is_null()).then(pl.format("no area name (area code '{}')", pl.col("area_code").fill_null("")))
        .when(pl.col("force_id").is_null())
        .then(pl.format("unknown area '{}' (area code '{}'): if it is a force, add the spelling to pipelines/reference/force_aliases.csv",
                        pl.col("area_name"), pl.col("area_code").fill_null("")))
        .when(pl.col("_code").is_not_null() & (pl.col("_code") != pl.col("_pfa_code").fill_null("")))
        .then(pl.format("area code '{}' is not the code of {} ('{}' in pipelines/reference/forces.csv)",
                        pl.col("area_code"), pl.col("force_id"), pl.col("_pfa_code").fill_null("")))
    )
    frame = frame.with_columns(reason.alias("reason"))
    # Only force rows can repeat a force: a region may resolve to a force's name ("West Midlands").
    first_seen = pl.when(pl.col("reason").is_null()).then(pl.col("sheet_row")).min().over("force_id")
    repeated = pl.when(pl.col("reason").is_null() & (pl.col("sheet_row") != first_seen)).then(
        pl.format("{} appears twice in the sheet (first in sheet row {})", pl.col("force_id"), first_seen))
    return frame.with_columns(pl.coalesce("reason", repeated).alias("reason")).drop("_code", "_pfa_code")


def _raw_rows(block: Block, frame: pl.DataFrame, columns: list[str]) -> pl.Series:
    """Each row as JSON with its sheet and sheet row, the area and the given published columns."""
    return pl.Series([
        json.dumps({"sheet": block.sheet, "sheet_row": row["sheet_row"], "Area Code": row["area_code"],
                    "Area Name": row["area_name"], **{c: row[c] for c in columns}}, ensure_ascii=False)
        for row in frame.select("sheet_row", "area_code", "area_name", *columns).iter_rows(named=True)
    ], dtype=pl.String)


def _quarantine(block: Block, rejected: pl.DataFrame, columns: list[str], file_name: str) -> pl.DataFrame:
    return pl.DataFrame({
        "file_name": [file_name] * rejected.height,
        "row_number": rejected["row_number"],
        "source": [SOURCE] * rejected.height,
        "reason": rejected["reason"],
        "raw_row": _raw_rows(block, rejected, columns),
    }, schema=QUARANTINE_SCHEMA)


def counts_from_p1(block: Block, path: Path, first_row_number: int, period: date, release: date) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """P1's force rows as recorded-crime counts, plus coverage and the quarantined rows.

    Every label must be in the mapping (else `MalformedFileError` naming file, sheet and label).
    A row is loaded only if every cell is a whole number or `..`; otherwise it is quarantined
    with the first bad column named. Coverage counts a force's row as supplied unless every
    figure in it is `..` (then the force-period is missing, as it was for Greater Manchester)."""
    mapping = table_labels()
    unknown = [label for label in block.labels if label not in mapping["published_label"].to_list()]
    if unknown:
        raise MalformedFileError(path, None, f"sheet {block.sheet!r}: offence label {unknown[0]!r} is not in {LABELS_CSV} "
                                             "(add it with its scheme and category)")
    file_name = path.name
    frame = _area_checks(block.frame.with_row_index("row_number", offset=first_row_number))
    bad_cell = pl.coalesce([
        pl.when(pl.col(c).is_null()).then(pl.lit(f"'{c}' is empty"))
        .when(~pl.col(c).str.contains(_WHOLE_NUMBER) & (pl.col(c) != NOT_AVAILABLE))
        .then(pl.format(f"'{c}' is '{{}}', neither a whole number nor '..'", pl.col(c)))
        for c in block.labels
    ])
    frame = frame.with_columns(pl.coalesce("reason", bad_cell).alias("reason"))
    loaded = frame.filter(pl.col("reason").is_null())
    long = loaded.unpivot(index=["force_id"], on=block.labels, variable_name="published_label", value_name="value")
    counts = long.join(mapping, on="published_label", how="left").select(
        pl.lit(file_name).alias("file_name"),
        pl.lit(SOURCE).alias("source"),
        pl.lit(release).alias("release_date"),
        "force_id",
        pl.lit(period).alias("period"),
        pl.lit("rolling_year").alias("period_grain"),
        "scheme",
        "category",
        pl.when(pl.col("value") != NOT_AVAILABLE).then(pl.col("value").cast(pl.Int64)).alias("offence_count"),
        pl.when(pl.col("value") == NOT_AVAILABLE).then(pl.lit(NOT_AVAILABLE_NOTE)).alias("count_note"),
    )
    coverage = counts.group_by("force_id").agg(pl.col("offence_count").is_not_null().any().alias("supplied")).filter("supplied").select(
        pl.lit(file_name).alias("file_name"), pl.lit(SOURCE).alias("source"), "force_id",
        pl.lit(period).alias("period"), pl.lit(1, dtype=pl.Int64).alias("rows_supplied"),
    )
    quarantine = _quarantine(block, frame.filter(pl.col("reason").is_not_null()), block.labels, file_name)
    return counts, coverage, quarantine


def population_from_p3(block: Block, path: Path, first_row_number: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """P3's force populations (one row per force) and the quarantined rows.

    The population column is the one whose label starts "Population"; its mid-year is read from
    the label ("Population figures (mid-2017) rounded to 100"). Only that column is read: P3's
    rates are derived from P1 and this population."""
    columns = [label for label in block.labels if label.lower().startswith("population")]
    if len(columns) != 1:
        raise MalformedFileError(path, None, f"sheet {block.sheet!r}: expected one population column, found {columns}")
    column = columns[0]
    year = re.search(r"mid-(\d{4})", column, re.IGNORECASE)
    if not year:
        raise MalformedFileError(path, None, f"sheet {block.sheet!r}: population header {column!r} names no mid-year ('mid-YYYY')")
    frame = _area_checks(block.frame.with_row_index("row_number", offset=first_row_number))
    value = pl.col(column)
    frame = frame.with_columns(pl.coalesce(
        "reason",
        pl.when(value.is_null()).then(pl.lit("population is empty"))
        .when(value == NOT_AVAILABLE).then(pl.lit("population not available (..)"))
        .when(~value.str.contains(_WHOLE_NUMBER)).then(pl.format("population is '{}', not a whole number", value)),
    ).alias("reason"))
    population = frame.filter(pl.col("reason").is_null()).select(
        pl.lit(path.name).alias("file_name"),
        pl.lit(SOURCE).alias("source"),
        "force_id",
        pl.lit(int(year[1]), dtype=pl.Int32).alias("year"),
        value.cast(pl.Int64).alias("population"),
    )
    return population, _quarantine(block, frame.filter(pl.col("reason").is_not_null()), [column], path.name)


def extract(path: Path) -> Extracted:
    """Read one PFA tables workbook: P1 counts, P3 populations, quarantine and the file's counts
    (rows read = rows loaded + rows quarantined)."""
    path = Path(path)
    names = fastexcel.read_excel(str(path)).sheet_names
    notes_name, p1_name, p3_name = (_sheet(names, s) for s in ("Notes", "Table P1", "Table P3"))
    sheets = _read_sheets(path, [notes_name, p1_name, p3_name])
    end = period_end(sheets[notes_name], path)
    period, release = add_months(end, -11), add_months(end, 3)
    p1 = read_block(p1_name, sheets[p1_name], path, units="Numbers")
    p3 = read_block(p3_name, sheets[p3_name], path, units="Rate per 1,000")
    counts, coverage, bad_p1 = counts_from_p1(p1, path, 1, period, release)
    population, bad_p3 = population_from_p3(p3, path, 1 + p1.frame.height)
    quarantine = pl.concat([bad_p1, bad_p3])
    # Loaded rows are counted from what is written (one force per loaded P1 row, one population
    # per loaded P3 row), independently of the quarantine, so the load's check means something.
    rows_loaded = counts["force_id"].n_unique() + population.height
    files = [FileCounts(path.name, p1.frame.height + p3.frame.height, rows_loaded, quarantine.height, 0)]
    return Extracted(
        source=SOURCE,
        tables={"core_counts__recorded_crime": counts, "core_coverage": coverage, "core_population": population},
        quarantine=quarantine,
        files=files,
    )
