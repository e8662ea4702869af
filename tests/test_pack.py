"""The force pack (a zip of every table's CSV, and a self-contained HTML report) and chart images,
checked against the sample database with queries of their own. No browser."""

from __future__ import annotations

import csv
import io
import math
import re
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import plotly.graph_objects as go
import plotly.offline
import pytest
import streamlit as st

from conftest import dashboard_query as query
from conftest import sample_copy

FORCE = "durham"  # has ranked findings, every police.uk mix and outcome ratios in the samples
NOT_COMPARABLE = "city-of-london"


@pytest.fixture(scope="module")
def sample_db(samples_ingest, tmp_path_factory) -> Path:
    return sample_copy(samples_ingest, tmp_path_factory, "pack")


@pytest.fixture
def pack(sample_db, monkeypatch):
    monkeypatch.setenv("CROSSFORCE_DB", str(sample_db))
    st.cache_data.clear()
    st.cache_resource.clear()
    from dashboard import pack

    return pack


def read_zip(blob: bytes) -> dict[str, str]:
    with zipfile.ZipFile(io.BytesIO(blob)) as archive:
        assert archive.testzip() is None
        return {name: archive.read(name).decode("utf-8") for name in archive.namelist()}


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def close(a: str, b: float | None) -> bool:
    if b is None or (isinstance(b, float) and math.isnan(b)):
        return a in ("", "NaN", "nan")
    return math.isclose(float(a), b, rel_tol=1e-9, abs_tol=1e-12)


@pytest.fixture(scope="module")
def durham_zip(sample_db) -> dict[str, str]:
    import os

    before = os.environ.get("CROSSFORCE_DB")
    os.environ["CROSSFORCE_DB"] = str(sample_db)
    st.cache_data.clear()
    st.cache_resource.clear()
    try:
        from dashboard import pack

        return read_zip(pack.force_pack_zip(FORCE))
    finally:
        if before is None:
            os.environ.pop("CROSSFORCE_DB", None)
        else:
            os.environ["CROSSFORCE_DB"] = before
        st.cache_resource.clear()


# --- the zip -----------------------------------------------------------------------------------------------


def test_findings_csv_is_every_finding_of_the_force(durham_zip, sample_db):
    from dashboard import data

    found = rows(durham_zip["findings.csv"])
    expected = {
        r[0]: r[1:]
        for r in query(
            sample_db,
            """
        select indicator_id, share, z, q_by, status, rank from divergence where force_id = $f""",
            {"f": FORCE},
        )
    }
    assert len(found) == len(expected) > 0
    assert {r["indicator_id"] for r in found} == set(expected)
    header = list(found[0])
    assert header[: len(data.FORCE_COLUMNS)] == list(data.FORCE_COLUMNS)
    assert {"force_id", "numerator", "denominator", "sentence", "window_start"} <= set(header)
    assert {r["force_id"] for r in found} == {FORCE}
    for r in found:
        share, z, q_by, status, rank = expected[r["indicator_id"]]
        assert close(r["share"], share) and close(r["z"], z) and close(r["q_by"], q_by)
        assert r["status"] == status
        assert r["rank"] == ("" if rank is None else str(rank))
        assert r["indicator"] == data.indicator_labels()[r["indicator_id"]]
    assert any(r["rank"] for r in found), "the sample force should have ranked findings"


def test_mix_csvs_hold_the_force_rows_of_every_mix(durham_zip, sample_db):
    mixes = [r[0] for r in query(sample_db, "select distinct mix_id from divergence_mix_categories")]
    assert mixes
    for mix_id in mixes:
        cells = rows(durham_zip[f"mix_{mix_id}_categories.csv"])
        [(n,)] = query(
            sample_db,
            "select count(*) from divergence_mix_categories where mix_id = $m and force_id = $f",
            {"m": mix_id, "f": FORCE},
        )
        assert len(cells) == n
        assert {c["force_id"] for c in cells} <= {FORCE}
        distance = rows(durham_zip[f"mix_{mix_id}_distance.csv"])
        stored = query(
            sample_db,
            "select distance from divergence_mix where mix_id = $m and force_id = $f",
            {"m": mix_id, "f": FORCE},
        )
        assert len(distance) == len(stored)
        if stored:
            assert close(distance[0]["distance"], stored[0][0])
    cells = rows(durham_zip["mix_puk_crime_types_categories.csv"])
    assert cells, "the sample force has a police.uk crime-type mix"
    stored = dict(
        query(
            sample_db,
            """select category, share from divergence_mix_categories
                                      where mix_id = 'puk_crime_types' and force_id = $f""",
            {"f": FORCE},
        )
    )
    assert all(close(c["share"], stored[c["category"]]) for c in cells)


