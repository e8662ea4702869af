"""`pipelines.ingest.textfile`: reading a return's bytes, header and rows, with bad lines quarantined."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import duckdb
import polars as pl
import pytest

from pipelines import schema
from pipelines.ingest import load, textfile
from pipelines.ingest.sources.base import extract, extract_chunks
from pipelines.ingest.sources.police_uk import OUTCOMES, STREET, STREET_HEADER
from pipelines.ingest.textfile import MalformedFileError, open_text, peek_header, read_rows

from conftest import SAMPLES, outcome_row, real_data, street_row, write_outcomes, write_street

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
    # Files are streamed, so a gzip cut short may only show when its end is read.
    path = _write(tmp_path / "broken.csv.gz", stored)
    with pytest.raises(MalformedFileError, match="gzip") as caught:
        read_rows(open_text(path))
    assert caught.value.path == path
    assert str(path) in str(caught.value)


def test_a_header_only_file_has_no_rows(tmp_path):
    rows = _rows(_write(tmp_path / "h.csv", HEADER))
    assert rows.rows_read == 0
    assert rows.frame.height == 0


# --- line endings: LF, CR LF and bare CR (issue 9, point 5) --------------------------------------------------

LEICESTERSHIRE = SAMPLES / "police_uk" / "2021-04" / "2021-04-leicestershire-street.csv.gz"  # CR LF, quoted values
DURHAM = SAMPLES / "police_uk" / "2021-04" / "2021-04-durham-street.csv.gz"  # CR LF, no quotes


def _rewrite(source: Path, target: Path, line_break: bytes) -> Path:
    """A copy of a published file with every line break (CR LF or LF) made `line_break`."""
    data = gzip.decompress(source.read_bytes()).replace(b"\r\n", b"\n").replace(b"\n", line_break)
    target.parent.mkdir(parents=True, exist_ok=True)
    return _write(target, gzip.compress(data) if target.name.endswith(".gz") else data)


@pytest.mark.parametrize("published", [LEICESTERSHIRE, DURHAM], ids=["quoted", "unquoted"])
@pytest.mark.parametrize("line_break", [b"\r", b"\n", b"\r\n"], ids=["bare_cr", "lf", "crlf"])
@pytest.mark.parametrize("suffix", [".csv", ".csv.gz"])
def test_a_real_file_reads_the_same_whatever_its_line_breaks(tmp_path, published, line_break, suffix):
    original = open_text(published)
    copy = _rewrite(published, tmp_path / published.name.replace(".csv.gz", suffix), line_break)
    assert peek_header(copy) == list(STREET_HEADER)
    text = open_text(copy)
    assert text.header == original.header
    whole, expected = read_rows(text), read_rows(original)
    assert whole.malformed == expected.malformed == []
    assert whole.frame.equals(expected.frame)
    assert whole.frame.height > 1000
    assert not any(whole.frame.select(pl.col(h).str.contains("[\r\n]").any() for h in text.header).row(0))
    assert read_rows(text, chunk_bytes=50_000).frame.equals(expected.frame)
    # and through the police.uk normalisation, the same rows come out
    ours, theirs = extract(STREET, [text]), extract(STREET, [original])
    for table in theirs.tables:
        assert _sorted(ours.tables[table].drop("file_name")).equals(_sorted(theirs.tables[table].drop("file_name"))), (
            table
        )
    assert [vars(f) | {"file_name": ""} for f in ours.files] == [vars(f) | {"file_name": ""} for f in theirs.files]


def _sorted(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort(frame.columns, nulls_last=True)


def test_the_published_bare_cr_file_is_read_whole(tmp_path):
    # The BBC's police.uk aggregate: bare CR line breaks as published (PROVENANCE.md). peek_header
    # and reading both used to fail with "new-line character seen in unquoted field".
    path = real_data() / "police_uk_force_year_2012_16" / "crime_outcomes_by_category_force_year_2012-16.csv.gz"
    header = ["Year", "f0_", "crime_type", "reported_by", "last_outcome_category"]
    assert peek_header(path) == header
    text = open_text(path)
    assert text.header == header
    assert text.eol == b"\r"
    rows = read_rows(text)
    assert rows.malformed == []
    assert rows.frame.height == 47_577  # MANIFEST.csv's data_rows
    assert rows.frame["row_number"].to_list() == list(range(1, 47_578))
    assert rows.frame.row(0) == (1, "2016", "39375", "Anti-social behaviour", "Kent Police", None)
    assert read_rows(text, chunk_bytes=100_000).frame.equals(rows.frame)


def test_a_lone_cr_inside_a_line_of_an_lf_file_is_an_ordinary_character(tmp_path):
    # The header's line break decides: here LF, so a CR elsewhere is part of its value.
    path = _write(tmp_path / "f.csv", HEADER + b"1,x\ry,3\r\n4,5,6\n")
    rows = _rows(path)
    assert _as_records(rows) == [
        {"row_number": 1, "a": "1", "b": "x\ry", "c": "3"},
        {"row_number": 2, "a": "4", "b": "5", "c": "6"},
    ]


# --- quotes: one record per line (issue 9, point 6) --------------------------------------------------------


def test_an_unbalanced_quote_early_in_a_file_quarantines_its_line_only(tmp_path):
    # Used to fail: the csv module ran the open value on to the end of the file,
    # "field larger than field limit (131072)", and a traceback.
    lines = [b'1,"never closed,3'] + [b"%d,5,6" % i for i in range(30_000)] + [b"7,8"]
    path = _write(tmp_path / "early.csv", HEADER + b"\n".join(lines) + b"\n")
    rows = _rows(path)
    assert [(n, reason) for n, reason, _ in rows.malformed] == [
        (1, "line 2 opens a quoted value that does not close on that line"),
        (30_002, "line 30003 has 2 fields but the header has 3"),
    ]
    assert rows.malformed[0][2] == '1,"never closed,3'
    assert rows.frame["row_number"].to_list() == list(range(2, 30_002))
    assert rows.rows_read == len(lines)


@pytest.mark.parametrize("quoted", [True, False], ids=["quoted", "unquoted"])
def test_a_field_over_128_kb_beside_a_ragged_line_is_read(tmp_path, quoted):
    long = b"x" * 200_000
    value = b'"' + long + b'"' if quoted else long
    path = _write(tmp_path / "long.csv", HEADER + b"1," + value + b",3\n4,5\n" + b'6,"7,7",8\n')
    rows = _rows(path)
    assert _as_records(rows) == [
        {"row_number": 1, "a": "1", "b": long.decode(), "c": "3"},
        {"row_number": 3, "a": "6", "b": "7,7", "c": "8"},
    ]
    assert [(n, reason) for n, reason, _ in rows.malformed] == [(2, "line 3 has 2 fields but the header has 3")]


def test_an_unclosed_quote_over_128_kb_is_quarantined_with_its_line(tmp_path):
    path = _write(tmp_path / "long.csv", HEADER + b'1,"' + b"x" * 200_000 + b"\n4,5,6\n4,5\n")
    rows = _rows(path)
    assert [(n, reason) for n, reason, _ in rows.malformed] == [
        (1, "line 2 opens a quoted value that does not close on that line"),
        (3, "line 4 has 2 fields but the header has 3"),
    ]
    assert _as_records(rows) == [{"row_number": 2, "a": "4", "b": "5", "c": "6"}]


def test_an_unbalanced_quote_late_in_a_file_costs_its_own_line_and_no_other(tmp_path):
    # Used to fold the 8 lines after it into one quarantined row, so rows_read undercounted the file.
    good = [b"%d,2,3" % i for i in range(20)]
    after = [b'%d,"b, quoted",3' % i if i % 2 else b"%d,5,6" % i for i in range(8)]
    path = _write(tmp_path / "late.csv", HEADER + b"\n".join([*good, b'99,"unclosed,3', *after]) + b"\n")
    rows = _rows(path)
    assert [(n, reason) for n, reason, _ in rows.malformed] == [
        (21, "line 22 opens a quoted value that does not close on that line")
    ]
    assert rows.frame["row_number"].to_list() == [*range(1, 21), *range(22, 30)]
    assert rows.frame.filter(pl.col("row_number") == 23)["b"].item() == "b, quoted"
    assert rows.rows_read == 29


def test_an_unbalanced_quote_late_in_a_file_is_counted_line_by_line_in_the_load(tmp_path):
    path = write_street(
        tmp_path / "in" / "2021-04-durham-street.csv", [street_row(**{"Crime ID": f"c{i}"}) for i in range(20)]
    )
    lines = path.read_bytes().splitlines(keepends=True)
    lines[10] = lines[10].replace(b"On or near Station Road", b'"On or near Station Road')
    path.write_bytes(b"".join(lines))
    db = tmp_path / "test.duckdb"
    load.ingest([path.parent], db, progress=False)
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.sql("select rows_read, rows_loaded, rows_quarantined from ingest_log").fetchall() == [(20, 19, 1)]
        assert con.sql("select row_number, reason from quarantine").fetchall() == [
            (10, "line 11 opens a quoted value that does not close on that line")
        ]


def test_a_value_with_a_line_break_in_it_is_quarantined_line_by_line(tmp_path):
    # No return crossforce reads has values over several lines: each line is its own record.
    path = _write(tmp_path / "multi.csv", HEADER + b'1,"two\nlines",3\n4,5,6\n')
    rows = _rows(path)
    assert [(n, reason) for n, reason, _ in rows.malformed] == [
        (1, "line 2 opens a quoted value that does not close on that line"),
        (2, "line 3 has 2 fields but the header has 3"),
    ]
    assert _as_records(rows) == [{"row_number": 3, "a": "4", "b": "5", "c": "6"}]


def test_blank_lines_are_skipped_and_keep_their_numbers(tmp_path):
    path = _write(tmp_path / "blank.csv", HEADER + b"1,2,3\n\n4,5,6\r\n\r\n\n")
    rows = _rows(path)
    assert rows.malformed == []
    assert [r["row_number"] for r in _as_records(rows)] == [1, 3]


def test_a_quoted_empty_value_is_null(tmp_path):
    assert _as_records(_rows(_write(tmp_path / "q.csv", HEADER + b'1,"",3\n')))[0]["b"] is None


def test_a_header_that_names_a_column_twice_raises(tmp_path):
    with pytest.raises(MalformedFileError, match="'a' twice") as caught:
        read_rows(open_text(_write(tmp_path / "twice.csv", b"a,b,a\n1,2,3\n")))
    assert caught.value.line == 1


def test_a_file_without_line_breaks_raises_naming_the_line(tmp_path, monkeypatch):
    monkeypatch.setattr(textfile, "MAX_LINE_BYTES", 10_000)
    path = _write(tmp_path / "one_line.csv", HEADER + b"1,2,3\n" + b"x" * 50_000)
    with pytest.raises(MalformedFileError, match="line 3 runs on") as caught:
        read_rows(open_text(path), chunk_bytes=1000)
    assert caught.value.line == 3


# --- reading in chunks (issue 9, point 4) -------------------------------------------------------------------

ODD_FILES = {
    "lf": HEADER + b"1,2,3\n4,5,6\n",
    "crlf_quoted": b"a,b,c\r\n" + b'1,"x,y",3\r\n' + b"4,5,6\r\n" * 40,
    "bare_cr": b"a,b,c\r" + b'1,"x,""y""",3\r' * 30 + b"4,5\r" + b"7,8,9\r",
    "ragged": HEADER + b"1,2\n" + b"3,4,5\n" * 25 + b"6,7,8,9\n" + b"1,2,3\n" * 25,
    "unclosed": HEADER + b"1,2,3\n" * 20 + b'4,"5,6\n' + b'7,"8",9\n' * 20,
    "stray_quotes": HEADER + b'1,a"b,3\n' * 10 + b'4,"x"y,6\n' + b'7, "8",9\n' * 10,
    "blank_lines": HEADER + b"\n1,2,3\n\n\n" + b"4,5,6\n" * 30 + b"\r\n\n",
    "no_final_break": HEADER + b"1,2,3\n" * 30 + b"4,5,6",
    "bom": b"\xef\xbb\xbf" + HEADER + b"1,2,3\n" * 30,
    "empty_values": HEADER + b',,\n"","",""\n' * 20,
    "header_only": HEADER,
    "semicolons": b"a;b;c\n" + b'1;"x;y";3\n' * 20 + b"1;2\n",
}


