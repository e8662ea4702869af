"""What a load promises when the world is hostile (issue 9): one writer at a time, a file counted once
whatever its name, nothing left behind by a kill or a stop, and one clear line for every database
that cannot be used (locked, foreign, pending changes, a full disk). Real files, real processes."""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from pipelines.ingest import load

from conftest import PROJECT_ROOT, SAMPLES, street_row, write_street

pytestmark = pytest.mark.integration  # processes that load, are killed and race each other

APRIL = SAMPLES / "police_uk" / "2021-04"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def crossforce(*args: str, **popen) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli", *args],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )


def run_crossforce(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pipelines.cli", *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def counts(db: Path) -> tuple:
    with duckdb.connect(str(db), read_only=True) as con:
        return (
            con.sql("select count(*), sum(rows_loaded)::bigint from meta_ingest_log").fetchall()[0]
            + con.sql("select count(*) from core_police_uk__street_crimes").fetchall()[0]
        )


def staging_files(db: Path) -> list[str]:
    return sorted(p.name for p in db.parent.glob(f"{db.name}.tmp-*"))


def one_clear_line(stderr: str) -> str:
    """The error a person reads: one line, no traceback."""
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.fixture
def files(tmp_path: Path) -> list[Path]:
    """Ten real police.uk street files of April 2021, copied so tests may rename them."""
    folder = tmp_path / "files"
    folder.mkdir()
    chosen = sorted(APRIL.glob("*-street.csv.gz"), key=lambda f: f.stat().st_size)[:10]  # the smallest, for speed
    return [Path(shutil.copy(f, folder / f.name)) for f in chosen]


# --- content identity ------------------------------------------------------------------------------------


def test_the_same_bytes_under_another_name_are_counted_once_in_one_command_or_a_later_one(tmp_path, files):
    gwent = next(f for f in files if "gwent" in f.name)
    copy = gwent.with_name("2021-04-gwent-street-copy.csv.gz")
    shutil.copy(gwent, copy)
    db = tmp_path / "x.duckdb"
    report = load.ingest([gwent, copy], db, progress=False)
    assert [r.file_name for r in report.loaded] == [gwent.name]
    assert "the same bytes as 2021-04-gwent-street.csv.gz" in report.skipped[copy.name]
    once = counts(db)
    report = load.ingest([copy], db, progress=False)  # a later command
    assert report.loaded == [] and copy.name in report.skipped
    assert counts(db) == once


def test_a_file_may_take_the_bytes_its_neighbour_gave_up(tmp_path):
    """A replaced file no longer holds its old bytes, so a new file with those bytes is loaded."""
    first, second = tmp_path / "2021-04-durham-street.csv", tmp_path / "2021-05-durham-street.csv"
    write_street(first, [street_row(**{"Crime ID": "a"})])
    db = tmp_path / "x.duckdb"
    load.ingest([first], db, progress=False)
    old_bytes = first.read_bytes()
    write_street(first, [street_row(**{"Crime ID": "b"})])
    second.write_bytes(old_bytes)  # April's old row, under May's name
    report = load.ingest([first, second], db, progress=False)
    assert sorted(r.file_name for r in report.loaded) == [first.name, second.name]


# --- one writer ------------------------------------------------------------------------------------------


def test_two_ingests_at_once_both_land(tmp_path, files):
    db = tmp_path / "x.duckdb"
    halves = [tmp_path / "a", tmp_path / "b"]
    for half, chosen in zip(halves, (files[:5], files[5:])):
        half.mkdir()
        for f in chosen:
            shutil.move(f, half / f.name)
    writers = [crossforce("ingest", "--quiet", "--db", str(db), str(half)) for half in halves]
    for writer in writers:
        writer.wait(timeout=300)
        assert writer.returncode == 0, writer.stderr.read()
    assert counts(db)[0] == 10
    assert staging_files(db) == []


def test_a_second_writer_stops_after_its_wait_naming_the_holder(tmp_path, files):
    db = tmp_path / "x.duckdb"
    with load.writer_lock(db.resolve(), wait_s=0):
        started = time.monotonic()
        with pytest.raises(load.DatabaseLockedError) as caught:
            load.ingest(files[:1], db, progress=False, wait_s=0.5)
        assert 0.5 <= time.monotonic() - started < 5
    message = str(caught.value)
    assert f"PID {os.getpid()}" in message and "another load" in message and "--wait" in message
    assert "delete" not in message
    assert not db.exists()


def test_a_symlinked_database_keeps_pointing_at_its_target(tmp_path, files):
    target = tmp_path / "store" / "real.duckdb"
    target.parent.mkdir()
    link = tmp_path / "crossforce.duckdb"
    link.symlink_to(target)
    load.ingest(files[:1], link, progress=False)
    load.ingest(files[1:2], link, progress=False)
    assert link.is_symlink() and link.resolve() == target.resolve()
    assert counts(target)[0] == 2


# --- nothing left behind ---------------------------------------------------------------------------------


def test_staging_files_of_killed_loads_are_removed_by_the_next_load(tmp_path, files):
    db = tmp_path / "x.duckdb"
    load.ingest(files[:1], db, progress=False)
    leftovers = [tmp_path / "x.duckdb.tmp-999991", tmp_path / "x.duckdb.tmp-999992.wal"]
    for leftover in leftovers:
        leftover.write_bytes(b"\0" * 4096)
    neighbour = tmp_path / "other.duckdb.tmp-999993"  # another database's: not this load's to remove
    neighbour.write_bytes(b"")
    report = load.ingest(files[1:2], db, progress=False)
    assert report.removed_staging == sorted(f.name for f in leftovers)
    assert staging_files(db) == [] and neighbour.exists()


def test_sigterm_stops_a_load_like_ctrl_c_leaving_the_database_as_it_was(tmp_path, files):
    db = tmp_path / "x.duckdb"
    load.ingest(files[:2], db, progress=False)
    before = sha256(db)
    writer = crossforce("ingest", "--quiet", "--db", str(db), *map(str, files[2:]))
    assert wait_for_staging(db, writer), "the load ended before it could be stopped"
    writer.send_signal(signal.SIGTERM)
    writer.wait(timeout=120)
    stderr = writer.stderr.read()
    assert writer.returncode == 130, stderr
    assert "interrupted; the database is as it was" in one_clear_line(stderr)
    assert sha256(db) == before and staging_files(db) == []


def wait_for_staging(db: Path, writer: subprocess.Popen, timeout: float = 120) -> bool:
    """Until the load has started writing (its staging copy exists); False if it ended first."""
    deadline = time.monotonic() + timeout
    while not staging_files(db):
        if writer.poll() is not None or time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_twenty_kills_at_random_points_never_damage_the_database(tmp_path, files):
    db = tmp_path / "x.duckdb"
    load.ingest(files[:4], db, progress=False)
    before = counts(db)
    previous = Path(shutil.copy(db, tmp_path / "previous.duckdb"))
    # How long the load writes for here (from its staging copy to the swap), and what it gives,
    # measured on the database itself and then undone.
    writer = crossforce("ingest", "--quiet", "--db", str(db), *map(str, files[4:]))
    assert wait_for_staging(db, writer)
    started = time.monotonic()
    assert writer.wait(timeout=300) == 0
    writing_s = time.monotonic() - started
    after = counts(db)
    assert after != before
    rng = random.Random(9)
    states = []
    for _ in range(20):
        shutil.copy(previous, db)
        writer = crossforce("ingest", "--quiet", "--db", str(db), *map(str, files[4:]))
        if wait_for_staging(db, writer):
            time.sleep(rng.uniform(0, 1.1) * writing_s)  # anywhere in the write, the swap included
        writer.kill()
        writer.wait()
        state = counts(db)  # the database opens, and holds the previous load or the whole new one
        assert state in (before, after)
        states.append(state)
    assert states.count(before) >= 10  # most kills landed mid-load, as the test intends
    result = run_crossforce("ingest", "--quiet", "--db", str(db), *map(str, files[4:]))
    assert result.returncode == 0, result.stderr
    assert counts(db) == after
    assert staging_files(db) == []


# --- one clear line --------------------------------------------------------------------------------------


def test_a_database_another_program_holds_open_for_writing_is_named_as_locked(tmp_path, files):
    db = tmp_path / "x.duckdb"
    load.ingest(files[:1], db, progress=False)
    before = sha256(db)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, time; c = duckdb.connect({str(db)!r}); print('open', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "open"
        result = run_crossforce("ingest", "--quiet", "--db", str(db), str(files[1]))
        line = one_clear_line(result.stderr)
        assert result.returncode == 2
        assert "open for writing in another program" in line and f"PID {holder.pid}" in line
        assert "delete" not in line and "rebuild" not in line
    finally:
        holder.kill()
        holder.wait()
    assert sha256(db) == before


def write_and_die(db: Path, statement: str) -> None:
    """Another program writes to `db` and dies before DuckDB checkpoints: its change is only in `<db>.wal`."""
    subprocess.run(
        [
            sys.executable,
            "-c",
            f"""
import duckdb, os
con = duckdb.connect({str(db)!r})
con.execute("set checkpoint_threshold = '1TB'")
con.execute({statement!r})
os._exit(0)
""",
        ],
        check=True,
    )


def test_changes_left_pending_in_a_wal_are_kept_not_orphaned(tmp_path, files):
    db = tmp_path / "x.duckdb"
    load.ingest(files[:1], db, progress=False)
    write_and_die(db, "create table analyst_notes as select 'kept' as note")
    assert Path(f"{db}.wal").exists()
    report = load.ingest(files[1:2], db, progress=False)
    assert report.applied_wal and [r.file_name for r in report.loaded] == [files[1].name]
    assert not Path(f"{db}.wal").exists()
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.sql("select note from analyst_notes").fetchall() == [("kept",)]
        assert con.sql("select count(*) from meta_ingest_log").fetchall() == [(2,)]


def test_a_wal_from_another_database_is_refused_and_nothing_changes(tmp_path, files):
    db, other = tmp_path / "x.duckdb", tmp_path / "other.duckdb"
    load.ingest(files[:1], db, progress=False)
    write_and_die(other, "create table t as select 1 as i")
    shutil.copy(f"{other}.wal", f"{db}.wal")
    before = sha256(db)
    result = run_crossforce("ingest", "--quiet", "--db", str(db), str(files[1]))
    line = one_clear_line(result.stderr)
    assert result.returncode == 2 and "does not belong to it" in line and "move that .wal file" in line
    assert "delete" not in line
    assert sha256(db) == before and Path(f"{db}.wal").exists()


def test_a_full_disk_is_said_in_one_line_and_the_database_is_unchanged(tmp_path, files):
    db = tmp_path / "x.duckdb"
    load.ingest(files[:1], db, progress=False)
    before = sha256(db)
    # The file-size limit makes every write past it fail as a full disk does (EFBIG for ENOSPC).
    limit = db.stat().st_size + 2_000_000
    code = f"""
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))
from pipelines import cli
sys.exit(cli.main(["ingest", "--quiet", "--db", {str(db)!r}, *{[str(f) for f in files[1:]]!r}]))
"""
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    line = one_clear_line(result.stderr)
    assert result.returncode == 2 and "no space left" in line and "x.duckdb is unchanged" in line
    assert "transaction is aborted" not in line
    assert sha256(db) == before and staging_files(db) == []


@pytest.mark.parametrize("kind", ["text", "empty_duckdb", "other_duckdb", "folder"])
@pytest.mark.parametrize("command", ["info", "divergence", "query", "ingest"])
def test_a_db_that_is_not_a_crossforce_database_gets_one_line(tmp_path, files, kind, command):
    db = tmp_path / "x.duckdb"
    if kind == "text":
        db.write_text("police notes, not a database\n")
    elif kind == "folder":
        db.mkdir()
    else:
        with duckdb.connect(str(db)) as con:
            if kind == "other_duckdb":
                con.execute("create table mine as select 1 as x")
    before = sha256(db) if db.is_file() else None
    extra = {"query": ["--sql", "select 1"], "ingest": [str(files[0])]}.get(command, [])
    result = run_crossforce(command, "--db", str(db), *extra)
    line = one_clear_line(result.stderr)
    assert result.returncode in (1, 2) and str(db) in line
    assert "delete" not in line
    if before is not None:
        assert sha256(db) == before


def test_a_pipe_given_as_input_is_named_for_what_it_is(tmp_path):
    fifo = tmp_path / "2021-04-durham-street.csv"
    os.mkfifo(fifo)
    result = run_crossforce("ingest", "--db", str(tmp_path / "x.duckdb"), str(fifo))
    line = one_clear_line(result.stderr)
    assert result.returncode == 2 and "not a regular file" in line and "no such file" not in line
