"""The SQL workbench as Datasette users expect it: Ctrl+Enter runs, a shared link runs its query on
load, the URL holds only the current query's state, a table browser with filters and facets needs no
SQL (and cannot be made to run any), and every result downloads as CSV, JSON and Parquet.

Three layers: pure tests of the SQL that `dashboard.browse` builds, the page in Streamlit's AppTest,
and Chromium (Playwright, through `browser_support`) for what only a browser does: Ctrl+Enter in a
form, a link opened in a fresh browser context, and a facet clicked.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
from pathlib import Path
from urllib.parse import parse_qs, quote, urlencode, urlparse

import duckdb
import polars as pl
import pytest
import streamlit as st
from playwright.sync_api import Browser, Page, expect
from streamlit.testing.v1 import AppTest

from dashboard import browse
from dashboard.data import counted
from pipelines import schema
from pipelines.sql import sandbox

from browser_support import (  # noqa: F401  (fixtures are used by name)
    WAIT_MS,
    choose,
    fixture_base_url,
    fixture_browser_context_args,
    fixture_browser_type_launch_args,
    fixture_chromium_executable,
    fixture_dashboard_db,
    fixture_dashboard_url,
    main_area,
    open_page,
    selectbox_value,
    settle,
)
from conftest import PROJECT_ROOT, sample_copy
from conftest import dashboard_query as db_rows

APP = str(PROJECT_ROOT / "dashboard" / "app.py")
WORKBENCH = "views/workbench.py"
SQL_LABEL = "SQL (Ctrl+Enter, or ⌘+Enter on a Mac, runs it)"
# The dashboard's own parameters, which every page may carry; the rest belong to the workbench.
GLOBAL_PARAMS = {"peers", "window", "source"}


# --- helpers ---------------------------------------------------------------------------------------------


def db_count(db: Path, sql: str, params: dict | None = None) -> int:
    return db_rows(db, sql, params)[0][0]


@pytest.fixture(scope="module")
def sample_db(samples_ingest, tmp_path_factory) -> Path:
    return sample_copy(samples_ingest, tmp_path_factory, "workbench")


@pytest.fixture
def workbench(sample_db, monkeypatch):
    """Open the workbench as a link would: `workbench(sql=...)` is /workbench?sql=..., a fresh session."""
    monkeypatch.setenv("CROSSFORCE_DB", str(sample_db))
    st.cache_data.clear()
    st.cache_resource.clear()  # cached resources are global to the process

    def open_link(**params: str) -> AppTest:
        at = AppTest.from_file(APP, default_timeout=60)
        for name, value in params.items():
            at.query_params[name] = value
        at.switch_page(WORKBENCH).run()  # straight to the workbench, as a link opens it
        assert not at.exception, [e.value for e in at.exception]
        return at

    return open_link


def url(at: AppTest) -> dict[str, str]:
    """The workbench's part of the page's query string, one value per key."""
    params = {}
    for key, value in at.query_params.items():
        value = value[-1] if isinstance(value, list) else value
        if key not in GLOBAL_PARAMS:
            params[key] = value
    return params


def markdown(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown]


def result_line(at: AppTest) -> str:
    [line] = [m for m in markdown(at) if re.fullmatch(r"[\d,]+ rows? (\(cut at the row limit\) )?in \d+ ms", m)]
    return line


def browse_count(at: AppTest) -> int:
    [line] = [m for m in markdown(at) if re.match(r"^\*\*[\d,]+ rows?\*\*", m)]
    return int(line[2:].split()[0].replace(",", ""))


def ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    return at


# --- pure: the SQL the browser builds --------------------------------------------------------------------

HOSTILE_VALUES = [
    "' or 1=1 --",
    "x'; drop table forces; --",
    '" or ""="',
    "%",
    "_",
    "\\",
    "$v0",
    "'); select 1; --",
    "South East' union select * from forces --",
]


@pytest.mark.parametrize("value", HOSTILE_VALUES)
def test_filter_values_are_bound_never_spliced(value):
    for op in ("exact", "contains"):
        sql, params = browse.rows_sql("forces", [browse.Filter("region", op, value)])
        # The statement is the same whatever the value: it holds `$v0`, never the value.
        assert sql == browse.rows_sql("forces", [browse.Filter("region", op, "plain")])[0]
        assert "'" not in sql, "no string literal at all in the statement"
        assert params == {"v0": value}
        count, count_params = browse.count_sql("forces", [browse.Filter("region", op, value)], ["country"])
        assert count == browse.count_sql("forces", [browse.Filter("region", op, "plain")], ["country"])[0]
        assert "'" not in count and count_params == {"v0": value}


def test_values_are_converted_to_their_column_type_and_bound():
    sql, params = browse.where(
        "population",
        [
            browse.Filter("year", "gte", "2019"),
            browse.Filter("year", "lte", "2021"),
            browse.Filter("force_id", "contains", "Kent"),
        ],
    )
    assert sql == ' where "year" >= $v0 and "year" <= $v1 and contains(lower("force_id"), lower($v2))'
    assert params == {"v0": 2019, "v1": 2021, "v2": "Kent"}
    _, params = browse.where("coverage", [browse.Filter("period", "gte", "2021-04")])
    assert params == {"v0": __import__("datetime").date(2021, 4, 1)}
    _, params = browse.where("forces", [browse.Filter("is_territorial_ew", "exact", "TRUE")])
    assert params == {"v0": True}
    for bad in (
        browse.Filter("year", "gte", "2019 or 1=1"),
        browse.Filter("period", "lte", "2024-13-01"),
        browse.Filter("is_territorial_ew", "exact", "1 or 1"),
        browse.Filter("year", "contains", "2"),
    ):
        with pytest.raises(browse.BrowseError):
            browse.where(
                "population" if bad.column == "year" else "coverage" if bad.column == "period" else "forces", [bad]
            )


def test_identifiers_come_only_from_the_schema_and_are_quoted():
    with pytest.raises(browse.BrowseError):
        browse.table("forces; drop table forces")
    with pytest.raises(browse.BrowseError):
        browse.rows_sql("not_a_table", [])
    with pytest.raises(browse.BrowseError):
        browse.rows_sql("forces", [browse.Filter('region" = region or "1', "exact", "x")])
    with pytest.raises(browse.BrowseError):
        browse.count_sql("forces", [], ["population"])  # a column of another table
    with pytest.raises(browse.BrowseError):
        browse.rows_sql("forces", [], limit="1; drop table forces")  # type: ignore[arg-type]
    # Every identifier in every statement is a schema name (or one of the statement's own aliases).
    own = {"matching", "facet", "value", "n", "rows"}
    functions = {"contains", "lower", "count", "approx_count_distinct", "min", "max", "list", "cast"}
    for name, table in schema.TABLES.items():
        text_columns = [c for c in table.columns if browse.kind(c) in ("text", "boolean")][:3]
        filters = [
            browse.Filter(
                c, "contains" if browse.kind(c) == "text" else "exact", "x" if browse.kind(c) == "text" else "true"
            )
            for c in text_columns
        ]
        statements = [
            browse.rows_sql(name, filters)[0],
            browse.count_sql(name, filters, text_columns)[0],
            browse.profile_sql(name),
            browse.choices_sql(name, text_columns) if text_columns else "",
        ]
        for sql in filter(None, statements):
            raw = duckdb.tokenize(sql)
            for i, (start, kind) in enumerate(raw):
                end = raw[i + 1][0] if i + 1 < len(raw) else len(sql)
                token = sql[start:end].strip()
                following = sql[end:].lstrip()[:1]
                parameter = sql[:start].endswith("$")
                if (
                    str(kind).endswith("identifier")
                    and not parameter
                    and not (token.lower() in functions and following == "(")
                ):
                    # the statement's own aliases may be bare; a schema name is always quoted
                    assert (token.startswith('"') and token.endswith('"')) or token in own, (name, token, sql)
                    ident = token.strip('"')
                    assert (
                        ident in table.columns
                        or ident == name
                        or ident in own
                        or ident.split(":", 1)[-1] in table.columns
                    ), (name, ident)
                assert not str(kind).endswith("string_const"), (name, token)


def test_the_url_names_filters_datasette_like_and_refuses_what_it_cannot_use():
    params = {
        "f_region": "South East",
        "f_short_name__contains": "ken",
        "f_pfa_code__gte": "x",
        "f_nope": "1",
        "f_region__lte": "a",
        "table": "forces",
        "peers": "all",
        "sql": "select 1",
    }
    filters, problems = browse.filters_from_params("forces", params)
    assert filters == [browse.Filter("short_name", "contains", "ken"), browse.Filter("region", "exact", "South East")]
    assert browse.params_of(filters) == {"f_short_name__contains": "ken", "f_region": "South East"}
    assert len(problems) == 3 and any("no column 'nope'" in p for p in problems)
    filters, problems = browse.filters_from_params("population", {"f_year__gte": "2019 or 1=1"})
    assert filters == [] and problems == ["year: '2019 or 1=1' is not a number: the filter is left out"]


def test_stale_keys_keep_only_the_current_modes_state():
    keys = [
        "sql",
        "query",
        "p_force_id",
        "p_period",
        "table",
        "f_region",
        "f_year__gte",
        "page",
        "peers",
        "window",
        "mode",
    ]
    assert browse.stale_keys("free", keys) == [
        "query",
        "p_force_id",
        "p_period",
        "table",
        "f_region",
        "f_year__gte",
        "page",
    ]
    assert browse.stale_keys("saved", keys) == ["sql", "table", "f_region", "f_year__gte", "page"]
    assert browse.stale_keys("browse", keys) == ["sql", "query", "p_force_id", "p_period"]


def test_saved_params_keep_only_the_questions_own_values_that_differ_from_their_defaults():
    mix = sandbox.saved_query("force_offence_mix")
    assert browse.saved_params(mix, {"force_id": "kent"}) == {}
    assert browse.saved_params(mix, {"force_id": "durham", "period": "2024-13-01"}) == {"force_id": "durham"}
    met = sandbox.saved_query("met_releases_compared")
    assert browse.saved_params(met, {"period": "2024-01"}) == {}  # the same month as the default 2024-01-01
    assert browse.saved_params(met, {"period": "2024-13-01"}) == {"period": "2024-13-01"}  # kept: the link says why


def test_counts_and_facets_built_by_the_browser_equal_an_independent_query(sample_db):
    filters = [browse.Filter("source", "exact", "police_uk_street"), browse.Filter("period", "gte", "2021-06-01")]
    sql, params = browse.count_sql("coverage", filters, ["coverage_status", "force_id"])
    got = db_rows(sample_db, sql, params)
    expected = db_count(
        sample_db, "select count(*) from coverage where source = 'police_uk_street' and period >= '2021-06-01'"
    )
    assert expected > 0 and got[0] == (0, None, expected)
    by_status = db_rows(
        sample_db,
        """select coverage_status, count(*) from coverage
        where source = 'police_uk_street' and period >= '2021-06-01' group by 1 order by 2 desc, 1""",
    )
    assert [(v, n) for f, v, n in got if f == 1] == by_status[: browse.FACET_TOP]
    # Pages partition the rows: no row twice, none left out.
    pages = [db_rows(sample_db, browse.rows_sql("forces", [], limit=7, offset=o)[0]) for o in range(0, 49, 7)]
    assert sorted(r for p in pages for r in p) == sorted(db_rows(sample_db, "select * from forces"))


# --- AppTest: links run on load, and the URL holds only the current query's state -------------------------


def test_a_shared_sql_link_runs_on_load_and_its_url_holds_only_the_sql(workbench, sample_db):
    sql = "select force_id, short_name from forces where is_territorial_ew order by 1"
    at = workbench(sql=sql, p_force_id="kentt", p_period="2024-13-01", table="forces", f_region="x")
    expected = db_rows(sample_db, sql)
    assert at.selectbox(key="mode").value == "free"
    assert at.text_area(key="sql").value == sql
    assert result_line(at).startswith(f"{counted(len(expected), 'row')} in ")  # no click needed
    shown = at.dataframe[0].value
    assert list(zip(shown["force_id"], shown["short_name"])) == expected
    assert url(at) == {"sql": sql}  # free is the default when the link has SQL; no leftovers


def test_a_one_row_result_says_row(workbench):
    at = workbench(sql="select 1 as x")
    assert result_line(at).startswith("1 row in ")


def test_a_shared_saved_question_link_runs_on_load_with_its_parameters(workbench, sample_db):
    mix = sandbox.saved_query("force_offence_mix")
    at = workbench(query="force_offence_mix", p_force_id="durham", p_period="2024-13-01", sql="select 1")
    expected = db_rows(sample_db, mix.sql, {"force_id": "durham"})
    assert expected, "the sample holds Durham's offence mix"
    assert result_line(at).startswith(f"{counted(len(expected), 'row')} in ")
    shown = at.dataframe[0].value
    assert len(shown) == len(expected) and list(shown.iloc[0]) == list(expected[0])
    assert at.text_input(key="param_force_offence_mix_force_id").value == "durham"
    # The question's own parameter stays; another question's (p_period), the SQL, the mode go.
    assert url(at) == {"query": "force_offence_mix", "p_force_id": "durham"}


def test_a_link_at_a_parameters_default_runs_and_drops_it(workbench, sample_db):
    mix = sandbox.saved_query("force_offence_mix")
    at = workbench(query="force_offence_mix", p_force_id="kent")
    assert result_line(at).startswith(f"{counted(len(db_rows(sample_db, mix.sql, {'force_id': 'kent'})), 'row')} in ")
    assert url(at) == {"query": "force_offence_mix"}


@pytest.mark.parametrize(
    "link",
    [
        {"sql": "select * from no_such_table"},
        {"sql": "copy (select 1) to '/tmp/crossforce_workbench_probe.csv'"},
        {"sql": "select 1; select 2"},
        {"query": "met_releases_compared", "p_period": "2024-13-01"},
        {"query": "top_divergences", "p_limit": "20; drop table divergence"},
    ],
    ids=["unknown-table", "copy", "two-statements", "bad-date", "bad-integer"],
)
def test_a_bad_link_shows_the_refusal_not_a_traceback(workbench, link):
    at = workbench(**link)
    assert at.error, "the refusal is shown"
    assert not [m for m in markdown(at) if re.fullmatch(r"[\d,]+ rows? in \d+ ms", m)]
    assert not Path("/tmp/crossforce_workbench_probe.csv").exists()


def test_switching_questions_and_modes_cleans_the_url(workbench):
    at = workbench(query="force_offence_mix", p_force_id="kentt", p_period="2024-13-01")
    assert url(at) == {"query": "force_offence_mix", "p_force_id": "kentt"}
    ok(at.selectbox(key="query").select("top_divergences").run())
    assert url(at) == {"query": "top_divergences"}, "no p_ parameter of the other question is left"
    at.text_input(key="param_top_divergences_limit").input("5")
    ok(at.button(key="run_saved").click().run())
    assert url(at) == {"query": "top_divergences", "p_limit": "5"}
    assert result_line(at).startswith("5 rows in ")
    ok(at.selectbox(key="mode").select("free").run())
    assert url(at) == {"mode": "free"}
    at.text_area(key="sql").input("select 2 as two")
    ok(at.button(key="run_sql").click().run())
    assert url(at) == {"sql": "select 2 as two"} and result_line(at).startswith("1 row in ")
    ok(at.selectbox(key="mode").select("browse").run())
    assert url(at) == {"mode": "browse", "table": "forces"}
    ok(at.selectbox(key="mode").select("saved").run())
    assert url(at) == {"query": "coverage_gaps"}


def test_every_result_downloads_as_csv_json_and_parquet(workbench, sample_db):
    at = workbench(sql="select force_id, region from forces order by 1")
    buttons = {b.proto.label: b for b in at.get("download_button")}
    assert {"Download the table (CSV)", "Download the table (JSON)", "Download the table (Parquet)"} <= set(buttons)
    at = workbench(mode="browse", table="forces", f_region="Wales")
    labels = {b.proto.label for b in at.get("download_button")}
    assert {f"Download every matching row ({k})" for k in ("CSV", "JSON", "Parquet")} <= labels
    filters = [browse.Filter("region", "exact", "Wales")]
    expected = db_count(sample_db, "select count(*) from forces where region = 'Wales'")
    for _, convert in browse.DOWNLOADS.values():
        payload = browse.download("forces", filters, convert)()
        if convert is sandbox.to_json_bytes:
            assert len(json.loads(payload)) == expected
        elif convert is sandbox.to_csv_bytes:
            assert len(list(csv.reader(io.StringIO(payload.decode())))) == expected + 1
        else:
            assert pl.read_parquet(io.BytesIO(payload)).height == expected


# --- AppTest: the table browser ------------------------------------------------------------------------------


def test_browse_filters_from_a_link_count_as_duckdb_does(workbench, sample_db):
    at = workbench(
        mode="browse",
        table="coverage",
        f_source="police_uk_street",
        f_period__gte="2021-06-01",
        f_force_id__contains="SHIRE",
    )
    expected = db_count(
        sample_db,
        """select count(*) from coverage where source = 'police_uk_street'
        and period >= '2021-06-01' and contains(lower(force_id), 'shire')""",
    )
    assert expected > 0
    assert browse_count(at) == expected
    assert at.selectbox(key="bf_coverage_source__exact").value == "police_uk_street"
    assert at.text_input(key="bf_coverage_force_id__contains").value == "SHIRE"
    assert url(at) == {
        "mode": "browse",
        "table": "coverage",
        "f_source": "police_uk_street",
        "f_period__gte": "2021-06-01",
        "f_force_id__contains": "SHIRE",
    }
    assert any(m.startswith("View `coverage`:") for m in markdown(at)), "the table's description is shown"


def test_browse_filters_chosen_on_the_page_go_to_the_url_and_count_as_duckdb_does(workbench, sample_db):
    at = workbench(mode="browse")
    ok(at.selectbox(key="table").select("population").run())
    assert url(at) == {"mode": "browse", "table": "population"}
    assert browse_count(at) == db_count(sample_db, "select count(*) from population")
    ok(at.multiselect(key="bf_population__columns").select("year").select("force_id").run())
    at.text_input(key="bf_population_year__gte").input("2015")
    at.text_input(key="bf_population_year__lte").input("2018")
    ok(at.selectbox(key="bf_population_force_id__exact").select("west-yorkshire").run())
    expected = db_count(
        sample_db, "select count(*) from population where year between 2015 and 2018 and force_id = 'west-yorkshire'"
    )
    assert 0 < expected < db_count(sample_db, "select count(*) from population")
    assert browse_count(at) == expected
    link = url(at)
    assert link == {
        "mode": "browse",
        "table": "population",
        "f_force_id": "west-yorkshire",
        "f_year__gte": "2015",
        "f_year__lte": "2018",
    }
    # The link alone reproduces it, in a fresh session.
    assert browse_count(workbench(**link)) == expected
    # Another table starts unfiltered: the filters are not carried over.
    ok(at.selectbox(key="table").select("forces").run())
    assert url(at) == {"mode": "browse", "table": "forces"} and browse_count(at) == 48


def test_facets_count_as_duckdb_does_and_choosing_one_filters(workbench, sample_db):
    at = workbench(mode="browse", table="forces", f_is_territorial_ew="true")
    facet = next(p for p in at.pills if p.label == "region")
    expected = db_rows(
        sample_db, "select region, count(*) from forces where is_territorial_ew group by 1 order by 2 desc, 1"
    )
    assert facet.options == [f"{v} · {n:,}" for v, n in expected[: browse.FACET_TOP]]
    value, count = expected[0]
    ok(facet.select(value).run())
    assert url(at) == {"mode": "browse", "table": "forces", "f_is_territorial_ew": "true", "f_region": value}
    assert (
        browse_count(at)
        == count
        == db_count(sample_db, "select count(*) from forces where is_territorial_ew and region = $r", {"r": value})
    )
    assert at.selectbox(key="bf_forces_region__exact").value == value
    assert "region" not in [p.label for p in at.pills], "a chosen facet becomes a filter"


@pytest.mark.parametrize("value", HOSTILE_VALUES)
def test_hostile_filter_values_run_and_find_nothing(sample_db, value):
    for op in ("exact", "contains"):
        sql, params = browse.count_sql("forces", [browse.Filter("force_name", op, value)], ["region"])
        assert db_rows(sample_db, sql, params) == [(0, None, 0)]
    assert db_count(sample_db, "select count(*) from forces") == 48


def test_injection_in_a_filter_value_on_the_page_finds_nothing_and_breaks_nothing(workbench, sample_db):
    at = workbench(
        mode="browse",
        table="forces",
        f_region=HOSTILE_VALUES[0],
        f_short_name__contains=HOSTILE_VALUES[1],
        f_force_name__contains=HOSTILE_VALUES[-1],
    )
    assert not at.error and not at.warning
    assert browse_count(at) == 0
    assert at.selectbox(key="bf_forces_region__exact").value == HOSTILE_VALUES[0]  # shown as given, matching nothing
    assert db_count(sample_db, "select count(*) from forces") == 48


def test_a_value_not_of_its_columns_type_is_left_out_with_a_warning(workbench, sample_db):
    at = workbench(mode="browse", table="population", f_year__gte="2019 or 1=1", f_nope="1")
    assert not at.error
    assert {w.value for w in at.warning} == {
        "year: '2019 or 1=1' is not a number: the filter is left out",
        "population has no column 'nope': the filter f_nope is left out",
    }
    assert browse_count(at) == db_count(sample_db, "select count(*) from population")
    assert url(at) == {"mode": "browse", "table": "population"}


def test_browse_pages_through_the_rows_with_the_page_in_the_url(workbench, sample_db):
    total = db_count(sample_db, "select count(*) from recorded_crime where force_id = 'kent'")
    assert total > 2 * browse.PAGE_SIZE
    at = workbench(mode="browse", table="recorded_crime", f_force_id="kent", page="3")
    assert browse_count(at) == total
    assert any(c.value.startswith(f"Rows 201–300 of {total:,}, 100 a page") for c in at.caption)
    sql, params = browse.rows_sql("recorded_crime", [browse.Filter("force_id", "exact", "kent")], offset=200)
    first = db_rows(sample_db, sql, params)[0]
    assert at.dataframe[0].value.iloc[0]["period"].date() == first[1]
    assert url(at)["page"] == "3"
    ok(at.number_input(key="bf_recorded_crime__page").set_value(1).run())
    assert "page" not in url(at)


# --- Chromium ------------------------------------------------------------------------------------------------


def _result_text(page: Page, n: int):
    return main_area(page).get_by_text(re.compile(rf"^{re.escape(counted(n, 'row'))} in \d+ ms$"))


def test_ctrl_enter_in_the_sql_box_runs_it(page: Page, dashboard_db: Path) -> None:
    open_page(page, "/workbench?mode=free")
    box = main_area(page).get_by_label(SQL_LABEL)
    sql = "select force_id, short_name from forces where region = 'Wales' order by 1"
    box.fill(sql)
    box.press("Control+Enter")  # no click on Run
    settle(page)
    expected = db_count(dashboard_db, "select count(*) from forces where region = 'Wales'")
    expect(_result_text(page, expected)).to_be_visible(timeout=WAIT_MS)
    assert parse_qs(urlparse(page.url).query)["sql"] == [sql]
    expect(page.locator("[data-testid=stException]")).to_have_count(0)


def test_a_shared_link_in_a_fresh_browser_shows_its_result_on_load(
    browser: Browser, base_url: str, dashboard_db: Path
) -> None:
    sql = "select force_id, region from forces where is_territorial_ew order by 1"
    expected = db_count(dashboard_db, "select count(*) from forces where is_territorial_ew")
    context = browser.new_context(base_url=base_url, viewport={"width": 1400, "height": 900})
    try:
        page = context.new_page()
        open_page(page, f"/workbench?{urlencode({'sql': sql}, quote_via=quote)}")
        expect(_result_text(page, expected)).to_be_visible(timeout=WAIT_MS)
        expect(main_area(page).get_by_label(SQL_LABEL)).to_have_value(sql)
        mix = sandbox.saved_query("force_offence_mix")
        rows = len(db_rows(dashboard_db, mix.sql, {"force_id": "durham"}))
        open_page(page, "/workbench?query=force_offence_mix&p_force_id=durham")
        expect(_result_text(page, rows)).to_be_visible(timeout=WAIT_MS)
        expect(page.locator("[data-testid=stException]")).to_have_count(0)
    finally:
        context.close()


def test_browse_a_table_and_choose_a_facet(page: Page, dashboard_db: Path) -> None:
    open_page(page, "/workbench?mode=browse&table=forces")
    expect(main_area(page).get_by_text("48 rows", exact=True)).to_be_visible(timeout=WAIT_MS)
    value, count = db_rows(dashboard_db, "select region, count(*) from forces group by 1 order by 2 desc, 1")[0]
    main_area(page).locator(".st-key-facet_forces_region").get_by_text(f"{value} · {count}", exact=True).click()
    settle(page)
    expect(page).to_have_url(
        re.compile(rf"[?&]f_region={re.escape(quote(value).replace('%20', '+'))}(&|$)"), timeout=WAIT_MS
    )
    expect(main_area(page).get_by_text(counted(count, "row"), exact=True)).to_be_visible(timeout=WAIT_MS)
    with page.expect_download(timeout=WAIT_MS) as info:
        main_area(page).get_by_role("button", name="Download every matching row (CSV)").click()
    rows = list(csv.reader(io.StringIO(Path(info.value.path()).read_text(encoding="utf-8"))))
    assert len(rows) == count + 1 and {r[rows[0].index("region")] for r in rows[1:]} == {value}
    # The URL reproduces it.
    open_page(page, page.url)
    expect(main_area(page).get_by_text(counted(count, "row"), exact=True)).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("[data-testid=stException]")).to_have_count(0)


# Moved from test_browser.py, for the workbench's new label, its run on load and its plural forms.


def test_workbench_saved_query(page: Page) -> None:
    open_page(page, "/workbench")
    expect(selectbox_value(page, "Ask")).to_have_value("A saved question")
    choose(page, "Question", "Top divergences")
    expect(page).to_have_url(re.compile(r"[?&]query=top_divergences\b"), timeout=WAIT_MS)
    expect(main_area(page).get_by_text(re.compile(r"^20 rows in \d+ ms$"))).to_be_visible(timeout=WAIT_MS)
    main_area(page).locator("[data-testid=stForm]").get_by_role("button", name="Run").click()
    settle(page)
    expect(main_area(page).get_by_text(re.compile(r"^20 rows in \d+ ms$"))).to_be_visible(timeout=WAIT_MS)
    expect(main_area(page).locator("[data-testid=stDataFrame]")).to_be_visible()
    expect(page.locator("[data-testid=stException]")).to_have_count(0)


def test_workbench_free_query_and_its_download_and_a_refusal(page: Page) -> None:
    probe = Path("/tmp/crossforce_browser_probe.csv")
    probe.unlink(missing_ok=True)
    open_page(page, "/workbench")
    choose(page, "Ask", "Your own SQL")
    box = main_area(page).get_by_label(SQL_LABEL)
    expect(box).to_be_visible(timeout=WAIT_MS)
    sql = "select force_id, short_name from forces order by 1"
    box.fill(sql)
    main_area(page).get_by_role("button", name="Run", exact=True).click()
    settle(page)
    expect(_result_text(page, 48)).to_be_visible(timeout=WAIT_MS)
    assert parse_qs(urlparse(page.url).query)["sql"] == [sql]
    with page.expect_download(timeout=WAIT_MS) as info:
        main_area(page).get_by_role("button", name="Download the table (CSV)").click()
    rows = list(csv.reader(io.StringIO(Path(info.value.path()).read_text(encoding="utf-8"))))
    assert rows[0] == ["force_id", "short_name"] and len(rows) == 49

    box.fill(f"copy (select 1) to '{probe}'")
    box.press("Control+Enter")
    settle(page)
    error = main_area(page).locator("[data-testid=stAlertContentError]")
    expect(error).to_be_visible(timeout=WAIT_MS)
    expect(error).to_contain_text("not allowed")
    expect(main_area(page).get_by_text(re.compile(r"^\d[\d,]* rows? in"))).to_have_count(0)
    expect(page.locator("[data-testid=stException]")).to_have_count(0)
    assert not probe.exists()


def test_a_query_is_answered_once_per_load_and_again_after_a_new_one(sample_db, monkeypatch, tmp_path):
    from dashboard import data

    db = tmp_path / "workbench.duckdb"
    shutil.copyfile(sample_db, db)
    monkeypatch.setenv("CROSSFORCE_DB", str(db))
    st.cache_data.clear()
    runs = []
    real_run = sandbox.run
    monkeypatch.setattr(sandbox, "run", lambda *a, **k: runs.append(a[1]) or real_run(*a, **k))
    sql = "select count(*) as n from forces"
    first = data.run_sql(sql)
    assert data.run_sql(sql).frame.equals(first.frame) and len(runs) == 1  # the revisit starts no query
    assert data.run_sql(sql + " where is_territorial_ew").frame["n"][0] == 43 and len(runs) == 2
    # A new load is a new file renamed over the path: the same query runs again, on it.
    copy = tmp_path / "next.duckdb"
    shutil.copyfile(sample_db, copy)
    os.replace(copy, db)
    assert data.run_sql(sql).frame.equals(first.frame) and len(runs) == 3
