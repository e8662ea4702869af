"""What every source format provides, and the steps every source shares.

A `SourceFormat` is recognised by its header and supplies a pure `to_canonical(raw)`, where `raw`
holds the files' string columns plus `file_name`, `row_number` and `duplicate_of_row`. `extract`
does the rest the same way for every source: read the rows, mark exact duplicate rows, run
`to_canonical`, and gather quarantine, coverage and the per-file counts the ingest log needs.

`extract` reads whole files, many at once. `extract_chunks` reads one large file a chunk at a time,
for formats whose normalisation goes row by row (`ROW_LOCAL_SOURCES`), so that memory does not
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
from datetime import date
from functools import partial

import polars as pl

from pipelines.ingest.textfile import RawRows, TextFile, iter_rows, read_rows


@dataclass
class Canonical:
    """The lazy outputs of a batch of files.

    - `tables`: rows for each core table, by table name (each with `file_name`);
    - `loaded`: one row per loaded input row, with `file_name`, `row_number`, `duplicate_of_row`;
    - `coverage`: `file_name`, `force_id`, `period`, `rows_supplied` (input rows behind each force-period);
    - `quarantine`: the rejected input rows, raw columns plus `file_name`, `row_number`, `reason`.
    """

    tables: dict[str, pl.LazyFrame]
    loaded: pl.LazyFrame
    coverage: pl.LazyFrame
    quarantine: pl.LazyFrame


@dataclass(frozen=True)
class SourceFormat:
    """A delimited-text return. It is recognised by `header` (exactly, or as required columns when
    `recognise` is given) and normalised by the pure `to_canonical`."""

    source: str
    header: tuple[str, ...]
    to_canonical: Callable[[pl.LazyFrame], Canonical]
    recognise: Callable[[list[str]], bool] | None = None
    # A national return is expected from every territorial force; a force's own export only from that force.
    national: bool = True
    separator: str = ","

    def matches(self, text: TextFile) -> bool:
        if text.separator != self.separator:
            return False
        if self.recognise is not None:
            return self.recognise(text.header)
        return tuple(text.header) == self.header

    @property
    def row_local(self) -> bool:
        """True when a file may be normalised a chunk at a time (see `extract_chunks`)."""
        return self.source in ROW_LOCAL_SOURCES


# Sources whose `to_canonical` treats each row on its own and whose tables without `row_number` are
# counts of rows: a file of theirs gives the same result normalised whole or a chunk at a time
# (tests/test_textfile.py checks it). A source that looks across a file's rows (the release date of a
# force export is the month after its last period, say) must not be listed.
ROW_LOCAL_SOURCES = frozenset({"police_uk_street", "police_uk_outcomes"})


def coverage_of(records: pl.LazyFrame) -> pl.LazyFrame:
    """Rows supplied per file, force and period, for sources with one period per input row."""
    return records.group_by("file_name", "force_id", "period").agg(pl.len().cast(pl.Int64).alias("rows_supplied"))


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


def passed(checks: list[tuple[pl.Expr, pl.Expr]]) -> pl.Expr:
    """True where no check failed (cheap: the messages are built only for rows that fail)."""
    return ~pl.any_horizontal([failed.fill_null(False) for failed, _ in checks]).alias("passed")


# Counts before the National Crime Recording Standard (April 2002) are not recorded under the rules
# crossforce compares; a source that begins later names its own first period.
NCRS_START = date(2002, 4, 1)


def period_checks(period: str, column: str, first: date = NCRS_START, first_label: str = "the National Crime Recording Standard") -> list[tuple[pl.Expr, pl.Expr]]:
    """Checks that the parsed `period` column lies in the source's plausible span: from `first`
    to the current month (no return counts a period that has not begun). `column` is the raw
    column quoted in the reason."""
    latest = date.today().replace(day=1)
    value = pl.col(period)
    return [
        (value < first, pl.format(f"'{column}' is '{{}}', before {first_label} ({first:%B %Y})", pl.col(column))),
        (value > latest, pl.format(f"'{column}' is '{{}}', after the current month ({latest:%B %Y})", pl.col(column))),
    ]


def reasons(checks: list[tuple[pl.Expr, pl.Expr]]) -> pl.Expr:
    """Every failed check's message joined with '; '."""
    messages = pl.concat_list([pl.when(failed).then(message) for failed, message in checks]).list.drop_nulls()
    return messages.list.join("; ").alias("reason")


