"""Benchmark: how long each dashboard page takes as felt, in Chromium, on a database.

Not a timed test: `python benchmarks/pages.py [--db FILE] [--runs N]`. Serves the dashboard as
`crossforce serve` does (on a copy of the database), then, in Debian's Chromium driven by Playwright
at 1400×900, times for every page path the first visit after a fresh server start and N warm visits
(each a new navigation, so a new Streamlit session, with the server's caches warm).

A visit is timed from navigation start (the page's own `performance` clock, so no polling interval
or sleep is counted) until both: the script run is over (the app root's `data-test-script-state`
has gone to `running` and then `notRunning`; Streamlit 1.67 shows `initial` before the first run)
and the main area has rendered (its title is there, no element is stale or still a loading skeleton,
and every Plotly chart has drawn its SVG). The moment each state was reached is recorded by a
MutationObserver in the page; the end is found by a check run on every animation frame.

Beside the pages it times, in the same run, a trivial Streamlit page (a title and a line, served the
same way) and the health endpoint, so the figures can be read as ratios of what Streamlit itself costs
here. Budget (issue 10): each page's script run ≤ 1 s warm and ≤ 3 s on the first visit after a
server start; the whole visit as felt (frontend loading and drawing included) is printed beside it.

Columns: first (s), warm median and worst (s), then where a median warm visit's time goes: until the
websocket connected (the frontend loading), the script run (running → notRunning, server side plus
messages), and drawing after the run (charts laid out).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from dashboard.serving import CHROMIUM, CHROMIUM_ARGS, VIEWPORT, NotHealthy, healthy, served, streamlit_command

PAGES = {
    "": "Overview",
    "divergence": "Divergence finder",
    "indicator": "Indicator",
    "force": "Force profile",
    "trends": "Trends",
    "reconciliation": "Reconciliation",
    "workbench": "SQL workbench",
    "quality": "Data quality",
}
WARM_BUDGET_S = 1.0
FIRST_BUDGET_S = 3.0
WAIT_MS = 60_000

# Recorded from the first byte of the document: each change of the app root's script and
# connection state, with the page's clock (ms since navigation start).
OBSERVER = """
window.__cf = {states: []};
(() => {
  const record = () => {
    const app = document.querySelector('[data-testid=stApp]');
    if (!app) return;
    const s = app.getAttribute('data-test-script-state'), c = app.getAttribute('data-test-connection-state');
    const all = window.__cf.states, last = all[all.length - 1];
    if (!last || last.s !== s || last.c !== c) all.push({t: performance.now(), s: s, c: c});
  };
  new MutationObserver(record).observe(document, {subtree: true, childList: true, attributes: true,
    attributeFilter: ['data-test-script-state', 'data-test-connection-state']});
})();
"""

# True (with the time) once the run is over and the main area has drawn.
DONE = """
() => {
  const states = window.__cf ? window.__cf.states : [];
  const ran = states.findIndex(x => x.s === 'running');
  const app = document.querySelector('[data-testid=stApp]');
  if (ran < 0 || !app || app.getAttribute('data-test-script-state') !== 'notRunning') return false;
  const main = document.querySelector('[data-testid=stMain]');
  if (!main || !main.querySelector('h1')) return false;
  if (main.querySelector('[data-stale=true]')) return false;
  // An element whose code is still loading (Plotly's chunk, on a first visit) shows a skeleton.
  if (main.querySelector('[data-testid=stSkeleton], [data-testid=stSkeletonElement]')) return false;
  const charts = main.querySelectorAll('[data-testid=stPlotlyChart]');
  for (const c of charts) if (!c.querySelector('.main-svg')) return false;
  const errors = main.querySelectorAll('[data-testid=stException], [data-testid=stAlertContentError]').length;
  return {done: performance.now(), charts: charts.length, errors: errors, title: main.querySelector('h1').innerText};
}
"""


@dataclass
class Visit:
    total: float  # s, navigation start to run over and drawn
    connected: float  # s, navigation start to the websocket connected
    script: float  # s, running → notRunning (the first run)
    drawing: float  # s, after the run until drawn
    runs: int  # script runs seen during the visit
    charts: int
    errors: int  # exceptions or error boxes on the page when it was done
    title: str = ""


@dataclass
class Timing:
    label: str
    path: str
    first: Visit | None = None
    warm: list[Visit] = field(default_factory=list)


# A server's command line for a port.
Command = Callable[[int], list[str]]


def dashboard_command(db: Path) -> Command:
    """The dashboard on `db`, as a person starts it."""
    crossforce = str(Path(sys.executable).with_name("crossforce"))
    return lambda port: [crossforce, "serve", "--db", str(db), "--port", str(port)]


def baseline_command(app: Path) -> Command:
    """A trivial Streamlit page `app`, served by Streamlit itself the same way."""
    return lambda port: streamlit_command(app, port, module="streamlit")


def visit(context, url: str) -> Visit:
    """One navigation in a new page (a new Streamlit session), timed on the page's own clock."""
    page = context.new_page()
    try:
        page.goto(url, wait_until="commit")
        done = page.wait_for_function(DONE, polling="raf", timeout=WAIT_MS).json_value()
        states = page.evaluate("() => window.__cf.states")
    finally:
        page.close()
    connected = next((s["t"] for s in states if s["c"] == "CONNECTED"), 0.0)
    started = next(s["t"] for s in states if s["s"] == "running")
    ended = next((s["t"] for s in states if s["s"] == "notRunning" and s["t"] > started), done["done"])
    runs = sum(1 for a, b in zip(states, states[1:]) if b["s"] == "running" and a["s"] != "running")
    runs += 1 if states and states[0]["s"] == "running" else 0
    return Visit(
        total=done["done"] / 1000,
        connected=connected / 1000,
        script=(ended - started) / 1000,
        drawing=(done["done"] - ended) / 1000,
        runs=runs,
        charts=done["charts"],
        errors=done["errors"],
        title=done["title"],
    )


