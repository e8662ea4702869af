"""The bad-input corpus (issue 9): every kind of damaged return, each made from a real published file.

For every kind the load does one of two things, and nothing else:

- **refuses the file**: a `MalformedFileError` naming the file (and the line, where there is one),
  with the database exactly as it was; or
- **quarantines the bad rows** with a reason naming the problem, loading the rest, so that
  rows_read = rows_loaded + rows_quarantined = the file's data lines.

The row-level kinds are loaded together, in one ingest; each refused kind is tried on its own.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from pipelines.ingest import load
from pipelines.ingest.textfile import MalformedFileError

from conftest import SAMPLES

pytestmark = pytest.mark.integration  # whole loads of malformed files, each checked against the database left behind

STREET_SOURCE = SAMPLES / "police_uk" / "2021-04" / "2021-04-city-of-london-street.csv.gz"
MET_SOURCE = SAMPLES / "mps_borough_crime" / "borough_24m_202202-202401.csv"
ONS_SOURCE = SAMPLES / "ons_rec_crime_pfa" / "rec-crime-pfa.csv"
ROWS = 40  # data rows kept from each real file


def real_lines(path: Path, rows: int = ROWS) -> list[str]:
    """The header and the first `rows` data lines of a real file, as published (no line endings)."""
    text = (gzip.decompress(path.read_bytes()) if path.name.endswith(".gz") else path.read_bytes()).decode("utf-8-sig")
    return text.splitlines()[: rows + 1]


def street_lines() -> list[str]:
    return real_lines(STREET_SOURCE)


def set_field(line: str, column: int, value: str) -> str:
    fields = next(csv.reader([line]))
    fields[column] = value
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(fields)
    return out.getvalue()


# police.uk street columns
MONTH, REPORTED_BY, FALLS_WITHIN, LONGITUDE, LATITUDE, CRIME_TYPE, OUTCOME = 1, 2, 3, 4, 5, 9, 10


def street_with(row: int, column: int, value: str) -> bytes:
    lines = street_lines()
    lines[row] = set_field(lines[row], column, value)
    return ("\n".join(lines) + "\n").encode()


@dataclass(frozen=True)
class Kind:
    name: str
    file_name: str
    make: Callable[[], bytes]
    # for a refused file: the words the error must contain and whether it names a line
    refused: str | None = None
    names_line: bool = True
    # for quarantined rows: how many, and the words each reason must contain
    quarantined: int = 0
    reason: str = ""


def gz(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=1)


def joined(lines: list[str], ending: str = "\n") -> bytes:
    return (ending.join(lines) + ending).encode()


def unbalanced_quote_early() -> bytes:
    lines = street_lines()
    lines[2] = lines[2].replace("On or near", '"On or near', 1)
    return joined(lines)


def unbalanced_quote_late() -> bytes:
    lines = street_lines()
    lines[-8] = lines[-8].replace("On or near", '"On or near', 1)
    return joined(lines)


def huge_ragged_field() -> bytes:
    lines = street_lines()
    lines[3] = lines[3] + "," + "x" * 200_000  # one field too many, and far over 128 kB
    return joined(lines)


def huge_quoted_field() -> bytes:
    lines = street_lines()
    lines[3] = set_field(lines[3], 11, "y" * 300_000)  # Context: long but a proper value
    return joined(lines)


def met_with(row: int, column: int, value: str) -> bytes:
    lines = real_lines(MET_SOURCE)
    lines[row] = set_field(lines[row], column, value)
    return joined(lines)


def ons_with(row: int, column: int, value: str) -> bytes:
    lines = real_lines(ONS_SOURCE)
    lines[row] = set_field(lines[row], column, value)
    return joined(lines)


S = "2021-04-city-of-london-street"

ROW_KINDS = [
    Kind(
        "unknown force",
        f"{S}-a.csv",
        lambda: street_with(3, FALLS_WITHIN, "Narnia Constabulary"),
        quarantined=1,
        reason="unknown force 'Narnia Constabulary'",
    ),
    Kind(
        "unknown reporting force",
        f"{S}-b.csv",
        lambda: street_with(3, REPORTED_BY, "Gotham City Police"),
        quarantined=1,
        reason="unknown force 'Gotham City Police'",
    ),
    Kind(
        "blank force",
        f"{S}-c.csv",
        lambda: street_with(4, FALLS_WITHIN, ""),
        quarantined=1,
        reason="'Falls within' is empty",
    ),
    Kind(
        "unknown crime type",
        f"{S}-d.csv",
        lambda: street_with(5, CRIME_TYPE, "Jaywalking"),
        quarantined=1,
        reason="unknown crime type 'Jaywalking'",
    ),
    Kind(
        "blank crime type",
        f"{S}-e.csv",
        lambda: street_with(5, CRIME_TYPE, ""),
        quarantined=1,
        reason="'Crime type' is empty",
    ),
    Kind(
        "unknown outcome",
        f"{S}-f.csv",
        lambda: street_with(6, OUTCOME, "Sent to the moon"),
        quarantined=1,
        reason="unknown outcome 'Sent to the moon'",
    ),
    Kind(
        "month not YYYY-MM",
        f"{S}-g.csv",
        lambda: street_with(7, MONTH, "04/2021"),
        quarantined=1,
        reason="'Month' is '04/2021', not a month",
    ),
    Kind(
        "month 13",
        f"{S}-h.csv",
        lambda: street_with(7, MONTH, "2021-13"),
        quarantined=1,
        reason="'Month' is '2021-13', not a month",
    ),
    Kind(
        "month in the future",
        f"{S}-i.csv",
        lambda: street_with(8, MONTH, "2099-01"),
        quarantined=1,
        reason="after the current month",
    ),
    Kind(
        "month before police.uk",
        f"{S}-j.csv",
        lambda: street_with(8, MONTH, "1066-01"),
        quarantined=1,
        reason="before police.uk's first month",
    ),
    Kind(
        "another month inside the file",
        f"{S}-k.csv",
        lambda: street_with(9, MONTH, "2021-06"),
        quarantined=1,
        reason="the file is the return for 2021-04",
    ),
    Kind("blank month", f"{S}-l.csv", lambda: street_with(9, MONTH, ""), quarantined=1, reason="'Month' is ''"),
    Kind(
        "longitude NaN",
        f"{S}-m.csv",
        lambda: street_with(10, LONGITUDE, "NaN"),
        quarantined=1,
        reason="not a finite number",
    ),
    Kind(
        "longitude inf",
        f"{S}-n.csv",
        lambda: street_with(10, LONGITUDE, "inf"),
        quarantined=1,
        reason="not a finite number",
    ),
    Kind(
        "longitude 1e400",
        f"{S}-o.csv",
        lambda: street_with(10, LONGITUDE, "1e400"),
        quarantined=1,
        reason="not a finite number",
    ),
    Kind(
        "latitude out of range",
        f"{S}-p.csv",
        lambda: street_with(11, LATITUDE, "95.2"),
        quarantined=1,
        reason="outside Great Britain",
    ),
    Kind(
        "longitude on the wrong side of the world",
        f"{S}-q.csv",
        lambda: street_with(11, LONGITUDE, "151.2"),
        quarantined=1,
        reason="outside Great Britain",
    ),
    Kind(
        "longitude not a number",
        f"{S}-r.csv",
        lambda: street_with(12, LONGITUDE, "west-ish"),
        quarantined=1,
        reason="'Longitude' is 'west-ish', not a number",
    ),
    Kind(
        "short line",
        f"{S}-s.csv",
        lambda: joined(street_lines()[:5] + [",".join(street_lines()[5].split(",")[:6])] + street_lines()[6:]),
        quarantined=1,
        reason="fields but the header has 12",
    ),
    Kind(
        "long line",
        f"{S}-t.csv",
        lambda: joined(street_lines()[:5] + [street_lines()[5] + ",extra"] + street_lines()[6:]),
        quarantined=1,
        reason="fields but the header has 12",
    ),
    Kind(
        "two problems in one row",
        f"{S}-u.csv",
        lambda: street_with(1, MONTH, "2021-13").replace(b"Metropolitan", b"Metropolitan"),
        quarantined=1,
        reason="'2021-13'",
    ),
    # A quote that never closes on its line costs that line only: no return we read has values spanning lines.
    Kind(
        "unbalanced quote early",
        f"{S}-x.csv",
        unbalanced_quote_early,
        quarantined=1,
        reason="opens a quoted value that does not close",
    ),
    Kind(
        "unbalanced quote late",
        f"{S}-v.csv",
        unbalanced_quote_late,
        quarantined=1,
        reason="opens a quoted value that does not close",
    ),
    Kind(
        "field over 128 kB in a ragged row",
        f"{S}-w.csv",
        huge_ragged_field,
        quarantined=1,
        reason="fields but the header has 12",
    ),
    Kind(
        "Met count not a number",
        "borough_24m_202202-202401-x.csv",
        lambda: met_with(2, 5, "12x"),
        quarantined=1,
        reason="'12x'",
    ),
    Kind(
        "ONS unknown force area",
        "rec-crime-pfa-z.csv",
        lambda: ons_with(2, 1, "Narnia"),
        quarantined=1,
        reason="Narnia",
    ),
    Kind(
        "ONS count not a number", "rec-crime-pfa-zz.csv", lambda: ons_with(3, 4, "lots"), quarantined=1, reason="'lots'"
    ),
    Kind(
        "ONS date not a date",
        "rec-crime-pfa-zzz.csv",
        lambda: ons_with(4, 0, "31/13/2003"),
        quarantined=1,
        reason="31/13/2003",
    ),
    Kind(
        "ONS year ending in the future",
        "rec-crime-pfa-future.csv",
        lambda: ons_with(5, 0, "31/12/2099"),
        quarantined=1,
        reason="after the current month",
    ),
    Kind(
        "ONS year before the recording standard",
        "rec-crime-pfa-past.csv",
        lambda: ons_with(5, 0, "31/03/1995"),
        quarantined=1,
        reason="before the National Crime Recording Standard",
    ),
    # read as published: nothing quarantined
    Kind("bare CR line endings", f"{S}-cr.csv", lambda: joined(street_lines(), "\r")),
    Kind("CRLF line endings", f"{S}-crlf.csv", lambda: joined(street_lines(), "\r\n")),
    Kind("byte-order mark", f"{S}-bom.csv", lambda: b"\xef\xbb\xbf" + joined(street_lines())),
    Kind("no final line ending", f"{S}-noeol.csv", lambda: "\n".join(street_lines()).encode()),
    Kind("exact repeated rows", f"{S}-rep.csv", lambda: joined(street_lines() + street_lines()[1:6])),
    Kind("a proper quoted field of 300 kB", f"{S}-bigq.csv", huge_quoted_field),
    Kind("header only", f"{S}-hdr.csv", lambda: joined(street_lines()[:1])),
]

REFUSED_KINDS = [
    Kind("empty file", f"{S}-1.csv", lambda: b"", refused="the file is empty"),
    Kind("only blank lines", f"{S}-2.csv", lambda: b"\n\n \n", refused="the file is empty"),
    Kind(
        "unknown header",
        f"{S}-3.csv",
        lambda: joined([street_lines()[0].replace("Crime type", "Offence")] + street_lines()[1:]),
        refused="is not the header of any known return",
    ),
    Kind(
        "a header column missing",
        f"{S}-4.csv",
        lambda: joined([",".join(line.split(",")[:-1]) for line in street_lines()]),
        refused="is not the header of any known return",
    ),
    Kind(
        "semicolon-separated",
        f"{S}-5.csv",
        lambda: joined([";".join(next(csv.reader([line]))) for line in street_lines()]),
        refused="is not the header of any known return",
    ),
    Kind(
        "not UTF-8 in a row",
        f"{S}-6.csv",
        lambda: street_with(6, 6, "On or near Caf\u00e9").replace("Caf\u00e9".encode(), b"Caf\xe9"),
        refused="is not UTF-8",
    ),
    Kind(
        "not UTF-8 in the header",
        f"{S}-7.csv",
        lambda: joined(street_lines()).replace(b"Crime type", b"Crime \xa0type", 1),
        refused="is not UTF-8",
    ),
    Kind("UTF-16 text", f"{S}-8.csv", lambda: "\n".join(street_lines()).encode("utf-16"), refused="not UTF-8"),
    Kind(
        "truncated gzip",
        f"{S}-9.csv.gz",
        lambda: gz(joined(street_lines()))[:-40],
        refused="not a readable gzip file",
        names_line=False,
    ),
    Kind(
        "plain text named .gz",
        f"{S}-10.csv.gz",
        lambda: joined(street_lines()),
        refused="not a readable gzip file",
        names_line=False,
    ),
    Kind("gzip of binary noise", f"{S}-11.csv.gz", lambda: gz(bytes(range(255, -1, -1)) * 40), refused="not UTF-8"),
    Kind(
        "a picture named .csv", f"{S}-12.csv", lambda: b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8, refused="not UTF-8"
    ),
    Kind("NUL bytes", f"{S}-13.csv", lambda: b"\0" * 5000, refused=""),
    Kind(
        "a spreadsheet that is text",
        "policeforceareatables-14.xlsx",
        lambda: joined(street_lines()),
        refused="",
        names_line=False,
    ),
    Kind(
        "Met month column in the future",
        "borough_24m_202202-202401-future.csv",
        lambda: joined([real_lines(MET_SOURCE)[0].replace("202401", "209901")] + real_lines(MET_SOURCE)[1:]),
        refused="month column '209901' is after the current month",
    ),
    # A category the mapping file does not map would be silently left out: the mapping must be fixed first.
    Kind(
        "Met category the mapping does not know",
        "borough_24m_202202-202401-y.csv",
        lambda: met_with(3, 1, "Dragon Theft"),
        refused="which mps_categories.csv does not map",
    ),
]


def data_lines(data: bytes) -> int:
    """The file's data lines, counted independently of the reader: non-blank physical lines after the header."""
    text = data.decode("utf-8-sig")
    return max(sum(1 for line in re.split(r"\r\n|\r|\n", text) if line.strip()) - 1, 0)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def base_db(tmp_path_factory) -> Path:
    db = tmp_path_factory.mktemp("bad_inputs") / "base.duckdb"
    load.ingest([STREET_SOURCE], db, progress=False)
    return db