def test_outcome_coverage_reconciliation_and_rates_match_the_database(durham_zip, sample_db):
    ratios = rows(durham_zip["outcome_ratios.csv"])
    stored = dict(
        query(sample_db, "select outcome_group, observed from outcome_ratios where force_id = $f", {"f": FORCE})
    )
    assert len(ratios) == len(stored) > 0
    assert all(float(r["observed"]) == stored[r["outcome_group"]] for r in ratios)

    coverage = rows(durham_zip["coverage.csv"])
    [(n, supplied)] = query(
        sample_db, "select count(*), sum(rows_supplied) from coverage where force_id = $f", {"f": FORCE}
    )
    assert len(coverage) == n > 0
    assert sum(int(r["rows_supplied"] or 0) for r in coverage) == supplied

    reconciliation = rows(durham_zip["reconciliation.csv"])
    [(n, total)] = query(
        sample_db,
        """
        select count(*), sum(offence_count) from reconciliation where force_id = $f
        and reconciliation_group in (select reconciliation_group from ref_reconciliation_groups)""",
        {"f": FORCE},
    )
    assert len(reconciliation) == n > 0
    assert sum(float(r["offence_count"] or 0) for r in reconciliation) == pytest.approx(total)
    assert len({r["reconciliation_group"] for r in reconciliation}) > 1

    rates = rows(durham_zip["rates_per_1000.csv"])
    [(n, with_rate)] = query(
        sample_db, "select count(*), count(rate_per_1000) from recorded_crime_rates where force_id = $f", {"f": FORCE}
    )
    assert len(rates) == n > 0
    assert sum(1 for r in rates if r["rate_per_1000"]) == with_rate > 0


def test_readme_names_every_file_the_load_peers_window_and_licence(durham_zip, sample_db):
    readme = durham_zip["README.txt"]
    files = [name for name in durham_zip if name != "README.txt"]
    assert len(files) >= 8
    for name in files:
        line = next((line for line in readme.splitlines() if line.startswith(f"- {name} (")), None)
        assert line, f"README does not name {name}"
        n = len(rows(durham_zip[name]))
        assert f"({n:,} row" in line, (name, n, line)
    [(loaded,)] = query(sample_db, "select max(finished_at) from ingest_log")
    assert f"{loaded:%Y-%m-%d %H:%M:%S}" in readme
    assert "Durham" in readme
    assert "All territorial forces" in readme and "Latest 12 months each source" in readme
    assert "Contains public sector information licensed under the Open Government Licence v3.0" in readme


def test_pack_follows_the_peer_group_and_window(pack, sample_db):
    blob = read_zip(pack.force_pack_zip("kent", peer_group="region", window="standard"))
    found = rows(blob["findings.csv"])
    assert found and {r["peer_group"] for r in found} == {"region"}
    assert {r["force_id"] for r in found} == {"kent"}
    assert "Forces of the same region (region)" in blob["README.txt"]
    assert pack.file_name("kent", "region", "2021") == "crossforce-kent-region-2021.zip"


# --- the HTML report ---------------------------------------------------------------------------------------


