"""The one shape of a source, and the extraction every source goes through.

A `Source` is one publication: its id (written on every row it supplies), its words and chart colour
(`label`, `publisher`, `colour`), how a file of it is recognised and read into raw string columns
(`reader`: a `TextReader` recognises a delimited file by its header, and `pipelines.ingest.textfile`
reads it; a `SheetReader` recognises a workbook by its sheets and reads its rows itself), and a
pure `to_canonical(raw)`, where `raw` holds the string columns plus `file_name`, `row_number` and
`duplicate_of_row`. Each source module lists its sources in `SOURCES`; the registry
(`pipelines.ingest.sources`) gathers them. The steps sources share are `pipelines.ingest.steps`.

`extract` (delimited text) and `extract_sheets` (a workbook) do the rest the same way for every
source: read the rows, mark exact duplicate rows, run `to_canonical`, and gather quarantine,
coverage and the per-file counts the ingest log needs.

`extract` reads whole files, many at once. `extract_chunks` reads one large file a chunk at a time,
for sources whose normalisation goes row by row (`Source.row_local`), so that memory does not
grow with the file. What it yields, put together, is what `extract` gives for the file:

- record-level tables (those with `row_number`) and quarantine come out chunk by chunk;
- tables without `row_number` are sums over rows (their Int64 columns are the counts, the others
  the key): each chunk's partial sums are kept and added up, and come out once, after the last
  chunk;
- `duplicate_of_row` (the first row of the file that is identical to this one) is found within a
  chunk by comparing the values themselves, as `extract` does, and across chunks by a 128-bit
  fingerprint of the row's values (two 64-bit Polars hashes, with different seeds and the columns
  in opposite orders), kept per file with the first row number that had it. Two different rows in
  different chunks would be taken for repeats only if both hashes collided at once: for a file of
  n rows the chance is about n² / 2¹²⁹ (about 10⁻²⁵ for ten million rows), so a collision is
  not checked for (the earlier row's values are no longer in memory to compare);
- each piece carries the counts of its own rows; the load adds them up per file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import polars as pl

from pipelines.ingest.textfile import RawRows, TextFile, iter_rows, read_rows


@dataclass
class Canonical:
    """The lazy outputs of a batch of files.

    - `tables`: rows for each core table, by table name (each with `file_name`);
    - `loaded`: one row per loaded input row, with `file_name`, `row_number`, `duplicate_of_row`;
    - `coverage`: `file_name`, `force_id`, `period`, `rows_supplied` (input rows behind each force-period);
    - `quarantine`: the rejected input rows, raw columns plus `file_name`, `row_number`, `reason`, and
      `raw_row` where the source says how a row is shown (else it is the JSON of the raw columns).
    """

    tables: dict[str, pl.LazyFrame]
    loaded: pl.LazyFrame
    coverage: pl.LazyFrame
    quarantine: pl.LazyFrame


@dataclass(frozen=True)
class TextReader:
    """How a delimited-text return is recognised: by `header` exactly, or, when `recognise` is given,
    by what it says of the header (required columns in any order, say). `header` is also what the
    message about a file of no known return lists for this source."""

    header: tuple[str, ...]
    recognise: Callable[[list[str]], bool] | None = None
    separator: str = ","

    def recognises(self, text: TextFile) -> bool:
        if text.separator != self.separator:
            return False
        if self.recognise is not None:
            return self.recognise(text.header)
        return tuple(text.header) == self.header


@dataclass(frozen=True)
class SheetReader:
    """How a spreadsheet return is recognised (`recognise(path)`, by its sheets) and read: `read(path)`
    gives its input rows in order, as string columns (plus position columns such as `sheet` and
    `sheet_row`), or raises `MalformedFileError` when the sheets are not laid out as expected.
    `sheets` names the sheets it reads, for messages."""

    sheets: tuple[str, ...]
    recognise: Callable[[Path], bool]
    read: Callable[[Path], pl.DataFrame]

    def recognises(self, path: Path) -> bool:
        return self.recognise(path)


@dataclass(frozen=True)
class Source:
    """One publication, however it is stored.

    - `id`: the source id on every row it supplies (sources may share one: the releases of a force's
      export, each with its own layout, or a publication's copies);
    - `label`: the source in words, publisher and publication, as the dashboard names it (None: by
      its id); `publisher`: who publishes it (None: not stated); `colour`: its colour in charts (None:
      the chart picks one);
    - `reader`: how a file of it is recognised and read into raw string columns;
    - `to_canonical`: pure, raw rows in, canonical rows, coverage and quarantine out;
    - `national`: expected from every territorial force (a force's own export, from that force only);
    - `row_local`: `to_canonical` treats each row on its own and its tables without `row_number` are
      counts of rows, so a file gives the same result normalised whole or a chunk at a time
      (`extract_chunks`; tests/test_textfile.py checks it). A source that looks across a file's rows
      (the release date of a force export is the month after its last period, say) must not be.
    """

    id: str
    label: str | None
    publisher: str | None
    colour: str | None
    reader: TextReader | SheetReader
    to_canonical: Callable[[pl.LazyFrame], Canonical]
    national: bool = True
    row_local: bool = False

    @property
    def is_text(self) -> bool:
        return isinstance(self.reader, TextReader)


@dataclass
class FileCounts:
    file_name: str
    rows_read: int
    rows_loaded: int
    rows_quarantined: int
    rows_duplicate: int


@dataclass
class Extracted:
    """A batch of files' rows, collected and ready for the load, with each file's counts."""

    source: str
    tables: dict[str, pl.DataFrame]
    quarantine: pl.DataFrame
    files: list[FileCounts]
    # True for a piece of a file read in chunks that more pieces of the same file follow; each
    # piece's `files` counts that piece's rows only.
    continues: bool = False


QUARANTINE_SCHEMA = {
    "file_name": pl.String,
    "row_number": pl.Int32,
    "source": pl.String,
    "reason": pl.String,
    "raw_row": pl.String,
}
# Columns every raw frame has besides the file's own.
RAW_EXTRAS = ("file_name", "row_number", "duplicate_of_row")


def _raw_frame(source: Source, text: TextFile, rows: RawRows) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One file's (or chunk's) good rows (with file_name and row_number) and its malformed lines."""
    file_name = text.path.name
    good = rows.frame.select(pl.lit(file_name).alias("file_name"), pl.col("row_number"), *text.header)
    malformed = pl.DataFrame(
        {
            "file_name": [file_name] * len(rows.malformed),
            "row_number": [n for n, _, _ in rows.malformed],
            "source": [source.id] * len(rows.malformed),
            "reason": [r for _, r, _ in rows.malformed],
            "raw_row": [line for _, _, line in rows.malformed],
        },
        schema=QUARANTINE_SCHEMA,
    )
    return good, malformed


def extract(source: Source, texts: list[TextFile]) -> Extracted:
    """Read a batch of files of one source and one header, and run them through the source's
    `to_canonical` together (one plan for many small files is much cheaper than one plan each)."""
    header = texts[0].header
    parts = [_raw_frame(source, text, read_rows(text)) for text in texts]
    raw = pl.concat([good for good, _ in parts]).rechunk()
    first = pl.col("row_number").min().over("file_name", *header)
    raw = raw.with_columns(pl.when(first != pl.col("row_number")).then(first).alias("duplicate_of_row"))
    return _normalise(
        source,
        header,
        raw,
        [(text.path.name, good.height + bad.height, bad) for text, (good, bad) in zip(texts, parts)],
    )


def extract_sheets(source: Source, path: Path) -> Extracted:
    """Read one workbook through the source's `SheetReader` and run its rows through `to_canonical`.
    Rows are numbered from 1 in the order the reader gives them; a workbook has no malformed lines
    and no exact repeats to mark (its rows are areas, each once)."""
    path = Path(path)
    if not isinstance(source.reader, SheetReader):
        raise TypeError(f"source {source.id!r} reads delimited text, not workbooks: it has no sheets to read")
    rows = source.reader.read(path)
    raw = rows.select(
        pl.lit(path.name).alias("file_name"),
        pl.int_range(1, rows.height + 1, dtype=pl.Int32).alias("row_number"),
        pl.all(),
        pl.lit(None, pl.Int32).alias("duplicate_of_row"),
    )
    return _normalise(source, rows.columns, raw, [(path.name, rows.height, pl.DataFrame(schema=QUARANTINE_SCHEMA))])


def _normalise(
    source: Source, header: list[str], raw: pl.DataFrame, files: list[tuple[str, int, pl.DataFrame]]
) -> Extracted:
    """`to_canonical` over raw rows (with `duplicate_of_row`); `files` is each file's name, rows read
    and malformed lines."""
    canonical = source.to_canonical(raw.lazy())
    names = list(canonical.tables)
    rejected = canonical.quarantine
    if "raw_row" not in rejected.collect_schema().names():
        rejected = rejected.with_columns(pl.struct(header).struct.json_encode().alias("raw_row"))
    quarantine_lf = rejected.select(
        "file_name", pl.col("row_number").cast(pl.Int32), pl.lit(source.id).alias("source"), "reason", "raw_row"
    )
    loaded_lf = canonical.loaded.group_by("file_name").agg(
        pl.len().alias("rows_loaded"), pl.col("duplicate_of_row").is_not_null().sum().alias("rows_duplicate")
    )
    coverage_lf = canonical.coverage.select(
        "file_name", pl.lit(source.id).alias("source"), "force_id", "period", "rows_supplied"
    )
    collected = pl.collect_all([canonical.tables[n] for n in names] + [quarantine_lf, loaded_lf, coverage_lf])
    tables = dict(zip(names, collected[: len(names)]))
    tables["core_coverage"] = collected[-1]
    quarantine = pl.concat([collected[-3], *(bad for _, _, bad in files)]).sort("file_name", "row_number")
    loaded = {f: (n, d) for f, n, d in collected[-2].iter_rows()}
    quarantined = dict(quarantine.group_by("file_name").len().iter_rows())
    counts = []
    for name, rows_read, _ in files:
        n_loaded, n_duplicate = loaded.get(name, (0, 0))
        counts.append(FileCounts(name, rows_read, n_loaded, quarantined.get(name, 0), n_duplicate))
    return Extracted(source=source.id, tables=tables, quarantine=quarantine, files=counts)


_FP1, _FP2, _FIRST, _EARLIER = "__fingerprint1", "__fingerprint2", "__first_in_chunk", "__first_earlier"


def extract_chunks(source: Source, text: TextFile, chunk_bytes: int | None = None) -> Iterator[Extracted]:
    """One large file of a row-local source, a chunk at a time: a piece per chunk (record-level
    tables, quarantine, that chunk's counts; `continues=True`), then a last piece with the summed
    tables and no rows of its own. See the module docstring."""
    if not source.row_local:
        raise ValueError(f"{source.id} is not row-local: its files must be normalised whole (extract)")
    header, name = text.header, text.path.name
    seen = pl.DataFrame(schema={_FP1: pl.UInt64, _FP2: pl.UInt64, _EARLIER: pl.Int32})
    sums: dict[str, list[pl.DataFrame]] = {}
    rows = iter_rows(text, chunk_bytes)
    for good, bad in map(partial(_raw_frame, source, text), rows):  # map: no reference to the chunk stays behind
        raw, seen = _mark_duplicates(good, header, seen)
        del good
        out = [_normalise(source, header, raw, [(name, raw.height + bad.height, bad)])]
        del raw, bad
        for table in [t for t, frame in out[0].tables.items() if "row_number" not in frame.columns]:
            sums.setdefault(table, []).append(out[0].tables.pop(table))
        out[0].continues = True
        yield out.pop()  # popped: a suspended generator must not keep the piece alive
    totals = {table: _add_up(parts) for table, parts in sums.items()}
    yield Extracted(source.id, totals, pl.DataFrame(schema=QUARANTINE_SCHEMA), [FileCounts(name, 0, 0, 0, 0)])


def _mark_duplicates(raw: pl.DataFrame, header: list[str], seen: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """`duplicate_of_row` for one chunk of a file, and `seen` (fingerprint → first row number, over
    every chunk so far) with this chunk's new rows added."""
    raw = raw.with_columns(
        pl.col("row_number").min().over(*header).alias(_FIRST),
        # Two seeds, and the columns in opposite orders, so that the two hashes go separate ways.
        pl.struct(header).hash(0x5851F42D4C957F2D).alias(_FP1),
        pl.struct(header[::-1]).hash(0x27BB2EE687B0B0FD).alias(_FP2),
    )
    # Only the numbers take part in the join, so that the chunk's values are not copied.
    keys = raw.select("row_number", _FIRST, _FP1, _FP2).join(seen, on=[_FP1, _FP2], how="left", maintain_order="left")
    new = (
        keys.filter(pl.col(_EARLIER).is_null() & (pl.col("row_number") == pl.col(_FIRST)))
        .group_by(_FP1, _FP2)
        .agg(pl.col("row_number").min().alias(_EARLIER))
    )
    within = pl.when(pl.col(_FIRST) != pl.col("row_number")).then(pl.col(_FIRST))
    raw = raw.with_columns(pl.coalesce(keys[_EARLIER], within).alias("duplicate_of_row")).drop(_FIRST, _FP1, _FP2)
    return raw, pl.concat([seen, new.select(seen.columns)])


def _add_up(parts: list[pl.DataFrame]) -> pl.DataFrame:
    """Partial sums from several chunks of one file, added up: Int64 columns are counts, the rest the key."""
    frame = pl.concat(parts, how="vertical_relaxed")
    counts = [c for c, dtype in frame.schema.items() if dtype == pl.Int64]
    keys = [c for c in frame.columns if c not in counts]
    return frame.group_by(keys, maintain_order=True).agg(pl.col(c).sum() for c in counts).select(frame.columns)
