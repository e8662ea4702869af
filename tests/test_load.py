"""`load.ingest` on tiny files: nothing lost, idempotent, atomic, and honest about missing months."""

from __future__ import annotations

import gzip
import hashlib
import io
from pathlib import Path

import duckdb
import pytest

from pipelines import cli, schema
from pipelines.ingest import load
from pipelines.ingest.sources.police_uk import STREET_HEADER
from pipelines.ingest.textfile import MalformedFileError

from conftest import outcome_row, street_row, write_outcomes, write_street

pytestmark = pytest.mark.integration  # the load end to end: files in, a database file out, swapped into place

TABLES = [t.name for t in schema.TABLES.values() if not t.is_view]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def query(db: Path, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def snapshot(db: Path) -> dict[str, list[tuple]]:
    """Every row of every table, in a stable order."""
    with duckdb.connect(str(db), read_only=True) as con:
        return {t: con.execute(f"select * from {t} order by all").fetchall() for t in TABLES}


def leftovers(db: Path) -> list[Path]:
    return sorted(db.parent.glob(f"{db.name}.tmp-*"))


def durham(month: str, n: int, **overrides) -> list[dict]:
    return [street_row(**{"Crime ID": f"{month}-{i}", "Month": month, **overrides}) for i in range(n)]


def csv_line(values: list[str]) -> str:
    buffer = io.StringIO()
    import csv

    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue()


# --- nothing lost ------------------------------------------------------------------------------------------


def test_every_row_is_loaded_or_quarantined_and_traceable(tmp_path, db):
    inputs = tmp_path / "in"
    good = write_street(inputs / "2021-04-durham-street.csv", durham("2021-04", 4) + [street_row(Month="2021-13")])
    # a file with ragged lines as well as a bad value: data rows 1..6
    ragged = write_street(inputs / "2021-05-durham-street.csv", durham("2021-05", 2))
    with ragged.open("a", encoding="utf-8") as handle:
        handle.write(csv_line(list(street_row(Month="2021-05").values()) + ["extra"]))  # row 3: 13 fields
        handle.write(csv_line(list(street_row(Month="2021-05").values())[:-2]))  # row 4: 10 fields
        handle.write(csv_line(list(street_row(Month="2021-05", **{"Crime type": "Jaywalking"}).values())))  # row 5
        handle.write(csv_line(list(street_row(Month="2021-05", **{"Crime ID": "last"}).values())))  # row 6
    outcomes = write_outcomes(
        inputs / "2021-04-durham-outcomes.csv.gz", [outcome_row(), outcome_row(**{"Outcome type": "?"})]
    )
    written = {good.name: 5, ragged.name: 6, outcomes.name: 2}
    expected_quarantine = {good.name: {5}, ragged.name: {3, 4, 5}, outcomes.name: {2}}

    report = load.ingest([inputs], db, progress=False)

    assert sorted(r.file_name for r in report.loaded) == sorted(written)
    log = {r[0]: r[1:] for r in query(db, "select file_name, rows_read, rows_loaded, rows_quarantined from ingest_log")}
    assert log.keys() == written.keys()
    for name, (read, loaded, quarantined) in log.items():
        assert read == written[name], name
        assert read == loaded + quarantined, name
        assert quarantined == len(expected_quarantine[name]), name

    for table in ("core_police_uk__street_crimes", "core_police_uk__outcome_events"):
        keys = query(db, f"select file_name, row_number from {table}")
        assert len(keys) == len(set(keys)), table

    for name, n in written.items():
        table = "core_police_uk__outcome_events" if "outcomes" in name else "core_police_uk__street_crimes"
        loaded = [r for (r,) in query(db, f"select row_number from {table} where file_name = ?", [name])]
        quarantined = [r for (r,) in query(db, "select row_number from quarantine where file_name = ?", [name])]
        assert set(quarantined) == expected_quarantine[name], name
        assert not set(loaded) & set(quarantined), name
        assert sorted(loaded + quarantined) == list(range(1, n + 1)), name


# --- idempotent -----------------------------------------------------------------------------------------------


def test_reingesting_the_same_files_changes_nothing(tmp_path, db):
    inputs = tmp_path / "in"
    write_street(inputs / "2021-04-durham-street.csv", durham("2021-04", 3) + [street_row(Month="bad")])
    write_outcomes(inputs / "2021-04-durham-outcomes.csv.gz", [outcome_row()] * 2)
    first = load.ingest([inputs], db, progress=False)
    assert len(first.loaded) == 2
    before, db_hash = snapshot(db), sha256(db)
    assert before["core_police_uk__street_crimes"] and before["meta_quarantine"]

    again = load.ingest([inputs], db, progress=False)

    assert again.loaded == []
    assert sorted(again.unchanged) == ["2021-04-durham-outcomes.csv.gz", "2021-04-durham-street.csv"]
    assert snapshot(db) == before
    assert sha256(db) == db_hash


def test_a_changed_file_replaces_its_rows(tmp_path, db):
    inputs = tmp_path / "in"
    changing = write_street(
        inputs / "2021-04-durham-street.csv",
        durham("2021-04", 3, **{"Crime type": "Drugs"}) + [street_row(Month="bad")],
    )
    other = write_street(
        inputs / "2021-04-cleveland-street.csv",
        [street_row(**{"Falls within": "Cleveland Police", "Reported by": "Cleveland Police"})],
    )
    load.ingest([inputs], db, progress=False)
    other_rows = query(db, "select * from core_police_uk__street_crimes where file_name = ? order by all", [other.name])

    write_street(changing, [street_row(**{"Crime ID": "new", "Crime type": "Robbery"})])
    report = load.ingest([inputs], db, progress=False)

    assert [r.file_name for r in report.loaded] == [changing.name]
    assert report.unchanged == [other.name]
    assert query(
        db, "select crime_id, crime_type from core_police_uk__street_crimes where file_name = ?", [changing.name]
    ) == [("new", "Robbery")]
    assert query(
        db, "select category, offence_count from core_counts__recorded_crime where file_name = ?", [changing.name]
    ) == [("Robbery", 1)]
    assert query(db, "select count(*) from quarantine where file_name = ?", [changing.name]) == [(0,)]
    assert query(
        db,
        "select rows_read, rows_loaded, rows_quarantined, sha256 from ingest_log where file_name = ?",
        [changing.name],
    ) == [(1, 1, 0, sha256(changing))]
    assert query(db, "select rows_supplied from core_coverage where file_name = ?", [changing.name]) == [(1,)]
    assert (
        query(db, "select * from core_police_uk__street_crimes where file_name = ? order by all", [other.name])
        == other_rows
    )


# --- atomic ------------------------------------------------------------------------------------------------------


def _bad_header(folder: Path) -> Path:
    path = folder / "2021-04-kent-street.csv"
    path.write_text("Crime reference,Month,Force\nx,2021-04,Kent Police\n")
    return path


def _corrupt_gzip(folder: Path) -> Path:
    path = folder / "2021-04-kent-street.csv.gz"
    whole = gzip.compress(b",".join(h.encode() for h in STREET_HEADER) + b"\n")
    path.write_bytes(whole[: len(whole) // 2])  # cut off mid-stream
    return path


@pytest.mark.parametrize("make_bad", [_bad_header, _corrupt_gzip], ids=["bad_header", "corrupt_gzip"])
def test_a_malformed_file_fails_the_load_and_leaves_the_database_as_it_was(tmp_path, db, make_bad):
    load.ingest(
        [write_street(tmp_path / "old" / "2021-03-durham-street.csv", durham("2021-03", 2))], db, progress=False
    )
    db_hash = sha256(db)
    inputs = tmp_path / "in"
    write_street(inputs / "2021-04-durham-street.csv", durham("2021-04", 2))
    bad = make_bad(inputs)
    write_street(
        inputs / "2021-04-suffolk-street.csv",
        [street_row(**{"Falls within": "Suffolk Constabulary", "Reported by": "Suffolk Constabulary"})],
    )

    with pytest.raises(MalformedFileError) as caught:
        load.ingest([inputs], db, progress=False)

    assert caught.value.path.name == bad.name
    assert bad.name in str(caught.value)
    assert sha256(db) == db_hash
    assert leftovers(db) == []
    # the database and its writer lock (kept: the lock is the system's, released when the load ends)
    assert sorted(p.name for p in db.parent.iterdir() if p.name.startswith(db.name)) == [db.name, f"{db.name}.lock"]


def test_a_malformed_file_on_a_first_load_leaves_no_database(tmp_path, db):
    inputs = tmp_path / "in"
    write_street(inputs / "2021-04-durham-street.csv", durham("2021-04", 2))
    _bad_header(inputs)
    with pytest.raises(MalformedFileError):
        load.ingest([inputs], db, progress=False)
    assert not db.exists()
    assert leftovers(db) == []


@pytest.mark.parametrize("batch_bytes", [load.BATCH_BYTES, 1], ids=["one_batch", "batch_per_file"])
def test_an_error_mid_load_leaves_the_database_as_it_was(tmp_path, db, monkeypatch, batch_bytes):
    load.ingest(
        [write_street(tmp_path / "old" / "2021-03-durham-street.csv", durham("2021-03", 2))], db, progress=False
    )
    db_hash = sha256(db)
    inputs = tmp_path / "in"
    write_street(inputs / "2021-04-durham-street.csv", durham("2021-04", 2))
    write_outcomes(inputs / "2021-04-durham-outcomes.csv", [outcome_row()])

    real_write_batch = load._write_batch
    calls = []

    def failing_write_batch(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("injected failure")
        return real_write_batch(*args, **kwargs)

    monkeypatch.setattr(load, "BATCH_BYTES", batch_bytes)
    monkeypatch.setattr(load, "_write_batch", failing_write_batch)
    with pytest.raises(RuntimeError, match="injected failure"):
        load.ingest([inputs], db, progress=False)

    assert len(calls) == 2  # the first batch was written to the staging copy before the failure
    assert sha256(db) == db_hash
    assert leftovers(db) == []
    monkeypatch.undo()
    assert query(db, "select file_name from ingest_log") == [("2021-03-durham-street.csv",)]


# --- coverage -------------------------------------------------------------------------------------------------------


def _territorial_forces() -> set[str]:
    import csv

    with (load.reference.REFERENCE_DIR / "forces.csv").open(newline="") as handle:
        return {r["force_id"] for r in csv.DictReader(handle) if r["is_territorial_ew"] == "true"}


def _street_coverage(db: Path) -> dict[tuple[str, str], tuple[int | None, str]]:
    rows = query(
        db,
        "select force_id, strftime(period, '%Y-%m'), rows_supplied, coverage_status from coverage "
        "where source = 'police_uk_street'",
    )
    by_key = {(f, m): (n, s) for f, m, n, s in rows}
    assert len(by_key) == len(rows)  # one row per force and month
    assert not [r for r in rows if r[2] == 0]  # missing is missing, never zero
    return by_key


def test_a_month_no_force_supplied_is_missing_not_dropped(tmp_path, db):
    inputs = tmp_path / "in"
    write_street(inputs / "2021-04-durham-street.csv", durham("2021-04", 3))
    write_street(inputs / "2021-06-durham-street.csv", durham("2021-06", 5))
    load.ingest([inputs], db, progress=False)

    by_key = _street_coverage(db)
    assert by_key[("durham", "2021-04")] == (3, "supplied")
    assert by_key[("durham", "2021-06")] == (5, "supplied")
    assert by_key.get(("durham", "2021-05")) == (None, "missing")
    territorial = _territorial_forces()
    assert by_key.keys() == {(f, m) for f in territorial for m in ("2021-04", "2021-05", "2021-06")}
    assert all(v == (None, "missing") for (f, _), v in by_key.items() if f != "durham")


def test_a_month_with_no_file_is_missing_not_zero(tmp_path, db):
    inputs = tmp_path / "in"
    write_street(inputs / "2021-04-durham-street.csv", durham("2021-04", 3))
    write_street(inputs / "2021-06-durham-street.csv", durham("2021-06", 5))
    write_street(
        inputs / "2021-05-cleveland-street.csv",
        [street_row(Month="2021-05", **{"Falls within": "Cleveland Police", "Reported by": "Cleveland Police"})],
    )
    load.ingest([inputs], db, progress=False)

    by_key = _street_coverage(db)
    territorial = _territorial_forces()
    assert len(territorial) == 43
    assert by_key.keys() == {(f, m) for f in territorial for m in ("2021-04", "2021-05", "2021-06")}
    supplied = {k: v for k, v in by_key.items() if v[1] == "supplied"}
    assert supplied == {
        ("durham", "2021-04"): (3, "supplied"),
        ("durham", "2021-06"): (5, "supplied"),
        ("cleveland", "2021-05"): (1, "supplied"),
    }
    assert by_key[("durham", "2021-05")] == (None, "missing")
    assert all(v == (None, "missing") for k, v in by_key.items() if k not in supplied)


def test_a_non_territorial_body_appears_in_coverage_only_when_it_supplied(tmp_path, db):
    inputs = tmp_path / "in"
    write_street(
        inputs / "2021-04-btp-street.csv",
        [street_row(**{"Falls within": "British Transport Police", "Reported by": "British Transport Police"})],
    )
    load.ingest([inputs], db, progress=False)
    forces = {f for (f,) in query(db, "select distinct force_id from coverage")}
    assert forces == _territorial_forces() | {"btp"}
    assert query(db, "select rows_supplied, coverage_status from coverage where force_id = 'btp'") == [(1, "supplied")]


# --- versions and names ------------------------------------------------------------------------------------------


def test_a_database_from_another_version_is_refused_until_rebuilt(tmp_path, db):
    inputs = tmp_path / "in"
    write_street(inputs / "2021-04-durham-street.csv", durham("2021-04", 2))
    load.ingest([inputs], db, progress=False)
    with duckdb.connect(str(db)) as con:
        con.execute("update meta_database set value = 'from-an-older-version' where key = 'database_version'")
    stale_hash = sha256(db)

    with pytest.raises(load.StaleDatabaseError, match="rebuild"):
        load.ingest([inputs], db, progress=False)
    assert sha256(db) == stale_hash

    report = load.ingest([inputs], db, rebuild=True, progress=False)
    assert [r.file_name for r in report.loaded] == ["2021-04-durham-street.csv"]
    assert query(db, "select value from meta_database where key = 'database_version'") == [(load.database_version(),)]
    assert query(db, "select count(*) from core_police_uk__street_crimes") == [(2,)]
    assert load.ingest([inputs], db, progress=False).loaded == []


def test_another_programs_database_is_refused_and_never_replaced(tmp_path, db):
    with duckdb.connect(str(db)) as con:
        con.execute("create table something_else (x integer)")
    before = sha256(db)
    inputs = tmp_path / "in"
    write_street(inputs / "2021-04-durham-street.csv", durham("2021-04", 2))
    for rebuild in (False, True):
        with pytest.raises(load.DatabaseError, match="a DuckDB database that crossforce did not build") as caught:
            load.ingest([inputs], db, rebuild=rebuild, progress=False)
        assert "delete" not in str(caught.value)
    assert sha256(db) == before


def test_two_inputs_with_the_same_name_and_different_content_raise(tmp_path, db):
    name = "2021-04-durham-street.csv"
    write_street(tmp_path / "a" / name, durham("2021-04", 2))
    write_street(tmp_path / "b" / name, durham("2021-04", 3))
    with pytest.raises(MalformedFileError, match="same name") as caught:
        load.ingest([tmp_path / "a", tmp_path / "b"], db, progress=False)
    assert name in str(caught.value)
    assert not db.exists()


def test_identical_copies_in_two_folders_load_once(tmp_path, db):
    name = "2021-04-durham-street.csv"
    first = write_street(tmp_path / "a" / name, durham("2021-04", 2))
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / name).write_bytes(first.read_bytes())
    report = load.ingest([tmp_path / "a", tmp_path / "b"], db, progress=False)
    assert [r.file_name for r in report.loaded] == [name]
    assert query(db, "select count(*) from core_police_uk__street_crimes") == [(2,)]


def test_the_same_return_plain_and_gzipped_is_not_counted_twice(tmp_path, db):
    plain = write_street(tmp_path / "a" / "2021-04-durham-street.csv", durham("2021-04", 3))
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / f"{plain.name}.gz").write_bytes(gzip.compress(plain.read_bytes()))
    try:
        load.ingest([tmp_path / "a", tmp_path / "b"], db, progress=False)
    except MalformedFileError as exc:  # refusing the second copy is as good as loading it once
        assert plain.name in str(exc)
        assert not db.exists()
        return
    assert query(db, "select offence_count from recorded_crime where force_id = 'durham'") == [(3,)]
    assert query(db, "select rows_supplied from coverage where force_id = 'durham'") == [(3,)]


def test_a_compressed_copy_loaded_later_replaces_the_plain_file(tmp_path, db):
    plain = write_street(tmp_path / "a" / "2021-04-durham-street.csv", durham("2021-04", 3))
    load.ingest([plain], db, progress=False)
    packed = tmp_path / "b" / f"{plain.name}.gz"
    packed.parent.mkdir()
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    load.ingest([packed], db, progress=False)
    assert query(db, "select offence_count from recorded_crime where force_id = 'durham'") == [(3,)]
    assert query(db, "select file_name from ingest_log") == [(packed.name,)]


def test_the_same_file_given_twice_loads_once(tmp_path, db):
    path = write_street(tmp_path / "in" / "2021-04-durham-street.csv", durham("2021-04", 2))
    report = load.ingest([path, tmp_path / "in"], db, progress=False)
    assert [r.file_name for r in report.loaded] == [path.name]
    assert query(db, "select count(*) from core_police_uk__street_crimes") == [(2,)]


# --- the CLI over a loaded database ---------------------------------------------------------------------------------


def test_info_reports_a_source_whose_rows_were_all_quarantined(tmp_path, db, capsys):
    inputs = tmp_path / "in"
    write_street(inputs / "2021-04-durham-street.csv", [street_row(**{"Falls within": "Narnia Constabulary"})])
    load.ingest([inputs], db, progress=False)
    assert cli.main(["info", "--db", str(db)]) == 0
    assert "police_uk_street: 1 files, 1 rows read, 0 loaded, 1 quarantined" in capsys.readouterr().out
