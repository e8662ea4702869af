"""The SQL engine: saved queries, bound parameters, limits, and the sandbox tested layer by layer."""

from __future__ import annotations

import hashlib
import json
import os
import re
import resource
import threading
import time
from datetime import date
from pathlib import Path

import duckdb
import pytest

from conftest import PROJECT_ROOT, SAMPLES, sample_copy
from pipelines import cli, query

DOC = PROJECT_ROOT / "docs" / "sql_workbench.md"
INJECTION = "x'; drop table forces; --"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def sample_db(samples_ingest, tmp_path_factory) -> Path:
    return sample_copy(samples_ingest, tmp_path_factory, "query")


@pytest.fixture(scope="module")
def sample_state(sample_db) -> tuple[str, list[str]]:
    """The database's hash and its folder's listing, which nothing here may change."""
    return sha256(sample_db), sorted(p.name for p in sample_db.parent.iterdir())


def assert_untouched(db: Path, state: tuple[str, list[str]], tmp: Path) -> None:
    digest, listing = state
    assert sha256(db) == digest, "the database file changed"
    assert sorted(p.name for p in db.parent.iterdir()) == listing, "a file appeared beside the database"
    assert list(tmp.iterdir()) == [], f"a file was written: {list(tmp.iterdir())}"


# --- hostile statements -------------------------------------------------------------------------------
# (statement, a word the refusal must name). `{tmp}` is a fresh empty folder that must stay empty.

HOSTILE = [
    ("COPY forces TO '{tmp}/x.csv'", "COPY"),
    ("copy (select 1) to '{tmp}/out.parquet'", "COPY"),
    ("ATTACH '{tmp}/other.duckdb' AS o", "ATTACH"),
    ("DETACH samples", "DETACH"),
    ("INSTALL httpfs", "INSTALL"),
    ("force install httpfs", "INSTALL"),
    ("LOAD httpfs", "LOAD"),
    ("SET enable_external_access = true", "SET"),
    ("SET lock_configuration = false", "SET"),
    ("reset threads", "RESET"),
    ("use memory", "USE"),
    ("PRAGMA enable_profiling", "PRAGMA"),
    ("select * from read_csv('/etc/passwd')", "read_csv"),
    ("select * from read_text('/etc/hostname')", "read_text"),
    ("select * from \"read_blob\"('/etc/hostname')", "read_blob"),
    ("select (select count(*) from main.read_parquet('/x.parquet')) as n", "read_parquet"),
    ("select * from glob('/*')", "glob"),
    ("select * from sniff_csv('/etc/passwd')", "sniff_csv"),
    ("select * from parquet_metadata('/x.parquet')", "parquet_metadata"),
    ("select * from '/etc/passwd'", "/etc/passwd"),
    ("select * from query('select 1')", "query"),
    ("create table t as select 1", "CREATE"),
    ("create temp table t as select 1", "CREATE"),
    ("create temp macro m() as 1", "CREATE"),
    ("insert into forces (force_id) values ('x')", "INSERT"),
    ("insert into meta_database values ('k', 'v')", "INSERT"),
    ("with x as (select 1) insert into meta_database values ('k', 'v')", "INSERT"),
    ("update meta_database set value = 'v'", "UPDATE"),
    ("delete from meta_database", "DELETE"),
    ("drop view coverage", "DROP"),
    ("alter table meta_database add column c integer", "ALTER"),
    ("select 1; drop table forces", "2 statements"),
    ("export database '{tmp}/dump'", "EXPORT"),
    ("import database '{tmp}/dump'", "IMPORT"),
    ("call pragma_version()", "CALL"),
    ("checkpoint", "CHECKPOINT"),
    ("vacuum", "VACUUM"),
    ("begin", "BEGIN"),
    ("prepare p as select 1", "PREPARE"),
    ("explain analyze copy forces to '{tmp}/y.csv'", "COPY"),
    ("/* a comment */ explain analyze select * from read_csv('/etc/passwd')", "read_csv"),
    ("pivot forces on region using count(*)", "PIVOT"),
]
HOSTILE_IDS = [re.sub(r"\W+", "_", sql)[:40] for sql, _ in HOSTILE]

# Statements the connection alone refuses (external access off, read-only, configuration locked),
# with no help from the statement check.
CONNECTION_BLOCKS = [
    "COPY forces TO '{tmp}/x.csv'",
    "copy (select 1) to '{tmp}/out.parquet'",
    "ATTACH '{tmp}/other.duckdb' AS o",
    "INSTALL httpfs",
    "LOAD httpfs",
    "SET enable_external_access = true",
    "SET lock_configuration = false",
    "SET temp_directory = '{tmp}'",
    "PRAGMA enable_profiling",
    "select * from read_csv('/etc/passwd')",
    "select * from read_text('/etc/hostname')",
    "select * from glob('/*')",
    "select * from '/etc/passwd'",
    "create table t as select 1",
    "insert into meta_database values ('k', 'v')",
    "drop view coverage",
    "export database '{tmp}/dump'",
]

