"""The load: the only code that writes the database.

A load never edits the live file. It copies the database (or starts a new one), writes every changed
input file's rows into the copy, and renames the copy over the original. A failed or interrupted load
leaves the previous database exactly as it was, and a reader never sees half a load.

- **One writer.** A load holds an exclusive lock on `<database>.lock` (released by the system
  however the process ends); a second load waits up to `wait_s`, then stops naming the holder.
- **Keyed by name, identified by content.** Re-ingesting an unchanged file does nothing; a changed
  file of the same name replaces the rows its earlier version supplied; a file whose bytes are
  already loaded under another name (or given twice under two names) is skipped, never counted twice.
- **Nothing left behind.** The staging copy is removed on every exit path the process survives, and
  staging copies left by killed loads are removed by the next load, which holds the lock.
- **One clear line.** A database that is locked, foreign, out of date, or short of disk space gives a
  `DatabaseError` that says what to do, and never advises deleting data.
"""

from __future__ import annotations

import errno
import fcntl
import glob
import hashlib
import itertools
import json
import os
import re
import shutil
import socket
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl
from tqdm import tqdm

from pipelines import reference, schema
from pipelines.analysis.tables import derived_tables
from pipelines.ingest.sources import WORKBOOK_SUFFIXES, detect, extract_workbook, not_a_return, source_scopes
from pipelines.ingest.sources.base import Extracted, Source, extract, extract_chunks
from pipelines.ingest.textfile import (
    CHUNK_BYTES,
    TEXT_SUFFIXES,
    MalformedFileError,
    TextFile,
    open_text,
    text_size_hint,
)

READABLE_SUFFIXES = TEXT_SUFFIXES + WORKBOOK_SUFFIXES


class DatabaseError(Exception):
    """The database file cannot be used as it is; the message says why and what to do, in one line."""


class StaleDatabaseError(DatabaseError):
    """The database was built by another schema or other reference data, so it must be rebuilt."""


class DatabaseLockedError(DatabaseError):
    """Another load, or another program, is writing the database."""


# How long a load waits for another load of the same database to finish before it gives up.
WAIT_S = 120.0


@dataclass
class FileResult:
    file_name: str
    source: str
    rows_read: int
    rows_loaded: int
    rows_quarantined: int
    rows_duplicate: int


@dataclass
class IngestReport:
    loaded: list[FileResult] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # file name → why it was not loaded
    removed_staging: list[str] = field(default_factory=list)  # staging copies left by interrupted loads
    applied_wal: bool = False  # changes another program left in a `.wal` were written into the database


