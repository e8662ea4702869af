"""Reading delimited text returns: header and string columns, a chunk at a time, with bad lines set aside.

Every source reads through here, so every source gets the same guarantees: the file's SHA-256,
`.csv` and `.csv.gz` alike, a clear `MalformedFileError` naming the file, the line and the problem
when the file as a whole cannot be read, and quarantine (not loss) for single lines that are not a
record of the header's shape.

The rules, which both ways of reading (Polars for well-formed text, a line-by-line reader for the
rest) apply identically:

- **Line breaks are detected from the bytes, per file**: the header line's own ending decides. A
  header ending in CR LF or LF makes LF the line break (a CR just before it is dropped; a lone CR
  elsewhere is an ordinary character); a header ending in a lone CR (old Mac files, such as the
  BBC's police.uk aggregate) makes CR the line break.
- **One record per line.** No return crossforce reads has values that span lines, so a line break
  always ends a record, quoted or not. A line whose quoted value is still open at the line's end
  ("line N opens a quoted value that does not close on that line") is quarantined on its own, with
  its line number, and the next line is read afresh. An unbalanced quote therefore costs exactly
  its own line: it cannot swallow the lines after it or make a field grow without bound, and a
  file's `rows_read` is always its number of data lines.
- Quoting within a line is CSV's: a value that starts with `"` runs to the next lone `"`, and `""`
  inside it is one `"`; a `"` inside an unquoted value is an ordinary character. An empty value,
  quoted or not, is null.
- A line with another number of fields than the header is quarantined ("line N has K fields but
  the header has W"). Blank lines are not records: they are skipped, but keep their line number.
- `row_number` is the file's own numbering: data row r is line r + 1 of the file (the header is
  line 1), whichever chunk it was read in.
- Text must be UTF-8 (a BOM is removed); the first byte that is not stops the file, naming its line.

Large files are read as a stream (gzip is decompressed incrementally) in chunks of about
`CHUNK_BYTES` of text, cut after a line break: since every line break ends a record, a cut never
falls inside a value, and reading in chunks gives exactly the rows, numbers and reasons of reading
the whole file at once.
"""

from __future__ import annotations

import csv
import hashlib
import zlib
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import polars as pl

TEXT_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".tsv.gz", ".txt", ".txt.gz")
SEPARATORS = (",", "\t", ";", "|")
BOM = b"\xef\xbb\xbf"

# Text (decompressed bytes) per chunk: large enough that Polars' per-read costs vanish, small enough
# that memory stays flat however large a file is.
CHUNK_BYTES = 32 * 1024 * 1024
# No line of a return comes near this; a file without line breaks for this long is not a return.
MAX_LINE_BYTES = 16 * 1024 * 1024
_GZIP_READ = 1024 * 1024  # compressed bytes read at a time
_GZIP_OUT = 16 * 1024 * 1024  # most text decompressed from one read (a gzip bomb cannot balloon)
_HEADER_READ = 64 * 1024


class MalformedFileError(Exception):
    """A file that cannot be read at all. The message names the file, the line and the problem."""

    def __init__(self, path: Path | str, line: int | None, problem: str):
        self.path, self.line, self.problem = Path(path), line, problem
        where = f"{self.path}" + (f", line {line}" if line else "")
        super().__init__(f"{where}: {problem}")


class _NoLineBreak(Exception):
    """Raised by `TextFile.chunks` when MAX_LINE_BYTES pass without a line break."""


