"""ONS mid-year population estimates by local authority (workbook sheet MYE4), summed to police
force areas.

MYE4 gives every local authority district (LAD), county, region and country, mid-2011 to mid-2023.
Force areas are built from LADs through the ONS LAD23 → CSP23 → PFA23 lookup, kept under version
control as `pipelines/reference/lad23_csp23_pfa23_lookup.csv` (a verbatim copy; its publisher and
licence are in `pipelines/reference/README.md`). The lookup lists a LAD once per community safety
partnership, and some LADs span several (Bournemouth, Christchurch and Poole is in three), so it is
reduced to distinct (LAD, PFA) pairs first: each LAD is counted once in its force area.

Input rows and counts: every data row of MYE4 is an input row. A LAD row is loaded (it contributes
to its force area's totals). Counties, metropolitan counties, regions and countries are
quarantined with the reason "not a local authority district (<geography> total)", so that they are
visible and counted rather than dropped, and never added in twice. A LAD that the lookup lacks is
quarantined with its code and name; a LAD that the lookup has but MYE4 lacks stops the file, since
its force area's total would silently fall short.

Output: `core_population`, one row per force area and year (source `ons_mid_year_estimates`).

`read` finds MYE4's header and gives its data rows as text; `to_canonical` resolves them through
the lookup, sets rows aside and sums the rest by force area and year.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import fastexcel
import polars as pl

from pipelines import reference
from pipelines.ingest.sources.base import Canonical, SheetReader, Source
from pipelines.ingest.steps import DIGITS, no_coverage, sheet_raw_row
from pipelines.ingest.textfile import MalformedFileError

SOURCE = "ons_mid_year_estimates"
SHEET = "MYE4"
LOOKUP_CSV = "pipelines/reference/lad23_csp23_pfa23_lookup.csv"
_YEAR_HEADER = re.compile(r"^mid-(\d{4})$", re.IGNORECASE)
# Rows of MYE4 above local authority level: totals of the LADs, set aside rather than added in twice.
TOTALS = ["Country", "Region", "County", "Metropolitan County"]
AREA_COLUMNS = ["Code", "Name", "Geography"]


@cache
def lad_to_force() -> pl.DataFrame:
    """Distinct (lad_code, force_id) pairs from the lookup; raises if a LAD falls in two force
    areas or a force area's name does not resolve to a force."""
    lookup = pl.read_csv(reference.REFERENCE_DIR / "lad23_csp23_pfa23_lookup.csv", infer_schema=False)
    pairs = lookup.select(
        pl.col("LAD23CD").alias("lad_code"),
        pl.col("PFA23NM"),
        reference.force_id_of(pl.col("PFA23NM")).alias("force_id"),
    ).unique(["lad_code", "force_id"], maintain_order=True)
    unresolved = pairs.filter(pl.col("force_id").is_null())["PFA23NM"].unique().to_list()
    if unresolved:
        raise ValueError(f"{LOOKUP_CSV}: force areas not in force_aliases.csv: {unresolved}")
    split = pairs.filter(pl.col("lad_code").is_duplicated())["lad_code"].unique().to_list()
    if split:
        raise ValueError(f"{LOOKUP_CSV}: local authorities in more than one force area: {split}")
    return pairs.select("lad_code", "force_id")


# --- reading the sheet ----------------------------------------------------------------------------


def _sheet_name(path: Path) -> str | None:
    """The workbook's own spelling of the MYE4 sheet's name, or None."""
    return next((n for n in fastexcel.read_excel(str(path)).sheet_names if n.strip() == SHEET), None)


def recognises(path: Path) -> bool:
    """True for a mid-year estimates workbook: it has an MYE4 sheet."""
    try:
        return _sheet_name(path) is not None
    except Exception:
        return False


def header_row(frame: pl.DataFrame, path: Path, sheet: str) -> int:
    """The index of the one row whose first cells read "Code, Name, Geography" (about 7 lines of
    preamble come first); `MalformedFileError` unless there is exactly one."""
    first, second, third = frame.columns[1:4]
    found = frame.with_row_index("i").filter(
        (pl.col(first).str.strip_chars() == "Code")
        & (pl.col(second).str.strip_chars() == "Name")
        & (pl.col(third).str.strip_chars() == "Geography")
    )["i"]
    if found.len() != 1:
        raise MalformedFileError(
            path, None, f"sheet {sheet!r}: expected one header row 'Code, Name, Geography, Mid-YYYY...'"
        )
    return found[0]


def year_columns(frame: pl.DataFrame, at: int, path: Path, sheet: str) -> dict[str, int]:
    """The sheet's columns headed "Mid-YYYY" (in the header row `at`), with their years;
    `MalformedFileError` if there are none."""
    cells = frame.columns[1:]
    years = {c: int(m[1]) for c, h in zip(cells, frame.row(at)[1:]) if h and (m := _YEAR_HEADER.match(h.strip()))}
    if not years:
        raise MalformedFileError(path, None, f"sheet {sheet!r}: no 'Mid-YYYY' columns in the header")
    return years