def time_pages(
    browser, command: Command, env: dict, log: Path, pages: dict[str, str], runs: int, restart_each: bool
) -> list[Timing]:
    """For each page: its first visit after a server start, then `runs` warm visits."""
    timings = []

    def measure(url: str, path: str, label: str, first: bool) -> Timing:
        timing = Timing(label, path)
        context = browser.new_context(viewport=VIEWPORT)
        context.add_init_script(OBSERVER)
        try:
            if first:
                timing.first = visit(context, f"{url}/{path}")
            for _ in range(runs):
                timing.warm.append(visit(context, f"{url}/{path}"))
        finally:
            context.close()
        return timing

    if restart_each:
        for path, label in pages.items():
            with served(command, env, log) as url:
                timings.append(measure(url, path, label, first=True))
    else:
        with served(command, env, log) as url:
            for path, label in pages.items():
                timings.append(measure(url, path, label, first=True))
    return timings


def health_times(url: str, n: int = 20) -> list[float]:
    out = []
    for _ in range(n):
        started = time.perf_counter()
        assert healthy(url)
        out.append(time.perf_counter() - started)
    return out


def _row(timing: Timing, baseline: Timing | None) -> str:
    """One page: its script runs (the budget) and its whole visits as felt, first and warm."""
    scripts = [v.script for v in timing.warm]
    median, worst = statistics.median(scripts), max(scripts)
    first = timing.first.script if timing.first else float("nan")
    ok = "ok" if worst <= WARM_BUDGET_S and (first <= FIRST_BUDGET_S or not timing.first) else "OVER"
    felt = statistics.median(v.total for v in timing.warm)
    first_felt = timing.first.total if timing.first else float("nan")
    ratio = f"{felt / statistics.median(v.total for v in baseline.warm):4.1f}×" if baseline else "  —  "
    every = timing.warm + ([timing.first] if timing.first else [])
    return (
        f"{timing.label:20} {first:13.2f} {median:7.2f} {worst:7.2f}  {ok:4}  {first_felt:11.2f} {felt:7.2f} {ratio}  "
        f"{max(v.runs for v in every):4} {timing.warm[0].charts:6} {max(v.errors for v in every):6}"
    )


