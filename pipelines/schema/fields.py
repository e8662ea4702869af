"""Every field of the crossforce database, declared once, in `fields.csv` (name, SQL type, description).

A field keeps the same name, type and meaning in every table and view that uses it; the tables
(`tables.toml`, read by `pipelines/schema/tables.py`) name their columns from here, and the DDL, the data
dictionary and the dashboard's column help read the type and description from here.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

FIELDS_CSV = Path(__file__).parent / "fields.csv"
_COLUMNS = ["name", "sql_type", "description"]


@dataclass(frozen=True)
class Field:
    name: str
    sql_type: str
    description: str


def read_fields(path: Path = FIELDS_CSV) -> list[Field]:
    """The fields declared in `path`, in file order; a row with a missing or empty value is an error."""
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames != _COLUMNS:
            raise ValueError(f"schema: {path.name} must have the header {','.join(_COLUMNS)}, not {reader.fieldnames}")
        fields = []
        for row in reader:
            values = [row.get(c) for c in _COLUMNS]
            if not all(values) or None in row:
                raise ValueError(f"schema: {path.name} line {reader.line_num}: expected {', '.join(_COLUMNS)}: {row}")
            fields.append(Field(*(str(v) for v in values)))
    return fields


def _fields_by_name(fields: list[Field]) -> dict[str, Field]:
    """Each field by name; a name declared twice is an error, not a silent overwrite."""
    seen: dict[str, Field] = {}
    for f in fields:
        if f.name in seen:
            raise ValueError(
                f"schema: field {f.name!r} is declared twice ({seen[f.name].description!r} and {f.description!r})"
            )
        seen[f.name] = f
    return seen


FIELDS: dict[str, Field] = _fields_by_name(read_fields())
