"""`crossforce serve` listens on this machine only unless told otherwise (issue 9, point 9)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines import cli

pytestmark = pytest.mark.integration  # the dashboard served by the CLI


@pytest.fixture
def started(monkeypatch) -> list[list[str]]:
    """The streamlit commands `serve` would run, captured instead of run."""
    commands: list[list[str]] = []

    class Server:
        def __init__(self, command, env=None):
            commands.append(command)

        def wait(self) -> int:
            return 0

    monkeypatch.setattr(cli.subprocess, "Popen", Server)
    monkeypatch.setattr(cli.load, "check_database", lambda db: None)  # the file is a stand-in
    return commands


def address(command: list[str]) -> str:
    return command[command.index("--server.address") + 1]


def test_serve_listens_on_localhost_by_default(tmp_path: Path, started: list[list[str]]) -> None:
    db = tmp_path / "x.duckdb"
    db.write_bytes(b"")
    assert cli.main(["serve", "--db", str(db)]) == 0
    assert address(started[0]) == "127.0.0.1"


def test_serve_listens_where_told(tmp_path: Path, started: list[list[str]]) -> None:
    db = tmp_path / "x.duckdb"
    db.write_bytes(b"")
    assert cli.main(["serve", "--db", str(db), "--host", "0.0.0.0", "--port", "8600"]) == 0
    assert address(started[0]) == "0.0.0.0" and started[0][started[0].index("--server.port") + 1] == "8600"