def read(path: Path) -> pl.DataFrame:
    """MYE4's data rows as text, in sheet order, blank rows left out: `sheet`, `sheet_row`, `Code`,
    `Name`, `Geography` and one `Mid-YYYY` column per year. `MalformedFileError` if the sheet has no
    "Code, Name, Geography, Mid-YYYY..." header."""
    sheet = _sheet_name(path)
    if sheet is None:
        raise MalformedFileError(path, None, f"no {SHEET} sheet: not a mid-year population estimates workbook")
    frame = pl.read_excel(path, sheet_name=sheet, engine="calamine", has_header=False, infer_schema_length=0)
    frame = frame.with_row_index("sheet_row", offset=1)
    at = header_row(frame, path, sheet)
    years = year_columns(frame, at, path, sheet)
    cells = frame.columns[1:]
    return (
        frame.slice(at + 1)
        .filter(~pl.all_horizontal(pl.col(c).is_null() for c in cells))
        .select(
            pl.lit(sheet).alias("sheet"),
            "sheet_row",
            pl.col(cells[0]).str.strip_chars().alias("Code"),
            pl.col(cells[1]).alias("Name"),
            pl.col(cells[2]).alias("Geography"),
            *(pl.col(c).str.strip_chars().alias(f"Mid-{y}") for c, y in years.items()),
        )
    )


# --- normalising ----------------------------------------------------------------------------------


def check_every_lad_is_there(raw: pl.LazyFrame) -> None:
    """`MalformedFileError` for a file that lacks a local authority the lookup has: its force area's
    total would silently fall short."""
    lads = lad_to_force()["lad_code"].to_list()
    for file_name, sheet, codes in raw.group_by("file_name", "sheet").agg("Code").collect().iter_rows():
        present = set(codes)
        if missing := [lad for lad in lads if lad not in present]:
            raise MalformedFileError(
                file_name,
                None,
                f"sheet {sheet!r}: local authorities in {LOOKUP_CSV} are missing from the sheet: {missing}",
            )


def reason(years: list[str]) -> pl.Expr:
    """Why a row (with its `force_id` from the lookup) is not loaded, or null: a total above LAD
    level, a LAD the lookup lacks, or the first year that is not a whole number."""
    bad_value = pl.coalesce(
        [
            pl.when(~pl.col(c).fill_null("").str.contains(DIGITS)).then(
                pl.format(f"'{c}' is '{{}}', not a whole number", pl.col(c).fill_null(""))
            )
            for c in years
        ]
    )
    return (
        pl.when(pl.col("force_id").is_null() & pl.col("Geography").is_in(TOTALS))
        .then(pl.format("not a local authority district ({} total)", pl.col("Geography")))
        .when(pl.col("force_id").is_null())
        .then(pl.format(f"local authority '{{}}' ({{}}) is not in {LOOKUP_CSV}", pl.col("Name"), pl.col("Code")))
        .otherwise(bad_value)
        .alias("reason")
    )


def force_area_totals(loaded: pl.LazyFrame, years: list[str]) -> pl.LazyFrame:
    """`core_population`: the loaded LADs' populations summed by file, force area and year."""
    return (
        loaded.unpivot(index=["file_name", "force_id"], on=years, variable_name="column", value_name="value")
        .group_by("file_name", "force_id", "column")
        .agg(pl.col("value").cast(pl.Int64).sum().alias("population"))
        .select(
            "file_name",
            pl.lit(SOURCE).alias("source"),
            "force_id",
            pl.col("column").str.slice(4).cast(pl.Int32).alias("year"),
            "population",
        )
    )


def to_canonical(raw: pl.LazyFrame) -> Canonical:
    """Force-area populations for every year the sheet gives, and the rows set aside. Pure apart
    from one small read, of the LAD codes each file holds (to stop a file that lacks one)."""
    years = [c for c in raw.collect_schema().names() if _YEAR_HEADER.match(c)]
    check_every_lad_is_there(raw)
    rows = raw.join(lad_to_force().lazy(), left_on="Code", right_on="lad_code", how="left").with_columns(reason(years))
    loaded = rows.filter(pl.col("reason").is_null())
    return Canonical(
        tables={"core_population": force_area_totals(loaded, years)},
        loaded=loaded,
        coverage=no_coverage(),
        quarantine=rows.filter(pl.col("reason").is_not_null()).with_columns(sheet_raw_row([*AREA_COLUMNS, *years])),
    )


MID_YEAR_ESTIMATES = Source(
    id=SOURCE,
    label="ONS mid-year population estimates",
    publisher="Office for National Statistics",
    colour=None,
    reader=SheetReader((SHEET,), recognise=recognises, read=read),
    to_canonical=to_canonical,
)
SOURCES = (MID_YEAR_ESTIMATES,)
