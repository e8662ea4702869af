"""The dashboard as a reviewer uses it week to week (AppTest, on the database built from data_samples):
choices that follow them from page to page, windows and coverage said as they are, and every new
figure (peers, values, rates, definitions) checked against the database by a second route."""

from __future__ import annotations

import csv
import json
import statistics
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from conftest import PROJECT_ROOT, sample_copy
from conftest import dashboard_query as query

APP = str(PROJECT_ROOT / "dashboard" / "app.py")
REFERENCE = PROJECT_ROOT / "pipelines" / "reference"


@pytest.fixture(scope="module")
def sample_db(samples_ingest, tmp_path_factory) -> Path:
    return sample_copy(samples_ingest, tmp_path_factory, "state")


@pytest.fixture
def app(sample_db, monkeypatch) -> AppTest:
    monkeypatch.setenv("CROSSFORCE_DB", str(sample_db))
    st.cache_data.clear()
    st.cache_resource.clear()
    return AppTest.from_file(APP, default_timeout=90)


def figures(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def page(at: AppTest, path: str) -> AppTest:
    at.switch_page(path).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def table_with(at: AppTest, *lead: str):
    [frame] = [f.value for f in at.dataframe if list(f.value.columns[: len(lead)]) == list(lead)]
    return frame


def reference_rows(name: str) -> list[dict[str, str]]:
    with (REFERENCE / name).open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


# --- choices that follow the person --------------------------------------------------------------------


def test_a_force_chosen_on_the_profile_is_the_force_of_every_page(app):
    at = app.run()
    page(at, "views/force.py")
    at.selectbox(key="force").select("kent").run()
    assert at.selectbox(key="force").value == "kent"
    for path in ("views/divergence.py", "views/reconciliation.py", "views/indicator.py", "views/force.py"):
        page(at, path)
        assert at.selectbox(key="force").value == "kent", path
        assert at.query_params["force"] in ("kent", ["kent"]), path
    page(at, "views/trends.py")
    assert at.multiselect(key="forces").value == ["kent"]


def test_a_window_change_keeps_what_applies_says_what_it_dropped_and_brings_it_back(app, sample_db):
    at = app.run()
    page(at, "views/divergence.py")
    at.selectbox(key="indicator").select("puk_burglary").run()
    # 2019 is a year of the ONS tables only: police.uk has no finding for it.
    assert not query(
        sample_db, "select 1 from recorded_crime where source = 'police_uk_street' and year(period) = 2019"
    )
    at.sidebar.selectbox(key="window").select("2019").run()
    assert not at.exception
    assert at.selectbox(key="indicator").value == "all"
    assert "indicator" not in at.query_params
    assert any("is not available here" in c.value and "Burglary" in c.value for c in at.caption)
    at.sidebar.selectbox(key="window").select("standard").run()
    assert at.selectbox(key="indicator").value == "puk_burglary"
    assert at.query_params["indicator"] in ("puk_burglary", ["puk_burglary"])


def test_trends_draws_the_mets_own_indicator(app, sample_db):
    at = app.run()
    page(at, "views/force.py")
    at.selectbox(key="force").select("avon-and-somerset").run()  # a force the Met's own series does not have
    page(at, "views/trends.py")
    at.selectbox(key="indicator").select("mps_vwi_of_vap").run()
    assert not at.exception
    assert not [i.value for i in at.info if "No series" in i.value]
    assert at.multiselect(key="forces").value == ["metropolitan"]
    [trend] = figures(at)
    periods = query(sample_db, "select count(*) from divergence_series where indicator_id = 'mps_vwi_of_vap'")[0][0]
    drawn = [t for t in trend["data"] if "Metropolitan" in (t.get("name") or "") and len(t.get("x") or []) > 1]
    assert drawn and max(len(t["x"]) for t in drawn) == periods == 222


def test_overview_has_its_own_path_too():
    # The default page is served at the root; `/overview` is a hidden page running the same script.
    from dashboard import ui

    paths = dict(ui.HIDDEN_PAGES)
    assert paths == {"overview": "home"}
    assert ui.PAGE_FILES["home"][0] == "views/overview.py"


# --- windows and coverage said as they are ----------------------------------------------------------------


def test_the_sidebar_says_the_police_uk_window_is_one_month_not_twelve(app, sample_db):
    at = app.run()
    [(months,)] = query(
        sample_db,
        """
        select count(distinct period) from recorded_crime where source = 'police_uk_street'
          and period >= (select min(window_start) from divergence where indicator_id = 'puk_burglary')
          and period < (select max(window_end) from divergence where indicator_id = 'puk_burglary')""",
    )
    assert months == 1
    [words] = [c.value for c in at.sidebar.caption if c.value.startswith("Windows:")]
    assert "data.police.uk street-level crime: Apr 2021 — 1 month only, not 12" in words
    assert "ONS recorded crime by police force area (rolling years): year to Dec 2018" in words


def test_a_calendar_year_of_one_month_ranks_nothing_and_says_so(app, sample_db):
    app.query_params["window"] = "2021"
    at = app.run()
    page(at, "views/divergence.py")
    ranked = at.dataframe[0].value
    assert not any(str(i).startswith("puk_") for i in ranked["indicator_id"])
    [words] = [c.value for c in at.sidebar.caption if c.value.startswith("Windows:")]
    assert "Jan 2021 to Dec 2021" in words or "Jan–Dec 2021" in words
    assert "supplied fewer of its periods" in words


def test_chart_notes_end_on_the_windows_last_month(app):
    at = app.run()
    page(at, "views/divergence.py")
    at.selectbox(key="indicator").select("puk_burglary").run()
    funnel = figures(at)[0]
    [note] = [a["text"].replace("<br>", " ") for a in funnel["layout"]["annotations"] if a.get("name") == "source_note"]
    assert "Apr 2021" in note and "May 2021" not in note


def test_a_forces_missing_periods_are_at_each_sources_own_grain(app, sample_db):
    app.query_params["force"] = "kent"
    at = app.run()
    page(at, "views/reconciliation.py")
    missing = table_with(at, "source", "period_grain")
    # Periods other forces supplied and Kent did not, by a second route.
    expected = query(
        sample_db,
        """
        select source, count(*) from coverage as c
        where force_id = 'kent' and coverage_status = 'missing'
          and exists (select 1 from coverage as o where o.source = c.source and o.period = c.period
                      and o.coverage_status = 'supplied')
        group by 1""",
    )
    by_source = {}
    for source in missing["source"]:
        by_source[source] = by_source.get(source, 0) + 1
    assert sum(by_source.values()) == sum(n for _, n in expected)
    # The ONS series is annual before it is quarterly: no year is four missing quarters.
    assert not [s for s in missing["source"] if "ONS recorded crime" in s]
    assert not any("00:00:00" in str(p) for p in missing["period"])


def test_the_coverage_view_expects_no_quarter_the_ons_never_published(sample_db):
    published = {
        p
        for (p,) in query(
            sample_db,
            """
        select distinct period from recorded_crime where source = 'ons_rec_crime_pfa'""",
        )
    }
    expected = {
        p for (p,) in query(sample_db, "select distinct period from coverage where source = 'ons_rec_crime_pfa'")
    }
    assert expected == published
    [(missing,)] = query(
        sample_db,
        """
        select count(*) from coverage as c join forces using (force_id)
        where c.source = 'ons_rec_crime_pfa' and c.coverage_status = 'missing' and is_territorial_ew""",
    )
    assert missing == 0


# --- what a reviewer reads ----------------------------------------------------------------------------------


def test_no_page_shows_a_date_as_a_timestamp_or_a_count_in_the_wrong_number(app):
    at = app.run()
    for path in (
        "views/overview.py",
        "views/divergence.py",
        "views/indicator.py",
        "views/force.py",
        "views/trends.py",
        "views/reconciliation.py",
        "views/quality.py",
    ):
        page(at, path)
        text = " ".join(
            [m.value for m in at.markdown]
            + [c.value for c in at.caption]
            + [w.value for w in at.get("text")]
            + [json.dumps(f) for f in figures(at)]
        )
        assert "00:00:00" not in text, path
        assert " 1 findings" not in text and " 1 forces" not in text, path
        for frame in at.dataframe:
            for column in frame.value.columns:
                assert not frame.value[column].astype(str).str.contains("00:00:00").any(), (path, column)


def test_the_peers_are_named_as_the_reference_data_groups_them(app):
    forces = reference_rows("forces.csv")
    kent_region = next(r["region"] for r in forces if r["force_id"] == "kent")
    expected = sorted(
        r["short_name"]
        for r in forces
        if r["region"] == kent_region
        and r["force_id"] != "kent"
        and r["is_territorial_ew"] == "true"
        and r["comparable_by_default"] == "true"
    )
    app.query_params["peers"] = "region"
    app.query_params["force"] = "kent"
    at = app.run()
    page(at, "views/force.py")
    [line] = [m.value for m in at.markdown if m.value.startswith("Compared with")]
    assert line.endswith(", ".join(expected) + ".")
    assert f"({len(expected)})" in line


def test_the_values_table_beside_the_spine_matches_the_database(app, sample_db):
    forces = reference_rows("forces.csv")
    region = next(r["region"] for r in forces if r["force_id"] == "kent")
    peers = [
        r["force_id"]
        for r in forces
        if r["region"] == region and r["force_id"] != "kent" and r["comparable_by_default"] == "true"
    ]
    app.query_params["force"] = "kent"
    app.query_params["peers"] = "region"
    at = app.run()
    page(at, "views/force.py")
    values = table_with(at, "indicator", "share")
    # The region's findings are computed on demand: read the same engine's output by a second route,
    # the peers' own rows in the table the page was built from (every force's finding for the indicator).
    shown = {r["indicator_id"]: r for r in values.to_dict("records")}
    own = dict(query(sample_db, "select indicator_id, count(*) from divergence where force_id = 'kent' group by 1"))
    assert set(shown) == set(own)
    from dashboard import data

    everyone = data.findings("region")
    for indicator, row in shown.items():
        peer_shares = [
            s
            for f, i, s in everyone.select("force_id", "indicator_id", "share").iter_rows()
            if i == indicator and f in peers and s is not None
        ]
        if peer_shares:
            assert row["peers_lowest"] == pytest.approx(min(peer_shares))
            assert row["peers_highest"] == pytest.approx(max(peer_shares))


def test_rates_per_1000_residents_are_counts_over_population(app, sample_db):
    app.query_params["force"] = "kent"
    at = app.run()
    page(at, "views/force.py")
    rates = table_with(at, "offence_group")
    [(period,)] = query(sample_db, "select max(period) from recorded_crime where source = 'ons_rec_crime_pfa'")
    counts = dict(
        query(
            sample_db,
            """
        select category, sum(offence_count) from recorded_crime
        where source = 'ons_rec_crime_pfa' and scheme = 'ons_offence_group' and force_id = 'kent' and period = $p
        group by 1""",
            {"p": period},
        )
    )
    assert rates.shape[0] > 5
    for row in rates.to_dict("records"):
        assert row["offence_count"] == counts[row["offence_group"]]
        assert row["rate_per_1000"] == pytest.approx(row["offence_count"] / row["population"] * 1000)
    # The peers' median, by a second route: every other comparable territorial force's rate.
    violence = query(
        sample_db,
        """
        select r.force_id, r.rate_per_1000 from recorded_crime_rates as r join forces using (force_id)
        where r.source = 'ons_rec_crime_pfa' and r.scheme = 'ons_offence_group' and r.period = $p
          and r.category = 'Violence against the person' and is_territorial_ew and comparable_by_default
          and r.force_id <> 'kent'""",
        {"p": period},
    )
    [row] = [r for r in rates.to_dict("records") if r["offence_group"] == "Violence against the person"]
    assert row["peers_median"] == pytest.approx(statistics.median(rate for _, rate in violence))


def test_the_indicator_page_defines_the_indicator_and_highlights_the_chosen_force(app, sample_db):
    definition = next(r for r in reference_rows("indicators.csv") if r["indicator_id"] == "puk_burglary")
    app.query_params["indicator"] = "puk_burglary"
    app.query_params["force"] = "durham"
    at = app.run()
    page(at, "views/indicator.py")
    text = " ".join(m.value for m in at.markdown)
    assert f"**Numerator**: offences recorded in {definition['numerator']}" in text
    assert f"at least {int(definition['min_denominator']):,} in the denominator" in text
    assert "data.police.uk street-level crime" in text
    compare = figures(at)[0]
    forces = query(sample_db, "select count(*) from divergence where indicator_id = 'puk_burglary'")[0][0]
    bars = [t for t in compare["data"] if t["type"] == "bar"]
    assert sum(len(t["y"]) for t in bars) >= forces
    assert "Durham" in json.dumps(compare)


def test_a_click_on_the_tile_map_names_the_force_it_opens():
    from dashboard import ui

    # The shape Streamlit returns for a point selected on a Plotly chart.
    event = {"selection": {"points": [{"curve_number": 0, "point_index": 3, "customdata": ["kent", "Kent", 1.2]}]}}
    assert ui.clicked_force(event) == "kent"
    assert ui.clicked_force({"selection": {"points": []}}) is None
    assert ui.clicked_force(None) is None
