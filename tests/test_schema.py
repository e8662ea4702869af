"""The schema is declared once: the docs, the DDL and the loaded database all agree with it."""

from __future__ import annotations

import duckdb
import pytest

from conftest import PROJECT_ROOT, SAMPLES
from pipelines import cli, schema
from pipelines.ingest import load

TABLES = [t for t in schema.TABLES.values() if not t.is_view]
VIEWS = [t for t in schema.TABLES.values() if t.is_view]
DICTIONARY = PROJECT_ROOT / "docs" / "data_dictionary.md"


@pytest.fixture(scope="module")
def empty_db():
    con = duckdb.connect()
    for statement in schema.ddl():
        con.execute(statement)
    yield con
    con.close()


@pytest.fixture(scope="module")
def small_samples_db(tmp_path_factory):
    """A small ingest of the samples: the police.uk folders with street and outcome files, one 2021-04
    street file, and the force export example."""
    db = tmp_path_factory.mktemp("schema") / "small.duckdb"
    folders = sorted(p for p in (SAMPLES / "police_uk").iterdir() if p.is_dir() and p.name != "2021-04")
    assert folders, "expected the Thames Valley and Cleveland sample folders"
    extra = [PROJECT_ROOT / "docs" / "examples" / "force_exports"]
    load.ingest([*folders, SAMPLES / "police_uk" / "2021-04" / "2021-04-durham-street.csv.gz", *extra], db, progress=False)
    with duckdb.connect(str(db), read_only=True) as con:
        yield con


def test_the_data_dictionary_is_current():
    assert DICTIONARY.read_text() == schema.data_dictionary()
    assert cli.main(["dictionary", "--check"]) == 0


def test_the_data_dictionary_names_every_table_and_view():
    text = DICTIONARY.read_text()
    for table in schema.TABLES.values():
        kind = "view" if table.is_view else ("table, refilled at every load" if table.materialised else "table")
        assert f"## `{table.name}` ({kind})" in text, table.name
        for column in table.columns:
            assert f"| `{column}` | {schema.FIELDS[column].sql_type} |" in text, (table.name, column)


def test_every_declared_column_and_key_is_a_field():
    for table in schema.TABLES.values():
        for column in (*table.columns, *table.primary_key):
            assert column in schema.FIELDS, (table.name, column)
        assert len(set(table.columns)) == len(table.columns), table.name
        assert set(table.primary_key) <= set(table.columns), table.name


def test_the_database_has_exactly_the_declared_tables_columns_and_types(empty_db):
    actual = {}
    for name, column, data_type in empty_db.execute(
        "select table_name, column_name, data_type from information_schema.columns order by table_name, ordinal_position"
    ).fetchall():
        actual.setdefault(name, []).append((column, data_type))
    assert set(actual) == set(schema.TABLES)
    for table in TABLES:
        assert actual[table.name] == [(c, schema.FIELDS[c].sql_type) for c in table.columns], table.name
    for view in VIEWS:
        assert [c for c, _ in actual[view.name]] == list(view.columns), view.name
        for column, data_type in actual[view.name]:
            assert column in schema.FIELDS, (view.name, column)


@pytest.mark.parametrize("view", VIEWS, ids=lambda t: t.name)
def test_every_view_can_be_queried_on_the_empty_database(empty_db, view):
    assert empty_db.execute(f"select * from {view.name}").fetchall() == []


def test_enforced_primary_keys_are_enforced(empty_db):
    keyed = [t for t in TABLES if t.primary_key and t.enforce_key]
    assert keyed
    constraints = {
        (table, tuple(columns)) for table, columns in empty_db.execute(
            "select table_name, constraint_column_names from duckdb_constraints() where constraint_type = 'PRIMARY KEY'"
        ).fetchall()
    }
    for table in keyed:
        assert (table.name, table.primary_key) in constraints, table.name


UNENFORCED = [t for t in TABLES if t.primary_key and not t.enforce_key]


@pytest.mark.parametrize("table", UNENFORCED, ids=lambda t: t.name)
def test_unenforced_keys_are_unique_and_complete_after_a_load(small_samples_db, table):
    key = ", ".join(table.primary_key)
    not_null = " and ".join(f"{c} is not null" for c in table.primary_key)
    [(rows, distinct_keys, complete)] = small_samples_db.execute(
        f"select count(*), count(distinct ({key})), count(*) filter (where {not_null}) from {table.name}"
    ).fetchall()
    assert rows > 0, f"{table.name}: the sample load supplied no rows, so its key went unchecked"
    assert rows == distinct_keys == complete, table.name


def test_a_field_declared_twice_is_an_error_not_an_overwrite() -> None:
    first, second = schema.Field("periods_expected", "INTEGER", "one"), schema.Field("periods_expected", "INTEGER", "two")
    with pytest.raises(ValueError, match="'periods_expected' is declared twice"):
        schema._fields_by_name([first, second])
    assert schema._fields_by_name([first]) == {"periods_expected": first}
