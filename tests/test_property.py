"""Property tests of the load on generated police.uk street files: nothing lost, re-ingest idempotent,
shares in [0, 1] summing to 1.

Each generated row is valid or carries known faults (unknown force, bad month, unknown crime type,
blanks, commas and quotes in Location), and some lines are written raw with fields added or dropped.
The expected outcome of every line is worked out here, from the generator's own choices.
"""

from __future__ import annotations

import csv
import io
import itertools
import shutil
from collections import Counter
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.ingest import load
from pipelines.ingest.sources.police_uk import STREET_HEADER

from conftest import street_row

pytestmark = pytest.mark.integration  # generated files loaded end to end, many times over

FORCES = {
    "Durham Constabulary": "durham",
    "Cleveland Police": "cleveland",
    "Devon & Cornwall Police": "devon-and-cornwall",
}
BAD_FORCES = ["Narnia Constabulary", "Gotham City Police", "Durham Constabularyy"]
MONTHS = ["2021-04", "2021-05"]
BAD_MONTHS = ["2021-13", "04/2021", "2021-4", "April 2021", "2021-00"]
CRIME_TYPES = [
    "Anti-social behaviour",
    "Burglary",
    "Drugs",
    "Shoplifting",
    "Violence and sexual offences",
    "Vehicle crime",
]
BAD_CRIME_TYPES = ["Jaywalking", "burglary", "Anti social behaviour"]
OUTCOMES = ["Under investigation", "Unable to prosecute suspect", "Investigation complete; no suspect identified", ""]
LOCATION_TEXT = st.text(alphabet=st.sampled_from(list("abc XYZ,\"'é-&")), max_size=25)

_counter = itertools.count()


@st.composite
def lines(draw):
    """One data line: (fields as written, expected: 'loaded' with its key, or 'quarantined')."""
    faults = []
    force = draw(st.sampled_from(list(FORCES) + BAD_FORCES + [""]))
    if force not in FORCES:
        faults.append("force")
    month = draw(st.sampled_from(MONTHS + BAD_MONTHS + [""]))
    if month not in MONTHS:
        faults.append("month")
    crime_type = draw(st.sampled_from(CRIME_TYPES + BAD_CRIME_TYPES + [""]))
    if crime_type not in CRIME_TYPES:
        faults.append("crime type")
    longitude = draw(st.sampled_from(["-1.55", "", "0", "east"]))
    if longitude == "east":
        faults.append("longitude")
    row = street_row(
        **{
            "Crime ID": draw(st.sampled_from(["", "abc", "def"])),
            "Month": month,
            "Reported by": force,
            "Falls within": force,
            "Longitude": longitude,
            "Latitude": "" if longitude == "" else "54.7",
            "Location": draw(LOCATION_TEXT),
            "Crime type": crime_type,
            "Last outcome category": "" if crime_type == "Anti-social behaviour" else draw(st.sampled_from(OUTCOMES)),
        }
    )
    fields = [row[h] for h in STREET_HEADER]
    # Some lines lose or gain fields (never all of them: a line with no fields is a blank line).
    shape = draw(st.sampled_from(["ok"] * 6 + ["extra", "missing"]))
    if shape == "extra":
        fields += draw(st.lists(st.sampled_from(["x", "", "a,b"]), min_size=1, max_size=3))
    elif shape == "missing":
        fields = fields[: len(fields) - draw(st.integers(1, len(fields) - 2))]
    if shape != "ok" or faults:
        return fields, None
    return fields, (FORCES[force], month, crime_type)


def write_lines(path: Path, rows: list[list[str]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(STREET_HEADER)
    writer.writerows(rows)
    path.parent.mkdir(parents=True)
    path.write_text(buffer.getvalue(), encoding="utf-8")


def state(db: Path) -> dict[str, list[tuple]]:
    """What the checks look at, in one connection: the log, row numbers, counts and shares."""
    with duckdb.connect(str(db), read_only=True) as con:
        return {
            "log": con.execute(
                "select file_name, sha256, rows_read, rows_loaded, rows_quarantined, rows_duplicate "
                "from ingest_log order by all"
            ).fetchall(),
            "loaded": con.execute("select row_number from core_police_uk__street_crimes").fetchall(),
            "quarantined": con.execute("select row_number from quarantine").fetchall(),
            "recorded": con.execute(
                "select force_id, period, category, offence_count from core_counts__recorded_crime order by all"
            ).fetchall(),
            "shares": con.execute("""
                select force_id, period, offence_count / sum(offence_count) over (partition by force_id, period)
                from recorded_crime where scheme = 'police_uk'
                order by all
            """).fetchall(),
        }


_template: dict[str, Path] = {}


def empty_database(tmp_path: Path) -> Path:
    """A new, empty database (schema and reference tables only), built once and copied per example."""
    if "db" not in _template or not _template["db"].exists():
        _template["db"] = tmp_path / "template.duckdb"
        load.ingest([], _template["db"], progress=False)
    return _template["db"]


# Each example is two real loads (about 1.5 s together here): 25 keep the suite within its time.
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(lines(), min_size=1, max_size=30))
def test_every_line_is_accounted_for_and_reingest_changes_nothing(tmp_path, generated):
    work = tmp_path / f"example-{next(_counter)}"
    path = work / "in" / "mixed-street.csv"  # no month in the name: its rows may hold two months
    write_lines(path, [fields for fields, _ in generated])
    db = work / "test.duckdb"
    shutil.copyfile(empty_database(tmp_path), db)
    n = len(generated)

    load.ingest([path], db, progress=False)
    first = state(db)

    [(name, _, read, loaded, quarantined, _)] = first["log"]
    assert name == path.name
    assert read == n
    assert loaded + quarantined == read
    expected_loaded = {i for i, (_, key) in enumerate(generated, start=1) if key is not None}
    loaded_numbers = [r for (r,) in first["loaded"]]
    quarantined_numbers = [r for (r,) in first["quarantined"]]
    assert sorted(loaded_numbers + quarantined_numbers) == list(range(1, n + 1))
    assert set(loaded_numbers) == expected_loaded
    assert loaded == len(expected_loaded)

    expected_counts = Counter(key for _, key in generated if key is not None)
    got_counts = {(f, p.strftime("%Y-%m"), c): k for f, p, c, k in first["recorded"]}
    assert got_counts == dict(expected_counts)

    again = load.ingest([path], db, progress=False)
    assert again.loaded == []
    assert state(db) == first

    by_force_month = Counter()
    for force_id, period, share in first["shares"]:
        assert 0 <= share <= 1
        by_force_month[(force_id, period)] += share
    for total in by_force_month.values():
        assert abs(total - 1) < 1e-9
    notifiable = {(f, m) for (f, m, c) in expected_counts if c != "Anti-social behaviour"}
    assert {(f, p.strftime("%Y-%m")) for f, p in by_force_month} == notifiable
