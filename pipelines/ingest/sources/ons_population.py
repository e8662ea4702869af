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
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

import fastexcel
import polars as pl

from pipelines import reference
from pipelines.ingest.sources.base import QUARANTINE_SCHEMA, Extracted, FileCounts
from pipelines.ingest.textfile import MalformedFileError

SOURCE = "ons_mid_year_estimates"
SHEET = "MYE4"
LOOKUP_CSV = "pipelines/reference/lad23_csp23_pfa23_lookup.csv"
_YEAR_HEADER = re.compile(r"^mid-(\d{4})$", re.IGNORECASE)


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


def recognises(path: Path) -> bool:
    """True for a mid-year estimates workbook: it has an MYE4 sheet."""
    try:
        return any(n.strip() == SHEET for n in fastexcel.read_excel(str(path)).sheet_names)
    except Exception:
        return False


def extract(path: Path) -> Extracted:
    """Force-area populations for every year MYE4 gives, the quarantined rows and the file's counts.

    Raises `MalformedFileError` if MYE4 has no "Code, Name, Geography, Mid-YYYY..." header, or if
    a LAD in the lookup is missing from the sheet."""
    path = Path(path)
    sheet = next(n for n in fastexcel.read_excel(str(path)).sheet_names if n.strip() == SHEET)
    frame = pl.read_excel(path, sheet_name=sheet, engine="calamine", has_header=False, infer_schema_length=0)
    frame = frame.with_row_index("sheet_row", offset=1)
    cells = frame.columns[1:]
    # The header follows ~7 lines of preamble; find it by its first three cells.
    header_at = frame.with_row_index("i").filter(
        (pl.col(cells[0]).str.strip_chars() == "Code") & (pl.col(cells[1]).str.strip_chars() == "Name")
        & (pl.col(cells[2]).str.strip_chars() == "Geography"))["i"]
    if header_at.len() != 1:
        raise MalformedFileError(path, None, f"sheet {sheet!r}: expected one header row 'Code, Name, Geography, Mid-YYYY...'")
    header = frame.row(header_at[0])[1:]
    years = {c: int(m[1]) for c, h in zip(cells, header) if h and (m := _YEAR_HEADER.match(h.strip()))}
    if not years:
        raise MalformedFileError(path, None, f"sheet {sheet!r}: no 'Mid-YYYY' columns in the header")
    body = frame.slice(header_at[0] + 1).filter(~pl.all_horizontal(pl.col(c).is_null() for c in cells))
    body = body.select(
        "sheet_row",
        pl.col(cells[0]).str.strip_chars().alias("Code"),
        pl.col(cells[1]).alias("Name"),
        pl.col(cells[2]).alias("Geography"),
        *(pl.col(c).str.strip_chars().alias(f"Mid-{y}") for c, y in years.items()),
    ).with_row_index("row_number", offset=1)
    year_columns = [f"Mid-{y}" for y in years.values()]

    lads = lad_to_force()
    missing = lads.join(body, left_on="lad_code", right_on="Code", how="anti")["lad_code"].to_list()
    if missing:
        raise MalformedFileError(path, None, f"sheet {sheet!r}: local authorities in {LOOKUP_CSV} are missing from the sheet: {missing}")
    body = body.join(lads, left_on="Code", right_on="lad_code", how="left")
    bad_value = pl.coalesce([
        pl.when(~pl.col(c).fill_null("").str.contains(r"^\d+$")).then(pl.format(f"'{c}' is '{{}}', not a whole number", pl.col(c).fill_null("")))
        for c in year_columns
    ])
    body = body.with_columns(
        pl.when(pl.col("force_id").is_null() & pl.col("Geography").is_in(["Country", "Region", "County", "Metropolitan County"]))
        .then(pl.format("not a local authority district ({} total)", pl.col("Geography")))
        .when(pl.col("force_id").is_null())
        .then(pl.format(f"local authority '{{}}' ({{}}) is not in {LOOKUP_CSV}", pl.col("Name"), pl.col("Code")))
        .otherwise(bad_value)
        .alias("reason")
    )
    loaded = body.filter(pl.col("reason").is_null())
    population = (
        loaded.unpivot(index="force_id", on=year_columns, variable_name="column", value_name="value")
        .group_by("force_id", "column")
        .agg(pl.col("value").cast(pl.Int64).sum().alias("population"))
        .select(
            pl.lit(path.name).alias("file_name"),
            pl.lit(SOURCE).alias("source"),
            "force_id",
            pl.col("column").str.slice(4).cast(pl.Int32).alias("year"),
            "population",
        )
        .sort("force_id", "year")
    )
    rejected = body.filter(pl.col("reason").is_not_null())
    quarantine = pl.DataFrame({
        "file_name": [path.name] * rejected.height,
        "row_number": rejected["row_number"],
        "source": [SOURCE] * rejected.height,
        "reason": rejected["reason"],
        "raw_row": [json.dumps({"sheet": sheet, **row}, ensure_ascii=False)
                    for row in rejected.select("sheet_row", "Code", "Name", "Geography", *year_columns).iter_rows(named=True)],
    }, schema=QUARANTINE_SCHEMA)
    files = [FileCounts(path.name, body.height, loaded.height, rejected.height, 0)]
    return Extracted(source=SOURCE, tables={"core_population": population}, quarantine=quarantine, files=files)
