"""Force-area populations from the ONS mid-year estimates (MYE4) and the LAD → PFA lookup."""

from __future__ import annotations

import csv
from functools import cache

import openpyxl
import pytest
import polars as pl

from pipelines import reference
from pipelines.ingest.sources import ons_pfa_tables, ons_population
from pipelines.ingest.sources.base import Extracted
from tests.conftest import real_data

MYE = "LAD23_Mid_Year_pop_2011_to_2023.xlsx"
LOOKUP = "Local_Authority_District_to_CSPs_to_Police_Force_Areas_(December__2023)_Lookup_.csv"


@cache
def _extract() -> Extracted:
    return ons_population.extract(real_data() / "ons_population_lookups" / MYE)


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
    p3 = pl.concat([
        ons_pfa_tables.extract(path).tables["core_population"]
        for path in sorted((real_data() / "ons_pfa_tables").glob("*.xlsx"))
    ]).unique(["force_id", "year", "population"])
    assert p3.select("force_id", "year").is_duplicated().sum() == 0  # editions agree with each other
    both = p3.join(population(), on=["force_id", "year"], suffix="_mye")
    assert both.height == 43 * 3
    both = both.with_columns(((pl.col("population_mye") - pl.col("population")) / pl.col("population")).abs().alias("gap"))
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
            join core_population as p on p.force_id = r.force_id and p.year = 2017 and p.source = 'ons_mid_year_estimates'
            where r.force_id = 'kent' and r.source = 'ons_rec_crime_pfa' and r.scheme = 'ons_offence_group'
              and r.category = 'Violence against the person' and r.period = '2017-04-01'
        """).fetchall()
        [(rate, used)] = con.sql("""
            select rate_per_1000, population_source from recorded_crime_rates
            where force_id = 'kent' and source = 'ons_rec_crime_pfa' and scheme = 'ons_offence_group'
              and category = 'Violence against the person' and period = '2017-04-01'
        """).fetchall()
        btp = con.sql("select count(*), count(rate_per_1000) from recorded_crime_rates where force_id = 'btp'").fetchall()
    assert used == "ons_mid_year_estimates"
    assert rate == pytest.approx(count * 1000 / population)
    assert 10 < rate < 60  # tens of violent crimes per 1,000 residents a year, as ONS publishes
    assert btp[0][0] > 0 and btp[0][1] == 0
