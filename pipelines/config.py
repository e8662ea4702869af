"""The settings the command line and the dashboard share, resolved in one place.

The database is the one given (`--db`), else `$CROSSFORCE_DB`, else `crossforce.duckdb` in the
current folder. `crossforce serve` runs the dashboard in a process of its own and hands it the path
through that same variable (`environment`); the dashboard reads it back with `resolve`. Nothing
else reads or writes the variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DB_ENV = "CROSSFORCE_DB"
DEFAULT_DB = Path("crossforce.duckdb")
# A tool that serves police data listens on this machine only unless told otherwise.
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8501


@dataclass(frozen=True)
class Config:
    """Where the database is, and where the dashboard listens."""

    db: Path
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT


def resolve(
    db: Path | str | None = None,
    host: str | None = None,
    port: int | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """The settings: each one given here, else the environment's (`$CROSSFORCE_DB` for the
    database; `environ` defaults to this process's), else the default. Read anew on every call, so
    that a variable set after import (by a test, say) is seen."""
    environ = os.environ if environ is None else environ
    return Config(
        db=Path(db if db is not None else environ.get(DB_ENV) or DEFAULT_DB),
        host=host if host is not None else DEFAULT_HOST,
        port=port if port is not None else DEFAULT_PORT,
    )


def environment(config: Config) -> dict[str, str]:
    """The variables that hand `config` to a dashboard started in another process, the database as
    an absolute path (the server's working folder need not be ours)."""
    return {DB_ENV: str(config.db.resolve())}
