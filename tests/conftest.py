"""Shared fixtures: a place for databases, writers for tiny police.uk files, and the real data."""

from __future__ import annotations

import csv
import gzip
import os
from pathlib import Path

import pytest

from pipelines.ingest.sources.police_uk import OUTCOMES_HEADER, STREET_HEADER

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SAMPLES = PROJECT_ROOT / "data_samples"
REAL = PROJECT_ROOT.parent / "shared" / "real"


def real_data() -> Path:
    """The published data beside the project; CI has it, so there it must be present."""
    if not REAL.exists():
        if os.environ.get("CI"):
            pytest.fail(f"the real data folder {REAL} is missing under CI")
        pytest.skip("the real data folder is not beside the project")
    return REAL


def street_row(**overrides: str) -> dict[str, str]:
    row = {
        "Crime ID": "abc123",
        "Month": "2021-04",
        "Reported by": "Durham Constabulary",
        "Falls within": "Durham Constabulary",
        "Longitude": "-1.5",
        "Latitude": "54.7",
        "Location": "On or near Station Road",
        "LSOA code": "E01020000",
        "LSOA name": "Durham 001A",
        "Crime type": "Burglary",
        "Last outcome category": "Unable to prosecute suspect",
        "Context": "",
    }
    row.update(overrides)
    return row


def outcome_row(**overrides: str) -> dict[str, str]:
    row = {k: v for k, v in street_row().items() if k in OUTCOMES_HEADER}
    row["Outcome type"] = "Suspect charged"
    row.update(overrides)
    return row


def write_csv(path: Path, header: tuple[str, ...], rows: list[dict[str, str]]) -> Path:
    """Write rows as police.uk does (comma-separated, minimal quoting), gzipped if the name ends .gz."""
    path.parent.mkdir(parents=True, exist_ok=True)
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "wt", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_street(path: Path, rows: list[dict[str, str]]) -> Path:
    return write_csv(path, STREET_HEADER, rows)


def write_outcomes(path: Path, rows: list[dict[str, str]]) -> Path:
    return write_csv(path, OUTCOMES_HEADER, rows)


@pytest.fixture(scope="session")
def samples_ingest(tmp_path_factory):
    """data_samples/ loaded once per session (about 20 s): (database, report). Modules copy the file
    with `sample_copy` so that no test sees another's connection or changes."""
    from pipelines.ingest import load

    db = tmp_path_factory.mktemp("samples_once") / "samples.duckdb"
    report = load.ingest([SAMPLES], db, progress=False)
    return db, report


def sample_copy(samples_ingest, tmp_path_factory, name: str) -> Path:
    import shutil

    target = tmp_path_factory.mktemp(name) / "samples.duckdb"
    shutil.copyfile(samples_ingest[0], target)
    return target


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "test.duckdb"


def dashboard_query(db: Path, sql: str, params: dict | None = None) -> list[tuple]:
    """An independent read of a database the dashboard holds open: with the sandbox's settings, as
    one process must open a file alike."""
    from pipelines.sql.sandbox import connect

    con = connect(db)
    try:
        return con.execute(sql, params or {}).fetchall()
    finally:
        con.close()


# Markers follow what a test uses, so a new test is marked without anyone remembering to: a test that
# drives Chromium is `browser`; one that loads data_samples/ (or serves, or runs the dashboard) is
# `integration`. `make test-fast` runs the rest, the unit tests, in under a minute.
BROWSER_FIXTURES = {"page", "browser", "chromium_executable"}
INTEGRATION_FIXTURES = {"samples_ingest"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        if used & BROWSER_FIXTURES:
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.integration)
        elif used & INTEGRATION_FIXTURES:
            item.add_marker(pytest.mark.integration)
