"""The load: the only code that writes the database.

A load never edits the live file. It copies the database (or starts a new one), writes every changed
input file's rows into the copy inside one transaction, and renames the copy over the original. A
failed or interrupted load leaves the previous database exactly as it was, and a reader never sees
half a load.

Each input file is keyed by its name: re-ingesting an unchanged file does nothing, and a changed
file of the same name replaces the rows its earlier version supplied.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl
from tqdm import tqdm

from pipelines import divergence, reference, schema
from pipelines.sources import WORKBOOK_SUFFIXES, detect, extract_workbook, not_a_return, source_scopes
from pipelines.sources.base import Extracted, SourceFormat, extract
from pipelines.textfile import TEXT_SUFFIXES, MalformedFileError, TextFile, open_text


READABLE_SUFFIXES = TEXT_SUFFIXES + WORKBOOK_SUFFIXES


class StaleDatabaseError(Exception):
    """The database was built by another schema or other reference data, so it must be rebuilt."""


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
    skipped: dict[str, str] = field(default_factory=dict)  # file name → why it is not a return


def database_version() -> str:
    """Fingerprint of the schema and the reference data the rows were resolved with."""
    digest = hashlib.sha256(schema.schema_version().encode())
    for path in sorted(p for p in reference.REFERENCE_DIR.rglob("*") if p.is_file()):
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
                raise MalformedFileError(item, None, f"not a file crossforce reads (expected one of {', '.join(READABLE_SUFFIXES)})")
            files.append(item)
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
            raise MalformedFileError(path, None, f"another input file has the same name ({other}); file names key the load")
    return list(by_name.values())


def _return_name(file_name: str) -> str:
    return file_name.removesuffix(".gz")


def _sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def loaded_hashes(db_path: Path) -> dict[str, str]:
    """file_name → sha256 of what the database holds; raises StaleDatabaseError if it must be rebuilt."""
    if not db_path.exists():
        return {}
    try:
        with duckdb.connect(str(db_path), read_only=True) as con:
            version = con.sql("select value from meta_database where key = 'database_version'").fetchall()
            loaded = dict(con.sql("select file_name, sha256 from meta_ingest_log").fetchall())
    except duckdb.Error as exc:
        raise StaleDatabaseError(
            f"{db_path} is not a crossforce database of this version ({exc.__class__.__name__}); "
            "rebuild it (crossforce ingest --rebuild, or delete the file)"
        ) from None
    if not version or version[0][0] != database_version():
        raise StaleDatabaseError(
            f"{db_path} was built by another version of the schema or reference data; "
            "rebuild it (crossforce ingest --rebuild, or delete the file)"
        )
    return loaded


def _create(con: duckdb.DuckDBPyConnection) -> None:
    for statement in schema.ddl():
        con.execute(statement)
    for table, frame in reference.reference_frames().items():
        _insert(con, table, frame)
    scopes = source_scopes()
    _insert(con, "ref_sources", pl.DataFrame({"source": list(scopes), "is_national": list(scopes.values())}))
    con.execute("insert into meta_database values ('database_version', ?), ('created_at', ?)",
                [database_version(), datetime.now(UTC).isoformat(timespec="seconds")])


def _insert(con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame) -> None:
    if frame.height == 0:
        return
    # One chunk of plain (non-view) Arrow strings is what DuckDB ingests fastest: about twice as
    # fast as a many-chunk Polars frame.
    con.register("incoming", frame.rechunk().to_arrow(compat_level=pl.CompatLevel.oldest()))
    try:
        con.execute(f"insert into {table} by name select * from incoming")
    finally:
        con.unregister("incoming")


# Files are read and normalised in batches of about this many stored bytes: large enough that
# planning costs vanish, small enough that memory stays flat however many files are loaded.
BATCH_BYTES = 16 * 1024 * 1024


def _batches(paths: list[Path]) -> list[list[Path]]:
    batches: list[list[Path]] = [[]]
    size = 0
    for path in paths:
        if size >= BATCH_BYTES:
            batches.append([])
            size = 0
        batches[-1].append(path)
        size += path.stat().st_size
    return [b for b in batches if b]


def _extract_batch(paths: list[Path]) -> list[Extracted]:
    """Read a batch of files and normalise them, one `extract` per format found among them."""
    by_format: dict[tuple, tuple[SourceFormat, list[TextFile]]] = {}
    workbooks = []
    for path in paths:
        if path.name.endswith(WORKBOOK_SUFFIXES):
            workbooks.append(extract_workbook(path))
            continue
        text = open_text(path)
        fmt = detect(text)
        by_format.setdefault((fmt.source, *text.header), (fmt, []))[1].append(text)
    return workbooks + [extract(fmt, texts) for fmt, texts in by_format.values()]


def _write_batch(con: duckdb.DuckDBPyConnection, batch: Extracted, hashes: dict[str, str], started: datetime) -> list[FileResult]:
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
    for table, frame in batch.tables.items():
        _insert(con, table, frame)
    _insert(con, "meta_quarantine", batch.quarantine)
    finished = datetime.now(UTC).replace(tzinfo=None)
    results = [FileResult(f.file_name, batch.source, f.rows_read, f.rows_loaded, f.rows_quarantined, f.rows_duplicate) for f in batch.files]
    for r in results:
        if r.rows_read != r.rows_loaded + r.rows_quarantined:
            raise AssertionError(f"{r.file_name}: {r.rows_read} rows read but {r.rows_loaded} loaded + {r.rows_quarantined} quarantined")
    _insert(con, "meta_ingest_log", pl.DataFrame(
        [(r.file_name, r.source, hashes[r.file_name], r.rows_read, r.rows_loaded, r.rows_quarantined, r.rows_duplicate, started, finished)
         for r in results],
        schema=[(c, pl.String) for c in ("file_name", "source", "sha256")]
        + [(c, pl.Int64) for c in ("rows_read", "rows_loaded", "rows_quarantined", "rows_duplicate")]
        + [("started_at", pl.Datetime("us")), ("finished_at", pl.Datetime("us"))],
        orient="row",
    ))
    return results


def _load_files(con: duckdb.DuckDBPyConnection, paths: list[Path], hashes: dict[str, str], progress: bool) -> list[FileResult]:
    """Write batch after batch, reading the next batch in a second thread meanwhile (Polars and
    DuckDB both release the GIL, so reading and writing overlap on two cores)."""
    results: list[FileResult] = []
    batches = _batches(paths)
    with ThreadPoolExecutor(max_workers=1) as reader, tqdm(total=len(paths), desc="ingest", unit="file", disable=not progress) as bar:
        upcoming = reader.submit(_extract_batch, batches[0]) if batches else None
        for index in range(len(batches)):
            started = datetime.now(UTC).replace(tzinfo=None)
            extracted = upcoming.result()
            upcoming = reader.submit(_extract_batch, batches[index + 1]) if index + 1 < len(batches) else None
            # Atomicity comes from the staging file, so each batch commits on its own: DuckDB keeps
            # uncommitted rows in memory, and one transaction per load would grow with the input.
            con.begin()
            for batch in extracted:
                results += _write_batch(con, batch, hashes, started)
            con.commit()
            bar.update(len(batches[index]))
    return results


def ingest(inputs: list[Path], db_path: Path, *, rebuild: bool = False, progress: bool = True) -> IngestReport:
    """Load every new or changed input file into `db_path`, atomically. Unchanged files are skipped."""
    db_path = Path(db_path)
    files = discover([Path(p) for p in inputs])
    if rebuild and db_path.exists():
        known: dict[str, str] = {}
    else:
        known = loaded_hashes(db_path)
    hashes = {path: _sha256(path) for path in files}
    changed = [path for path in files if known.get(path.name) != hashes[path]]
    report = IngestReport(unchanged=[p.name for p in files if p not in changed])
    for path in list(changed):
        if why := not_a_return(path):
            report.skipped[path.name] = why
            changed.remove(path)
    if not changed and db_path.exists() and not rebuild:
        return report

    db_path.parent.mkdir(parents=True, exist_ok=True)
    staging = db_path.with_name(f"{db_path.name}.tmp-{os.getpid()}")
    staging.unlink(missing_ok=True)
    try:
        is_new = rebuild or not db_path.exists()
        if not is_new:
            shutil.copyfile(db_path, staging)
        # DuckDB's own progress bar would write to stdout, which belongs to the command's output.
        con = duckdb.connect(str(staging))
        con.execute("set enable_progress_bar = false")
        if is_new:
            _create(con)
        try:
            report.loaded = _load_files(con, changed, {p.name: hashes[p] for p in changed}, progress)
            # The findings depend on every file, so they are recomputed whenever any file changes.
            divergence.materialise(con)
            con.execute("checkpoint")
        finally:
            con.close()
        os.replace(staging, db_path)
    except BaseException:
        staging.unlink(missing_ok=True)
        Path(f"{staging}.wal").unlink(missing_ok=True)
        raise
    return report
