"""Fixtures and helpers of the browser tests: Chromium (see `find_chromium`), headless, driven by
Playwright, against `weightshift ui` on a free 127.0.0.1 port (one server per test module).

tests/conftest.py loads this module as a plugin, so every test module gets the fixtures (`chromium`,
`server`, `browser`, `page`) without importing them, and imports only the helpers it uses.

Every wait here is for a state of the page (an element, a text, a counter), never for a duration.
Screenshots, the server's log and the measured timings go to tests/artifacts/ (not committed).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
TIMINGS: dict[str, object] = {}

# Click Step, then wait until the month label changed and the charts have drawn again; returns
# [ms to the month label, ms to the charts drawn]. The five time charts always change at a step
# (their lines grow); the labs, network and regions charts only when what they show changed.
STEP_JS = """(selector) => new Promise((resolve, reject) => {
    const n = document.querySelectorAll('.ws-chart').length - 3;
    const start = window.wsChartsDrawn || 0;
    const before = document.querySelector('.ws-month').innerText;
    const t0 = performance.now();
    let label = null;
    const poll = () => {
        const now = performance.now() - t0;
        if (label === null && document.querySelector('.ws-month').innerText !== before) label = now;
        if (label !== null && (window.wsChartsDrawn || 0) - start >= n) resolve([label, now]);
        else if (now > 120000) reject(new Error('no redraw within 120 s'));
        else requestAnimationFrame(poll);
    };
    document.querySelector(selector).click();
    requestAnimationFrame(poll);
})"""


BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
MAC_APPS = (
    "/Applications/Chromium.app/Contents/MacOS/Chromium",
    "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
)


def find_chromium() -> tuple[str | None, str]:
    """A Chromium to drive: $WEIGHTSHIFT_CHROMIUM, Playwright's own download, one on PATH, or a macOS app.

    Returns (path, "") or (None, why none was found).
    """
    chosen = os.environ.get("WEIGHTSHIFT_CHROMIUM")
    if chosen:
        return (
            (chosen, "") if os.access(chosen, os.X_OK) else (None, f"WEIGHTSHIFT_CHROMIUM={chosen} is not executable")
        )
    try:
        with sync_playwright() as p:
            own = p.chromium.executable_path
    except Exception:  # Playwright's driver missing or broken: fall back to the system's browser
        own = ""
    candidates = [own, *(shutil.which(n) or "" for n in BROWSER_NAMES), *MAC_APPS]
    for path in candidates:
        if path and os.access(path, os.X_OK):
            return path, ""
    return None, (
        "no Chromium found (looked for Playwright's browser, " + ", ".join(BROWSER_NAMES) + " on PATH and the "
        "macOS apps): install one (`.venv/bin/playwright install chromium`, `apt-get install chromium`, "
        "`brew install --cask chromium`) or set WEIGHTSHIFT_CHROMIUM"
    )


def _debian_root() -> bool:
    return os.path.exists("/etc/debian_version") and hasattr(os, "geteuid") and os.geteuid() == 0


@pytest.fixture(scope="session")
def chromium() -> str:
    """A Chromium for the browser tests; skipped with the reason when there is none.

    Only on Debian as root (a CI container) does it install the distribution's `chromium` itself.
    """
    path, why = find_chromium()
    if path is None and _debian_root() and shutil.which("apt-get"):
        env = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update"], check=False, timeout=300, env=env, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "chromium"], check=False, timeout=900, env=env, capture_output=True)
        path, why = find_chromium()
    if path is None:
        pytest.skip(why)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(request):
    """`weightshift ui` on a free local port; its process group is stopped afterwards."""
    ARTIFACTS.mkdir(exist_ok=True)
    port = free_port()
    log = open(ARTIFACTS / f"server-{request.module.__name__}.log", "wb")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(
        [sys.executable, "-m", "sim", "ui", "--port", str(port)],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/"
    SERVERS[url] = proc.pid
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"UI server did not start; see {ARTIFACTS / 'server.log'}")
            time.sleep(0.3)
        yield url
    finally:
        for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
            if proc.poll() is None:
                os.killpg(proc.pid, sig)
                try:
                    proc.wait(wait)
                except subprocess.TimeoutExpired:
                    continue
        log.close()
        save_timings()


def save_timings() -> None:
    """Merge this process's timings into tests/artifacts/timings.json (test processes may run side by side)."""
    path = ARTIFACTS / "timings.json"
    with open(ARTIFACTS / ".timings.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            saved = json.loads(path.read_text()) if path.exists() else {}
        except json.JSONDecodeError:
            saved = {}
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(saved | TIMINGS, indent=2))
        tmp.replace(path)


SERVERS: dict[str, int] = {}  # url -> pid of `weightshift ui` (its child is the Solara server)


@pytest.fixture(scope="module")
def browser(chromium):
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@contextmanager
def sized_page(browser: Browser, width: int = 1600, height: int = 1000) -> Iterator[Page]:
    """A page of its own (cookies, session) at `width` x `height`, closed afterwards."""
    ctx = browser.new_context(viewport={"width": width, "height": height})
    try:
        yield ctx.new_page()
    finally:
        ctx.close()


@pytest.fixture
def page(browser) -> Iterator[Page]:
    with sized_page(browser) as pg:
        yield pg


def median(values: list[float]) -> float:
    return round(statistics.median(values))


IDLE_JS = """() => !!document.querySelector('.ws-month') && !document.querySelector('.ws-busy')
    && !document.querySelector('.ws-loading')
    && ![...document.querySelectorAll('.ws-kpi')].some(e => e.innerText.startsWith('≈'))"""


def open_page(page: Page, url: str) -> float:
    """Load and wait until the exact run is built and its charts drawn; returns the seconds it took."""
    t0 = time.perf_counter()
    page.goto(url)
    page.wait_for_selector(".ws-chart-usage[data-ready='1']", timeout=60_000)
    page.wait_for_selector(".ws-chart-network[data-ready='1']", timeout=60_000)
    wait_idle(page)
    return time.perf_counter() - t0


def wait_idle(page: Page, timeout: float = 60_000) -> None:
    """Until no re-run is queued or running and the numbers are the exact run's (not the preview's)."""
    page.wait_for_function(IDLE_JS, timeout=timeout)


def handled(page: Page) -> None:
    """Until the server has handled every click sent so far: it takes a page's messages in order, so once
    a later click's answer shows (the Policies section folded or unfolded), the clicks before it were all
    handled. A click, not typing: a typed value may reach the server after the Enter that commits it."""
    fold = page.locator(".ws-fold", has_text="Policies")
    arrow = "▸" if fold.inner_text().startswith("▾") else "▾"
    fold.click()
    page.locator(".ws-fold", has_text=f"{arrow} Policies").wait_for(timeout=60_000)


def month(page: Page) -> str:
    return page.locator(".ws-month").inner_text()


def kpis(page: Page) -> dict[str, str]:
    return {el.get_attribute("data-key"): el.inner_text() for el in page.locator(".ws-kpi").all()}


def step(page: Page, selector: str = ".ws-step") -> list[float]:
    return page.evaluate(STEP_JS, selector)