@dataclass
class TextFile:
    """An opened return: its header, separator and line break. The rows are read with `chunks` (or
    `read_rows` / `iter_rows`); nothing but the header is held in memory."""

    path: Path
    header: list[str] = field(default_factory=list)
    separator: str = ","
    header_line: bytes = b""  # the header line as stored, with its line break, without BOM
    bom: int = 0  # bytes of BOM before the header
    eol: bytes = b"\n"  # the line break: b"\n" (LF or CR LF) or b"\r" (CR)

    @cached_property
    def sha256(self) -> str:
        """SHA-256 of the file as stored (a compressed file is hashed compressed)."""
        with self.path.open("rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()

    @property
    def data(self) -> bytes:
        """The whole text, decompressed, BOM removed: for tests and small files only."""
        return b"".join(_blocks(self.path))[self.bom :]

    @property
    def size_hint(self) -> int:
        return text_size_hint(self.path)

    def chunks(self, chunk_bytes: int | None = None) -> Iterator[tuple[bytes, bool]]:
        """The text as (chunk, is_last) pieces of whole lines, each about `chunk_bytes` long and each
        starting with the header line. Always at least one (a header-only file gives just the header)."""
        chunk_bytes = chunk_bytes or CHUNK_BYTES
        eol, start = self.eol, len(self.header_line)
        pending: list[bytes] = []
        size = 0  # bytes pending, header line included
        skip = self.bom
        blocks = _blocks(self.path, _GZIP_READ if _is_gzip(self.path) else chunk_bytes)
        for block in blocks:
            if skip:
                block, skip = block[skip:], max(0, skip - len(block))
            pending.append(block)
            size += len(block)
            if size < chunk_bytes:
                continue
            data = pending[0] if len(pending) == 1 else b"".join(pending)
            cut = data.rfind(eol, start) + 1
            if cut == 0:  # not one line break yet: the line goes on
                if size - start > MAX_LINE_BYTES:
                    raise _NoLineBreak
                pending = [data]
                continue
            pending, size = [self.header_line, data[cut:]], start + len(data) - cut
            out = [data[:cut]]
            del data
            yield out.pop(), False  # popped, so that this frame holds no reference while the chunk is read
        data = pending[0] if len(pending) == 1 else b"".join(pending)
        del pending
        out = [_without_trailing_blank_lines(data, eol, start)]
        del data
        yield out.pop(), True


def _is_gzip(path: Path) -> bool:
    return path.name.endswith(".gz")


def text_size_hint(path: Path) -> int:
    """About how many bytes of text a file holds, without reading it: its size, or for gzip the size
    its trailer records (exact for a single-member file under 4 GiB)."""
    size = path.stat().st_size
    if not _is_gzip(path) or size < 18:
        return size
    with path.open("rb") as handle:
        handle.seek(-4, 2)
        return int.from_bytes(handle.read(4), "little")


def _blocks(path: Path, read_bytes: int = _GZIP_READ) -> Generator[bytes, None, None]:
    """The file's text, decompressed as it is read, in blocks."""
    with path.open("rb") as handle:
        if not _is_gzip(path):
            while block := handle.read(read_bytes):
                yield block
            return
        inflater, fed = zlib.decompressobj(wbits=31), False
        try:
            while raw := handle.read(read_bytes):
                while raw:
                    if not fed:
                        raw = raw.lstrip(b"\0")  # padding between or after members, as gzip allows
                        if not raw:
                            break
                        fed = True
                    out = inflater.decompress(raw, _GZIP_OUT)
                    if out:
                        yield out
                    if inflater.eof:  # a member ended: another may follow
                        raw, inflater, fed = inflater.unused_data, zlib.decompressobj(wbits=31), False
                    else:
                        raw = inflater.unconsumed_tail
            if fed and not inflater.eof:
                raise MalformedFileError(
                    path, None, "not a readable gzip file (it ends before its compressed data does: truncated?)"
                )
        except zlib.error as exc:
            raise MalformedFileError(path, None, f"not a readable gzip file ({exc})") from None


def _without_trailing_blank_lines(data: bytes, eol: bytes, start: int) -> bytes:
    """The last chunk without the blank lines at the end of the file (Polars would make rows of them)."""
    end = len(data)
    while end > start:
        if data.endswith(eol + eol, start, end):
            end -= 1
        elif eol == b"\n" and data.endswith(b"\n\r\n", start, end):
            end -= 2
        else:
            break
    return data if end == len(data) else data[:end]


def open_text(path: Path) -> TextFile:
    """Open a return: read its header line (only), find its separator and line break."""
    acc = b""
    blocks = _blocks(path, _HEADER_READ)
    try:
        for block in blocks:
            acc += block
            ends = [i for i in (acc.find(b"\n"), acc.find(b"\r", 0, len(acc) - 1)) if i >= 0]
            if ends:
                break
            if len(acc) > MAX_LINE_BYTES:
                raise MalformedFileError(
                    path,
                    1,
                    f"the first line runs on for more than {MAX_LINE_BYTES >> 20} MB "
                    "without a line break: not a text return",
                )
        bom = len(BOM) if acc.startswith(BOM) else 0
        line, eol, cut = acc[bom:], b"\n", len(acc)
        if ends := [i for i in (acc.find(b"\n", bom), acc.find(b"\r", bom)) if i >= 0]:
            end = min(ends)
            line = acc[bom:end]
            if acc[end : end + 2] == b"\r\n":
                cut = end + 2
            else:
                eol, cut = acc[end : end + 1], end + 1
        if not line.strip() and not any(acc[cut:].strip() or b.strip() for b in blocks):
            raise MalformedFileError(path, 1, "the file is empty: expected a header line")
    finally:
        blocks.close()
    text = _decode(path, line, 1, b"\n")
    separator, header = _split_header(text)
    return TextFile(path=path, header=header, separator=separator, header_line=acc[bom:cut], bom=bom, eol=eol)


def _split_header(line: str) -> tuple[str, list[str]]:
    """The header's separator and fields. The separator is the candidate the line uses most
    (police.uk and ONS use commas; force exports may use tabs or semicolons)."""
    separator = max(SEPARATORS, key=line.count)
    return separator, [h.strip() for h in _split_line(line, separator, csv.field_size_limit())[0]]


def peek_header(path: Path) -> list[str]:
    """The header fields of a file, read without reading the rest; [] if it has no readable header."""
    try:
        return open_text(path).header
    except (OSError, MalformedFileError):
        return []


def _decode(path: Path, data: bytes, first_line: int, eol: bytes, start: int = 0) -> str:
    """`data[start:]` as text; a byte that is not UTF-8 raises, naming its line (`data[start]` is on `first_line`)."""
    try:
        return data[start:].decode("utf-8") if start else data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = first_line + data.count(eol, start, start + exc.start)
        byte = data[start + exc.start]
        raise MalformedFileError(path, line, f"byte {byte:#04x} is not UTF-8 text; save the file as UTF-8") from None


@dataclass
class RawRows:
    """Data rows of a file (or of one chunk of it) as strings, with the file's 1-based `row_number`;
    plus the lines whose shape was wrong. `lines` counts the physical lines read (blank ones too)."""

    frame: pl.DataFrame
    malformed: list[tuple[int, str, str]]  # (row_number, reason, raw line)
    lines: int = 0

    @property
    def rows_read(self) -> int:
        return self.frame.height + len(self.malformed)


def iter_rows(text: TextFile, chunk_bytes: int | None = None) -> Iterator[RawRows]:
    """The file's rows, a chunk at a time (at least one, perhaps empty), numbered as in the file."""
    line = 2  # the first data line
    _check_header(text)
    chunks = text.chunks(chunk_bytes)
    while True:
        try:
            data, last = next(chunks)
        except StopIteration:
            return
        except _NoLineBreak:
            raise MalformedFileError(
                text.path,
                line,
                f"line {line} runs on for more than {MAX_LINE_BYTES >> 20} MB "
                "without a line break: not a line of a return",
            ) from None
        out = [_read_chunk(text, data, line)]
        del data
        line += out[0].lines
        yield out.pop()  # popped: a suspended generator must not keep the chunk alive
        if last:
            return


def read_rows(text: TextFile, chunk_bytes: int | None = None) -> RawRows:
    """Every data row of the file, read in chunks and put together."""
    parts = list(iter_rows(text, chunk_bytes))
    if len(parts) == 1:
        return parts[0]
    return RawRows(
        pl.concat([p.frame for p in parts]), [m for p in parts for m in p.malformed], sum(p.lines for p in parts)
    )


def _check_header(text: TextFile) -> None:
    seen: set[str] = set()
    for name in text.header:
        if name in seen:
            raise MalformedFileError(text.path, 1, f"the header names the column {name!r} twice")
        seen.add(name)


def _read_chunk(text: TextFile, data: bytes, first_line: int) -> RawRows:
    """One chunk (header line first, then whole lines from `first_line` on). Polars reads it when
    that gives exactly the rows of the line-by-line rules; otherwise it is read line by line."""
    if len(text.header) > 1:  # with one column, a blank line cannot be told from an empty value
        try:
            frame = pl.read_csv(
                data,
                infer_schema=False,
                has_header=True,
                new_columns=text.header,
                separator=text.separator,
                eol_char=text.eol.decode(),
            )
        except pl.exceptions.PolarsError:  # not UTF-8, a line with more fields than the header, a stray quote
            frame = None
        if frame is not None and (lines := _lines_if_one_record_each(text, data, frame)) is not None:
            if b'"' in data:  # a quoted empty value is null, as an unquoted one is
                frame = frame.with_columns(pl.when(pl.col(h) != "").then(pl.col(h)).alias(h) for h in text.header)
            frame = frame.with_row_index("row_number", offset=first_line - 1).with_columns(
                pl.col("row_number").cast(pl.Int32)
            )
            return RawRows(frame, [], lines)
    return _read_lines(text, data, first_line)


def _lines_if_one_record_each(text: TextFile, data: bytes, frame: pl.DataFrame) -> int | None:
    """The number of data lines, if Polars made exactly one complete record of each; else None.

    Every complete line has `width - 1` separators outside its values; any other separator sits
    inside a quoted value. A short line (which Polars pads with nulls) or a blank one drops
    separators, so the totals differ. Without quotes every line break ends a record; with them, a
    quoted value that ran over a line break shows as fewer records than lines. Cheap: byte counts
    and one vectorised count over the values.
    """
    width = len(text.header)
    inside_values = 0
    quoted = b'"' in data
    if quoted:
        counts = frame.select(pl.col(c).str.count_matches(text.separator, literal=True).sum() for c in frame.columns)
        inside_values = sum(v or 0 for v in counts.row(0))
    if data.count(text.separator.encode()) != (width - 1) * (frame.height + 1) + inside_values:  # + 1: header line
        return None
    if quoted:
        lines = data.count(text.eol) + (not data.endswith(text.eol)) - 1
        return lines if lines == frame.height else None
    return frame.height


def _read_lines(text: TextFile, data: bytes, first_line: int) -> RawRows:
    """The chunk line by line, by the module's rules."""
    width, separator = len(text.header), text.separator
    body = _decode(text.path, data, first_line, text.eol, start=len(text.header_line))
    lines = body.split(text.eol.decode())
    if lines and lines[-1] == "":  # the chunk ends with a line break
        lines.pop()
    strip_cr = text.eol == b"\n"
    limit = csv.field_size_limit()
    good: list[list[str]] = []
    good_numbers: list[int] = []
    malformed: list[tuple[int, str, str]] = []
    for number, line in enumerate(lines, start=first_line):
        if strip_cr and line.endswith("\r"):
            line = line[:-1]
        if not line:
            continue
        fields, still_open = _split_line(line, separator, limit)
        if still_open:
            malformed.append((number - 1, f"line {number} opens a quoted value that does not close on that line", line))
        elif len(fields) != width:
            malformed.append((number - 1, f"line {number} has {len(fields)} fields but the header has {width}", line))
        else:
            good.append(fields)
            good_numbers.append(number - 1)
    columns = list(zip(*good)) if good else [() for _ in text.header]
    frame = pl.DataFrame({h: pl.Series(h, c, dtype=pl.String) for h, c in zip(text.header, columns)})
    # Blank cells are null, as in the fast path.
    frame = frame.with_columns(pl.when(pl.col(h) != "").then(pl.col(h)).alias(h) for h in text.header)
    # Bad lines are skipped here, so each good row keeps its own number from the file.
    frame = frame.select(pl.Series("row_number", good_numbers, dtype=pl.Int32), *text.header)
    return RawRows(frame, malformed, len(lines))


def _split_line(line: str, separator: str, limit: int) -> tuple[list[str], bool]:
    """A line's fields, and whether it ends inside a quoted value."""
    if '"' not in line:
        return line.split(separator), False
    if len(line) < limit:  # no field can pass the csv module's field size limit
        try:
            reader = csv.reader((line, ""), delimiter=separator)  # an open value runs on into the ""
            fields = next(reader)
            return fields, reader.line_num > 1
        except csv.Error:  # a CR inside an unquoted value, say: the plain reader below takes it as it is
            pass
    return _split_quoted(line, separator)


def _split_quoted(line: str, separator: str) -> tuple[list[str], bool]:
    """The csv module's reading of one line (its non-strict dialect), without its field size limit."""
    fields: list[str] = []
    value: list[str] = []
    state = "start"  # start of a value, in an unquoted value, in a quoted value, or just after a quote in one
    for char in line:
        if state == "quoted":
            if char == '"':
                state = "quote"
            else:
                value.append(char)
        elif char == separator and state != "quoted":
            fields.append("".join(value))
            value, state = [], "start"
        elif state == "start" and char == '"':
            state = "quoted"
        elif state == "quote" and char == '"':
            value.append('"')
            state = "quoted"
        else:
            value.append(char)
            state = "plain"
    fields.append("".join(value))
    return fields, state == "quoted"