FOREVER = [
    "select count(*) from range(100000000000) as a",
    "with recursive r(i) as (select 1 union all select i + 1 from r) select max(i) from r",
]


@pytest.mark.parametrize(("sql", "named"), HOSTILE, ids=HOSTILE_IDS)
def test_the_statement_check_alone_refuses_and_says_what_and_why(sql, named, tmp_path):
    with pytest.raises(query.QueryRefused) as refused:
        query.check(sql.format(tmp=tmp_path))
    message = refused.value.message
    assert named.lower() in message.lower()
    assert "not allowed" in message or "exactly one" in message
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("sql", CONNECTION_BLOCKS)
def test_the_connection_alone_refuses(sql, sample_db, sample_state, tmp_path):
    con = query.connect(sample_db)
    try:
        with pytest.raises(duckdb.Error):
            con.sql(sql.format(tmp=tmp_path)).fetchall()
    finally:
        con.close()
    assert_untouched(sample_db, sample_state, tmp_path)


def test_the_connection_has_every_sandbox_setting_in_effect(sample_db):
    con = query.connect(sample_db)
    try:
        settings = dict(con.sql("select name, value from duckdb_settings()").fetchall())
        assert con.sql("select readonly from duckdb_databases() where database_name = 'crossforce'").fetchall() == [(True,)]
    finally:
        con.close()
    for name, wanted in query.SANDBOX_SETTINGS.items():
        assert name in settings, f"{name} is not a DuckDB setting"
        assert query._same_setting(settings[name], wanted), f"{name} = {settings[name]!r}, wanted {wanted!r}"


def test_every_sandbox_setting_is_documented():
    text = DOC.read_text(encoding="utf-8")
    for name in query.SANDBOX_SETTINGS:
        assert f"`{name}`" in text, f"{name} is missing from {DOC.name}"


@pytest.mark.parametrize(("sql", "named"), HOSTILE, ids=HOSTILE_IDS)
def test_run_refuses_hostile_statements(sql, named, sample_db, sample_state, tmp_path):
    with pytest.raises(query.QueryRefused) as refused:
        query.run(sample_db, sql.format(tmp=tmp_path))
    assert named.lower() in refused.value.message.lower()
    assert_untouched(sample_db, sample_state, tmp_path)


@pytest.mark.parametrize(("sql", "named"), HOSTILE, ids=HOSTILE_IDS)
def test_the_cli_refuses_hostile_statements(sql, named, sample_db, sample_state, tmp_path, capsys):
    code = cli.main(["query", "--db", str(sample_db), "--sql", sql.format(tmp=tmp_path)])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("crossforce query: refused:")
    assert named.lower() in err.lower()
    assert_untouched(sample_db, sample_state, tmp_path)


@pytest.mark.parametrize("sql", FOREVER, ids=["huge_range", "endless_recursion"])
def test_a_query_that_runs_forever_is_cut_short(sql, sample_db, sample_state, tmp_path):
    started = time.perf_counter()
    with pytest.raises(query.QueryTimeout) as stopped:
        query.run(sample_db, sql, timeout_s=1.0)
    assert time.perf_counter() - started < 1.0 + 2.0
    assert "1 s" in stopped.value.message and "time limit" in stopped.value.message
    # The connection is closed: the file can be opened again with other settings in this process.
    duckdb.connect(str(sample_db), read_only=True).close()
    assert_untouched(sample_db, sample_state, tmp_path)


def test_the_cli_cuts_a_query_short(sample_db, sample_state, tmp_path, capsys):
    started = time.perf_counter()
    code = cli.main(["query", "--db", str(sample_db), "--timeout", "1", "--sql", FOREVER[0]])
    out, err = capsys.readouterr()
    assert code == 2
    assert time.perf_counter() - started < 1.0 + 2.0
    assert err.startswith("crossforce query: timed out:") and len(err.strip().splitlines()) == 1
    assert_untouched(sample_db, sample_state, tmp_path)


def test_millions_of_rows_are_truncated_without_being_loaded(sample_db):
    result = query.run(sample_db, "select * from range(5000000)", row_limit=1_000)
    assert result.truncated and result.frame.height == 1_000
    assert result.frame["range"].to_list() == list(range(1_000))
    # 5 million rows of 1 kB each would be 5 GB if they were all fetched.
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB, the peak so far
    started = time.perf_counter()
    wide = query.run(sample_db, "select i, repeat('x', 1000) as pad from range(5000000) as t(i)")
    assert wide.truncated and wide.frame.height == query.ROW_LIMIT
    assert time.perf_counter() - started < 5
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 500 * 1024


