"""The recipe of CONTRIBUTING.md, "Adding a source": one new module (here `tests/invented_source.py`,
an invented quarterly publication) is all a source needs. Dropped into the sources package it is
discovered; registered, `load.ingest` recognises its file and loads it with nothing lost, and an
unknown force is quarantined in the shared words."""

from __future__ import annotations

import shutil
import sys
from dataclasses import replace
from datetime import date
from pathlib import Path

import duckdb
import pytest

from pipelines.ingest import load, sources
from pipelines.ingest.textfile import MalformedFileError
from tests import invented_source
from tests.conftest import PROJECT_ROOT

ROWS = [
    # Kent and Durham are known forces; "Narnia Constabulary" is in no spelling of force_aliases.csv.
    "2021-04,Kent,Robbery,12",
    "2021-04,Narnia Constabulary,Robbery,3",
    '2021-04,Durham,Theft offences,"1,204"',
    "2021-04,Kent,Theft offences,30",
]
APRIL_2021 = date(2021, 4, 1)
NARNIA = (
    "unknown force 'Narnia Constabulary' in 'Force' (if it is a real force, add the spelling to "
    "pipelines/reference/force_aliases.csv)"
)


def _write(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(",".join(invented_source.HEADER) + "\n" + "\n".join(ROWS) + "\n", encoding="utf-8")
    return path


def _query(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_an_unregistered_source_is_not_recognised(tmp_path: Path, db: Path) -> None:
    with pytest.raises(MalformedFileError, match="is not the header of any known return"):
        load.ingest([_write(tmp_path / "quarterly.csv")], db, progress=False)


def test_a_registered_source_loads_with_nothing_lost(tmp_path: Path, db: Path) -> None:
    path = _write(tmp_path / "quarterly.csv")
    with sources.REGISTRY.registered(invented_source.QUARTERLY):
        report = load.ingest([path], db, progress=False)
    [result] = report.loaded
    # 4 rows read (counted by hand above): Kent twice and Durham loaded, Narnia quarantined.
    assert (result.source, result.rows_read, result.rows_loaded, result.rows_quarantined) == (
        "invented_quarterly",
        4,
        3,
        1,
    )
    assert result.rows_read == result.rows_loaded + result.rows_quarantined
    assert _query(db, "select rows_read, rows_loaded, rows_quarantined from ingest_log") == [(4, 3, 1)]
    assert _query(
        db,
        """select force_id, period, period_grain, category, offence_count from core_counts__recorded_crime
                         order by force_id, category""",
    ) == [
        ("durham", APRIL_2021, "quarter", "Theft offences", 1204),
        ("kent", APRIL_2021, "quarter", "Robbery", 12),
        ("kent", APRIL_2021, "quarter", "Theft offences", 30),
    ]
    assert _query(db, "select row_number, source, reason from quarantine") == [(2, "invented_quarterly", NARNIA)]
    assert _query(db, "select is_national from ref_sources where source = 'invented_quarterly'") == [(True,)]


def test_registering_is_for_the_duration_and_names_the_source_in_words() -> None:
    with sources.REGISTRY.registered(invented_source.QUARTERLY) as registry:
        assert registry.labels()["invented_quarterly"] == "Invented quarterly counts (a test fixture)"
        assert registry.colours()["invented_quarterly"] == "#123456"
        with pytest.raises(ValueError, match="registered already"):
            registry.register(invented_source.QUARTERLY)
    assert "invented_quarterly" not in sources.REGISTRY.labels()
    assert invented_source.QUARTERLY not in sources.REGISTRY.sources


def test_a_module_dropped_into_the_sources_package_is_discovered(tmp_path: Path, db: Path, monkeypatch) -> None:
    """The recipe itself: a module beside the others, nothing else edited."""
    shutil.copy(PROJECT_ROOT / "tests" / "invented_source.py", tmp_path / "invented_quarterly.py")
    monkeypatch.setattr(sources, "__path__", [*sources.__path__, str(tmp_path)])
    monkeypatch.delitem(sys.modules, f"{sources.__name__}.invented_quarterly", raising=False)
    registry = sources.discover()
    monkeypatch.delitem(sys.modules, f"{sources.__name__}.invented_quarterly")
    assert "invented_quarterly" in sources.source_modules()
    assert [s.id for s in registry.sources if s.id == "invented_quarterly"] == ["invented_quarterly"]
    monkeypatch.setattr(sources, "REGISTRY", registry)
    [result] = load.ingest([_write(tmp_path / "in" / "quarterly.csv")], db, progress=False).loaded
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (4, 3, 1)


def test_every_source_module_is_registered_and_says_its_words() -> None:
    registered = set(sources.REGISTRY.sources)
    for name in sources.source_modules():
        module = sys.modules[f"{sources.__name__}.{name}"]
        assert set(module.SOURCES) <= registered, name
    for source in sources.REGISTRY.sources:
        assert source.colour is None or (source.colour.startswith("#") and len(source.colour) == 7), source.id


def test_two_sources_that_claim_one_file_are_an_error(tmp_path: Path) -> None:
    twin = replace(invented_source.QUARTERLY, id="invented_twin")
    path = _write(tmp_path / "quarterly.csv")
    with sources.REGISTRY.registered(invented_source.QUARTERLY, twin):
        with pytest.raises(
            MalformedFileError, match=r"recognised by more than one source \(invented_quarterly, invented_twin\)"
        ):
            sources.detect(load.open_text(path))
