"""The registry of breaks: seeded from version control, extended by users through `crossforce ingest`."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb

from pipelines.ingest import load
from pipelines.ingest.sources.breaks import HEADER
from tests.conftest import write_csv


def test_registry_is_seeded_with_the_known_events(tmp_path: Path, db: Path) -> None:
    load.ingest([write_csv(tmp_path / "none.csv", HEADER, [])], db, progress=False)
    with duckdb.connect(str(db), read_only=True) as con:
        events = con.sql("select event_date, scope, kind from breaks").fetchall()
    assert (dt.date(2024, 2, 28), "metropolitan", "records_system_change") in events
    assert (dt.date(2019, 7, 1), "greater-manchester", "records_system_change") in events
    assert (dt.date(2017, 4, 1), "national", "counting_rule_change") in events
    assert (dt.date(2023, 6, 1), "national", "counting_rule_change") in events


def test_users_add_events_and_bad_ones_are_quarantined(tmp_path: Path, db: Path) -> None:
    rows = [
        {
            "event_date": "2025-04-01",
            "scope": "Kent Police",
            "kind": "records_system_change",
            "event": "Kent moves to Niche",
            "event_source": "force data lead",
            "affects": "*",
        },
        {
            "event_date": "01/04/2025",
            "scope": "national",
            "kind": "data_gap",
            "event": "bad date",
            "event_source": "",
            "affects": "none",
        },
        {
            "event_date": "2025-04-01",
            "scope": "Gotham",
            "kind": "gremlins",
            "event": "two problems",
            "event_source": "",
            "affects": "measure=offences",
        },
        {
            "event_date": "2025-04-01",
            "scope": "national",
            "kind": "counting_rule_change",
            "event": "no scope of indicators",
            "event_source": "",
            "affects": "",
        },
    ]
    load.ingest([write_csv(tmp_path / "my_events.csv", HEADER, rows)], db, progress=False)
    with duckdb.connect(str(db), read_only=True) as con:
        added = con.sql(
            "select event_date, scope, kind, event, affects from breaks where event_source = 'force data lead'"
        ).fetchall()
        reasons = dict(con.sql("select row_number, reason from quarantine").fetchall())
        log = con.sql("select rows_read, rows_loaded, rows_quarantined from ingest_log").fetchall()
    assert added == [(dt.date(2025, 4, 1), "kent", "records_system_change", "Kent moves to Niche", "*")]
    assert "01/04/2025" in reasons[2]
    assert "Gotham" in reasons[3] and "gremlins" in reasons[3]
    assert "'affects'" in reasons[4]  # an event must say which indicators it can move: no default
    assert log == [(4, 1, 3)]
