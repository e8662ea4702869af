"""Integration: ingest `data_samples/` once and check the database against counts made here with
gzip and csv, independently of the pipeline."""

from __future__ import annotations

import csv
import gzip
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pytest

from pipelines import cli
from pipelines.ingest import load
from pipelines.reference import REFERENCE_DIR

from conftest import SAMPLES, sample_copy

pytestmark = pytest.mark.integration  # reads every file of data_samples/ and its manifest

STREET_FILE = re.compile(r"^(?P<month>\d{4}-\d{2})-(?P<slug>.+)-street\.csv(\.gz)?$")
ASB = "Anti-social behaviour"
# Hand-picked (force, month, crime type) triples, one from each sample folder.
TRIPLES = [
    ("durham", "2021-04", "Violence and sexual offences"),
    ("thames-valley", "2022-01", "Shoplifting"),
    ("cleveland", "2025-11", "Burglary"),
]


def _open(path: Path):
    if path.name.endswith(".gz"):
        return gzip.open(path, "rt", newline="", encoding="utf-8-sig")
    return path.open(newline="", encoding="utf-8-sig")


def _delimiter(header_line: str) -> str:
    return max(",;\t|", key=header_line.count)


@dataclass
class Independent:
    """What the sample files hold, counted with csv alone."""

    data_rows: dict[str, int] = field(default_factory=dict)  # file name -> data records
    street_rows: Counter = field(default_factory=Counter)  # (force slug, month) -> all rows
    notifiable: Counter = field(default_factory=Counter)  # (force slug, month) -> rows that are not ASB
    by_type: Counter = field(default_factory=Counter)  # (force slug, month, crime type) -> rows
    force_names: set = field(default_factory=set)  # every force name or slug a file gives


def _count(path: Path, found: Independent) -> None:
    with _open(path) as handle:
        header_line = handle.readline()
        delimiter = _delimiter(header_line)
        header = next(csv.reader([header_line], delimiter=delimiter))
        reader = csv.DictReader(handle, fieldnames=[h.strip() for h in header], delimiter=delimiter)
        street = STREET_FILE.match(path.name)
        n = 0
        for row in reader:
            n += 1
            for column in ("Falls within", "PFA", "Force"):
                if row.get(column):
                    found.force_names.add(row[column])
            if street:
                key = (street["slug"], row["Month"])
                found.street_rows[key] += 1
                found.notifiable[key] += row["Crime type"] != ASB
                found.by_type[(*key, row["Crime type"])] += 1
        found.data_rows[path.name] = n
        if street or path.name.endswith("-outcomes.csv.gz"):
            found.force_names.add(re.match(r"^\d{4}-\d{2}-(.+)-(street|outcomes)", path.name)[1])
        if path.parent.name == "mps_borough_crime":  # the Met's own counts, by borough
            found.force_names.add("metropolitan")


def _sample_files() -> list[Path]:
    return sorted(
        p
        for p in SAMPLES.rglob("*")
        if p.is_file() and p.name.endswith((".csv", ".csv.gz")) and p.name != "MANIFEST.csv"
    )


@pytest.fixture(scope="module")
def independent() -> Independent:
    found = Independent()
    for path in _sample_files():
        _count(path, found)
    return found


@pytest.fixture(scope="module")
def samples_db(samples_ingest, tmp_path_factory) -> tuple[Path, load.IngestReport]:
    return sample_copy(samples_ingest, tmp_path_factory, "samples"), samples_ingest[1]


