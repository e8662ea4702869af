"""The one canonical schema: every field, table and view in the crossforce database.

Everything else is generated from it: the DuckDB DDL (`ddl()`), the data dictionary analysts read
(`docs/data_dictionary.md`, via `data_dictionary()`), and the dashboard's column help (`describe()`).
It is declared as data, in three places, one concern each:

- `fields.csv`: every field, once (name, SQL type, description), read by `fields.py` into `FIELDS`; a
  field keeps its name and meaning in every table.
- `tables.toml`: every table and view, one section each (description, grain, columns, key, how it is
  filled), read by `tables.py` into `TABLES`.
- `views/<name>.sql`: the SQL of each view (and materialised table), one file per view, in the house
  style of `queries/`.

`generate.py` turns the declarations into the DDL, the dictionary and the schema version. This
module re-exports the names the rest of crossforce uses, so callers say `schema.TABLES`.
"""

from __future__ import annotations

from pipelines.periods import GRAIN_MONTHS as PERIOD_GRAIN_MONTHS
from pipelines.periods import GRAIN_STEPS as PERIOD_GRAIN_STEPS
from pipelines.schema.fields import FIELDS, Field, _fields_by_name
from pipelines.schema.generate import (
    create_statement,
    data_dictionary,
    ddl,
    describe,
    insert_statement,
    refresh_statements,
    schema_version,
)
from pipelines.schema.tables import TABLES, VIEWS_DIR, Table, _tables_by_name

__all__ = [
    "FIELDS",
    "PERIOD_GRAIN_MONTHS",
    "PERIOD_GRAIN_STEPS",
    "TABLES",
    "VIEWS_DIR",
    "Field",
    "Table",
    "_fields_by_name",
    "_tables_by_name",
    "create_statement",
    "data_dictionary",
    "ddl",
    "describe",
    "insert_statement",
    "refresh_statements",
    "schema_version",
]
