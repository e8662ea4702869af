"""Starting and stopping a dashboard server from another program (the browser tests, the page
benchmark): a free local port, the command line, the health check, a server that is stopped with
everything it started, and the Chromium those programs drive."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
APP = PROJECT_ROOT / "dashboard" / "app.py"

# Debian's Chromium, and the flags it runs with here (headless, no sandbox or GPU, nothing fetched
# in the background), at the size the pages are designed for.
CHROMIUM = Path(os.environ.get("CROSSFORCE_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1400, "height": 900}

# How long a server may take to answer its health check after it starts.
START_S = 90


class NotHealthy(RuntimeError):
    """A server that stopped, or did not answer its health check in time; the message ends with its log."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def streamlit_command(app: Path, port: int, module: str = "dashboard.server") -> list[str]:
    """Streamlit serving `app` on `port` of this machine only, as `crossforce serve` runs it:
    headless, no usage statistics, no file watcher. `module` is the command line's module
    (`dashboard.server`, which imports the dashboard's modules first, or `streamlit` itself)."""
    return [
        sys.executable,
        "-m",
        module,
        "run",
        str(app),
        "--server.headless",
        "true",
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
    ]


def healthy(url: str) -> bool:
    """Whether the Streamlit server at `url` answers its health check."""
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.read().decode().strip() == "ok"
    except OSError:
        return False


@contextmanager
def served(
    command: Callable[[int], list[str]], env: dict[str, str], log: Path, stderr_log: Path | None = None
) -> Iterator[str]:
    """A server, `command(port)` on a free local port run from the project's folder, in a process
    group of its own: yields its URL once it answers its health check, and stops it (and everything
    it started) on exit. Its output is appended to `log`, and its standard error there too unless
    `stderr_log` is given. Raises `NotHealthy`, with the end of its log, when it stops or has not
    answered within `START_S`."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with ExitStack() as files:
        out = files.enter_context(open(log, "ab"))
        errors = files.enter_context(open(stderr_log, "ab")) if stderr_log else subprocess.STDOUT
        process = subprocess.Popen(
            command(port),
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=errors,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + START_S
        while not healthy(url):
            if process.poll() is not None or time.monotonic() > deadline:
                stop(process)
                tail = "".join(p.read_text(errors="replace")[-4000:] for p in (log, stderr_log) if p and p.exists())
                raise NotHealthy(f"the server did not become healthy at {url}; its log ends:\n{tail}")
            time.sleep(0.1)
        yield url
    finally:
        stop(process)


def stop(process: subprocess.Popen) -> None:
    """Stop a server started with `start_new_session=True` and everything it started: it leads its
    own process group."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    except ProcessLookupError:
        pass