def over_budget(timing: Timing) -> bool:
    return max(v.script for v in timing.warm) > WARM_BUDGET_S or bool(
        timing.first and timing.first.script > FIRST_BUDGET_S
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--db",
        type=Path,
        help="database to serve (a copy is served); by default the sample "
        "database is built from data_samples/ in a temporary folder",
    )
    parser.add_argument("--runs", type=int, default=5, help="warm visits per page (default %(default)s)")
    parser.add_argument(
        "--one-server",
        action="store_true",
        help="time every page's first visit on one server (only the first page is then cold for the server)",
    )
    parser.add_argument("--pages", nargs="*", default=list(PAGES), help="page paths ('' is the Overview)")
    args = parser.parse_args()
    if args.db is not None and not args.db.is_file():
        raise SystemExit(f"no database at {args.db} (build one: crossforce ingest data_samples --db FILE)")
    if not CHROMIUM.is_file():
        raise SystemExit(f"Chromium is not installed at {CHROMIUM} (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="crossforce-pages-") as tmp:
        tmp_path = Path(tmp)
        db = tmp_path / "bench.duckdb"
        if args.db is None:
            from pipelines.cli import SAMPLES_DIR
            from pipelines.ingest import load

            started = time.perf_counter()
            load.ingest([SAMPLES_DIR], db, progress=False)
            print(f"built the sample database in {time.perf_counter() - started:.0f} s", flush=True)
        else:
            shutil.copyfile(args.db, db)  # never the file given: the server may take a lock on it
        log = tmp_path / "server.log"
        env = {**os.environ, "CROSSFORCE_DB": str(db)}
        trivial = tmp_path / "trivial.py"
        trivial.write_text('import streamlit as st\nst.title("Baseline")\nst.write("A trivial Streamlit page.")\n')
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                base_cmd = baseline_command(trivial)
                [baseline] = time_pages(browser, base_cmd, env, log, {"": "trivial Streamlit page"}, args.runs, True)
                with served(base_cmd, env, log) as url:
                    health = health_times(url)
                pages = {p: PAGES.get(p, p) for p in args.pages}
                timings = time_pages(browser, dashboard_command(db), env, log, pages, args.runs, not args.one_server)
            finally:
                browser.close()
        print(
            f"Chromium {VIEWPORT['width']}×{VIEWPORT['height']}, {args.runs} warm visits per page"
            f" ({args.db or 'the sample database, built from data_samples/'}; "
            f"{'one server' if args.one_server else 'a fresh server before each page'})."
        )
        print(
            f"Budget: script run ≤ {FIRST_BUDGET_S:g} s on the first visit, "
            f"≤ {WARM_BUDGET_S:g} s warm (every warm run). "
            "Felt: navigation start until every chart is drawn; ratio: felt warm median ÷ the trivial page's."
        )
        print()
        header = (
            f"{'page':20} {'script: first':>13} {'warm':>7} {'worst':>7}  {'':4}  {'felt: first':>11} {'warm':>7} "
            f"{'ratio':5}  {'runs':>4} {'charts':>6} {'errors':>6}"
        )
        print(header)
        print("-" * len(header))
        print(_row(baseline, None))
        for timing in timings:
            print(_row(timing, baseline))
        print("-" * len(header))
        print(
            f"health endpoint: median {statistics.median(health) * 1000:.1f} ms, worst {max(health) * 1000:.1f} ms "
            f"over {len(health)} requests"
        )
        slow = [t.label for t in timings if over_budget(t)]
        print("every page's script run within budget" if not slow else f"over budget: {', '.join(slow)}")


if __name__ == "__main__":
    try:
        main()
    except NotHealthy as failure:
        raise SystemExit(str(failure)) from None
