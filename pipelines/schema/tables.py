"""Every table and view of the crossforce database, declared once in `tables.toml`: one section a
table or view, with its description, grain, columns (fields of `fields.csv`), key and how it is filled.

Table names follow `{layer}_{source}__{asset}`: `ref_` reference tables (from version-controlled CSVs,
and the period grains of `pipelines/periods.py`), `core_` normalised tables written by the load,
`meta_` bookkeeping. Analyst-facing views have plain, stable names (`recorded_crime`, `coverage`, ...).

A view's SQL is a file of its own, `views/<name>.sql`, in the house style of `queries/`: one file per
view, a header (title, description, grain), then plain SQL a person can read and run against the
database. Every declared view has its file and every file its declaration (checked on import).
"""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines import periods
from pipelines.schema.fields import FIELDS

VIEWS_DIR = Path(__file__).parent / "views"
TABLES_TOML = Path(__file__).parent / "tables.toml"


@dataclass(frozen=True)
class Table:
    name: str
    description: str
    grain: str
    columns: tuple[str, ...]
    primary_key: tuple[str, ...] = ()
    # Built by the SQL in `views/<name>.sql` rather than filled by the load.
    derived: bool = False
    # Tables written once per input file carry `file_name`, so a re-ingest replaces exactly the
    # rows that file supplied.
    keyed_by_file: bool = False
    # Record-level tables hold millions of rows; an index on their key would double the load time,
    # so their key is declared here and checked by the tests instead of enforced by DuckDB.
    enforce_key: bool = True
    # A derived table whose SQL is too slow to run on every read: created as a table and refilled
    # from its SQL at the end of every load.
    materialised: bool = False
    # Rows the schema itself supplies, inserted when the table is created: values the code defines
    # (the period grains), so that view SQL can join them instead of having them spliced in.
    rows: tuple[tuple[str | int, ...], ...] = ()

    @property
    def is_view(self) -> bool:
        return self.derived and not self.materialised

    @property
    def view_sql(self) -> str | None:
        """The SQL that builds a derived table or view (its file without the header); None for a table."""
        return view_file_sql(self.name) if self.derived else None


@functools.cache
def view_file_sql(name: str, folder: Path = VIEWS_DIR) -> str:
    """The SQL of `views/<name>.sql` after its header comment (the leading `--` lines)."""
    lines = (folder / f"{name}.sql").read_text(encoding="utf-8").splitlines()
    header = next((n for n, line in enumerate(lines) if not line.startswith("--")), len(lines))
    return "\n".join(lines[header:]).strip()


# Rows the code defines, by table: inserted when the table is created (see `Table.rows`).
_ROWS: dict[str, tuple[tuple[str | int, ...], ...]] = {
    "ref_period_grains": tuple(
        (grain, months, periods.GRAIN_STEPS[grain]) for grain, months in periods.GRAIN_MONTHS.items()
    ),
}


# What each key of a section holds (every field of `Table` but `name`, the section, and `rows`).
_KINDS: dict[str, type] = {
    "description": str,
    "grain": str,
    "columns": list,
    "primary_key": list,
    "derived": bool,
    "keyed_by_file": bool,
    "enforce_key": bool,
    "materialised": bool,
}
_KIND_WORDS = {str: "text", list: "a list of field names", bool: "true or false"}


def _holds(value: object, kind: type) -> bool:
    if isinstance(value, list):
        return kind is list and all(isinstance(v, str) for v in value)
    return isinstance(value, kind)


def read_tables(path: Path = TABLES_TOML) -> list[Table]:
    """The tables and views declared in `path`, in file order: one section each, named as the table.
    A section declared twice, a key `Table` does not have, or a missing description, grain or columns
    is an error."""
    try:
        declared = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"schema: {path.name}: {e}") from e
    tables = []
    for name, spec in declared.items():
        if not isinstance(spec, dict):
            raise ValueError(f"schema: {path.name}: {name!r} must be a section ([{name}]), not a value")
        if unknown := sorted(set(spec) - set(_KINDS)):
            raise ValueError(f"schema: {path.name} [{name}]: unknown key {', '.join(unknown)}")
        if missing := [k for k in ("description", "grain", "columns") if k not in spec]:
            raise ValueError(f"schema: {path.name} [{name}]: missing {', '.join(missing)}")
        for key, value in spec.items():
            if not _holds(value, _KINDS[key]):
                raise ValueError(
                    f"schema: {path.name} [{name}]: {key} must be {_KIND_WORDS[_KINDS[key]]}, not {value!r}"
                )
        values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in spec.items()}
        tables.append(Table(name=name, rows=_ROWS.get(name, ()), **values))
    if unknown_rows := sorted(set(_ROWS) - set(declared)):
        raise ValueError(f"schema: rows are supplied for {', '.join(unknown_rows)}, which {path.name} does not declare")
    return tables


def _tables_by_name(tables: list[Table], views_dir: Path = VIEWS_DIR) -> dict[str, Table]:
    """Each table by name. A name declared twice, a column that is not a field, and a view with no SQL
    file (or a SQL file with no view) are errors, raised on import rather than on the first load."""
    seen: dict[str, Table] = {}
    for table in tables:
        if table.name in seen:
            raise ValueError(f"schema: table or view {table.name!r} is declared twice")
        seen[table.name] = table
        for column in table.columns + table.primary_key:
            if column not in FIELDS:
                raise KeyError(f"table {table.name}: column {column!r} is not declared in FIELDS")
        if table.materialised and not table.derived:
            raise ValueError(f"schema: table {table.name!r} is materialised but has no SQL (declare it derived)")
    derived = {t.name for t in tables if t.derived}
    files = {p.stem for p in views_dir.glob("*.sql")}
    if undeclared := sorted(files - derived):
        raise ValueError(
            f"schema: no table or view is declared for {', '.join(f'views/{n}.sql' for n in undeclared)}; "
            "declare each in pipelines/schema/tables.toml (derived = true) or remove the file"
        )
    if missing := sorted(derived - files):
        raise ValueError(
            f"schema: {', '.join(missing)} is declared derived but "
            f"{', '.join(f'views/{n}.sql' for n in missing)} does not exist"
        )
    return seen


TABLES: dict[str, Table] = _tables_by_name(read_tables())
