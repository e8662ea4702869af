"""Every dashboard page, headless with Streamlit's AppTest, on the database built from data_samples."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import parse_qs

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from dashboard.data import STATUS_LABELS, counted
from dashboard.ui import TABLE_PAGE_ROWS

from conftest import PROJECT_ROOT, sample_copy
from conftest import dashboard_query as query

APP = str(PROJECT_ROOT / "dashboard" / "app.py")
PAGES = [
    "views/overview.py",
    "views/divergence.py",
    "views/force.py",
    "views/trends.py",
    "views/reconciliation.py",
    "views/workbench.py",
    "views/quality.py",
]


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


# AppTest does not keep a read-only table's key: each table is known by its first column.
FIRST_COLUMNS = {
    "findings": ["rank"],
    "supply": ["supply_rank"],
    "not_ranked": ["status"],
    "force_findings": ["indicator", "status"],
    "force_values": ["indicator", "share"],
    "result": ["rank"],
}


def shown_table(at: AppTest, key: str):
    """The rows of the table a page drew under `key`, as pandas."""
    lead = FIRST_COLUMNS[key]
    found = [frame.value for frame in at.dataframe if list(frame.value.columns[: len(lead)]) == lead]
    assert len(found) == 1, f"no single table {key}: {[list(frame.value.columns[:2]) for frame in at.dataframe]}"
    return found[0]


def every_row(at: AppTest, key: str, total: int):
    """Every row of a table of `total` rows that a page shows a page at a time, read page by page as
    a person would, each page's caption checked; the table is left on its first page."""
    import pandas as pd

    pager = [n for n in at.number_input if n.key == f"{key}_page"]
    assert bool(pager) == (total > TABLE_PAGE_ROWS), f"{key}: {total} rows, pager shown: {bool(pager)}"
    if not pager:
        return shown_table(at, key)
    pages, last = [], int(pager[0].max)
    assert last == -(-total // TABLE_PAGE_ROWS)
    for number in range(1, last + 1):
        at.number_input(key=f"{key}_page").set_value(number).run()
        shown = shown_table(at, key)
        first = (number - 1) * TABLE_PAGE_ROWS
        assert len(shown) == min(TABLE_PAGE_ROWS, total - first)
        words = f"Rows {first + 1:,}–{first + len(shown):,} of {total:,}; the download holds every row."
        assert words in [c.value for c in at.caption], words
        pages.append(shown)
    at.number_input(key=f"{key}_page").set_value(1).run()
    return pd.concat(pages, ignore_index=True)


def finder(**params: str) -> AppTest:
    """The divergence finder opened from a URL with `params` in its query string (a fresh session)."""
    at = AppTest.from_file(APP, default_timeout=60)
    for name, value in params.items():
        at.query_params[name] = value
    at.run()
    at.switch_page("views/divergence.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def pairs(frame) -> list[tuple[str, str]]:
    return list(zip(frame["indicator_id"], frame["force_id"]))


def note_of(figure: dict) -> str:
    [note] = [a["text"] for a in figure["layout"]["annotations"] if a.get("name") == "source_note"]
    return note.replace("<br>", " ")


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
    # Rows read is the ingest log's own total (it once counted each file once per force-period it covers).
    [(rows_read,)] = query(sample_db, "select sum(rows_read)::bigint from ingest_log")
    assert at.metric[2].value == f"{rows_read:,}"
    by_source = dict(query(sample_db, "select source, sum(rows_read)::bigint from ingest_log group by all"))
    shown = at.dataframe[0].value
    assert dict(zip(shown["source"], shown["rows_read"])) == by_source
    # The population source gives its years and forces, as the population view holds them.
    [(forces, first, last)] = query(sample_db, "select count(distinct force_id), min(year), max(year) from population")
    [row] = [r for r in shown.to_dict("records") if r["source"] == "ons_mid_year_estimates"]
    assert (row["forces"], row["first_period"], row["last_period"]) == (forces, str(first), str(last))
    [grid] = figures(at)
    assert "data.police.uk street-level crime" in grid["layout"]["title"]["text"]
    forces = query(sample_db, "select count(distinct force_id) from coverage where source = 'police_uk_street'")[0][0]
    heat = [trace for trace in grid["data"] if trace["type"] == "heatmap"]
    assert max(len(trace["y"]) for trace in heat) == forces
    # Drawn: the months some force supplied, not every month from the first to the last.
    months = query(
        sample_db,
        """select count(distinct period) from coverage
                                 where source = 'police_uk_street' and coverage_status = 'supplied'""",
    )[0][0]
    assert max(len(trace["x"]) for trace in heat) == months == 4


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
    rows = {y for trace in spine["data"] for y in (trace.get("y") or []) if y is not None}  # legend keys have no row
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
    at.text_area(key="sql").input("select force_id from forces where is_territorial_ew")
    at.button(key="run_sql").click().run()
    assert not at.exception
    assert at.dataframe[0].value.shape[0] == 43
    target = tmp_path / "leak.csv"
    at.text_area(key="sql").input(f"copy (select 1) to '{target}'")
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
    at.text_area(key="sql").input(sql.format(tmp=tmp_path))
    at.button(key="run_sql").click().run()
    assert not at.exception
    assert at.error, f"no refusal shown for {sql}"
    assert _db_fingerprint(sample_db) == before
    assert not list(tmp_path.iterdir())


def test_a_query_that_returns_millions_of_rows_is_cut_at_the_limit_on_the_page(app):
    at = app.run()
    at.switch_page("views/workbench.py").run()
    at.selectbox(key="mode").select("free").run()
    at.text_area(key="sql").input("select * from range(5000000) as t(i)")
    at.button(key="run_sql").click().run()
    assert not at.exception
    assert any("cut at the row limit" in m.value for m in at.markdown)


def test_a_query_that_runs_forever_is_stopped_on_the_page(app):
    at = app.run()
    at.switch_page("views/workbench.py").run()
    at.selectbox(key="mode").select("free").run()
    at.text_area(key="sql").input("select count(*) from range(100000000000) as a where hash(a.range) = 42")
    at.button(key="run_sql").click().run(timeout=60)
    assert not at.exception
    assert at.error and "stopped" in at.error[0].value


# --- screened findings: ranked, data supply, and why the rest are not ranked ---------------------------------


@pytest.mark.parametrize("max_q", ["1", "0.05"])
def test_the_ranked_table_holds_exactly_the_ranked_classification_findings(app, sample_db, max_q):
    screened_out = query(
        sample_db, "select count(*) from divergence where indicator_kind = 'classification' and status <> 'ranked'"
    )[0][0]
    assert screened_out > 0, "the samples hold classification findings that are not ranked, or this test proves nothing"
    at = finder(max_q=max_q)
    status = {
        (i, f): (s, k)
        for i, f, s, k in query(sample_db, "select indicator_id, force_id, status, indicator_kind from divergence")
    }
    expected = query(
        sample_db,
        "select indicator_id, force_id, rank from divergence where rank is not null and q_by <= $q order by rank",
        {"q": float(max_q)},
    )
    shown = every_row(at, "findings", len(expected))
    assert len(shown) > 0
    assert {status[p] for p in pairs(shown)} == {("ranked", "classification")}
    assert list(zip(shown["indicator_id"], shown["force_id"], shown["rank"])) == expected
    assert any(m.value == counted(len(expected), "finding") for m in at.markdown)


def test_the_ranked_table_leads_with_the_effect_and_puts_coverage_beside_the_benchmark(app, sample_db):
    shown = shown_table(finder(), "findings")
    columns = list(shown.columns)
    assert columns[:8] == [
        "rank",
        "force",
        "indicator",
        "difference_pp",
        "ratio",
        "share",
        "benchmark",
        "benchmark_coverage",
    ]
    assert columns[8:12] == ["z", "q_by", "q_bh", "witness_status"]
    [(indicator, force, difference, ratio, benchmark, coverage, q_by)] = query(
        sample_db,
        """
        select indicator_id, force_id, difference, ratio, benchmark, benchmark_coverage, q_by
        from divergence where rank = 1""",
    )
    first = shown.iloc[0]
    assert (first["indicator_id"], first["force_id"]) == (indicator, force)
    assert first["difference_pp"] == pytest.approx(difference * 100)
    assert first["ratio"] == pytest.approx(ratio) and first["benchmark"] == pytest.approx(benchmark)
    assert first["q_by"] == pytest.approx(q_by)
    assert first["benchmark_coverage"] == coverage and "territorial forces" in coverage


def test_every_table_of_the_finder_shows_each_findings_own_coverage_beside_its_benchmark(app, sample_db):
    at = finder()
    coverage = {
        (i, f): c for i, f, c in query(sample_db, "select indicator_id, force_id, benchmark_coverage from divergence")
    }
    for key in ("findings", "supply", "not_ranked"):
        shown = shown_table(at, key)
        columns = list(shown.columns)
        assert columns.index("benchmark_coverage") == columns.index("benchmark") + 1, key
        assert len(shown) > 0, key
        assert list(shown["benchmark_coverage"]) == [coverage[p] for p in pairs(shown)], key


def test_the_supply_list_holds_only_supply_findings(app, sample_db):
    at = finder()
    kinds = {(i, f): k for i, f, k in query(sample_db, "select indicator_id, force_id, indicator_kind from divergence")}
    supply = every_row(
        at, "supply", sum(query(sample_db, "select count(*) from divergence where supply_rank is not null")[0])
    )
    assert len(supply) > 0
    assert {kinds[p] for p in pairs(supply)} == {"supply"}
    assert set(supply["indicator_kind"]) == {"supply"}
    expected = query(
        sample_db, "select indicator_id, force_id from divergence where supply_rank is not null order by supply_rank"
    )
    assert pairs(supply) == expected
    assert list(supply["supply_rank"]) == list(range(1, len(expected) + 1))
    ranked = shown_table(at, "findings")
    assert not {p for p, k in kinds.items() if k == "supply"} & set(pairs(ranked)), (
        "a supply finding is in the ranked table"
    )


def test_a_finding_not_ranked_is_shown_with_its_status_and_reason(app, sample_db):
    # One finding of each status the samples hold, opened from its own URL.
    examples = query(
        sample_db,
        """
        select distinct on (status) status, indicator_id, force_id, status_reason from divergence
        where status <> 'ranked' order by status, indicator_id, force_id""",
    )
    assert len(examples) >= 2
    for status, indicator, force, reason in examples:
        assert reason, f"{status}: the database gives no reason"
        at = finder(indicator=indicator, force=force)
        unranked = shown_table(at, "not_ranked")
        row = unranked[(unranked["indicator_id"] == indicator) & (unranked["force_id"] == force)]
        assert len(row) == 1, (status, indicator, force)
        assert row["status"].iloc[0] == status and row["status_reason"].iloc[0] == reason
        assert "ranked" not in set(unranked["status"])
        assert (indicator, force) not in pairs(shown_table(at, "findings"))


def test_the_status_filter_narrows_the_not_ranked_table_and_the_counts_match(app, sample_db):
    counts = dict(query(sample_db, "select status, count(*) from divergence where status <> 'ranked' group by 1"))
    status = max(sorted(counts), key=counts.get)
    at = finder(status=status)
    assert at.selectbox(key="status").value == status
    shown = every_row(at, "not_ranked", counts[status])
    assert set(shown["status"]) == {status} and len(shown) == counts[status]
    [line] = [m.value for m in at.markdown if "screened out and not ranked" in m.value]
    assert line.startswith(f"{sum(counts.values()):,} findings screened out")
    for name, n in counts.items():
        assert f"{STATUS_LABELS[name]}: {n:,}" in line


def test_the_funnel_and_caterpillar_mark_forces_not_ranked_and_note_the_coverage(app, sample_db):
    [(indicator, unranked)] = query(
        sample_db,
        """
        select indicator_id, count(*) filter (status <> 'ranked') as n from divergence
        where denominator > 0 and share is not null group by 1 order by n desc, 1 limit 1""",
    )
    assert unranked > 0
    statuses = dict(
        query(sample_db, "select force_id, status from divergence where indicator_id = $i", {"i": indicator})
    )
    [(fewest, most, low, high)] = query(
        sample_db,
        """
        select min(benchmark_forces), max(benchmark_forces), min(benchmark_crime_share), max(benchmark_crime_share)
        from divergence where indicator_id = $i and benchmark is not null""",
        {"i": indicator},
    )
    forces = f"{fewest}" if fewest == most else f"{fewest}–{most}"
    shares = f"{low:.0%}" if f"{low:.0%}" == f"{high:.0%}" else f"{low * 100:.0f}–{high:.0%}"
    names = {f: n for f, n in query(sample_db, "select force_id, short_name from forces")}
    by_name = {names[f]: s for f, s in statuses.items()}
    funnel, caterpillar = figures(finder(indicator=indicator))[:2]
    hollow = 0
    for trace in funnel["data"]:
        if trace.get("mode") != "markers+text":
            continue
        for data, symbol in zip(trace["customdata"], trace["marker"]["symbol"]):
            status = by_name[data[0]]
            assert symbol == ("circle" if status == "ranked" else "circle-open"), data[0]
            if status != "ranked":
                hollow += 1
                assert "Not ranked" in data[12] and STATUS_LABELS[status] in data[12].replace("<br>", " ")
    assert hollow == unranked
    cater_hollow = sum(
        symbol == "circle-open"
        for trace in caterpillar["data"]
        if isinstance(trace.get("marker", {}).get("symbol"), list)
        for symbol in trace["marker"]["symbol"]
    )
    assert cater_hollow == unranked
    for figure in (funnel, caterpillar):
        note = note_of(figure)
        assert f"{forces} of the other territorial forces, holding {shares} of England and Wales recorded crime" in note


def test_overview_lists_ranked_findings_with_their_coverage_and_what_was_screened_out(app, sample_db):
    at = app.run()
    assert not at.exception
    # Each finding is a link that opens the finder in the same tab (a page link, not a Markdown link).
    links = [link.proto for link in at.get("page_link") if re.match(r"^\d+\. ", link.proto.label)]
    details = [c.value for c in at.caption if "Benchmark:" in c.value]
    top = query(
        sample_db,
        """
        select rank, indicator_id, force_id, benchmark_coverage
        from divergence where rank is not null order by rank limit 10""",
    )
    assert len(links) == len(details) == len(top) == 10
    for link, detail, (rank, indicator, force, coverage) in zip(links, details, top):
        assert link.label.startswith(f"{rank}. ") and link.page == "divergence"
        assert parse_qs(link.query_string) == {"force": [force], "indicator": [indicator]}
        assert f"Benchmark: {coverage}." in detail
    counts = dict(query(sample_db, "select status, count(*) from divergence where status <> 'ranked' group by 1"))
    [line] = [m.value for m in at.markdown if "screened out and not ranked" in m.value]
    assert line.startswith(f"{sum(counts.values()):,} findings screened out")
    assert all(f"{STATUS_LABELS[status]}: {n:,}" in line for status, n in counts.items())
    supply = query(sample_db, "select count(*) from divergence where supply_rank is not null")[0][0]
    [link] = [link.proto.label for link in at.get("page_link") if "data-supply" in link.proto.label]
    assert f"data-supply list: {counted(supply, 'finding')}" in link


def test_force_profile_of_an_area_not_comparable_says_so_and_why_nothing_is_ranked(app, sample_db):
    [(force, name, note)] = query(
        sample_db,
        """
        select force_id, short_name, comparability_note from forces
        where not comparable_by_default and force_id in (select force_id from divergence)""",
    )
    at = app.run()
    at.switch_page("views/force.py").run()
    at.selectbox(key="force").select(force).run()
    assert not at.exception
    assert at.warning and note in at.warning[0].value and "not comparable" in at.warning[0].value
    assert query(sample_db, "select count(rank) from divergence where force_id = $f", {"f": force})[0][0] == 0
    assert any(m.value == f"**No finding of {name} is ranked.**" for m in at.markdown)
    reasons = {
        r
        for (r,) in query(
            sample_db,
            "select distinct status_reason from divergence where force_id = $f and status <> 'ranked'",
            {"f": force},
        )
    }
    text = " ".join(m.value for m in at.markdown)
    assert reasons and all(reason in text for reason in reasons)
    shown = shown_table(at, "force_findings")
    expected = dict(query(sample_db, "select indicator_id, status from divergence where force_id = $f", {"f": force}))
    assert dict(zip(shown["indicator_id"], shown["status"])) == expected


def test_force_profile_lists_ranked_sentences_and_apart_the_reasons_for_the_rest(app, sample_db):
    [(force,)] = query(
        sample_db,
        """
        select force_id from divergence group by 1
        having count(rank) > 0 and count(*) filter (status <> 'ranked') > 0 order by 1 limit 1""",
    )
    at = app.run()
    at.switch_page("views/force.py").run()
    at.selectbox(key="force").select(force).run()
    assert not at.exception and not at.warning
    markdown = [m.value for m in at.markdown]
    top = [
        s
        for (s,) in query(
            sample_db,
            "select sentence from divergence where force_id = $f and rank is not null order by rank limit 5",
            {"f": force},
        )
    ]
    heading = next(i for i, m in enumerate(markdown) if m.startswith("**Ranked findings**"))
    assert markdown[heading + 1 : heading + 1 + len(top)] == [f"- {s}" for s in top]
    reasons = query(
        sample_db,
        "select distinct status, status_reason from divergence where force_id = $f and status <> 'ranked'",
        {"f": force},
    )
    not_ranked = next(i for i, m in enumerate(markdown) if m.startswith("**Not ranked**"))
    lines = " ".join(markdown[not_ranked + 1 :])
    assert all(f"(`{status}`): {reason}" in lines for status, reason in reasons)


def test_the_saved_top_divergences_query_returns_ranked_classification_findings_with_coverage(app, sample_db):
    at = app.run()
    at.switch_page("views/workbench.py").run()
    at.selectbox(key="query").select("top_divergences").run()
    at.button[0].click().run()
    assert not at.exception
    result = shown_table(at, "result")
    expected = query(
        sample_db,
        """
        select rank, indicator_id, force_id, benchmark_coverage from divergence
        where rank is not null order by rank limit 20""",
    )
    assert (
        list(zip(result["rank"], result["indicator_id"], result["force_id"], result["benchmark_coverage"])) == expected
    )
    assert set(result["status"]) == {"ranked"} and set(result["indicator_kind"]) == {"classification"}


def test_counts_are_written_with_their_noun_in_the_right_number():
    assert [counted(0, "finding"), counted(1, "finding"), counted(2, "finding"), counted(1234, "row")] == [
        "0 findings",
        "1 finding",
        "2 findings",
        "1,234 rows",
    ]
    assert counted(1, "data-supply finding") == "1 data-supply finding"
