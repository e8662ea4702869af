"""What the schema generates: the DuckDB DDL, the statements that refill materialised tables, the
schema version, the data dictionary analysts read (`docs/data_dictionary.md`) and the dashboard's
column help. Each reads the declarations (`FIELDS` from `fields.csv`, `TABLES` from `tables.toml`) and
nothing else.
"""

from __future__ import annotations

import hashlib

from pipelines.schema.fields import FIELDS
from pipelines.schema.tables import TABLES, Table

_TABLES = list(TABLES.values())


def _literal(value: str | int) -> str:
    return str(value) if isinstance(value, int) else "'" + str(value).replace("'", "''") + "'"


def insert_statement(table: Table) -> str:
    """The statement that inserts the rows the schema supplies for `table` (see `Table.rows`)."""
    rows = ", ".join("(" + ", ".join(_literal(v) for v in row) + ")" for row in table.rows)
    return f"insert into {table.name} ({', '.join(table.columns)}) values {rows}"


def create_statement(table: Table) -> str:
    if table.is_view:
        return f"create or replace view {table.name} as\n{table.view_sql}"
    columns = [f"    {c} {FIELDS[c].sql_type}" for c in table.columns]
    if table.primary_key and table.enforce_key:
        columns.append(f"    primary key ({', '.join(table.primary_key)})")
    return f"create table {table.name} (\n" + ",\n".join(columns) + "\n)"


def refresh_statements() -> list[str]:
    """Statements that refill every materialised table from its SQL (run at the end of a load)."""
    return [f"delete from {t.name}; insert into {t.name} by name\n{t.view_sql}" for t in _TABLES if t.materialised]


def ddl() -> list[str]:
    """Statements that create every table (with the rows the schema supplies), then every view, in
    declaration order."""
    statements = []
    for table in _TABLES:
        if not table.is_view:
            statements.append(create_statement(table))
            if table.rows:
                statements.append(insert_statement(table))
    return statements + [create_statement(t) for t in _TABLES if t.is_view]


def schema_version() -> str:
    """A short fingerprint of the DDL; a database built with another schema is rebuilt, not patched."""
    return hashlib.sha256("\n".join(ddl()).encode()).hexdigest()[:16]


def describe(column: str) -> str:
    """One column's description, for charts and the dashboard's column help."""
    return FIELDS[column].description


def data_dictionary() -> str:
    """The analysts' data dictionary, as Markdown."""
    lines = [
        "# Data dictionary",
        "",
        "Generated from `pipelines/schema/` by `crossforce dictionary`; a test fails when this file is stale.",
        "",
        "Start with the views: they have stable names and columns. Tables prefixed `core_` hold the",
        "normalised data they are built from, `ref_` the version-controlled reference tables, and",
        "`meta_` the load's bookkeeping.",
        "",
    ]
    ordered = [t for t in _TABLES if t.is_view] + [t for t in _TABLES if not t.is_view]
    for table in ordered:
        kind = "view" if table.is_view else ("table, refilled at every load" if table.materialised else "table")
        lines += [f"## `{table.name}` ({kind})", "", table.description, "", f"Grain: {table.grain}."]
        if table.primary_key:
            lines.append(f"Primary key: {', '.join(f'`{c}`' for c in table.primary_key)}.")
        lines += ["", "| column | type | description |", "|---|---|---|"]
        for c in table.columns:
            f = FIELDS[c]
            lines.append(f"| `{c}` | {f.sql_type} | {f.description} |")
        lines.append("")
    return "\n".join(lines)
