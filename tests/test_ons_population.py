"""Force-area populations from the ONS mid-year estimates (MYE4) and the LAD → PFA lookup."""

from __future__ import annotations

import csv
from functools import cache

import openpyxl
import polars as pl
import pytest

from pipelines import reference
from pipelines.ingest.sources import ons_pfa_tables, ons_population
from pipelines.ingest.sources.base import Extracted, extract_sheets
from pipelines.ingest.textfile import MalformedFileError
from tests.conftest import real_data

MYE = "LAD23_Mid_Year_pop_2011_to_2023.xlsx"
LOOKUP = "Local_Authority_District_to_CSPs_to_Police_Force_Areas_(December__2023)_Lookup_.csv"


@cache
def _extract() -> Extracted:
    return extract_sheets(ons_population.MID_YEAR_ESTIMATES, real_data() / "ons_population_lookups" / MYE)


def population() -> pl.DataFrame:
    return _extract().tables["core_population"]


def published_mye4() -> dict[str, tuple]:
    """MYE4 rows by area code, read with openpyxl (independently of the pipeline's reader)."""
    book = openpyxl.load_workbook(real_data() / "ons_population_lookups" / MYE, read_only=True, data_only=True)
    rows = {row[0]: row for row in book["MYE4"].iter_rows(min_row=9, values_only=True) if row[0]}
    book.close()
    return rows


def test_recognised_and_nothing_is_lost() -> None:
    path = real_data() / "ons_population_lookups" / MYE
    assert ons_population.recognises(path)
    assert not ons_pfa_tables.recognises(path)
    (counted,) = _extract().files
    assert counted.rows_read == counted.rows_loaded + counted.rows_quarantined
    # 318 LADs loaded; 3 countries, 9 regions, 21 counties and 6 metropolitan counties set aside.
    assert (counted.rows_loaded, counted.rows_quarantined) == (318, 39)
    assert _extract().quarantine["reason"].str.starts_with("not a local authority district").all()


def test_every_force_area_and_year() -> None:
    frame = population()
    assert frame.height == 43 * 13
    assert set(frame["year"]) == set(range(2011, 2024))
    territorial = set(reference.forces().filter(pl.col("is_territorial_ew"))["force_id"])
    assert set(frame["force_id"]) == territorial


def test_dorset_counts_bournemouth_christchurch_and_poole_once() -> None:
    # BCP (E06000058) is listed under three CSPs in the lookup; Dorset PFA is BCP plus Dorset (E06000059).
    mye4 = published_mye4()
    mid_2023 = 3  # column D, "Mid-2023"
    assert (mye4["E06000058"][mid_2023], mye4["E06000059"][mid_2023]) == (404050, 384809)
    dorset = population().filter((pl.col("force_id") == "dorset") & (pl.col("year") == 2023))["population"][0]
    assert dorset == 404050 + 384809 == 788859
    # A join on the raw lookup would have counted BCP three times.
    with (reference.REFERENCE_DIR / "lad23_csp23_pfa23_lookup.csv").open(encoding="utf-8-sig") as handle:
        listed = [r["LAD23CD"] for r in csv.DictReader(handle) if r["PFA23NM"] == "Dorset"]
    assert sorted(listed) == ["E06000058", "E06000058", "E06000058", "E06000059"]


def test_force_areas_sum_to_england_and_wales_every_year() -> None:
    england_and_wales = published_mye4()["K04000001"]
    totals = dict(population().group_by("year").agg(pl.col("population").sum()).iter_rows())
    for offset, year in enumerate(range(2023, 2010, -1)):
        assert totals[year] == england_and_wales[3 + offset], year


def test_lookup_copy_is_the_published_file() -> None:
    copy = reference.REFERENCE_DIR / "lad23_csp23_pfa23_lookup.csv"
    assert copy.read_bytes() == (real_data() / "ons_population_lookups" / LOOKUP).read_bytes()
    assert "lad23_csp23_pfa23_lookup.csv" in (reference.REFERENCE_DIR / "README.md").read_text()


def test_agrees_with_the_populations_published_in_table_p3() -> None:
    """P3 gives mid-2016 to mid-2018 PFA populations rounded to 100, from the estimates of the time;
    MYE4 (June 2024) revised 2012-2020 after Census 2021, moving people between areas. Measured:
    national totals within 0.2%, median force within 0.7%, worst territorial force 2.9%
    (Northamptonshire, mid-2018), and the City of London (about 8,000 people) within 540."""
    p3 = pl.concat(
        [
            extract_sheets(ons_pfa_tables.PFA_TABLES, path).tables["core_population"]
            for path in sorted((real_data() / "ons_pfa_tables").glob("*.xlsx"))
        ]
    ).unique(["force_id", "year", "population"])
    assert p3.select("force_id", "year").is_duplicated().sum() == 0  # editions agree with each other
    both = p3.join(population(), on=["force_id", "year"], suffix="_mye")
    assert both.height == 43 * 3
    both = both.with_columns(
        ((pl.col("population_mye") - pl.col("population")) / pl.col("population")).abs().alias("gap")
    )
    city = both.filter(pl.col("force_id") == "city-of-london")
    assert ((city["population_mye"] - city["population"]).abs() <= 600).all()
    others = both.filter(pl.col("force_id") != "city-of-london")
    assert others["gap"].max() < 0.03
    assert others["gap"].median() < 0.01
    national = both.group_by("year").agg(pl.col("population").sum(), pl.col("population_mye").sum())
    assert (((national["population_mye"] - national["population"]) / national["population"]).abs() < 0.0025).all()


