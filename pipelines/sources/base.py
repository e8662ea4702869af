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
    """The lazy outputs of one file: rows per core table, loaded rows for coverage, and rejected rows.

    `quarantine` keeps the raw columns plus a `reason`; `coverage` has `file_name`, `force_id`,
    `period` and `duplicate_of_row`, one row per loaded input row.
    """

    source: str
    tables: dict[str, pl.LazyFrame]
    coverage: pl.LazyFrame
    quarantine: pl.LazyFrame


@dataclass(frozen=True)
class SourceFormat:
    source: str
    header: tuple[str, ...]
    to_canonical: Callable[[pl.LazyFrame], Canonical]

    def matches(self, header: list[str]) -> bool:
        return tuple(header) == self.header


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
    good = rows.frame.select(pl.lit(file_name).alias("file_name"), pl.col("row_number"), *fmt.header)
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
    """Read a batch of files of one format and run them through the format's `to_canonical` together
    (one plan for many small files is much cheaper than one plan each)."""
    parts = [_raw_frame(fmt, text) for text in texts]
    raw = pl.concat([good for good, _ in parts]).rechunk()
    first = pl.col("row_number").min().over("file_name", *fmt.header)
    raw = raw.with_columns(pl.when(first != pl.col("row_number")).then(first).alias("duplicate_of_row"))
    canonical = fmt.to_canonical(raw.lazy())
    names = list(canonical.tables)
    quarantine_lf = canonical.quarantine.select(
        "file_name",
        "row_number",
        pl.lit(fmt.source).alias("source"),
        "reason",
        pl.struct(fmt.header).struct.json_encode().alias("raw_row"),
    )
    coverage_lf = canonical.coverage.group_by("file_name", "force_id", "period").agg(
        pl.len().cast(pl.Int64).alias("rows_supplied"),
        pl.col("duplicate_of_row").is_not_null().sum().alias("rows_duplicate"),
    )
    collected = pl.collect_all([canonical.tables[n] for n in names] + [quarantine_lf, coverage_lf])
    tables = dict(zip(names, collected[: len(names)]))
    coverage = collected[-1]
    tables["core_coverage"] = coverage.select(
        "file_name", pl.lit(fmt.source).alias("source"), "force_id", "period", "rows_supplied"
    )
    quarantine = pl.concat([collected[-2], *(bad for _, bad in parts)]).sort("file_name", "row_number")

    loaded = {f: (n, d) for f, n, d in coverage.group_by("file_name").agg(
        pl.col("rows_supplied").sum(), pl.col("rows_duplicate").sum()).iter_rows()}
    quarantined = dict(quarantine.group_by("file_name").len().iter_rows())
    files = []
    for text, (good, bad) in zip(texts, parts):
        name = text.path.name
        n_loaded, n_duplicate = loaded.get(name, (0, 0))
        files.append(FileCounts(name, good.height + bad.height, n_loaded, quarantined.get(name, 0), n_duplicate))
    return Extracted(source=fmt.source, tables=tables, quarantine=quarantine, files=files)
