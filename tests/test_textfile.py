"""`pipelines.textfile`: reading a return's bytes, header and rows, with bad lines quarantined."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import pytest

from pipelines.textfile import MalformedFileError, open_text, read_rows

HEADER = b"a,b,c\n"


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _rows(path: Path):
    return read_rows(open_text(path))


def _as_records(rows) -> list[dict]:
    return rows.frame.to_dicts()


def test_quoted_commas_stay_inside_their_value(tmp_path):
    path = _write(tmp_path / "q.csv", HEADER + b'1,"On or near High Street, Durham",3\n4,5,6\n')
    rows = _rows(path)
    assert _as_records(rows) == [
        {"row_number": 1, "a": "1", "b": "On or near High Street, Durham", "c": "3"},
        {"row_number": 2, "a": "4", "b": "5", "c": "6"},
    ]
    assert rows.malformed == []
    assert rows.rows_read == 2


def test_escaped_quotes_are_unescaped(tmp_path):
    path = _write(tmp_path / "q.csv", HEADER + b'1,"the ""Crown"", Road",3\n')
    assert _as_records(_rows(path))[0]["b"] == 'the "Crown", Road'


def test_blank_cells_are_null(tmp_path):
    path = _write(tmp_path / "blank.csv", HEADER + b"1,,3\n")
    assert _as_records(_rows(path)) == [{"row_number": 1, "a": "1", "b": None, "c": "3"}]


@pytest.mark.parametrize(
    ("bad_line", "fields"),
    [(b"4,5,6,7", 4), (b"4,5", 2)],
    ids=["too_many_fields", "too_few_fields"],
)
def test_a_line_of_the_wrong_width_is_quarantined_and_good_rows_keep_their_numbers(tmp_path, bad_line, fields):
    # data rows: 1 good, 2 good, 3 bad (file line 4), 4 good
    path = _write(tmp_path / "ragged.csv", HEADER + b"1,2,3\n10,20,30\n" + bad_line + b"\n8,9,10\n")
    rows = _rows(path)
    assert [r["row_number"] for r in _as_records(rows)] == [1, 2, 4]
    assert [r["a"] for r in _as_records(rows)] == ["1", "10", "8"]
    assert len(rows.malformed) == 1
    number, reason, raw = rows.malformed[0]
    assert number == 3
    assert "line 4" in reason
    assert f"{fields} fields" in reason
    assert "header has 3" in reason
    assert raw == bad_line.decode()
    assert rows.rows_read == 4


def test_a_long_and_a_short_line_are_each_quarantined(tmp_path):
    path = _write(tmp_path / "both.csv", HEADER + b"1,2\n4,5,6,7\n8,9,10\n")
    rows = _rows(path)
    assert [(n, reason) for n, reason, _ in rows.malformed] == [
        (1, "line 2 has 2 fields but the header has 3"),
        (2, "line 3 has 4 fields but the header has 3"),
    ]
    assert _as_records(rows) == [{"row_number": 3, "a": "8", "b": "9", "c": "10"}]


def test_a_short_line_beside_a_quoted_comma_is_still_caught(tmp_path):
    # The quoted comma must not make up for the separator the short line lacks.
    path = _write(tmp_path / "mix.csv", HEADER + b'1,"x,y",3\n4,5\n')
    rows = _rows(path)
    assert [n for n, _, _ in rows.malformed] == [2]
    assert _as_records(rows) == [{"row_number": 1, "a": "1", "b": "x,y", "c": "3"}]


def test_gzip_and_plain_files_read_the_same(tmp_path):
    data = HEADER + b'1,"x,y",3\n4,5\n7,,9\n'
    plain = _write(tmp_path / "f.csv", data)
    packed = _write(tmp_path / "f.csv.gz", gzip.compress(data))
    plain_text, packed_text = open_text(plain), open_text(packed)
    assert plain_text.data == packed_text.data == data
    assert plain_text.header == packed_text.header == ["a", "b", "c"]
    plain_rows, packed_rows = read_rows(plain_text), read_rows(packed_text)
    assert plain_rows.frame.equals(packed_rows.frame)
    assert plain_rows.malformed == packed_rows.malformed
    # The hash is of the bytes as stored.
    assert plain_text.sha256 == hashlib.sha256(data).hexdigest()
    assert packed_text.sha256 == hashlib.sha256(packed.read_bytes()).hexdigest()


def test_a_utf8_bom_is_removed(tmp_path):
    path = _write(tmp_path / "bom.csv", b"\xef\xbb\xbf" + HEADER + b"1,2,3\n")
    text = open_text(path)
    assert text.header == ["a", "b", "c"]
    assert not text.data.startswith(b"\xef\xbb\xbf")
    assert _as_records(read_rows(text)) == [{"row_number": 1, "a": "1", "b": "2", "c": "3"}]


def test_crlf_line_endings_leave_no_carriage_returns(tmp_path):
    path = _write(tmp_path / "crlf.csv", b"a,b,c\r\n1,2,3\r\n4,5,6\r\n")
    rows = _rows(path)
    assert open_text(path).header == ["a", "b", "c"]
    assert _as_records(rows)[1] == {"row_number": 2, "a": "4", "b": "5", "c": "6"}


@pytest.mark.parametrize(
    ("data", "line"),
    [
        (HEADER + b"1,2,3\n4,caf\xe9,6\n", 3),
        (b"a,\xffb,c\n1,2,3\n", 1),
        (HEADER + b"1,2,3\n" * 3000 + b"4,\x96,6\n", 3002),
    ],
    ids=["data_line", "header", "far_down"],
)
def test_non_utf8_bytes_raise_naming_the_file_and_line(tmp_path, data, line):
    path = _write(tmp_path / "latin1.csv", data)
    with pytest.raises(MalformedFileError) as caught:
        read_rows(open_text(path))
    assert caught.value.path == path
    assert caught.value.line == line
    assert str(path) in str(caught.value)
    assert f"line {line}" in str(caught.value)


@pytest.mark.parametrize("data", [b"", b"\n\n", b"\xef\xbb\xbf"], ids=["zero_bytes", "blank_lines", "bom_only"])
def test_an_empty_file_raises_naming_the_file(tmp_path, data):
    path = _write(tmp_path / "empty.csv", data)
    with pytest.raises(MalformedFileError, match="empty") as caught:
        open_text(path)
    assert str(path) in str(caught.value)


def test_an_empty_gzip_raises_naming_the_file(tmp_path):
    path = _write(tmp_path / "empty.csv.gz", gzip.compress(b""))
    with pytest.raises(MalformedFileError, match="empty") as caught:
        open_text(path)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize(
    "stored",
    [b"a,b,c\n1,2,3\n", gzip.compress(b"a,b,c\n1,2,3\n" * 50)[:30]],
    ids=["not_gzip", "truncated_gzip"],
)
def test_a_corrupt_gzip_raises_naming_the_file(tmp_path, stored):
    path = _write(tmp_path / "broken.csv.gz", stored)
    with pytest.raises(MalformedFileError, match="gzip") as caught:
        open_text(path)
    assert caught.value.path == path
    assert str(path) in str(caught.value)


def test_a_header_only_file_has_no_rows(tmp_path):
    rows = _rows(_write(tmp_path / "h.csv", HEADER))
    assert rows.rows_read == 0
    assert rows.frame.height == 0