def database_version() -> str:
    """Fingerprint of the schema and the reference data the rows were resolved with."""
    digest = hashlib.sha256(schema.schema_version().encode())
    # The data files only: the folder is also the package that reads them (its code and bytecode).
    for path in sorted(
        p for p in reference.REFERENCE_DIR.rglob("*") if p.is_file() and p.suffix not in (".py", ".pyc")
    ):
        digest.update(str(path.relative_to(reference.REFERENCE_DIR)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def discover(inputs: list[Path]) -> list[Path]:
    """Input files, folders searched recursively; two files of one name must be identical."""
    files: list[Path] = []
    for item in inputs:
        if item.is_dir():
            files += sorted(p for p in item.rglob("*") if p.is_file() and p.name.endswith(READABLE_SUFFIXES))
        elif item.is_file():
            if not item.name.endswith(READABLE_SUFFIXES):
                raise MalformedFileError(
                    item, None, f"not a file crossforce reads (expected one of {', '.join(READABLE_SUFFIXES)})"
                )
            files.append(item)
        elif item.exists():
            raise MalformedFileError(
                item, None, "not a regular file (a pipe, socket or device): give a file or a folder"
            )
        else:
            raise FileNotFoundError(f"{item}: no such file or folder")
    by_name: dict[str, Path] = {}
    by_return: dict[str, Path] = {}
    for path in files:
        # `X.csv` and `X.csv.gz` are the same return: loading both would count it twice.
        variant = by_return.setdefault(_return_name(path.name), path)
        if variant.name != path.name:
            raise MalformedFileError(path, None, f"the same return as {variant} (one is compressed): give one of them")
        other = by_name.setdefault(path.name, path)
        # The same file reached twice (or a byte-identical copy, such as a sample of published data
        # beside the original) is one file; two different files may not share the name that keys the load.
        if other != path and other.resolve() != path.resolve() and _sha256(other) != _sha256(path):
            raise MalformedFileError(
                path, None, f"another input file has the same name ({other}); file names key the load"
            )
    return list(by_name.values())


def _return_name(file_name: str) -> str:
    return file_name.removesuffix(".gz")


def _sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__


def _unusable(db_path: Path, exc: duckdb.Error) -> DatabaseError:
    """DuckDB's failure to open `db_path`, said as what it means and what to do."""
    message = _first_line(exc)
    if "Conflicting lock" in message:
        holder = re.search(r"held in (.+?)(?: \(PID (\d+)\))?\. ", message + " ")
        who = (
            f"{Path(holder.group(1)).name}, PID {holder.group(2)}" if holder and holder.group(2) else "another program"
        )
        return DatabaseLockedError(
            f"{db_path} is open for writing in another program ({who}); close it there, then run again"
        )
    if "WAL does not match" in message or "replaying WAL" in message:
        return DatabaseError(
            f"{db_path}.wal beside the database does not belong to it (DuckDB: {message}); move that "
            f".wal file out of the folder (keep it if it may hold changes you need), then run again"
        )
    if "not a valid DuckDB database" in message:
        return DatabaseError(
            f"{db_path} is not a DuckDB database; give --db the crossforce database, or a new file name"
        )
    return DatabaseError(f"{db_path} cannot be opened as a database ({message})")


def check_database(db_path: Path) -> None:
    """Raise DatabaseError unless `db_path` is a crossforce database of this version that can be read."""
    loaded_hashes(db_path)


def loaded_hashes(db_path: Path) -> dict[str, str]:
    """file_name → sha256 of what the database holds ({} when there is no file yet).

    Raises DatabaseError (StaleDatabaseError if it was built by another version and must be rebuilt).
    """
    if not db_path.exists():
        return {}
    if not db_path.is_file():
        raise DatabaseError(
            f"{db_path} is not a regular file; give --db a crossforce database file, or a new file name"
        )
    try:
        with duckdb.connect(str(db_path), read_only=True) as con:
            tables = {name for (name,) in con.sql("select table_name from information_schema.tables").fetchall()}
            if not {"meta_database", "meta_ingest_log"} <= tables:
                what = "an empty DuckDB database" if not tables else "a DuckDB database that crossforce did not build"
                raise DatabaseError(f"{db_path} is {what}; give --db a crossforce database, or a new file name")
            version = con.sql("select value from meta_database where key = 'database_version'").fetchall()
            loaded = dict(con.sql("select file_name, sha256 from meta_ingest_log").fetchall())
    except duckdb.Error as exc:
        raise _unusable(db_path, exc) from None
    if not version or version[0][0] != database_version():
        raise StaleDatabaseError(
            f"{db_path} was built by another version of crossforce's schema or reference data; rebuild it from "
            "its input files with `crossforce ingest --rebuild INPUT...` "
            "(the old file is replaced only when the new one is complete)"
        )
    return loaded


def _replaceable(db_path: Path) -> None:
    """Before a rebuild: refuse to replace a file that is not a crossforce database (or an empty one)."""
    try:
        loaded_hashes(db_path)
    except StaleDatabaseError:
        pass
    except DatabaseError as exc:
        if "an empty DuckDB database" not in str(exc):
            raise


@contextmanager
def writer_lock(db_path: Path, wait_s: float = WAIT_S) -> Iterator[None]:
    """Hold the one-writer lock of `db_path` (`<database>.lock`), waiting up to `wait_s` for another load.

    The lock is the operating system's (flock), so it is released however the holder ends, kill -9
    included; the file itself stays, holding the last holder's description for the message.
    """
    lock_path = db_path.with_name(f"{db_path.name}.lock")
    handle = open(lock_path, "a+")
    try:
        deadline = time.monotonic() + max(wait_s, 0.0)
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    handle.seek(0)
                    raise DatabaseLockedError(
                        f"{db_path} is being written by another load ({_holder(handle.read())}); waited {wait_s:g} s. "
                        "Run again when it has finished, or give --wait more seconds"
                    ) from None
                time.sleep(0.2)
        handle.seek(0)
        handle.truncate()
        handle.write(
            json.dumps(
                {
                    "pid": os.getpid(),
                    "host": socket.gethostname(),
                    "started": datetime.now(UTC).isoformat(timespec="seconds"),
                    "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])[:300],
                }
            )
        )
        handle.flush()
        yield
    finally:
        handle.close()  # releases the lock


def _holder(description: str) -> str:
    try:
        held = json.loads(description)
        return f"PID {held['pid']} on {held['host']}, started {held['started']}: {held['command']}"
    except (ValueError, KeyError, TypeError):
        return "a process that left no description"


def _remove_staging_leftovers(db_path: Path) -> list[str]:
    """Staging copies of killed loads. Only the lock holder calls this, so none of them is in use."""
    removed = []
    for leftover in sorted(db_path.parent.glob(f"{glob.escape(db_path.name)}.tmp-*")):
        if leftover.is_file():
            removed.append(leftover.name)
            leftover.unlink(missing_ok=True)
    return removed


def _apply_pending_wal(db_path: Path) -> bool:
    """Write changes another program left in `<database>.wal` into the database, as DuckDB would on
    opening it. The load copies the database file alone, so a pending WAL would otherwise be lost and,
    left beside the new file, would make it unopenable."""
    if not Path(f"{db_path}.wal").exists():
        return False
    try:
        with duckdb.connect(str(db_path)) as con:
            con.execute("checkpoint")
    except duckdb.Error as exc:
        raise _unusable(db_path, exc) from None
    return True


def _out_of_space(error: BaseException) -> bool:
    exc: BaseException | None = error
    while exc is not None:
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
            return True
        text = str(exc)
        if any(s in text for s in ("No space left on device", "File too large", "Disk quota exceeded")):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _create(con: duckdb.DuckDBPyConnection) -> None:
    for statement in schema.ddl():
        con.execute(statement)
    for table, frame in reference.reference_frames().items():
        _insert(con, table, frame)
    scopes = source_scopes()
    _insert(con, "ref_sources", pl.DataFrame({"source": list(scopes), "is_national": list(scopes.values())}))
    con.execute(
        "insert into meta_database values ('database_version', ?), ('created_at', ?)",
        [database_version(), datetime.now(UTC).isoformat(timespec="seconds")],
    )


def _insert(con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame) -> None:
    if frame.height == 0:
        return
    # One chunk of plain (non-view) Arrow strings is what DuckDB ingests fastest: about twice as
    # fast as a many-chunk Polars frame.
    con.register("incoming", frame.rechunk().to_arrow(compat_level=pl.CompatLevel.oldest()))
    # No `finally`: after a failed insert DuckDB refuses every call until rollback ("Current
    # transaction is aborted"), so unregistering then would hide the real failure (a full disk, say).
    # The failed load closes the connection anyway.
    con.execute(f"insert into {table} by name select * from incoming")
    con.unregister("incoming")


def write_derived_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Refill every derived table in the database `con` is writing: the schema's materialised tables
    (reconciliation) from their SQL, and the analysis's tables from the frames it computes
    (`pipelines.analysis.tables`), each emptied first."""
    frames = derived_tables(con)
    for statement in schema.refresh_statements():
        con.execute(statement)
    for name, frame in frames.items():
        con.execute(f"delete from {name}")
        # Undefined statistics (no peers, too few points) are stored as NULL, which SQL understands, not NaN.
        _insert(con, name, frame.with_columns(pl.col(pl.Float64).fill_nan(None)))


# Files are read and normalised in batches of at most this many bytes of text (decompressed): large
# enough that planning costs vanish, small enough that memory stays flat however many files are
# loaded. A file of more than a chunk of text (textfile.CHUNK_BYTES) is a batch of its own.
BATCH_BYTES = 48 * 1024 * 1024


def _batches(paths: list[Path]) -> list[list[Path]]:
    batches: list[list[Path]] = [[]]
    size = 0
    for path in paths:
        text_bytes = text_size_hint(path)
        if batches[-1] and (size + text_bytes > BATCH_BYTES or text_bytes > CHUNK_BYTES):
            batches.append([])
            size = 0
        batches[-1].append(path)
        size += text_bytes if text_bytes <= CHUNK_BYTES else BATCH_BYTES
    return [b for b in batches if b]


def _extract_batch(paths: list[Path]) -> Iterator[list[Extracted]]:
    """Read a batch of files and normalise them, one `extract` per format found among them: one unit
    of work, written in one transaction. A file of more than a chunk of text whose format goes row by
    row (`Source.row_local`) is read a chunk at a time instead (`extract_chunks`): a unit per
    chunk, so that memory does not grow with the file."""
    by_format: dict[tuple, tuple[Source, list[TextFile]]] = {}
    workbooks = []
    chunked: list[tuple[Source, TextFile]] = []
    for path in paths:
        if path.name.endswith(WORKBOOK_SUFFIXES):
            workbooks.append(extract_workbook(path))
            continue
        text = open_text(path)
        fmt = detect(text)
        if fmt.row_local and text.size_hint > CHUNK_BYTES:
            chunked.append((fmt, text))
        else:
            by_format.setdefault((fmt.id, *text.header), (fmt, []))[1].append(text)
    if workbooks or by_format:
        yield workbooks + [extract(fmt, texts) for fmt, texts in by_format.values()]
    workbooks, by_format = [], {}
    for fmt, text in chunked:
        # map, not a loop: a suspended generator must not keep the last piece alive while the next is read
        yield from map(lambda piece: [piece], extract_chunks(fmt, text))


def _write_batch(
    con: duckdb.DuckDBPyConnection, batch: Extracted, hashes: dict[str, str], started: datetime
) -> list[FileResult]:
    # A file replaces the rows of its earlier version, compressed or not (`X.csv` and `X.csv.gz`).
    names = [f.file_name for f in batch.files]
    variants = [_return_name(n) for n in names] + [_return_name(n) + ".gz" for n in names]
    con.register("batch_files", pl.DataFrame({"file_name": sorted(set(names + variants))}))
    try:
        for table in schema.TABLES.values():
            if table.keyed_by_file and not table.is_view:
                con.execute(f"delete from {table.name} where file_name in (select file_name from batch_files)")
    finally:
        con.unregister("batch_files")
    for name, frame in batch.tables.items():
        _insert(con, name, frame)
    _insert(con, "meta_quarantine", batch.quarantine)
    finished = datetime.now(UTC).replace(tzinfo=None)
    results = [
        FileResult(f.file_name, batch.source, f.rows_read, f.rows_loaded, f.rows_quarantined, f.rows_duplicate)
        for f in batch.files
    ]
    for r in results:
        if r.rows_read != r.rows_loaded + r.rows_quarantined:
            raise AssertionError(
                f"{r.file_name}: {r.rows_read} rows read but {r.rows_loaded} loaded + {r.rows_quarantined} quarantined"
            )
    _insert(
        con,
        "meta_ingest_log",
        pl.DataFrame(
            [
                (
                    r.file_name,
                    r.source,
                    hashes[r.file_name],
                    r.rows_read,
                    r.rows_loaded,
                    r.rows_quarantined,
                    r.rows_duplicate,
                    started,
                    finished,
                )
                for r in results
            ],
            schema=[(c, pl.String) for c in ("file_name", "source", "sha256")]
            + [(c, pl.Int64) for c in ("rows_read", "rows_loaded", "rows_quarantined", "rows_duplicate")]
            + [("started_at", pl.Datetime("us")), ("finished_at", pl.Datetime("us"))],
            orient="row",
        ),
    )
    return results


def _load_files(
    con: duckdb.DuckDBPyConnection, paths: list[Path], hashes: dict[str, str], progress: bool
) -> list[FileResult]:
    """Write unit after unit of work (a batch of files, or a chunk of a large file), reading the next
    in a second thread meanwhile (Polars and DuckDB both release the GIL, so reading and writing
    overlap on two cores).

    A file read in chunks is written piece by piece: its first piece replaces the rows of the file's
    earlier version and opens its ingest-log row, later pieces only add rows, and after the last one
    the log row gets the file's totals, which must balance as every file's do."""
    results: list[FileResult] = []
    units = itertools.chain.from_iterable(map(_extract_batch, _batches(paths)))  # keeps no unit alive
    ongoing: dict[str, FileResult] = {}  # files read in chunks, begun but not finished
    batch: Extracted | None = None
    with (
        ThreadPoolExecutor(max_workers=1) as reader,
        tqdm(total=len(paths), desc="ingest", unit="file", disable=not progress) as bar,
    ):
        upcoming = reader.submit(next, units, None)
        while (unit := upcoming.result()) is not None:
            upcoming = reader.submit(next, units, None)
            started = datetime.now(UTC).replace(tzinfo=None)
            # Atomicity comes from the staging file, so each unit commits on its own: DuckDB keeps
            # uncommitted rows in memory, and one transaction per load would grow with the input.
            con.begin()
            for batch in unit:
                if not any(f.file_name in ongoing for f in batch.files):
                    written = _write_batch(con, batch, hashes, started)
                    if batch.continues:
                        ongoing.update((r.file_name, r) for r in written)
                    else:
                        results += written
                        bar.update(len(written))
                    continue
                _write_batch(con, Extracted(batch.source, batch.tables, batch.quarantine, []), hashes, started)
                for f in batch.files:
                    total = ongoing[f.file_name]
                    total.rows_read += f.rows_read
                    total.rows_loaded += f.rows_loaded
                    total.rows_quarantined += f.rows_quarantined
                    total.rows_duplicate += f.rows_duplicate
                    if batch.continues:
                        continue
                    del ongoing[f.file_name]
                    if total.rows_read != total.rows_loaded + total.rows_quarantined:
                        raise AssertionError(
                            f"{total.file_name}: {total.rows_read} rows read but {total.rows_loaded} loaded"
                            f" + {total.rows_quarantined} quarantined"
                        )
                    con.execute(
                        "update meta_ingest_log set rows_read = ?, rows_loaded = ?, rows_quarantined = ?,"
                        " rows_duplicate = ?,"
                        " finished_at = ? where file_name = ?",
                        [
                            total.rows_read,
                            total.rows_loaded,
                            total.rows_quarantined,
                            total.rows_duplicate,
                            datetime.now(UTC).replace(tzinfo=None),
                            total.file_name,
                        ],
                    )
                    results.append(total)
                    bar.update(1)
            con.commit()
            unit = batch = None  # free this unit's frames while the next one is read
    return results


def ingest(
    inputs: list[Path], db_path: Path, *, rebuild: bool = False, progress: bool = True, wait_s: float = WAIT_S
) -> IngestReport:
    """Load every new or changed input file into `db_path`, atomically. Unchanged files are skipped."""
    # A symlinked database keeps pointing at its target: the new file is renamed over the target.
    db_path = Path(os.path.realpath(db_path))
    files = discover([Path(p) for p in inputs])
    hashes = {path: _sha256(path) for path in files}
    db_path.parent.mkdir(parents=True, exist_ok=True)
    with writer_lock(db_path, wait_s):
        report = IngestReport(removed_staging=_remove_staging_leftovers(db_path))
        if rebuild and db_path.exists():
            _replaceable(db_path)
            known: dict[str, str] = {}
        else:
            report.applied_wal = db_path.exists() and _apply_pending_wal(db_path)
            known = loaded_hashes(db_path)
        changed = _changed_files(files, hashes, known, report)
        if not changed and db_path.exists() and not rebuild:
            return report
        report.loaded = _load_into_copy(
            db_path, changed, hashes, is_new=rebuild or not db_path.exists(), progress=progress
        )
    return report


def _changed_files(
    files: list[Path], hashes: dict[Path, str], known: dict[str, str], report: IngestReport
) -> list[Path]:
    """The files to load; the rest are recorded in `report` as unchanged or skipped, with the reason."""
    replaced = {p.name for p in files if p.name in known and known[p.name] != hashes[p]}
    # Bytes the database will still hold after this load, by content: what a file under another name would repeat.
    held = {sha: name for name, sha in known.items() if name not in replaced}
    changed: list[Path] = []
    for path in files:
        sha = hashes[path]
        if known.get(path.name) == sha:
            report.unchanged.append(path.name)
        elif sha in held:
            report.skipped[path.name] = (
                f"the same bytes as {held[sha]}, already loaded (or given) under that name; "
                "skipped so its rows are not counted twice"
            )
        elif why := not_a_return(path):
            report.skipped[path.name] = why
        else:
            held[sha] = path.name
            changed.append(path)
    return changed


def _load_into_copy(
    db_path: Path, changed: list[Path], hashes: dict[Path, str], *, is_new: bool, progress: bool
) -> list[FileResult]:
    staging = db_path.with_name(f"{db_path.name}.tmp-{os.getpid()}")
    try:
        if not is_new:
            shutil.copyfile(db_path, staging)
        # DuckDB's own progress bar would write to stdout, which belongs to the command's output.
        con = duckdb.connect(str(staging))
        con.execute("set enable_progress_bar = false")
        try:
            if is_new:
                _create(con)
            results = _load_files(con, changed, {p.name: hashes[p] for p in changed}, progress)
            # The findings depend on every file, so they are recomputed whenever any file changes.
            write_derived_tables(con)
            con.execute("checkpoint")
        finally:
            con.close()
        os.replace(staging, db_path)
    except BaseException as exc:
        staging.unlink(missing_ok=True)
        Path(f"{staging}.wal").unlink(missing_ok=True)
        if _out_of_space(exc):
            copy = f"a copy of the database ({db_path.stat().st_size / 1e6:,.0f} MB) and " if not is_new else ""
            outcome = f"{db_path.name} is unchanged" if db_path.exists() else "no database was written"
            raise DatabaseError(
                f"no space left to write the new database in {db_path.parent} (a load needs room for "
                f"{copy}the new rows); free some space, then run again. {outcome}"
            ) from None
        raise
    return results