def query(db: Path, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def _territorial() -> dict[str, str]:
    """Every spelling forces.csv itself gives a territorial force (id, name, short name) -> force id."""
    with (REFERENCE_DIR / "forces.csv").open(newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["is_territorial_ew"] == "true"]
    return {name: r["force_id"] for r in rows for name in (r["force_id"], r["force_name"], r["short_name"])}


# --------------------------------------------------------------------------------------------------------


def test_every_sample_file_is_loaded_and_the_manifest_skipped(samples_db, independent):
    db, report = samples_db
    assert set(report.skipped) == {"MANIFEST.csv"}
    workbooks = [p.name for p in SAMPLES.rglob("*.xlsx")]
    assert workbooks, "the samples include the ONS workbooks"
    expected = sorted([*independent.data_rows, *workbooks])
    assert sorted(r.file_name for r in report.loaded) == expected
    assert sorted(f for (f,) in query(db, "select file_name from ingest_log")) == expected


def test_rows_read_equals_each_files_line_count(samples_db, independent):
    db, _ = samples_db
    log = {
        f: (read, loaded, quarantined)
        for f, read, loaded, quarantined in query(
            db, "select file_name, rows_read, rows_loaded, rows_quarantined from ingest_log"
        )
    }
    # text returns: counted here with csv (workbooks are checked by their own tests)
    assert {f: v[0] for f, v in log.items() if f in independent.data_rows} == independent.data_rows
    assert all(read == loaded + quarantined for read, loaded, quarantined in log.values())


def test_the_manifest_agrees_with_our_own_counts(independent):
    with (SAMPLES / "MANIFEST.csv").open(newline="") as handle:
        manifest = {Path(r["path"]).name: int(r["data_rows"]) for r in csv.DictReader(handle) if r["data_rows"]}
    assert {f: n for f, n in independent.data_rows.items() if f in manifest} == {
        f: n for f, n in manifest.items() if f in independent.data_rows
    }
    assert len(set(manifest) & set(independent.data_rows)) >= 47


def test_nothing_is_quarantined(samples_db, independent):
    db, report = samples_db
    text_files = set(independent.data_rows)
    # The tidied copy of the Home Office outcomes sheet ends with one row of `NA`s: blank, no published value.
    blank = query(db, "select file_name, raw_row from quarantine where reason like 'the row is blank%'")
    assert [f for f, _ in blank] == ["prc-outcomes-2017-18-tidied.csv.gz"]
    assert set(json.loads(blank[0][1]).values()) == {"NA"}
    assert sum(r.rows_quarantined for r in report.loaded if r.file_name in text_files) == len(blank)
    reasons = query(db, "select file_name, reason from quarantine where reason not like 'the row is blank%'")
    assert not [f for f, _ in reasons if f in text_files]
    # Workbooks set aside only their region, country and county totals, and cells published as ".."
    # (not available: Greater Manchester after its 2019 IT change), never a force's or district's figure.
    allowed = r"not a (force|local authority district) \(.*total\)|population not available \(\.\.\)"
    assert all(f.endswith(".xlsx") and re.fullmatch(allowed, r) for f, r in reasons), {r for _, r in reasons}


def test_recorded_crime_per_force_month_equals_the_notifiable_rows(samples_db, independent):
    db, _ = samples_db
    got = {
        (f, m): n
        for f, m, n in query(
            db,
            """
        select force_id, strftime(period, '%Y-%m'), sum(offence_count)
        from recorded_crime where source = 'police_uk_street' group by all
    """,
        )
    }
    assert len(got) == 44  # 41 forces in 2021-04, Thames Valley 2022-01, Cleveland 2025-10 and 2025-11
    assert got == dict(independent.notifiable)


@pytest.mark.parametrize("triple", TRIPLES, ids=lambda t: "-".join(t))
def test_hand_picked_counts(samples_db, independent, triple):
    db, _ = samples_db
    force, month, crime_type = triple
    expected = independent.by_type[triple]
    assert expected > 0
    assert query(
        db,
        """
        select offence_count from recorded_crime
        where source = 'police_uk_street' and force_id = ? and strftime(period, '%Y-%m') = ? and category = ?
    """,
        [force, month, crime_type],
    ) == [(expected,)]


def test_every_territorial_force_with_a_street_file_is_supplied_in_coverage(samples_db, independent):
    db, _ = samples_db
    territorial = set(_territorial().values())
    coverage = {
        (f, m): (n, s)
        for f, m, n, s in query(
            db,
            """
        select force_id, strftime(period, '%Y-%m'), rows_supplied, coverage_status
        from coverage where source = 'police_uk_street'
    """,
        )
    }
    street = {k: n for k, n in independent.street_rows.items() if k[0] in territorial}
    assert len({f for f, _ in street}) == 39
    for key, n in street.items():
        assert coverage[key] == (n, "supplied"), key
    # and no territorial force-month without a file is marked supplied
    supplied = {k for k, (_, s) in coverage.items() if s == "supplied" and k[0] in territorial}
    assert supplied == set(street)


def test_info_names_the_number_of_territorial_forces(samples_db, independent, capsys):
    db, _ = samples_db
    spellings = _territorial()
    with_data = {spellings[name] for name in independent.force_names if name in spellings}
    assert len(with_data) >= 39
    assert cli.main(["info", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert f"forces with data: {len(with_data)} territorial forces" in out
