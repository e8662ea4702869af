"""End-to-end tests in a real browser: Debian's Chromium, driven by Playwright, against the dashboard
served from a database built from `data_samples/`.

Screenshots of every page go to `test-results/screenshots/<page>.png` (gitignored). Outside CI the
tests skip when Chromium is missing; under `CI=true` they fail.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from dashboard.data import STATUS_LABELS, counted

from browser_support import (  # noqa: F401  (fixtures are used by name)
    WAIT_MS,
    choose,
    fixture_base_url,
    fixture_browser_context_args,
    fixture_browser_type_launch_args,
    fixture_chromium_executable,
    fixture_dashboard_db,
    fixture_dashboard_url,
    full_page_screenshot,
    main_area,
    open_page,
    selectbox_value,
    settle,
)

PAGES = {
    # url path: (title, charts the page draws with the sample data). The default page, Overview, is
    # served at the root and at `/overview`.
    "": ("Overview", 1),
    "overview": ("Overview", 1),
    "divergence": ("Divergence finder", 3),
    "indicator": ("Indicator", 4),
    "force": ("Force profile", 3),
    "trends": ("Trends", 1),
    "reconciliation": ("Reconciliation", 1),
    "workbench": ("SQL workbench", 0),
    "quality": ("Data quality", 0),
}
WIDTHS = (1400, 1024)
# Pairs of chart texts that overlap on the page: tick labels of one axis, or a title and the chart's
# toolbar (the modebar). Each is named by its chart's title.
OVERLAPS_JS = """
() => {
  const box = (e) => e.getBoundingClientRect();
  const meet = (a, b) => a.width > 0 && b.width > 0 && a.left < b.right - 1 && b.left < a.right - 1
                          && a.top < b.bottom - 1 && b.top < a.bottom - 1;
  const found = [];
  for (const plot of document.querySelectorAll('[data-testid=stMain] .js-plotly-plot')) {
    const title = plot.querySelector('.gtitle');
    const name = title ? title.textContent.slice(0, 60) : '?';
    for (const axis of ['xtick', 'ytick']) {
      const texts = [...plot.querySelectorAll(`g.${axis} text`)].filter(t => box(t).width > 0);
      // A rotated label's bounding box is upright and wider than its text, so rotated neighbours'
      // boxes always meet: they collide only when their ends (at the tick) are closer than a line.
      const rotated = texts.some(t => (t.getAttribute('transform') || '').includes('rotate'));
      for (let i = 0; i < texts.length; i++)
        for (let j = i + 1; j < texts.length; j++) {
          const a = box(texts[i]), b = box(texts[j]);
          const line = parseFloat(getComputedStyle(texts[i]).fontSize) || 12;
          const hit = rotated ? Math.abs(a.right - b.right) < line * 0.9 && Math.abs(a.top - b.top) < line * 0.9
                              : meet(a, b);
          if (hit) found.push(`${name}: ${axis} labels overlap (${texts[i].textContent} / ${texts[j].textContent})`);
        }
    }
    const bar = plot.querySelector('.modebar');
    if (title && bar && meet(box(title), box(bar))) found.push(`${name}: title under the toolbar`);
    const svg = plot.querySelector('.main-svg');
    if (title && svg && box(title).right > box(svg).right + 1) found.push(`${name}: title cut off`);
  }
  return [...new Set(found)];
}
"""


def query_of(page: Page) -> dict[str, list[str]]:
    return parse_qs(urlparse(page.url).query)


def findings_count(page: Page) -> int:
    text = main_area(page).get_by_text(re.compile(r"^[\d,]+ findings?$")).inner_text(timeout=WAIT_MS)
    return int(text.split()[0].replace(",", ""))


def no_errors(page: Page) -> None:
    expect(page.locator("[data-testid=stException]")).to_have_count(0)


def download(page: Page, button_name: str, nth: int = 0, key: str | None = None) -> list[list[str]]:
    """The CSV behind a download button: the `nth` named `button_name`, or the one with widget `key`
    (Streamlit marks a keyed widget's container with the class `st-key-<key>`)."""
    if key is None:
        button = main_area(page).get_by_role("button", name=button_name).nth(nth)
    else:
        button = main_area(page).locator(f".st-key-{key}").get_by_role("button", name=button_name)
    with page.expect_download(timeout=WAIT_MS) as info:
        button.click()
    path = info.value.path()
    return list(csv.reader(io.StringIO(Path(path).read_text(encoding="utf-8"))))


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("path", list(PAGES), ids=lambda p: p or "root")
def test_page_renders(page: Page, path: str, width: int) -> None:
    title, charts = PAGES[path]
    page.set_viewport_size({"width": width, "height": 900})
    open_page(page, f"/{path}")
    expect(main_area(page).get_by_role("heading", level=1, name=title, exact=True)).to_be_visible(timeout=WAIT_MS)
    if charts:
        # Plotly draws after the script has finished; wait for the charts themselves.
        expect(main_area(page).locator(".js-plotly-plot")).to_have_count(charts, timeout=WAIT_MS)
        expect(main_area(page).locator(".js-plotly-plot .main-svg").first).to_be_visible(timeout=WAIT_MS)
    no_errors(page)
    expect(main_area(page).locator("[data-testid=stAlertContentError]")).to_have_count(0)
    expect(page.get_by_role("dialog")).to_have_count(0)  # e.g. Streamlit's "Page not found"
    shot = full_page_screenshot(page, f"{path or 'root'}-{width}", width=width)
    assert shot.stat().st_size > 10_000
    assert page.evaluate(OVERLAPS_JS) == []
    no_errors(page)


def test_divergence_filter_changes_url_and_findings(page: Page) -> None:
    open_page(page, "/divergence")
    before = findings_count(page)
    assert before > 0
    assert "direction" not in query_of(page)

    choose(page, "Direction", "above")
    expect(page).to_have_url(re.compile(r"[?&]direction=above\b"), timeout=WAIT_MS)
    expect(main_area(page).get_by_text(re.compile(rf"^(?!{before:,} )[\d,]+ findings?$"))).to_be_visible(
        timeout=WAIT_MS
    )
    above = findings_count(page)
    assert 0 < above < before

    indicator_box = (
        main_area(page)
        .locator("[data-testid=stSelectbox]")
        .filter(has=page.locator("[data-testid=stWidgetLabel]").get_by_text("Indicator", exact=True))
    )
    indicator_box.click()
    options = page.get_by_role("option").all_inner_texts()
    page.keyboard.press("Escape")
    other = next(o for o in options if o != "Every indicator")
    choose(page, "Indicator", other)
    expect(page).to_have_url(re.compile(r"[?&]indicator=[^&]+"), timeout=WAIT_MS)
    params = query_of(page)
    assert params["direction"] == ["above"]
    expect(main_area(page).get_by_role("heading", name=other).first).to_be_visible(timeout=WAIT_MS)
    narrowed = findings_count(page)
    assert narrowed <= above
    no_errors(page)

    # The URL alone reproduces the view.
    url = page.url
    page.goto(url)
    settle(page)
    expect(main_area(page).get_by_text(counted(narrowed, "finding"), exact=True)).to_be_visible(timeout=WAIT_MS)
    expect(selectbox_value(page, "Direction")).to_have_value("above")
    no_errors(page)


def test_overview_link_opens_the_finding_in_the_same_tab(page: Page, context: BrowserContext) -> None:
    open_page(page, "/")
    link = main_area(page).locator("[data-testid=stPageLink] a").first
    expect(link).to_be_visible(timeout=WAIT_MS)
    wanted = parse_qs(urlparse(link.get_attribute("href")).query)
    assert link.get_attribute("target") in (None, "", "_self")
    link.click()
    settle(page)
    expect(page).to_have_url(re.compile(r"/divergence\?"), timeout=WAIT_MS)
    assert len(context.pages) == 1
    params = query_of(page)  # `peers=all` is the default, so the page drops it from the URL
    assert params["indicator"] == wanted["indicator"] and params["force"] == wanted["force"]
    assert params.get("peers", ["all"]) == ["all"]
    expect(main_area(page).get_by_role("heading", level=1, name="Divergence finder")).to_be_visible(timeout=WAIT_MS)
    assert findings_count(page) >= 1
    expect(selectbox_value(page, "Indicator")).not_to_have_value("Every indicator")
    expect(selectbox_value(page, "Force")).not_to_have_value("Every force")
    no_errors(page)
    expect(page.get_by_role("dialog")).to_have_count(0)


def test_download_csv(page: Page) -> None:
    open_page(page, "/divergence?direction=above")
    count = findings_count(page)

    rows = download(page, "Download the table (CSV)", key="findings_download")
    # Effect first, then the benchmark with what it covers beside it.
    assert rows[0][:8] == [
        "rank",
        "force",
        "indicator",
        "difference_pp",
        "ratio",
        "share",
        "benchmark",
        "benchmark_coverage",
    ]
    assert {"z", "q_by", "q_bh", "witness_status", "indicator_id", "force_id", "window_start", "window_end"} <= set(
        rows[0]
    )
    assert len(rows) - 1 == count
    assert all(float(r[rows[0].index("z")]) > 0 for r in rows[1:])  # every finding is above its peers
    assert all(float(r[rows[0].index("difference_pp")]) > 0 for r in rows[1:])
    assert all(r[rows[0].index("benchmark_coverage")] for r in rows[1:])

    expect(main_area(page).locator(".js-plotly-plot").first).to_be_visible(timeout=WAIT_MS)
    chart_rows = download(page, "Download the data (CSV)")
    assert {"force_id", "indicator_id", "share", "benchmark"} <= set(chart_rows[0])
    assert len(chart_rows) > 1
    no_errors(page)


def test_divergence_page_shows_the_supply_list_and_why_the_rest_are_not_ranked(page: Page) -> None:
    open_page(page, "/divergence")
    for heading in ("Ranked classification findings", "Data supply", "Shown, not ranked"):
        expect(main_area(page).get_by_role("heading", name=heading, exact=True)).to_be_visible(timeout=WAIT_MS)
    expect(main_area(page).get_by_text(re.compile(r"findings screened out and not ranked"))).to_be_visible(
        timeout=WAIT_MS
    )

    supply = download(page, "Download the table (CSV)", key="supply_download")
    assert supply[0][:3] == ["supply_rank", "force", "indicator"]
    kind = supply[0].index("indicator_kind")
    assert len(supply) > 1 and {r[kind] for r in supply[1:]} == {"supply"}

    unranked = download(page, "Download the table (CSV)", key="not_ranked_download")
    assert unranked[0][:2] == ["status", "status_reason"]
    assert len(unranked) > 1
    assert all(r[0] and r[0] != "ranked" and r[1] for r in unranked[1:])  # each has its status and its reason

    chosen = sorted({r[0] for r in unranked[1:]})[0]
    # Let the charts below finish drawing, so the page no longer moves under the click.
    expect(main_area(page).locator(".js-plotly-plot .main-svg").first).to_be_visible(timeout=WAIT_MS)
    expect(main_area(page).locator(".js-plotly-plot")).to_have_count(PAGES["divergence"][1], timeout=WAIT_MS)
    selectbox_value(page, "Why not ranked").scroll_into_view_if_needed()
    choose(page, "Why not ranked", STATUS_LABELS[chosen])
    expect(page).to_have_url(re.compile(rf"[?&]status={chosen}\b"), timeout=WAIT_MS)
    narrowed = download(page, "Download the table (CSV)", key="not_ranked_download")
    assert len(narrowed) > 1 and {r[0] for r in narrowed[1:]} == {chosen}
    no_errors(page)


def _sidebar_link(page: Page, name: str):
    return page.locator("[data-testid=stSidebarNav]").get_by_role("link", name=name, exact=True)


def _go(page: Page, name: str) -> None:
    """Move to another page through the sidebar, as a person does (no new URL typed)."""
    _sidebar_link(page, name).click()
    settle(page)
    expect(main_area(page).get_by_role("heading", level=1, name=name, exact=True)).to_be_visible(timeout=WAIT_MS)


def test_one_reviewers_path_across_every_page(page: Page, browser, dashboard_db, dashboard_url) -> None:
    import zipfile

    import duckdb

    con = duckdb.connect(str(dashboard_db), read_only=True)
    try:
        region = con.sql("select region from forces where force_id = 'kent'").fetchall()[0][0]
        peers = [
            n
            for (n,) in con.sql(
                """
            select short_name from forces where region = $r and force_id <> 'kent' and is_territorial_ew
              and comparable_by_default order by short_name""",
                params={"r": region},
            ).fetchall()
        ]
        kent_indicators = con.sql(
            "select count(distinct indicator_id) from divergence where force_id = 'kent'"
        ).fetchall()[0][0]
        [(forces_total,)] = con.sql("select count(*) from forces").fetchall()
    finally:
        con.close()

    open_page(page, "/")
    _go(page, "Force profile")
    choose(page, "Force", "Kent")
    expect(page).to_have_url(re.compile(r"[?&]force=kent\b"), timeout=WAIT_MS)
    choose(page, "Compare with", "Forces of the same region")
    expect(main_area(page).get_by_text(re.compile(r"^Compared with forces of the same region"))).to_have_text(
        f"Compared with forces of the same region ({len(peers)}): {', '.join(peers)}.", timeout=WAIT_MS
    )
    # The force pack holds every finding of Kent's (the standard window), as the database does.
    with page.expect_download(timeout=WAIT_MS * 2) as info:
        main_area(page).get_by_role("button", name=re.compile("force pack")).click()
    with zipfile.ZipFile(info.value.path()) as pack:
        names = pack.namelist()
        assert "README.txt" in names and any(n.endswith(".csv") for n in names)
        findings = next(n for n in names if "finding" in n)
        rows = list(csv.reader(io.StringIO(pack.read(findings).decode("utf-8"))))
    assert len(rows) - 1 == kent_indicators
    no_errors(page)
    choose(page, "Period window", "Calendar year 2019")
    expect(page.locator("[data-testid=stSidebar]").get_by_text(re.compile(r"^Windows: "))).to_contain_text(
        "year to Dec 2019", timeout=WAIT_MS
    )

    # The force, peers and window follow the reviewer to every page.
    for name in ("Divergence finder", "Indicator", "Reconciliation"):
        _go(page, name)
        expect(selectbox_value(page, "Highlight force" if name == "Indicator" else "Force")).to_have_value("Kent")
        assert query_of(page).get("peers") == ["region"] and query_of(page).get("window") == ["2019"], name
        no_errors(page)
    _go(page, "Indicator")
    expect(main_area(page).get_by_text("Definition", exact=True)).to_be_visible(timeout=WAIT_MS)
    expect(main_area(page).locator(".js-plotly-plot")).to_have_count(PAGES["indicator"][1], timeout=WAIT_MS)

    _go(page, "Force profile")
    expect(selectbox_value(page, "Force")).to_have_value("Kent")
    no_errors(page)

    # A workbench link shared with a colleague runs on load in their own browser.
    colleague = browser.new_context(base_url=dashboard_url, viewport={"width": 1024, "height": 900})
    try:
        other = colleague.new_page()
        other.goto("/workbench?mode=free&sql=select%20count(*)%20as%20forces%20from%20forces")
        settle(other)
        expect(main_area(other).get_by_text(re.compile(r"^1 row in \d+ ms$"))).to_be_visible(timeout=WAIT_MS)
        expect(main_area(other).locator("[data-testid=stDataFrame]")).to_contain_text(
            str(forces_total), timeout=WAIT_MS
        )
    finally:
        colleague.close()