def test_a_result_within_the_limit_is_not_truncated(sample_db):
    result = query.run(sample_db, "select * from range(10)", row_limit=10)
    assert not result.truncated and result.frame.height == 10
    assert result.elapsed_s >= 0


def test_the_cli_stops_at_its_limit(sample_db, capsys):
    assert cli.main(["query", "--db", str(sample_db), "--limit", "100", "--format", "csv",
                     "--sql", "select * from range(5000000)"]) == 0
    out, err = capsys.readouterr()
    assert len(out.strip().splitlines()) == 1 + 100
    assert "100 rows" in err and "--limit 100" in err


# --- parameters ---------------------------------------------------------------------------------------


def test_parameters_are_bound_not_spliced(sample_db, sample_state, tmp_path):
    result = query.run(sample_db, "select $value as value, count(*) as n from forces where force_id = $value",
                       {"value": INJECTION})
    assert result.frame.rows() == [(INJECTION, 0)]
    mix = query.run_saved(sample_db, "force_offence_mix", {"force_id": INJECTION})
    assert mix.frame.height == 0
    assert query.run(sample_db, "select count(*) as n from forces").frame["n"][0] == 48
    assert_untouched(sample_db, sample_state, tmp_path)


def test_the_cli_binds_parameters(sample_db, sample_state, tmp_path, capsys):
    code = cli.main(["query", "--db", str(sample_db), "--format", "json",
                     "--sql", "select $v as v", "--param", f"v={INJECTION}"])
    out, _ = capsys.readouterr()
    assert code == 0
    assert json.loads(out) == [{"v": INJECTION}]
    assert_untouched(sample_db, sample_state, tmp_path)


def test_missing_and_unknown_parameters_are_named(sample_db):
    with pytest.raises(query.ParameterError, match=r"no value for \$force_id"):
        query.run(sample_db, "select * from forces where force_id = $force_id")
    with pytest.raises(query.ParameterError, match=r"\$other not used.*\$force_id"):
        query.run(sample_db, "select * from forces where force_id = $force_id", {"force_id": "kent", "other": 1})
    with pytest.raises(query.QueryRefused, match="positional"):
        query.run(sample_db, "select ?", {"1": 1})


def test_saved_parameters_are_converted_to_their_type(sample_db):
    saved = query.saved_query("met_releases_compared")
    assert saved.bind({"period": "2024-01"}) == {"period": date(2024, 1, 1), "scheme": "ons_offence_group"}
    top = query.run_saved(sample_db, "top_divergences", {"limit": "3"})
    assert top.frame["rank"].to_list() == [1, 2, 3]
    with pytest.raises(query.ParameterError, match=r"\$limit is an integer; got 'many'"):
        query.saved_query("top_divergences").bind({"limit": "many"})


# --- saved queries ------------------------------------------------------------------------------------

SAVED = query.saved_queries()


def test_there_are_saved_queries():
    assert len(SAVED) >= 5


@pytest.mark.parametrize("saved", SAVED, ids=[s.name for s in SAVED])
def test_every_saved_query_runs_on_the_samples(saved, sample_db):
    result = query.run_saved(sample_db, saved)
    assert result.frame.width > 0 and result.frame.height > 0
    assert not result.truncated
    assert len(set(result.frame.columns)) == result.frame.width


@pytest.mark.parametrize("saved", SAVED, ids=[s.name for s in SAVED])
def test_every_saved_query_keeps_the_house_style(saved):
    assert saved.title and saved.description and saved.grain.startswith("one row per")
    assert all(p.description for p in saved.params)
    assert re.search(r"\bselect \* from final(\s+order by [^;]+)?$", saved.sql), "end with `select * from final`"
    keywords = [saved.sql[pos:pos + 12].split()[0] for pos, kind in duckdb.tokenize(saved.sql) if str(kind).endswith("keyword")]
    assert [k for k in keywords if k != k.lower()] == [], "keywords are lower case"


def test_the_cli_runs_a_saved_query_with_parameters(sample_db, capsys):
    code = cli.main(["query", "--db", str(sample_db), "force_offence_mix", "--param", "force_id=durham", "--format", "csv"])
    out, _ = capsys.readouterr()
    assert code == 0
    header, *rows = out.strip().splitlines()
    assert header.startswith("crime_type,force_count,force_share")
    assert len(rows) == 13


def test_the_cli_names_the_valid_choices(sample_db, capsys):
    assert cli.main(["query", "--db", str(sample_db), "no_such_query"]) == 2
    err = capsys.readouterr().err
    assert "no_such_query" in err and all(s.name in err for s in SAVED)
    assert cli.main(["query", "--db", str(sample_db), "top_divergences", "--param", "top=3"]) == 2
    err = capsys.readouterr().err
    assert "$top" in err and "$limit" in err
    assert cli.main(["query", "--db", str(sample_db), "top_divergences", "--sql", "select 1"]) == 2
    assert cli.main(["query", "--db", str(sample_db)]) == 0
    out = capsys.readouterr().out
    assert all(s.name in out for s in SAVED)


