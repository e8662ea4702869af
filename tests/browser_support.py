"""Fixtures and helpers for the real-browser tests in `test_browser.py`.

Imported by that module only (not a conftest), so the Chromium launch options and the dashboard
server touch no other test. Each fixture's function is named `fixture_<name>` and registered under
`<name>`: a module imports the function, and its tests ask for the fixture by name without the
parameter shadowing the import. The browser is Debian's Chromium, driven by Playwright; never
`playwright install`. See docs in /work/shared/STACK.md, "A real browser".
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from playwright.sync_api import Page

from dashboard.serving import APP, CHROMIUM, CHROMIUM_ARGS, VIEWPORT, served, streamlit_command

from conftest import PROJECT_ROOT, sample_copy

SCREENSHOTS = PROJECT_ROOT / "test-results" / "screenshots"  # gitignored
WAIT_MS = 30_000


@pytest.fixture(scope="session", name="chromium_executable")
def fixture_chromium_executable() -> Path:
    """Debian's Chromium; under CI its absence fails the run instead of skipping the browser tests."""
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        message = f"Chromium is not installed at {CHROMIUM} (apt-get install -y chromium)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{message}; the browser tests must run under CI")
        pytest.skip(message)
    return CHROMIUM


@pytest.fixture(scope="session", name="browser_type_launch_args")
def fixture_browser_type_launch_args(browser_type_launch_args: dict, chromium_executable: Path) -> dict:
    """pytest-playwright's launch options, pointed at Debian's Chromium with the flags that work here."""
    return {**browser_type_launch_args, "executable_path": str(chromium_executable), "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session", name="browser_context_args")
def fixture_browser_context_args(browser_context_args: dict) -> dict:
    return {**browser_context_args, "viewport": VIEWPORT, "accept_downloads": True}


@pytest.fixture(scope="session", name="dashboard_db")
def fixture_dashboard_db(tmp_path_factory: pytest.TempPathFactory, chromium_executable: Path, samples_ingest) -> Path:
    """A copy of the sample database. Asks for Chromium first, so a missing browser fails or skips
    before the slow load."""
    return sample_copy(samples_ingest, tmp_path_factory, "browser")


def serve_dashboard(db: Path, log_path: Path, stderr_path: Path | None = None) -> AbstractContextManager[str]:
    """The dashboard served as `crossforce serve` does, on a free local port, reading `db`; yields its
    URL once healthy (or raises `NotHealthy` with its log) and stops it on exit. Its output goes to
    `log_path`, and its standard error there too unless `stderr_path` is given."""
    env = {**os.environ, "CROSSFORCE_DB": str(db)}
    return served(lambda port: streamlit_command(APP, port), env, log_path, stderr_path)


@pytest.fixture(scope="session", name="dashboard_url")
def fixture_dashboard_url(dashboard_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The dashboard served as `crossforce serve` does, on a free local port, for the whole session."""
    with serve_dashboard(dashboard_db, tmp_path_factory.mktemp("streamlit") / "server.log") as url:
        yield url


@pytest.fixture(scope="session", name="base_url")
def fixture_base_url(dashboard_url: str) -> str:
    """pytest-playwright gives this to every browser context, so `page.goto("/divergence")` works."""
    return dashboard_url


def settle(page: Page, timeout: float = WAIT_MS) -> None:
    """Wait until the app is connected and its script has finished running."""
    page.wait_for_selector("[data-testid=stApp][data-test-connection-state=CONNECTED]", timeout=timeout)
    page.wait_for_selector("[data-testid=stApp][data-test-script-state=notRunning]", timeout=timeout)


def open_page(page: Page, path: str) -> None:
    page.goto(path)
    settle(page)


def main_area(page: Page):
    return page.locator("[data-testid=stMain]")


def choose(page: Page, label: str, option: str) -> None:
    """Pick `option` in the selectbox labelled `label` (in the main area or the sidebar)."""
    box = page.locator("[data-testid=stSelectbox]").filter(
        has=page.locator("[data-testid=stWidgetLabel]").get_by_text(label, exact=True)
    )
    box.first.click()
    wanted = page.get_by_role("option", name=option, exact=True)
    if not wanted.is_visible():  # a long list shows its first options only: type to narrow it
        page.keyboard.type(option)
    wanted.click()
    settle(page)


def full_page_screenshot(page: Page, name: str, width: int = VIEWPORT["width"]) -> Path:
    """Streamlit scrolls inside `stMain`, so a full-page screenshot alone shows one viewport:
    grow the viewport to the main area's height first, then put it back."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    height = page.evaluate(
        "() => { const m = document.querySelector('[data-testid=stMain]');"
        " return m ? m.scrollHeight : document.documentElement.scrollHeight; }"
    )
    page.set_viewport_size({"width": width, "height": max(VIEWPORT["height"], min(int(height), 16_000))})
    page.wait_for_timeout(500)  # let Plotly re-lay out
    settle(page)
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size({"width": width, "height": VIEWPORT["height"]})
    return path


def selectbox_value(page: Page, label: str):
    """The combobox of the selectbox labelled `label`; its value is the option shown."""
    return main_area(page).get_by_role("combobox", name=label, exact=True)
