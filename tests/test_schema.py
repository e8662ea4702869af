"""The schema is declared once: the docs, the DDL and the loaded database all agree with it."""

from __future__ import annotations

import duckdb
import pytest

from pipelines import cli, periods, schema
from pipelines.ingest import load
from pipelines.schema.fields import read_fields
from pipelines.schema.tables import read_tables
from pipelines.sql import sandbox

from conftest import PROJECT_ROOT, SAMPLES

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
    load.ingest(
        [*folders, SAMPLES / "police_uk" / "2021-04" / "2021-04-durham-street.csv.gz", *extra], db, progress=False
    )
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
        "select table_name, column_name, data_type from information_schema.columns "
        "order by table_name, ordinal_position"
    ).fetchall():
        actual.setdefault(name, []).append((column, data_type))
    assert set(actual) == set(schema.TABLES)
    for table in TABLES:
        assert actual[table.name] == [(c, schema.FIELDS[c].sql_type) for c in table.columns], table.name
    for view in VIEWS:
        assert [c for c, _ in actual[view.name]] == list(view.columns), view.name
        for column, _data_type in actual[view.name]:
            assert column in schema.FIELDS, (view.name, column)


@pytest.mark.parametrize("view", VIEWS, ids=lambda t: t.name)
def test_every_view_can_be_queried_on_the_empty_database(empty_db, view):
    assert empty_db.execute(f"select * from {view.name}").fetchall() == []


def test_enforced_primary_keys_are_enforced(empty_db):
    keyed = [t for t in TABLES if t.primary_key and t.enforce_key]
    assert keyed
    constraints = {
        (table, tuple(columns))
        for table, columns in empty_db.execute(
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
    first, second = (
        schema.Field("periods_expected", "INTEGER", "one"),
        schema.Field("periods_expected", "INTEGER", "two"),
    )
    with pytest.raises(ValueError, match="'periods_expected' is declared twice"):
        schema._fields_by_name([first, second])
    assert schema._fields_by_name([first]) == {"periods_expected": first}


def test_a_table_or_view_declared_twice_is_an_error_not_an_overwrite() -> None:
    forces = schema.TABLES["forces"]
    again = schema.Table("forces", "another", "one row per force", ("force_id",))
    with pytest.raises(ValueError, match="'forces' is declared twice"):
        schema._tables_by_name([*schema.TABLES.values(), again])
    with pytest.raises(ValueError, match="'ref_forces' is declared twice"):
        schema._tables_by_name([*schema.TABLES.values(), schema.TABLES["ref_forces"]])
    assert schema._tables_by_name(list(schema.TABLES.values()))["forces"] is forces


def _views_folder(tmp_path, names):
    for name in names:
        (tmp_path / f"{name}.sql").write_text((schema.VIEWS_DIR / f"{name}.sql").read_text())
    return tmp_path


DERIVED = sorted(t.name for t in schema.TABLES.values() if t.derived)


def test_every_derived_table_and_view_has_its_sql_file_and_every_file_a_declaration():
    assert {p.stem for p in schema.VIEWS_DIR.glob("*.sql")} == set(DERIVED)
    assert "reconciliation" in DERIVED and "recorded_crime" in DERIVED


def test_a_view_file_with_no_declaration_is_an_error(tmp_path):
    folder = _views_folder(tmp_path, DERIVED)
    (folder / "orphan_view.sql").write_text("-- title: t\n-- description: d\n-- grain: one row per x\n\nselect 1\n")
    with pytest.raises(ValueError, match=r"no table or view is declared for views/orphan_view\.sql"):
        schema._tables_by_name(list(schema.TABLES.values()), folder)


def test_a_declared_view_with_no_file_is_an_error(tmp_path):
    folder = _views_folder(tmp_path, [n for n in DERIVED if n != "coverage"])
    with pytest.raises(ValueError, match=r"coverage is declared derived but views/coverage\.sql does not exist"):
        schema._tables_by_name(list(schema.TABLES.values()), folder)
    folder = _views_folder(tmp_path, ["coverage"])
    assert set(schema._tables_by_name(list(schema.TABLES.values()), folder)) == set(schema.TABLES)


@pytest.mark.parametrize("name", DERIVED)
def test_a_view_file_states_the_declared_description_and_grain(name):
    """The file's header is the saved-query header (`queries/`), and says what the declaration says."""
    table = schema.TABLES[name]
    parsed = sandbox.parse_saved_query(schema.VIEWS_DIR / f"{name}.sql")
    assert parsed.description == " ".join(table.description.split())
    assert parsed.grain == table.grain
    assert parsed.params == []
    assert parsed.sql == table.view_sql  # what the DDL runs is the file after its header


@pytest.mark.parametrize("name", DERIVED)
def test_a_view_file_runs_as_it_stands(empty_db, name):
    """Plain SQL a person can run against the database: nothing spliced in from Python."""
    text = (schema.VIEWS_DIR / f"{name}.sql").read_text()
    columns = [d[0] for d in empty_db.execute(text).description]
    assert columns == list(schema.TABLES[name].columns)


def test_the_period_grains_table_holds_the_grains_of_pipelines_periods(empty_db, small_samples_db):
    # (grain, months covered, months to the next period), written out by hand
    expected = {
        ("month", 1, 1),
        ("quarter", 3, 3),
        ("rolling_year", 12, 3),
        ("financial_year", 12, 12),
        ("calendar_year", 12, 12),
    }
    assert expected == {(g, periods.GRAIN_MONTHS[g], periods.GRAIN_STEPS[g]) for g in periods.GRAIN_MONTHS}
    assert set(empty_db.execute("select * from ref_period_grains").fetchall()) == expected
    assert set(small_samples_db.execute("select * from ref_period_grains").fetchall()) == expected


def test_a_field_declared_twice_in_fields_csv_is_an_error(tmp_path):
    path = tmp_path / "fields.csv"
    path.write_text(
        'name,sql_type,description\nperiods_expected,INTEGER,one\nperiods_expected,INTEGER,"two, again"\n',
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match="'periods_expected' is declared twice"):
        schema._fields_by_name(read_fields(path))
    path.write_text("name,sql_type,description\nperiods_expected,INTEGER\n", encoding="utf-8")
    with pytest.raises(ValueError, match="fields.csv line 2"):
        read_fields(path)


def test_a_table_declared_twice_in_tables_toml_is_an_error(tmp_path):
    path = tmp_path / "tables.toml"
    section = '[forces]\ndescription = "d"\ngrain = "one row per force"\ncolumns = ["force_id"]\n'
    path.write_text(section + "\n" + section, encoding="utf-8")
    with pytest.raises(ValueError, match=r"tables\.toml: Cannot declare \('forces',\) twice"):
        read_tables(path)
    path.write_text(section.replace("columns =", "column ="), encoding="utf-8")
    with pytest.raises(ValueError, match=r"\[forces\]: unknown key column"):
        read_tables(path)
    path.write_text(section + 'derived = "yes"\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"\[forces\]: derived must be true or false"):
        read_tables(path)