def test_the_corpus_has_at_least_forty_kinds():
    assert len(ROW_KINDS) + len(REFUSED_KINDS) >= 40
    names = [k.file_name for k in ROW_KINDS + REFUSED_KINDS]
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("kind", REFUSED_KINDS, ids=lambda k: k.name)
def test_a_file_that_cannot_be_read_is_refused_naming_file_and_line_and_the_database_is_unchanged(
    kind, base_db, tmp_path
):
    db = Path(shutil.copy(base_db, tmp_path / "x.duckdb"))
    before = sha256(db)
    path = tmp_path / kind.file_name
    path.write_bytes(kind.make())
    with pytest.raises(MalformedFileError) as caught:
        load.ingest([path], db, progress=False)
    message = str(caught.value)
    assert kind.file_name in message and kind.refused in message, message
    if kind.names_line:
        assert re.search(r", line \d+: ", message), message
    assert sha256(db) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([db.name, f"{db.name}.lock", kind.file_name])


@pytest.fixture(scope="module")
def row_kinds_loaded(base_db, tmp_path_factory) -> tuple[Path, dict[str, bytes]]:
    folder = tmp_path_factory.mktemp("row_kinds")
    made = {}
    for kind in ROW_KINDS:
        made[kind.file_name] = kind.make()
        (folder / kind.file_name).write_bytes(made[kind.file_name])
    db = Path(shutil.copy(base_db, folder.parent / "rows.duckdb"))
    load.ingest([folder], db, progress=False)
    return db, made


@pytest.mark.parametrize("kind", ROW_KINDS, ids=lambda k: k.name)
def test_bad_rows_are_quarantined_with_a_reason_and_every_line_is_accounted_for(kind, row_kinds_loaded):
    db, made = row_kinds_loaded
    with duckdb.connect(str(db), read_only=True) as con:
        logged = con.sql(
            "select rows_read, rows_loaded, rows_quarantined from meta_ingest_log where file_name = $f",
            params={"f": kind.file_name},
        ).fetchall()
        reasons = [
            r
            for (r,) in con.sql(
                "select reason from meta_quarantine where file_name = $f order by row_number",
                params={"f": kind.file_name},
            ).fetchall()
        ]
    assert len(logged) == 1, f"{kind.file_name} is not in the ingest log"
    rows_read, rows_loaded, rows_quarantined = logged[0]
    assert rows_read == rows_loaded + rows_quarantined == data_lines(made[kind.file_name])
    assert rows_quarantined == len(reasons)
    if kind.quarantined >= 0:
        assert rows_quarantined == kind.quarantined, reasons
    else:
        assert rows_quarantined >= 1
    assert all(kind.reason in r for r in reasons), reasons
