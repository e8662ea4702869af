"""Chart images (SVG or PNG) drawn from a Plotly figure by Kaleido, in a browser kept open.

Kaleido 1.x draws a figure in a headless Chrome or Chromium (found through its `choreographer`
dependency: `BROWSER_PATH`, then `CROSSFORCE_CHROMIUM`, then /usr/bin/chromium, then the usual names
on PATH). Starting that browser takes about 3 s, so one is started on the first image and kept for
the process; each image after that takes about 0.3 s. Everything it loads is local: plotly.js from
the installed plotly package, and MathJax (which Kaleido would fetch from a CDN) is turned off.

`figure_image` never raises: with no browser, no Kaleido, or a render that fails or takes too long,
it returns None, and the page says to use the camera icon on the chart instead (`plotly_config`
sets that button to download an SVG named after the chart).
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import shutil
import threading
from pathlib import Path

import plotly.graph_objects as go

_log = logging.getLogger(__name__)

FORMATS = ("svg", "png")
DEFAULT_WIDTH = 1400
DEFAULT_HEIGHT = 600
START_TIMEOUT_S = 30.0
RENDER_TIMEOUT_S = 30.0
FALLBACK_WORDS = "No chart image could be drawn here: use the camera icon on the chart to download it as SVG."


def browser_path() -> str | None:
    """The Chrome or Chromium Kaleido would drive, or None when there is none."""
    for candidate in (os.environ.get("BROWSER_PATH"), os.environ.get("CROSSFORCE_CHROMIUM"), "/usr/bin/chromium"):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


class _Renderer:
    """One Kaleido (one headless browser, one tab) on an event loop of its own thread. Renders are
    serialised by a lock: Streamlit sessions each run in their own thread."""

    def __init__(self, browser: str):
        import kaleido

        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="crossforce-images", daemon=True)
        self._thread.start()
        self.lock = threading.Lock()
        self._kaleido = None

        async def open_browser():
            k = kaleido.Kaleido(n=1, timeout=RENDER_TIMEOUT_S, mathjax=False, path=browser)
            await k.open()
            return k

        try:
            self._kaleido = self._run(open_browser(), START_TIMEOUT_S)
        except BaseException:
            self.close()
            raise

    def _run(self, coroutine, timeout: float):
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def render(self, fig_dict: dict, opts: dict) -> bytes:
        assert self._kaleido is not None, "the renderer's browser was not opened"  # __init__ raises otherwise
        return self._run(self._kaleido.calc_fig(fig_dict, opts=opts), RENDER_TIMEOUT_S + 5)

    def close(self) -> None:
        if self._kaleido is not None:
            try:
                self._run(self._kaleido.close(), 10)
            except BaseException as exc:  # noqa: BLE001 - closing is best effort
                _log.debug("closing the image browser: %s", exc)
            self._kaleido = None
        if self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)


_renderer: _Renderer | None = None
_renderer_lock = threading.Lock()
_unavailable_reason: str | None = None


def _get_renderer() -> _Renderer | None:
    global _renderer, _unavailable_reason
    with _renderer_lock:
        if _renderer is not None:
            return _renderer
        browser = browser_path()
        if browser is None:
            _unavailable_reason = "no Chrome or Chromium was found"
            return None
        try:
            _renderer = _Renderer(browser)
        except BaseException as exc:  # noqa: BLE001 - never break a page over an image
            _unavailable_reason = f"the browser at {browser} did not start: {exc!r}"
            _log.warning("chart images unavailable: %s", _unavailable_reason)
            return None
        _unavailable_reason = None
        return _renderer


def close() -> None:
    """Stop the browser kept for images (it is started again on the next image)."""
    global _renderer
    with _renderer_lock:
        if _renderer is not None:
            _renderer.close()
            _renderer = None


atexit.register(close)


def available() -> bool:
    """Whether an image can be tried here (Kaleido installed and a browser found); cheap, starts nothing.
    A page can offer the download only then, and otherwise say to use the camera icon on the chart."""
    try:
        import kaleido  # noqa: F401
    except ImportError:
        return False
    return browser_path() is not None


def unavailable_reason() -> str | None:
    """Why the last attempt found no way to draw an image, if it did not."""
    return _unavailable_reason


def figure_image(
    fig: go.Figure, fmt: str = "svg", width: int | None = None, height: int | None = None, scale: float = 1.0
) -> bytes | None:
    """The figure as SVG or PNG bytes, at its own height (or `height`) and `width` (default 1400 px);
    None when no image can be drawn here (no browser, no Kaleido, a failed or slow render)."""
    global _renderer
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, not {fmt!r}")
    try:
        fig_dict = fig.to_plotly_json() if isinstance(fig, go.Figure) else dict(fig)
        layout = fig_dict.get("layout", {}) or {}
        opts = {
            "format": fmt,
            "width": width or layout.get("width") or DEFAULT_WIDTH,
            "height": height or layout.get("height") or DEFAULT_HEIGHT,
            "scale": scale,
        }
        renderer = _get_renderer()
        if renderer is None:
            return None
        with renderer.lock:
            image = renderer.render(fig_dict, opts)
        return bytes(image) if image else None
    except BaseException as exc:  # noqa: BLE001 - a crashed or hung browser: drop it, start anew next time
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        _log.warning("chart image failed: %r", exc)
        with _renderer_lock:
            if _renderer is not None:
                broken, _renderer = _renderer, None
                threading.Thread(target=broken.close, daemon=True).start()
        return None


def plotly_config(key: str, width: int = DEFAULT_WIDTH, height: int | None = None) -> dict:
    """Plotly's config for `st.plotly_chart`: the camera button downloads an SVG named after the chart,
    which works in any browser with no server-side renderer."""
    options = {"format": "svg", "filename": key, "width": width, "scale": 1}
    if height:
        options["height"] = height
    return {"displaylogo": False, "toImageButtonOptions": options}
