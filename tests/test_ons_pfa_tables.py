"""ONS police force area data tables: P1 counts and P3 populations from the eight real editions."""

from __future__ import annotations

import hashlib
import shutil
import time
from datetime import date
from functools import cache
from pathlib import Path

import duckdb
import openpyxl
import polars as pl
import pytest

from pipelines import reference
from pipelines.ingest.load import ingest
from pipelines.ingest.sources import extract_workbook, ons_pfa_tables
from pipelines.ingest.sources.base import Extracted, extract_sheets
from pipelines.ingest.textfile import MalformedFileError
from tests.conftest import real_data

MAR18 = "policeforceareatablesyearendingmarch2018v2.xlsx"
DEC19 = "pfatablesdec19.xlsx"
SEP19 = "policeforceareatablesyearendingseptember2019.xlsx"


def editions() -> list[Path]:
    paths = sorted((real_data() / "ons_pfa_tables").glob("*.xlsx"))
    assert len(paths) == 8
    return paths


@cache
def _extract(path: Path) -> Extracted:
    return extract_sheets(ons_pfa_tables.PFA_TABLES, path)


def extracted(name: str) -> Extracted:
    return _extract(real_data() / "ons_pfa_tables" / name)


def counts(name: str) -> pl.DataFrame:
    return extracted(name).tables["core_counts__recorded_crime"]


def count_of(name: str, force_id: str, scheme: str, category: str) -> int | None:
    row = counts(name).filter(
        (pl.col("force_id") == force_id) & (pl.col("scheme") == scheme) & (pl.col("category") == category)
    )
    assert row.height == 1, (force_id, scheme, category)
    return row["offence_count"][0]


def test_clean_label_removes_footnote_markers_only() -> None:
    assert ons_pfa_tables.clean_label("Stalking and harassment 5") == "Stalking and harassment"
    assert ons_pfa_tables.clean_label("Non-residential  burglary6,7") == "Non-residential burglary"
    assert (
        ons_pfa_tables.clean_label("Total recorded crime (excluding fraud4)")
        == "Total recorded crime (excluding fraud)"
    )
    assert ons_pfa_tables.clean_label("Stalking\nand harassment") == "Stalking and harassment"
    assert ons_pfa_tables.clean_label("Homicide") == "Homicide"


def test_every_edition_is_recognised_and_nothing_is_lost() -> None:
    for path in editions():
        assert ons_pfa_tables.recognises(path)
        (counted,) = extract_sheets(ons_pfa_tables.PFA_TABLES, path).files
        assert counted.rows_read == counted.rows_loaded + counted.rows_quarantined, path.name
        # 56 P1 rows (43 forces, BTP, 12 totals) and 55 P3 rows (no BTP) in every edition.
        assert counted.rows_read == 111, path.name


def test_hand_picked_cells_equal_loaded_counts() -> None:
    # Values read by eye from 'Table P1' of the March 2018 edition.
    assert count_of(MAR18, "cleveland", "all_crime", "Total recorded crime") == 57222  # C10
    assert count_of(MAR18, "cleveland", "ons_offence_group", "Violence against the person") == 14201  # E10
    assert count_of(MAR18, "metropolitan", "ons_offence_subgroup_detail", "Residential burglary") == 57074  # O44
    assert count_of(MAR18, "btp", "ons_offence_subgroup", "Stalking and harassment") == 153  # I62
    # 'Table P1 ' of December 2019: Lancashire's name has a trailing space there.
    assert count_of(DEC19, "lancashire", "all_crime", "Total recorded crime") == 148288  # C16


def test_totals_read_with_openpyxl_equal_loaded_totals() -> None:
    # Read column C ("Total recorded crime") of 'Table P1' with openpyxl, by area name as printed.
    spellings = {
        "Durham": "durham",
        "Dyfed-Powys": "dyfed-powys",
        "London, City of": "city-of-london",
        "City of London": "city-of-london",
        "Devon and Cornwall": "devon-and-cornwall",
        "British Transport Police": "btp",
    }
    for path in editions():
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        sheet = book[next(n for n in book.sheetnames if n.strip() == "Table P1")]
        published = {
            spellings[name]: row[2]
            for row in sheet.iter_rows(values_only=True)
            if isinstance(row[1], str) and (name := row[1].strip().rstrip("0123456789,")) in spellings
        }
        book.close()
        assert len(published) == 5, (path.name, published)
        for force_id, value in published.items():
            loaded = count_of(path.name, force_id, "all_crime", "Total recorded crime")
            assert loaded == (None if value == ".." else int(value)), (path.name, force_id)


def test_not_available_loads_as_null_with_note_never_zero() -> None:
    gmp = counts(DEC19).filter(pl.col("force_id") == "greater-manchester")
    assert gmp.height == 23
    assert gmp["offence_count"].null_count() == 23
    assert set(gmp["count_note"]) == {"not available (..)"}
    assert (
        counts(DEC19).filter(pl.col("offence_count") == 0).filter(pl.col("force_id") == "greater-manchester").height
        == 0
    )
    # The force-period was not supplied, so coverage says nothing for it (the view shows it missing).
    assert "greater-manchester" not in extracted(DEC19).tables["core_coverage"]["force_id"].to_list()
    assert counts(MAR18)["count_note"].null_count() == counts(MAR18).height