class _Scan(HTMLParser):
    """Every attribute that could fetch something, the scripts' text, and the page's visible text."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.fetching: list[tuple[str, str, str]] = []
        self.scripts: list[str] = []
        self.text: list[str] = []
        self.styles: list[str] = []
        self.tags: list[str] = []
        self._in = None

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href", "srcset", "data", "poster", "action", "background") or (
                name == "style" and "url(" in (value or "")
            ):
                self.fetching.append((tag, name, value or ""))
        if tag in ("script", "style"):
            self._in = tag
            (self.scripts if tag == "script" else self.styles).append("")

    def handle_endtag(self, tag):
        if tag == self._in:
            self._in = None

    def handle_data(self, text):
        if self._in == "script":
            self.scripts[-1] += text
        elif self._in == "style":
            self.styles[-1] += text
        else:
            self.text.append(text)


def scan(blob: bytes) -> _Scan:
    parser = _Scan()
    parser.feed(blob.decode("utf-8"))
    parser.close()
    return parser


def test_report_is_self_contained(pack):
    report = scan(pack.force_report_html(FORCE))
    # Nothing to fetch: no src or href at all, no stylesheet links, no CSS imports or urls.
    assert report.fetching == []
    assert "link" not in report.tags and "iframe" not in report.tags and "img" not in report.tags
    assert not any("url(" in s or "@import" in s for s in report.styles)
    # plotly.js inlined exactly once, and the figures' own scripts name no address.
    plotly_js = plotly.offline.get_plotlyjs()
    assert sum(1 for s in report.scripts if s == plotly_js) == 1
    assert sum(s.count("Plotly.newPlot") for s in report.scripts if s != plotly_js) >= 3  # spine, a mix, outcomes
    assert not [s for s in report.scripts if s != plotly_js and re.search(r"https?:|//cdn", s)]
    assert not re.search(r"https?:", "".join(report.text))


def test_report_names_the_force_every_indicator_and_its_ranked_findings(pack, sample_db):
    from dashboard import data

    report = scan(pack.force_report_html(FORCE))
    text = " ".join(" ".join(report.text).split())
    assert "Durham" in text
    labels = data.indicator_labels()
    indicators = [
        r[0] for r in query(sample_db, "select indicator_id from divergence where force_id = $f", {"f": FORCE})
    ]
    assert indicators
    for indicator_id in indicators:
        assert " ".join(labels[indicator_id].split()) in text, indicator_id
    sentences = [
        r[0]
        for r in query(
            sample_db,
            """
        select sentence from divergence
        where force_id = $f and rank is not null and indicator_kind = 'classification'""",
            {"f": FORCE},
        )
    ]
    assert sentences
    for sentence in sentences:
        assert " ".join(sentence.split()) in text
    # The values table: one row per indicator, with the force's share as a percentage.
    [(share,)] = query(
        sample_db,
        "select share from divergence where force_id = $f and indicator_id = $i",
        {"f": FORCE, "i": indicators[0]},
    )
    assert f"{share * 100:.1f}%" in text
    assert "Contains public sector information licensed under the Open Government Licence v3.0" in text
    # The figures are the dashboard's: the spine chart names the force in its title.
    spine = next(s for s in report.scripts if "against the other forces on every indicator" in s)
    assert "Durham" in spine


def test_report_warns_when_the_force_is_not_comparable(pack):
    from dashboard import data

    comparable = " ".join(" ".join(scan(pack.force_report_html(FORCE)).text).split())
    assert "not comparable with the other forces by default" not in comparable
    note = data.comparability(NOT_COMPARABLE)["comparability_note"]
    assert note
    warned = " ".join(" ".join(scan(pack.force_report_html(NOT_COMPARABLE)).text).split())
    assert "City of London is not comparable with the other forces by default" in warned
    assert " ".join(note.split()) in warned


# --- chart images -------------------------------------------------------------------------------------------


def test_figure_image_is_none_without_a_browser(monkeypatch):
    from dashboard import images

    images.close()
    monkeypatch.setattr(images, "browser_path", lambda: None)
    assert not images.available()
    assert images.figure_image(go.Figure(go.Scatter(x=[1, 2], y=[2, 1])), "svg") is None
    assert "no Chrome or Chromium" in images.unavailable_reason()
    with pytest.raises(ValueError):
        images.figure_image(go.Figure(), "gif")


def test_figure_image_is_none_when_the_browser_fails(monkeypatch, tmp_path):
    from dashboard import images

    images.close()
    fake = tmp_path / "chromium"
    fake.write_text("#!/bin/sh\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setattr(images, "browser_path", lambda: str(fake))
    monkeypatch.setattr(images, "START_TIMEOUT_S", 10.0)
    assert images.figure_image(go.Figure(go.Scatter(x=[1, 2], y=[2, 1])), "png") is None
    assert images.unavailable_reason()
    images.close()


def test_plotly_config_downloads_an_svg_named_after_the_chart():
    from dashboard import images

    config = images.plotly_config("spine")
    assert config["toImageButtonOptions"]["format"] == "svg"
    assert config["toImageButtonOptions"]["filename"] == "spine"
    assert config["toImageButtonOptions"]["width"] == 1400
    assert config["displaylogo"] is False
