"""Every dashboard page, headless with Streamlit's AppTest, on the database built from data_samples."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from conftest import PROJECT_ROOT, SAMPLES, sample_copy
from pipelines.query import connect as sandbox_connect

APP = str(PROJECT_ROOT / "dashboard" / "app.py")
PAGES = ["views/overview.py", "views/divergence.py", "views/force.py", "views/trends.py",
         "views/reconciliation.py", "views/workbench.py", "views/quality.py"]


@pytest.fixture(scope="module")
def sample_db(samples_ingest, tmp_path_factory) -> Path:
    return sample_copy(samples_ingest, tmp_path_factory, "app")


@pytest.fixture
def app(sample_db, monkeypatch):
    monkeypatch.setenv("CROSSFORCE_DB", str(sample_db))
    st.cache_data.clear()
    st.cache_resource.clear()  # cached resources are global to the process
    return AppTest.from_file(APP, default_timeout=60)


def figures(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def query(db: Path, sql: str, params: dict | None = None) -> list[tuple]:
    # The app holds the file open with the sandbox's settings; one process must open it alike.
    con = sandbox_connect(db)
    try:
        return con.execute(sql, params or {}).fetchall()
    finally:
        con.close()


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_without_exception(app, page):
    at = app.run()
    if page != PAGES[0]:
        at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title, "every page has a title"


def test_overview_lists_sources_and_draws_coverage(app, sample_db):
    at = app.run()
    sources = {s for (s,) in query(sample_db, "select distinct source from ingest_log")}
    assert at.metric[0].value == str(len(sources))
    [grid] = figures(at)
    assert "police_uk_street" in grid["layout"]["title"]["text"]
    forces = query(sample_db, "select count(distinct force_id) from coverage where source = 'police_uk_street'")[0][0]
    heat = [trace for trace in grid["data"] if trace["type"] == "heatmap"]
    assert max(len(trace["y"]) for trace in heat) == forces


def test_divergence_funnel_has_one_point_per_force_of_the_chosen_indicator(app, sample_db):
    at = app.run()
    at.switch_page("views/divergence.py").run()
    at.selectbox(key="indicator").select("puk_burglary").run()
    assert not at.exception
    assert at.query_params["indicator"] == ["puk_burglary"] or at.query_params["indicator"] == "puk_burglary"
    forces = query(sample_db, "select count(*) from divergence where indicator_id = 'puk_burglary'")[0][0]
    funnel = figures(at)[0]
    points = [trace for trace in funnel["data"] if trace.get("mode", "").startswith("markers")]
    assert sum(len(trace["x"]) for trace in points) == forces


def test_url_state_reproduces_the_view(app):
    app.query_params["indicator"] = "puk_drugs"
    app.query_params["direction"] = "above"
    at = app.run()
    at.switch_page("views/divergence.py").run()
    assert at.selectbox(key="indicator").value == "puk_drugs"
    assert at.selectbox(key="direction").value == "above"
    shown = at.dataframe[0].value
    assert set(shown["indicator_id"]) <= {"puk_drugs"}


def test_force_profile_spine_has_a_row_per_indicator(app, sample_db):
    at = app.run()
    at.switch_page("views/force.py").run()
    at.selectbox(key="force").select("durham").run()
    assert not at.exception
    indicators = query(sample_db, "select count(distinct indicator_id) from divergence where force_id = 'durham'")[0][0]
    spine = figures(at)[0]
    rows = {y for trace in spine["data"] for y in (trace.get("y") or [])}
    assert len(rows) == indicators


def test_trends_draws_the_chosen_force(app):
    app.query_params["indicator"] = "ons_rec_vwi_of_vap"
    app.query_params["forces"] = "kent"
    at = app.run()
    at.switch_page("views/trends.py").run()
    assert not at.exception
    trend = figures(at)[0]
    assert any("Kent" in (trace.get("name") or "") for trace in trend["data"])


def test_workbench_runs_free_sql_and_refuses_hostile_sql(app, tmp_path):
    at = app.run()
    at.switch_page("views/workbench.py").run()
    at.selectbox(key="mode").select("free").run()
    at.text_area(key="sql").input("select force_id from forces where is_territorial_ew").run()
    at.button(key="run_sql").click().run()
    assert not at.exception
    assert at.dataframe[0].value.shape[0] == 43
    target = tmp_path / "leak.csv"
    at.text_area(key="sql").input(f"copy (select 1) to '{target}'").run()
    at.button(key="run_sql").click().run()
    assert at.error, "a hostile statement is refused with a message"
    assert not target.exists()


def test_quality_page_searches_the_quarantine(app, sample_db):
    app.query_params["q"] = "not a force"
    at = app.run()
    at.switch_page("views/quality.py").run()
    assert not at.exception
    expected = query(sample_db, "select count(*) from quarantine where contains(lower(reason), 'not a force')")[0][0]
    assert expected > 0
    assert at.dataframe[-2].value.shape[0] == expected


# Hostile statements through the workbench page: each refused (or cut short) with a message on the
# page, the database file unchanged and nothing written. The same list runs through run() and the
# CLI in test_query.py.
from test_query import HOSTILE  # noqa: E402


def _db_fingerprint(db: Path) -> tuple[str, list[str]]:
    import hashlib

    return hashlib.sha256(db.read_bytes()).hexdigest(), sorted(p.name for p in db.parent.iterdir())


@pytest.mark.parametrize("sql", [sql for sql, _ in HOSTILE], ids=[f"hostile{i}" for i in range(len(HOSTILE))])
def test_hostile_sql_through_the_page_is_refused_and_changes_nothing(app, sample_db, sql, tmp_path):
    before = _db_fingerprint(sample_db)
    app.query_params["mode"] = "free"
    at = app.run()
    at.switch_page("views/workbench.py").run()
    at.text_area(key="sql").input(sql.format(tmp=tmp_path)).run()
    at.button(key="run_sql").click().run()
    assert not at.exception
    assert at.error, f"no refusal shown for {sql}"
    assert _db_fingerprint(sample_db) == before
    assert not list(tmp_path.iterdir())


def test_a_query_that_returns_millions_of_rows_is_cut_at_the_limit_on_the_page(app):
    at = app.run()
    at.switch_page("views/workbench.py").run()
    at.selectbox(key="mode").select("free").run()
    at.text_area(key="sql").input("select * from range(5000000) as t(i)").run()
    at.button(key="run_sql").click().run()
    assert not at.exception
    assert any("cut at the row limit" in m.value for m in at.markdown)


def test_a_query_that_runs_forever_is_stopped_on_the_page(app):
    at = app.run()
    at.switch_page("views/workbench.py").run()
    at.selectbox(key="mode").select("free").run()
    at.text_area(key="sql").input("select count(*) from range(100000000000) as a").run()
    at.button(key="run_sql").click().run(timeout=60)
    assert not at.exception
    assert at.error and "stopped" in at.error[0].value
