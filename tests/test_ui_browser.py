"""The UI in a real browser: Chromium (see `find_chromium`), headless, driven by Playwright, against `weightshift ui`.

The server runs on a free 127.0.0.1 port and is stopped after the module. Screenshots and the
measured timings go to tests/artifacts/ (not committed).
"""

from __future__ import annotations

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
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import Page, sync_playwright

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

# Click Step, then wait until every chart has drawn again; returns [ms to the month label, ms to all drawn].
STEP_JS = """(selector) => new Promise((resolve, reject) => {
    const n = document.querySelectorAll('.ws-chart').length;
    const start = window.wsChartsDrawn || 0;
    const before = document.querySelector('.ws-month').innerText;
    const t0 = performance.now();
    let label = null;
    const poll = () => {
        const now = performance.now() - t0;
        if (label === null && document.querySelector('.ws-month').innerText !== before) label = now;
        if (label !== null && (window.wsChartsDrawn || 0) - start >= n) resolve([label, now]);
        else if (now > 20000) reject(new Error('no redraw within 20 s'));
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
def server():
    """`weightshift ui` on a free local port; its process group is stopped afterwards."""
    ARTIFACTS.mkdir(exist_ok=True)
    port = free_port()
    log = open(ARTIFACTS / "server.log", "wb")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(
        [sys.executable, "-m", "sim", "ui", "--port", str(port)],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/"
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
        (ARTIFACTS / "timings.json").write_text(json.dumps(TIMINGS, indent=2))


@pytest.fixture(scope="module")
def browser(chromium):
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser) -> Page:
    ctx = browser.new_context(viewport={"width": 1600, "height": 1000})
    pg = ctx.new_page()
    yield pg
    ctx.close()


def open_page(page: Page, url: str) -> float:
    """Load and wait until the live charts are drawn; returns the seconds it took."""
    t0 = time.perf_counter()
    page.goto(url)
    page.wait_for_selector(".ws-chart-usage[data-ready='1']", timeout=30_000)
    page.wait_for_selector(".ws-chart-network[data-ready='1']", timeout=30_000)
    return time.perf_counter() - t0


def kpis(page: Page) -> dict[str, str]:
    return {el.get_attribute("data-key"): el.inner_text() for el in page.locator(".ws-kpi").all()}


def step(page: Page, selector: str = ".ws-step") -> list[float]:
    return page.evaluate(STEP_JS, selector)


def test_first_paint_is_quick_and_asks_nothing_outside_this_machine(server, page):
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.on("websocket", lambda ws: requests.append(ws.url))
    seconds = open_page(page, server)
    TIMINGS["first_paint_s"] = round(seconds, 2)
    outside = [
        u for u in requests if urlparse(u).hostname not in ("127.0.0.1",) and not u.startswith(("data:", "blob:"))
    ]
    assert outside == []
    assert any(u.startswith("ws://127.0.0.1") for u in requests)  # the live connection is local too
    assert seconds < 15, f"first paint took {seconds:.1f} s"
    page.screenshot(path=ARTIFACTS / "first_paint.png")


def test_preset_slider_step_and_shared_link(server, page, browser):
    open_page(page, server)
    page.locator(".v-input", has_text="Scenario preset").locator(".v-select__slot").click()
    page.locator(".v-menu__content .v-list-item", has_text="regulatory_fragmentation").click()
    page.wait_for_url("**scenario=regulatory_fragmentation**", timeout=20_000)
    page.wait_for_selector(".ws-chart-usage[data-ready='1']")
    for _ in range(3):
        step(page, ".ws-step12")
    assert page.locator(".ws-month").inner_text() == "2025-12"
    before_numbers = kpis(page)
    assert all(v.endswith("%") for v in before_numbers.values())
    before_chart = page.locator(".ws-chart-usage canvas").first.screenshot()

    slider = page.locator(".ws-slider-beta_open")
    box = slider.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.97, box["y"] + box["height"] / 2)
    page.wait_for_url("**beta_open=**", timeout=20_000)
    page.wait_for_function("document.querySelector('.ws-month').innerText === '2025-12'")
    page.wait_for_timeout(800)  # the re-run's charts
    assert page.locator(".ws-chart-usage canvas").first.screenshot() != before_chart
    typed = page.locator(".ws-input-beta_open input").input_value()
    moved = float(parse_qs(urlparse(page.url).query)["beta_open"][0])
    assert float(typed) == moved

    step(page)
    after = kpis(page)
    assert page.locator(".ws-month").inner_text() == "2026-01"

    # click an agent: the bar of the GPT lab (category 11 of 15), just above the axis
    labs = page.locator(".ws-chart-labs")
    labs.scroll_into_view_if_needed()
    box = labs.bounding_box()
    left, right, bottom, n = 56, 16, 90, 15  # the labs chart's grid (sim.ui.charts.labs_option)
    x = box["x"] + left + (11 + 0.5) * (box["width"] - left - right) / n
    page.mouse.click(x, box["y"] + box["height"] - bottom - 2)
    page.locator("text=Lab: GPT").wait_for(timeout=10_000)
    assert "capability" in page.locator(".ws-md", has_text="Lab: GPT").inner_text()
    page.screenshot(path=ARTIFACTS / "explore.png")

    link = page.locator(".ws-share input").input_value()
    assert "scenario=regulatory_fragmentation" in link and "month=2026-01" in link and "beta_open=" in link
    other = browser.new_page(viewport={"width": 1600, "height": 1000})
    try:
        open_page(other, link)
        assert other.locator(".ws-month").inner_text() == "2026-01"
        assert kpis(other) == after
        assert other.locator(".ws-input-beta_open input").input_value() == typed
        assert "regulatory_fragmentation" in other.locator(".v-input", has_text="Scenario preset").inner_text()
        other.screenshot(path=ARTIFACTS / "restored_from_link.png")
    finally:
        other.close()


def test_a_bad_typed_value_gets_an_inline_message(server, page):
    open_page(page, server)
    field = page.locator(".ws-input-beta_open input")
    field.fill("lots")
    field.press("Enter")
    error = page.locator(".ws-error").first
    error.wait_for(timeout=10_000)
    text = error.inner_text()
    assert "beta_open" in text and "lots" in text and "expected" in text
    assert "Traceback" not in page.locator("body").inner_text()
    page.screenshot(path=ARTIFACTS / "inline_error.png")


def test_play_and_pause(server, page):
    open_page(page, server + "?speed=12")
    page.locator(".ws-play").click()
    page.wait_for_function("document.querySelector('.ws-month').innerText >= '2023-04'", timeout=20_000)
    page.locator(".ws-pause").click()
    page.wait_for_timeout(300)
    paused = page.locator(".ws-month").inner_text()
    page.wait_for_timeout(1000)
    assert page.locator(".ws-month").inner_text() == paused
    assert page.locator(".ws-play").is_visible()


def test_clicking_a_developer_in_the_network_shows_its_state(server, page):
    open_page(page, server + "?month=2024-06")
    net = page.locator(".ws-chart-network")
    net.scroll_into_view_if_needed()
    box = net.bounding_box()
    inspected = page.locator(".ws-md", has_text="Developer agent")
    for fy in (0.35, 0.45, 0.55, 0.65):  # dots sit where the layout put them: try a grid of points
        for fx in (0.3, 0.36, 0.42, 0.48, 0.54, 0.6, 0.66, 0.72):
            page.mouse.click(box["x"] + box["width"] * fx, box["y"] + box["height"] * fy)
            page.wait_for_timeout(120)
            if inspected.count():
                break
        if inspected.count():
            break
    text = inspected.inner_text()
    assert "region" in text and "segment" in text and "trust_sensitivity" in text


def test_one_step_at_20k_developers_renders_quickly(server, page):
    open_page(page, server)  # the default population: 20,000 developer agents
    assert page.locator("text=20,000 developer agents").count() == 1
    step(page, ".ws-step12")
    times = [step(page) for _ in range(7)]
    drawn = sorted(t[1] for t in times[1:])
    TIMINGS["step_render_ms"] = {
        "label": [round(t[0]) for t in times],
        "all_charts_drawn": [round(t[1]) for t in times],
    }
    TIMINGS["step_render_median_ms"] = round(statistics.median(drawn))
    assert statistics.median(drawn) < 1000, f"one step took {statistics.median(drawn):.0f} ms to draw"


def test_compare_runs_in_the_background_and_the_page_stays_responsive(server, page):
    open_page(page, server + "?tab=explore&cmp=baseline,policy_tighter_controls&cmp_n=3000")
    page.get_by_role("tab", name="Compare").click()
    page.locator(".ws-compare-run").click()
    page.locator(".ws-compare-status", has_text="running").wait_for(timeout=20_000)
    page.get_by_role("tab", name="Explore").click()
    page.wait_for_selector(".ws-chart-usage[data-ready='1']", timeout=20_000)
    busy = [step(page) for _ in range(3)]
    TIMINGS["step_during_compare_ms"] = [round(t[1]) for t in busy]
    assert max(t[1] for t in busy) < 5000
    page.get_by_role("tab", name="Compare").click()
    page.locator(".ws-compare-status", has_text="20 of 20 runs finished").wait_for(timeout=120_000)
    page.wait_for_selector(".ws-compare-bands[data-ready='1']", timeout=20_000)
    page.wait_for_selector(".ws-compare-diff[data-ready='1']", timeout=20_000)
    page.wait_for_timeout(500)
    page.screenshot(path=ARTIFACTS / "compare.png")