def _raw_frame(fmt: SourceFormat, text: TextFile, rows: RawRows) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One file's (or chunk's) good rows (with file_name and row_number) and its malformed lines."""
    file_name = text.path.name
    good = rows.frame.select(pl.lit(file_name).alias("file_name"), pl.col("row_number"), *text.header)
    malformed = pl.DataFrame(
        {
            "file_name": [file_name] * len(rows.malformed),
            "row_number": [n for n, _, _ in rows.malformed],
            "source": [fmt.source] * len(rows.malformed),
            "reason": [r for _, r, _ in rows.malformed],
            "raw_row": [line for _, _, line in rows.malformed],
        },
        schema=QUARANTINE_SCHEMA,
    )
    return good, malformed


QUARANTINE_SCHEMA = {"file_name": pl.String, "row_number": pl.Int32, "source": pl.String, "reason": pl.String, "raw_row": pl.String}


def extract(fmt: SourceFormat, texts: list[TextFile]) -> Extracted:
    """Read a batch of files of one format and one header, and run them through the format's
    `to_canonical` together (one plan for many small files is much cheaper than one plan each)."""
    header = texts[0].header
    parts = [_raw_frame(fmt, text, read_rows(text)) for text in texts]
    raw = pl.concat([good for good, _ in parts]).rechunk()
    first = pl.col("row_number").min().over("file_name", *header)
    raw = raw.with_columns(pl.when(first != pl.col("row_number")).then(first).alias("duplicate_of_row"))
    return _normalise(fmt, header, raw, [(text.path.name, good.height + bad.height, bad) for text, (good, bad) in zip(texts, parts)])


def _normalise(fmt: SourceFormat, header: list[str], raw: pl.DataFrame, files: list[tuple[str, int, pl.DataFrame]]) -> Extracted:
    """`to_canonical` over raw rows (with `duplicate_of_row`); `files` is each file's name, rows read
    and malformed lines."""
    canonical = fmt.to_canonical(raw.lazy())
    names = list(canonical.tables)
    quarantine_lf = canonical.quarantine.select(
        "file_name",
        "row_number",
        pl.lit(fmt.source).alias("source"),
        "reason",
        pl.struct(header).struct.json_encode().alias("raw_row"),
    )
    loaded_lf = canonical.loaded.group_by("file_name").agg(
        pl.len().alias("rows_loaded"), pl.col("duplicate_of_row").is_not_null().sum().alias("rows_duplicate")
    )
    coverage_lf = canonical.coverage.select(
        "file_name", pl.lit(fmt.source).alias("source"), "force_id", "period", "rows_supplied"
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
    return Extracted(source=fmt.source, tables=tables, quarantine=quarantine, files=counts)


_FP1, _FP2, _FIRST, _EARLIER = "__fingerprint1", "__fingerprint2", "__first_in_chunk", "__first_earlier"


def extract_chunks(fmt: SourceFormat, text: TextFile, chunk_bytes: int | None = None) -> Iterator[Extracted]:
    """One large file of a row-local format, a chunk at a time: a piece per chunk (record-level
    tables, quarantine, that chunk's counts; `continues=True`), then a last piece with the summed
    tables and no rows of its own. See the module docstring."""
    if not fmt.row_local:
        raise ValueError(f"{fmt.source} is not row-local: its files must be normalised whole (extract)")
    header, name = text.header, text.path.name
    seen = pl.DataFrame(schema={_FP1: pl.UInt64, _FP2: pl.UInt64, _EARLIER: pl.Int32})
    sums: dict[str, list[pl.DataFrame]] = {}
    rows = iter_rows(text, chunk_bytes)
    for good, bad in map(partial(_raw_frame, fmt, text), rows):  # map: no reference to the chunk stays behind
        raw, seen = _mark_duplicates(good, header, seen)
        del good
        out = [_normalise(fmt, header, raw, [(name, raw.height + bad.height, bad)])]
        del raw, bad
        for table in [t for t, frame in out[0].tables.items() if "row_number" not in frame.columns]:
            sums.setdefault(table, []).append(out[0].tables.pop(table))
        out[0].continues = True
        yield out.pop()  # popped: a suspended generator must not keep the piece alive
    totals = {table: _add_up(parts) for table, parts in sums.items()}
    yield Extracted(fmt.source, totals, pl.DataFrame(schema=QUARANTINE_SCHEMA), [FileCounts(name, 0, 0, 0, 0)])


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
    new = (keys.filter(pl.col(_EARLIER).is_null() & (pl.col("row_number") == pl.col(_FIRST)))
           .group_by(_FP1, _FP2).agg(pl.col("row_number").min().alias(_EARLIER)))
    within = pl.when(pl.col(_FIRST) != pl.col("row_number")).then(pl.col(_FIRST))
    raw = raw.with_columns(pl.coalesce(keys[_EARLIER], within).alias("duplicate_of_row")).drop(_FIRST, _FP1, _FP2)
    return raw, pl.concat([seen, new.select(seen.columns)])


def _add_up(parts: list[pl.DataFrame]) -> pl.DataFrame:
    """Partial sums from several chunks of one file, added up: Int64 columns are counts, the rest the key."""
    frame = pl.concat(parts, how="vertical_relaxed")
    counts = [c for c, dtype in frame.schema.items() if dtype == pl.Int64]
    keys = [c for c in frame.columns if c not in counts]
    return frame.group_by(keys, maintain_order=True).agg(pl.col(c).sum() for c in counts).select(frame.columns)