@pytest.mark.parametrize("name", ODD_FILES)
@pytest.mark.parametrize("suffix", [".csv", ".csv.gz"])
def test_reading_in_chunks_gives_what_reading_line_by_line_gives(tmp_path, name, suffix):
    data = ODD_FILES[name]
    path = _write(tmp_path / f"odd{suffix}", gzip.compress(data) if suffix.endswith(".gz") else data)
    text = open_text(path)
    # The reference: the whole file by the line-by-line rules (the fast path must agree with it).
    whole = textfile._read_lines(text, text.data, 2)
    for chunk_bytes in (None, 1, 7, 64, 500):
        rows = read_rows(text, chunk_bytes=chunk_bytes)
        assert rows.frame.equals(whole.frame), chunk_bytes
        assert rows.malformed == whole.malformed, chunk_bytes
    assert rows.rows_read == len(
        [line for line in data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")[1:] if line]
    )


def test_a_non_utf8_byte_names_its_line_when_read_in_chunks(tmp_path):
    path = _write(tmp_path / "latin1.csv", HEADER + b"1,2,3\n" * 3000 + b"4,\x96,6\n")
    with pytest.raises(MalformedFileError) as caught:
        read_rows(open_text(path), chunk_bytes=1000)
    assert caught.value.line == 3002


def test_a_gzip_of_several_members_is_read_whole(tmp_path):
    path = _write(
        tmp_path / "members.csv.gz", gzip.compress(HEADER + b"1,2,3\n") + gzip.compress(b"4,5,6\n") + b"\0" * 8
    )
    assert [r["a"] for r in _as_records(read_rows(open_text(path), chunk_bytes=4))] == ["1", "4"]


@pytest.mark.parametrize(
    "published",
    [LEICESTERSHIRE, SAMPLES / "mps_borough_crime" / "borough_24m_202202-202401.csv"],
    ids=["police_uk", "mps"],
)
def test_real_files_read_the_same_in_chunks(published):
    text = open_text(published)
    whole = read_rows(text)
    chunked = read_rows(text, chunk_bytes=64 * 1024)
    assert chunked.frame.equals(whole.frame)
    assert chunked.malformed == whole.malformed
    assert chunked.frame.height == whole.frame.height > 0


def _street_with_repeats(path: Path) -> Path:
    """A street file whose exact repeats lie far apart (in different chunks), with bad rows too."""
    rows = [
        street_row(
            **{"Crime ID": f"c{i}", "Crime type": ("Burglary", "Drugs", "Robbery")[i % 3], "LSOA code": f"E0{i % 7}"}
        )
        for i in range(400)
    ]
    asb = street_row(**{"Crime ID": "", "Crime type": "Anti-social behaviour", "Last outcome category": ""})
    rows[5] = rows[250] = rows[399] = asb  # the same row thrice, far apart
    rows[6] = rows[390] = dict(rows[100])  # a repeat of row 101 in a later chunk
    rows[200] = street_row(**{"Month": "2021-13"})  # quarantined by the normalisation
    write_street(path, rows)
    lines = path.read_bytes().splitlines(keepends=True)
    lines[300] = b'"unclosed,' + lines[300]  # quarantined when read
    lines[301] = lines[301].rstrip(b"\n") + b",extra\n"
    path.write_bytes(b"".join(lines))
    return path


@pytest.mark.parametrize("fmt", [STREET, OUTCOMES], ids=["street", "outcomes"])
def test_a_file_normalised_a_chunk_at_a_time_gives_what_it_gives_whole(tmp_path, fmt):
    if fmt is STREET:
        path = _street_with_repeats(tmp_path / "2021-04-durham-street.csv")
    else:
        rows = [
            outcome_row(**{"Crime ID": f"c{i % 150}", "Outcome type": "Suspect charged" if i % 4 else "?"})
            for i in range(400)
        ]
        path = write_outcomes(tmp_path / "2021-04-durham-outcomes.csv", rows)  # c0..c149 repeat exactly, 150 rows apart
    text = open_text(path)
    whole = extract(fmt, [text])
    pieces = list(extract_chunks(fmt, text, chunk_bytes=4096))
    assert len(pieces) > 5  # it was read in chunks
    assert [p.continues for p in pieces] == [True] * (len(pieces) - 1) + [False]
    for table, expected in whole.tables.items():
        got = pl.concat([p.tables[table] for p in pieces if table in p.tables])
        assert _sorted(got).equals(_sorted(expected)), table
    got_quarantine = pl.concat([p.quarantine for p in pieces]).sort("row_number")
    assert got_quarantine.equals(whole.quarantine.sort("row_number"))
    [expected_counts] = whole.files
    assert expected_counts.rows_duplicate > 0
    totals = [
        sum(getattr(f, c) for p in pieces for f in p.files)
        for c in ("rows_read", "rows_loaded", "rows_quarantined", "rows_duplicate")
    ]
    assert totals == [
        expected_counts.rows_read,
        expected_counts.rows_loaded,
        expected_counts.rows_quarantined,
        expected_counts.rows_duplicate,
    ]
    assert expected_counts.rows_read == 400


def test_a_large_file_is_loaded_in_chunks_as_it_would_be_whole(tmp_path, monkeypatch):
    path = _street_with_repeats(tmp_path / "in" / "2021-04-durham-street.csv")
    whole_db, chunked_db = tmp_path / "whole.duckdb", tmp_path / "chunked.duckdb"
    load.ingest([path], whole_db, progress=False)

    pieces = []
    real_write_batch = load._write_batch

    def counting_write_batch(con, batch, *args):
        pieces.append(sum(f.rows_read for f in batch.files))
        return real_write_batch(con, batch, *args)

    monkeypatch.setattr(load, "_write_batch", counting_write_batch)
    monkeypatch.setattr(textfile, "CHUNK_BYTES", 4096)
    monkeypatch.setattr(load, "CHUNK_BYTES", 4096)
    report = load.ingest([path], chunked_db, progress=False)

    assert len(pieces) > 5  # one write per chunk, and one for the summed tables
    [result] = report.loaded
    assert (result.rows_read, result.rows_loaded + result.rows_quarantined) == (400, 400)
    assert _snapshot(chunked_db) == _snapshot(whole_db)

    # A changed large file replaces all its rows, however many chunks it was written in.
    write_street(path, [street_row(**{"Crime ID": f"new{i}"}) for i in range(300)])
    load.ingest([path], chunked_db, progress=False)
    with duckdb.connect(str(chunked_db), read_only=True) as con:
        assert con.sql("select rows_read, rows_loaded from ingest_log").fetchall() == [(300, 300)]
        assert con.sql("select count(*), min(crime_id) from core_police_uk__street_crimes").fetchall() == [
            (300, "new0")
        ]
        assert con.sql("select sum(offence_count) from core_counts__recorded_crime").fetchall() == [(300,)]


def _snapshot(db: Path) -> dict[str, list[tuple]]:
    skip = {"started_at", "finished_at"}
    with duckdb.connect(str(db), read_only=True) as con:
        out = {}
        for table in schema.TABLES.values():
            if table.is_view or not table.keyed_by_file:
                continue
            columns = [c for c in table.columns if c not in skip]
            out[table.name] = con.sql(f"select {', '.join(columns)} from {table.name} order by all").fetchall()
        return out
