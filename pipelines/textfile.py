"""Reading delimited text returns: bytes, hash, header and string columns, with malformed lines set aside.

Every source reads through here, so every source gets the same guarantees: the file's SHA-256,
`.csv` and `.csv.gz` alike, a clear `MalformedFileError` naming the file, the line and the problem
when the file as a whole cannot be read, and quarantine (not loss) for single lines whose field
count does not match the header.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

TEXT_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".tsv.gz", ".txt", ".txt.gz")
SEPARATORS = (",", "\t", ";", "|")


class MalformedFileError(Exception):
    """A file that cannot be read at all. The message names the file, the line and the problem."""

    def __init__(self, path: Path | str, line: int | None, problem: str):
        self.path, self.line, self.problem = Path(path), line, problem
        where = f"{self.path}" + (f", line {line}" if line else "")
        super().__init__(f"{where}: {problem}")


@dataclass
class TextFile:
    path: Path
    sha256: str
    data: bytes  # decompressed, BOM removed
    header: list[str] = field(default_factory=list)
    separator: str = ","


@dataclass
class RawRows:
    """All data rows of a file as strings, with 1-based `row_number`; plus rows whose shape was wrong."""

    frame: pl.DataFrame
    malformed: list[tuple[int, str, str]]  # (row_number, reason, raw line)

    @property
    def rows_read(self) -> int:
        return self.frame.height + len(self.malformed)


def open_text(path: Path) -> TextFile:
    stored = path.read_bytes()
    sha = hashlib.sha256(stored).hexdigest()
    data = stored
    if path.name.endswith(".gz"):
        try:
            data = gzip.decompress(stored)
        except (OSError, EOFError, zlib.error) as exc:
            raise MalformedFileError(path, None, f"not a readable gzip file ({exc})") from None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if not data.strip():
        raise MalformedFileError(path, 1, "the file is empty: expected a header line")
    first_line = data.split(b"\n", 1)[0]
    _check_utf8(path, first_line)
    separator, header = _split_header(first_line.decode("utf-8"))
    return TextFile(path=path, sha256=sha, data=data, header=header, separator=separator)


def _split_header(line: str) -> tuple[str, list[str]]:
    """The header's separator and fields. The separator is the candidate the line uses most
    (police.uk and ONS use commas; force exports may use tabs or semicolons)."""
    line = line.rstrip("\r\n")
    separator = max(SEPARATORS, key=line.count)
    return separator, [h.strip() for h in next(csv.reader([line], delimiter=separator), [])]


def peek_header(path: Path) -> list[str]:
    """The header fields of a file, read without reading the rest; [] if it has no readable header."""
    try:
        with (gzip.open(path, "rb") if path.name.endswith(".gz") else path.open("rb")) as handle:
            line = handle.readline().removeprefix(b"\xef\xbb\xbf").decode("utf-8")
    except (OSError, EOFError, zlib.error, UnicodeDecodeError):
        return []
    return _split_header(line)[1]


def _check_utf8(path: Path, data: bytes) -> None:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise MalformedFileError(path, line, f"byte {data[exc.start]:#04x} is not UTF-8 text; save the file as UTF-8") from None


def read_rows(text: TextFile) -> RawRows:
    """Every data row as strings. Polars reads well-formed files; a file with ragged lines is re-read
    line by line so that each bad line is quarantined with its number instead of failing the file."""
    try:
        frame = pl.read_csv(io.BytesIO(text.data), infer_schema=False, has_header=True, new_columns=text.header,
                            separator=text.separator)
    except pl.exceptions.ComputeError:  # not UTF-8, or a line with more fields than the header
        _check_utf8(text.path, text.data)
        return _read_ragged(text)
    if not _every_line_complete(text, frame):  # Polars pads short lines with nulls: catch them here
        return _read_ragged(text)
    return RawRows(frame.with_row_index("row_number", offset=1).with_columns(pl.col("row_number").cast(pl.Int32)), [])


def _every_line_complete(text: TextFile, frame: pl.DataFrame) -> bool:
    """True when the file holds exactly the separators that complete rows need.

    Every complete line has `width - 1` separators outside its values; any other comma sits inside
    a quoted value. A short line drops separators, so the totals differ. Cheap: one byte count and
    one vectorised count over the values.
    """
    width = len(text.header)
    inside_values = 0
    if b'"' in text.data:
        counts = frame.select(pl.col(c).str.count_matches(text.separator, literal=True).sum() for c in frame.columns)
        inside_values = sum(v or 0 for v in counts.row(0))
    expected = (width - 1) * (frame.height + 1) + inside_values  # + 1 for the header line
    return text.data.count(text.separator.encode()) == expected


def _read_ragged(text: TextFile) -> RawRows:
    width = len(text.header)
    good: list[list[str]] = []
    good_numbers: list[int] = []
    malformed: list[tuple[int, str, str]] = []
    reader = csv.reader(io.StringIO(text.data.decode("utf-8"), newline=""), delimiter=text.separator)
    next(reader)
    for number, row in enumerate(reader, start=1):
        if len(row) == width:
            good.append(row)
            good_numbers.append(number)
        else:
            reason = f"line {reader.line_num} has {len(row)} fields but the header has {width}"
            malformed.append((number, reason, text.separator.join(row)))
    frame = pl.DataFrame(good, schema={h: pl.String for h in text.header}, orient="row")
    # Blank cells are null, as in the fast path.
    frame = frame.with_columns(pl.when(pl.col(h) != "").then(pl.col(h)).alias(h) for h in text.header)
    # Bad lines are skipped here, so each good row keeps its own number from the file.
    frame = frame.with_columns(pl.Series("row_number", good_numbers, dtype=pl.Int32)).select("row_number", *text.header)
    return RawRows(frame, malformed)
