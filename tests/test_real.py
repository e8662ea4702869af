"""Integration on the real published police.uk data in ../shared/real: every street and outcome file
of `police_uk_street_2021/` and `police_uk_street_outcomes/`, ingested once."""

from __future__ import annotations

import csv
import gzip
import hashlib
from pathlib import Path

import duckdb
import pytest

from pipelines.ingest import load

from conftest import real_data

pytestmark = pytest.mark.real

FOLDERS = ("police_uk_street_2021", "police_uk_street_outcomes")


def _inputs() -> list[Path]:
    real = real_data()
    return [real / folder for folder in FOLDERS]


@pytest.fixture(scope="module")
def real_db(tmp_path_factory) -> tuple[Path, load.IngestReport]:
    inputs = _inputs()
    db = tmp_path_factory.mktemp("real") / "real.duckdb"
    report = load.ingest(inputs, db, progress=False)
    return db, report


@pytest.fixture(scope="module")
def manifest() -> dict[str, int]:
    """data_rows of every police.uk file, from real/MANIFEST.csv, by file name."""
    with (real_data() / "MANIFEST.csv").open(newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["path"].startswith(tuple(f + "/" for f in FOLDERS))]
    return {Path(r["path"]).name: int(r["data_rows"]) for r in rows}


def query(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_every_file_is_loaded_and_rows_read_match_the_manifest(real_db, manifest):
    db, report = real_db
    assert len(manifest) == 260
    assert sorted(r.file_name for r in report.loaded) == sorted(manifest)
    log = {
        f: (read, loaded, quarantined)
        for f, read, loaded, quarantined in query(
            db, "select file_name, rows_read, rows_loaded, rows_quarantined from ingest_log"
        )
    }
    assert {f: v[0] for f, v in log.items()} == manifest
    for name, (read, loaded, quarantined) in log.items():
        assert read == loaded + quarantined, name
    assert sum(manifest.values()) == 2_116_031  # 1,593,964 (2021) + 269,438 + 221,831 + 15,691 + 15,107


def test_nothing_is_quarantined(real_db):
    db, _ = real_db
    assert query(db, "select count(*) from quarantine") == [(0,)]
    assert query(db, "select sum(rows_quarantined) from ingest_log") == [(0,)]


def test_every_row_has_a_force(real_db):
    db, _ = real_db
    for table in ("core_police_uk__street_crimes", "core_police_uk__outcome_events"):
        assert query(db, f"select count(*) from {table} where force_id is null or reported_by_force_id is null") == [
            (0,)
        ]


def test_41_forces_supplied_street_data(real_db):
    db, _ = real_db
    forces = {f for (f,) in query(db, "select distinct force_id from core_police_uk__street_crimes")}
    assert len(forces) == 41
    # 39 territorial forces plus BTP and PSNI (PROVENANCE.md)
    assert {"btp", "northern-ireland"} <= forces
    assert not forces & {"metropolitan", "west-midlands", "west-yorkshire", "greater-manchester"}


def _exact_repeats(path: Path) -> int:
    with gzip.open(path, "rt", newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        next(reader)
        rows = [tuple(r) for r in reader]
    return len(rows) - len(set(rows))


def test_cleveland_outcome_duplicates_are_counted(real_db):
    db, _ = real_db
    files = sorted((real_data() / "police_uk_street_outcomes").rglob("*-cleveland-outcomes.csv.gz"))
    assert len(files) == 35
    expected = {p.name: _exact_repeats(p) for p in files}
    assert sum(expected.values()) == 5_393  # the figure PROVENANCE.md gives, as counted here
    got = dict(
        query(db, "select file_name, rows_duplicate from ingest_log where file_name like '%-cleveland-outcomes.csv.gz'")
    )
    assert got == expected
    # each repeat points at an earlier row of its own file
    assert query(
        db,
        """
        select count(*) from core_police_uk__outcome_events
        where file_name like '%-cleveland-outcomes.csv.gz' and duplicate_of_row is not null
    """,
    ) == [(5_393,)]
    assert query(
        db,
        """
        select count(*) from core_police_uk__outcome_events
        where duplicate_of_row is not null and duplicate_of_row >= row_number
    """,
    ) == [(0,)]


def test_a_second_ingest_loads_nothing_and_changes_nothing(real_db):
    db, _ = real_db
    tables = ["ingest_log", "core_coverage", "core_counts__recorded_crime"]
    before = {t: query(db, f"select * from {t} order by all") for t in tables}
    counts_before = {
        t: query(db, f"select count(*) from {t}")
        for t in ("core_police_uk__street_crimes", "core_police_uk__outcome_events", "quarantine")
    }
    db_hash = hashlib.sha256(db.read_bytes()).hexdigest()

    report = load.ingest(_inputs(), db, progress=False)

    assert report.loaded == []
    assert len(report.unchanged) == 260
    assert {t: query(db, f"select * from {t} order by all") for t in tables} == before
    assert {t: query(db, f"select count(*) from {t}") for t in counts_before} == counts_before
    assert hashlib.sha256(db.read_bytes()).hexdigest() == db_hash
