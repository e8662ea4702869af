"""What every source format provides, and the steps every source shares.

A `SourceFormat` is recognised by its header and supplies a pure `to_canonical(raw)`, where `raw`
holds the files' string columns plus `file_name`, `row_number` and `duplicate_of_row`. `extract`
does the rest the same way for every source: read the rows, mark exact duplicate rows, run
`to_canonical`, and gather quarantine, coverage and the per-file counts the ingest log needs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from pipelines.textfile import TextFile, read_rows


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


def passed(checks: list[tuple[pl.Expr, pl.Expr]]) -> pl.Expr:
    """True where no check failed (cheap: the messages are built only for rows that fail)."""
    return ~pl.any_horizontal([failed.fill_null(False) for failed, _ in checks]).alias("passed")


def reasons(checks: list[tuple[pl.Expr, pl.Expr]]) -> pl.Expr:
    """Every failed check's message joined with '; '."""
    messages = pl.concat_list([pl.when(failed).then(message) for failed, message in checks]).list.drop_nulls()
    return messages.list.join("; ").alias("reason")


def _raw_frame(fmt: SourceFormat, text: TextFile) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One file's good rows (with file_name and row_number) and its malformed lines."""
    rows = read_rows(text)
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
    parts = [_raw_frame(fmt, text) for text in texts]
    raw = pl.concat([good for good, _ in parts]).rechunk()
    first = pl.col("row_number").min().over("file_name", *header)
    raw = raw.with_columns(pl.when(first != pl.col("row_number")).then(first).alias("duplicate_of_row"))
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
    quarantine = pl.concat([collected[-3], *(bad for _, bad in parts)]).sort("file_name", "row_number")
    loaded = {f: (n, d) for f, n, d in collected[-2].iter_rows()}
    quarantined = dict(quarantine.group_by("file_name").len().iter_rows())
    files = []
    for text, (good, bad) in zip(texts, parts):
        name = text.path.name
        n_loaded, n_duplicate = loaded.get(name, (0, 0))
        files.append(FileCounts(name, good.height + bad.height, n_loaded, quarantined.get(name, 0), n_duplicate))
    return Extracted(source=fmt.source, tables=tables, quarantine=quarantine, files=files)