def test_sql_that_fails_is_an_error_not_a_refusal(sample_db, capsys):
    with pytest.raises(query.QueryError) as failed:
        query.run(sample_db, "select no_such_column from forces")
    assert not isinstance(failed.value, query.QueryRefused)
    assert cli.main(["query", "--db", str(sample_db), "--sql", "selec 1"]) == 1
    assert "does not parse" in capsys.readouterr().err


# --- the header parser ------------------------------------------------------------------------------------

GOOD = """\
-- title: Offence mix
-- description: Share of each crime type,
--   continued on a second line.
-- grain: one row per crime type
-- param: force_id text default 'o''brien' — the force to show
-- param: since date default 2021-04-01 -- first month
--   of the window
-- param: top integer — how many
--

with final as (
    select $force_id as force_id, $since as since, $top as top
)

select * from final
"""


def write(tmp_path: Path, text: str, name: str = "mix.sql") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_the_header_parser_reads_every_field(tmp_path):
    saved = query.parse_saved_query(write(tmp_path, GOOD))
    assert saved.name == "mix"
    assert saved.title == "Offence mix"
    assert saved.description == "Share of each crime type, continued on a second line."
    assert saved.grain == "one row per crime type"
    assert saved.params == [
        query.Param("force_id", "text", "o'brien", "the force to show"),
        query.Param("since", "date", date(2021, 4, 1), "first month of the window"),
        query.Param("top", "integer", None, "how many"),
    ]
    assert saved.sql.startswith("with final as (") and saved.sql.endswith("select * from final")
    with pytest.raises(query.ParameterError, match=r"\$top"):
        saved.bind()
    assert saved.bind({"top": "5"}) == {"force_id": "o'brien", "since": date(2021, 4, 1), "top": 5}
    assert [q.name for q in query.saved_queries(tmp_path)] == ["mix"]


@pytest.mark.parametrize(("change", "error"), [
    (("-- grain: one row per crime type\n", ""), "lacks grain"),
    (("-- title: Offence mix", "-- owner: me"), "unknown header key 'owner'"),
    (("-- param: top integer — how many", "-- param: top integr — how many"), "type 'integr'"),
    (("-- param: top integer — how many", "-- param: top integer default many — how many"), "integer"),
    (("-- param: top integer — how many", "-- param: top"), "NAME TYPE"),
    (("$top as top", "$top as top, $other as other"), "differ from those declared"),
    ((", $top as top", ""), "differ from those declared"),
    (("select * from final\n", "select * from final; select 1\n"), "2 statements"),
    (("-- grain: one row per crime type", "-- some prose"), "header lines are"),
])
def test_the_header_parser_fails_loudly(tmp_path, change, error):
    old, new = change
    assert old in GOOD
    with pytest.raises(query.SavedQueryError, match=re.escape(error)):
        query.parse_saved_query(write(tmp_path, GOOD.replace(old, new)))


# --- connections and threads ------------------------------------------------------------------------------


def test_queries_from_several_threads_beside_a_held_connection(sample_db):
    held = query.connect(sample_db)  # as the dashboard holds one for its own pages
    results, errors = [], []

    def work(i: int) -> None:
        try:
            results.append(query.run(sample_db, "select count(*) + $i as n from forces", {"i": i}).frame["n"][0])
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert held.sql("select count(*) from forces").fetchall() == [(48,)]
    held.close()
    assert errors == [] and sorted(results) == [48 + i for i in range(6)]


def test_a_file_swapped_in_is_read_while_connections_to_the_old_one_are_open(tmp_path):
    # DuckDB hands every duckdb.connect(path) in a process the instance already open for that path,
    # so before connect() attached the file, a held connection kept every reader on the replaced file.
    live = tmp_path / "live.duckdb"
    for path, rows in ((live, 1), (tmp_path / "next.duckdb", 2)):
        with duckdb.connect(str(path)) as con:
            con.execute(f"create table t as select range as i from range({rows})")
    held_plain = duckdb.connect(str(live), read_only=True)
    held_sandboxed = query.connect(live)
    try:
        os.replace(tmp_path / "next.duckdb", live)
        assert query.run(live, "select count(*) as n from t").frame["n"][0] == 2
        assert held_sandboxed.sql("select count(*) from t").fetchall() == [(1,)]  # its own file, until closed
    finally:
        held_plain.close()
        held_sandboxed.close()


def test_a_missing_database_is_an_error(tmp_path):
    with pytest.raises(query.QueryError, match="no database"):
        query.run(tmp_path / "none.duckdb", "select 1")
    assert list(tmp_path.iterdir()) == []