def test_every_force_name_in_every_edition_resolves() -> None:
    forces = reference.forces()
    expected = set(forces.filter(pl.col("is_territorial_ew"))["force_id"]) | {"btp"}
    for path in editions():
        assert set(counts(path.name)["force_id"]) == expected, path.name
        reasons = set(extracted(path.name).quarantine["reason"])
        assert reasons <= {ons_pfa_tables.NOT_A_FORCE, "population not available (..)"}, (path.name, reasons)


def test_totals_are_quarantined_as_not_forces() -> None:
    for path in editions():
        quarantine = extracted(path.name).quarantine
        totals = quarantine.filter(pl.col("reason") == ons_pfa_tables.NOT_A_FORCE)
        # England and Wales, England, 9 regions and Wales, in P1 and again in P3.
        assert totals.height == 24, path.name
        codes = totals["raw_row"].str.json_path_match("$['Area Code']").str.slice(0, 3)
        assert set(codes) == {"K04", "E92", "E12", "W92"}


def test_period_and_release_date() -> None:
    row = counts(MAR18).row(0, named=True)
    assert row["period"] == date(2017, 4, 1)
    assert row["period_grain"] == "rolling_year"
    assert row["release_date"] == date(2018, 6, 1)
    assert counts(DEC19)["period"][0] == date(2019, 1, 1)


def test_categories_match_the_hierarchy_and_partition_their_parents() -> None:
    labels = ons_pfa_tables.table_labels()
    hierarchy = reference.offence_hierarchy()
    groups = set(hierarchy.filter(pl.col("depth") == 1)["offence_label"])
    assert set(labels.filter(pl.col("scheme") == "ons_offence_group")["category"]) <= groups
    # Each parent equals the sum of its children, for every force with figures, in every edition.
    for path in editions():
        frame = counts(path.name).filter(pl.col("offence_count").is_not_null())
        children = (
            frame.join(labels.unique(["scheme", "category"]), on=["scheme", "category"])
            .group_by("force_id", "parent_category")
            .agg(pl.col("offence_count").sum().alias("children"))
        )
        parents = frame.select("force_id", pl.col("category").alias("parent_category"), "offence_count")
        joined = children.join(parents, on=["force_id", "parent_category"])
        # Total, violence, theft and burglary have parts, for each force with figures.
        assert joined.height == frame["force_id"].n_unique() * 4, path.name
        assert (joined["children"] == joined["offence_count"]).all(), path.name


def test_p3_population() -> None:
    population = extracted(MAR18).tables["core_population"]
    cleveland = population.filter(pl.col("force_id") == "cleveland").row(0, named=True)
    assert (cleveland["year"], cleveland["population"]) == (2016, 564600)  # 'Table P3' C10, "(mid-2016)"
    assert population.height == 43 and "btp" not in population["force_id"].to_list()
    dec19 = extracted(DEC19)
    assert "greater-manchester" not in dec19.tables["core_population"]["force_id"].to_list()
    assert set(dec19.tables["core_population"]["year"]) == {2018}
    reasons = dec19.quarantine.filter(pl.col("reason") == "population not available (..)")
    assert reasons["raw_row"].str.json_path_match("$.sheet").to_list() == ["Table P3"]


def test_reading_all_editions_takes_seconds() -> None:
    started = time.perf_counter()
    for path in editions():
        extract_sheets(ons_pfa_tables.PFA_TABLES, path)
    assert time.perf_counter() - started < 10


def test_unknown_label_stops_the_file_and_leaves_the_database_unchanged(tmp_path: Path, db: Path) -> None:
    ingest([real_data() / "ons_pfa_tables" / SEP19], db, progress=False)
    with duckdb.connect(str(db), read_only=True) as con:
        # September 2019 also prints '..' for Greater Manchester: in the database it is NULL, not 0.
        assert con.sql("""select count(*), count(offence_count), min(count_note) from recorded_crime
                          where force_id = 'greater-manchester'""").fetchall() == [(23, 0, "not available (..)")]
    before = hashlib.sha256(db.read_bytes()).hexdigest()

    broken = tmp_path / MAR18
    shutil.copyfile(real_data() / "ons_pfa_tables" / MAR18, broken)
    book = openpyxl.load_workbook(broken)
    assert book["Table P1"]["L5"].value == "Robbery"
    book["Table P1"]["L5"] = "Robbery of spaceships"
    book.save(broken)

    with pytest.raises(MalformedFileError) as error:
        extract_workbook(broken)
    message = str(error.value)
    assert MAR18 in message and "Table P1" in message and "Robbery of spaceships" in message
    with pytest.raises(MalformedFileError):
        ingest([broken], db, progress=False)
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