def test_counts_become_rates_per_1000_residents_and_btp_has_none(samples_ingest):
    """Kent's rolling-year violence against the person over the Kent population of the period's
    year, worked out here from core_population; British Transport Police has no resident population."""
    import duckdb

    with duckdb.connect(str(samples_ingest[0]), read_only=True) as con:
        [(count, population)] = con.sql("""
            select r.offence_count, p.population
            from recorded_crime as r
            join core_population as p
              on p.force_id = r.force_id and p.year = 2017 and p.source = 'ons_mid_year_estimates'
            where r.force_id = 'kent' and r.source = 'ons_rec_crime_pfa' and r.scheme = 'ons_offence_group'
              and r.category = 'Violence against the person' and r.period = '2017-04-01'
        """).fetchall()
        [(rate, used)] = con.sql("""
            select rate_per_1000, population_source from recorded_crime_rates
            where force_id = 'kent' and source = 'ons_rec_crime_pfa' and scheme = 'ons_offence_group'
              and category = 'Violence against the person' and period = '2017-04-01'
        """).fetchall()
        btp = con.sql(
            "select count(*), count(rate_per_1000) from recorded_crime_rates where force_id = 'btp'"
        ).fetchall()
    assert used == "ons_mid_year_estimates"
    assert rate == pytest.approx(count * 1000 / population)
    assert 10 < rate < 60  # tens of violent crimes per 1,000 residents a year, as ONS publishes
    assert btp[0][0] > 0 and btp[0][1] == 0


# --- each step on its own, on tiny frames ---------------------------------------------------------


def _raw(rows: list[tuple[str, str, str, str, str]]) -> pl.LazyFrame:
    """Rows of (Code, Name, Geography, Mid-2022, Mid-2023), numbered from 1, in sheet 'MYE4' from row 9."""
    return pl.LazyFrame(
        {
            "file_name": ["mye.xlsx"] * len(rows),
            "row_number": list(range(1, len(rows) + 1)),
            "sheet": ["MYE4"] * len(rows),
            "sheet_row": list(range(9, 9 + len(rows))),
            **{
                column: [row[i] for row in rows]
                for i, column in enumerate(["Code", "Name", "Geography", "Mid-2022", "Mid-2023"])
            },
        }
    )


def test_reasons_set_aside_totals_unknown_lads_and_bad_values() -> None:
    raw = _raw(
        [
            ("E06000001", "Hartlepool", "Unitary Authority", "93000", "94000"),  # Cleveland
            ("E12000001", "North East", "Region", "2600000", "2700000"),
            ("E99999999", "Atlantis", "Unitary Authority", "1", "1"),
            ("E06000002", "Middlesbrough", "Unitary Authority", "143000", "1.5"),
        ]
    )
    rows = raw.join(ons_population.lad_to_force().lazy(), left_on="Code", right_on="lad_code", how="left")
    got = rows.select("row_number", ons_population.reason(["Mid-2022", "Mid-2023"])).collect().sort("row_number")
    assert got["reason"].to_list() == [
        None,
        "not a local authority district (Region total)",
        "local authority 'Atlantis' (E99999999) is not in pipelines/reference/lad23_csp23_pfa23_lookup.csv",
        "'Mid-2023' is '1.5', not a whole number",
    ]


def test_force_area_totals_add_up_each_force_area_by_year() -> None:
    loaded = pl.LazyFrame(
        {
            "file_name": ["f"] * 3,
            "force_id": ["cleveland", "cleveland", "durham"],
            "Mid-2022": ["93000", "143000", "520000"],
            "Mid-2023": ["94000", "144000", "521000"],
        }
    )
    got = ons_population.force_area_totals(loaded, ["Mid-2022", "Mid-2023"]).collect().sort("force_id", "year")
    assert got.select("force_id", "year", "population").rows() == [
        ("cleveland", 2022, 236000),
        ("cleveland", 2023, 238000),
        ("durham", 2022, 520000),
        ("durham", 2023, 521000),
    ]


def test_a_sheet_that_lacks_a_lad_of_the_lookup_stops_the_file() -> None:
    with pytest.raises(
        MalformedFileError,
        match=r"mye.xlsx: sheet 'MYE4': local authorities in .* are missing from the sheet: \['E06000002'",
    ):
        ons_population.check_every_lad_is_there(_raw([("E06000001", "Hartlepool", "Unitary Authority", "1", "1")]))


def test_header_row_and_year_columns_are_found_by_content(tmp_path) -> None:
    frame = pl.DataFrame(
        {
            "sheet_row": [1, 2, 3],
            "a": ["Title", "Code", "E06000001"],
            "b": [None, "Name", "Hartlepool"],
            "c": [None, "Geography", "Unitary Authority"],
            "d": [None, " Mid-2023 ", "94000"],
            "e": [None, "Notes", None],
        }
    )
    at = ons_population.header_row(frame, tmp_path / "mye.xlsx", "MYE4")
    assert at == 1
    assert ons_population.year_columns(frame, at, tmp_path / "mye.xlsx", "MYE4") == {"d": 2023}
    with pytest.raises(MalformedFileError, match="expected one header row"):
        ons_population.header_row(frame.slice(2), tmp_path / "mye.xlsx", "MYE4")
