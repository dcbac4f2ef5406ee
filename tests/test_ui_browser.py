"""The UI in a real browser (see tests/uibrowser.py): first paint, a demo's path through Explore, the
shared link, inline messages, play and pause, clicking agents, step timings and Compare.

The first paint runs with the fast suite (`bash run.sh test`), as a smoke test of the real page; the
rest are marked `browser` (a few minutes of Chromium and model runs) and run in CI (.ci/run) and
with `bash run.sh test -m browser`."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest
from uibrowser import ARTIFACTS, TIMINGS, kpis, month, open_page, sized_page, step, wait_idle


def test_first_paint_shows_the_calibrated_history_and_asks_nothing_outside_this_machine(server, page):
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.on("websocket", lambda ws: requests.append(ws.url))
    seconds = open_page(page, server)
    TIMINGS["first_paint_1600x1000_s"] = round(seconds, 2)
    outside = [
        u for u in requests if urlparse(u).hostname not in ("127.0.0.1",) and not u.startswith(("data:", "blob:"))
    ]
    assert outside == []
    assert any(u.startswith("ws://127.0.0.1") for u in requests)  # the live connection is local too
    assert month(page) == "2025-12"  # the story so far, not empty charts
    assert all(v.endswith("%") for v in kpis(page).values())
    assert seconds < 60, f"first paint took {seconds:.1f} s"
    page.screenshot(path=ARTIFACTS / "first_paint.png")


@pytest.mark.browser
def test_preset_slider_step_and_shared_link(server, page, browser):
    open_page(page, server)
    page.locator(".v-input", has_text="Scenario preset").locator(".v-select__slot").click()
    page.locator(".v-menu__content .v-list-item", has_text="regulatory_fragmentation").click()
    page.wait_for_url("**scenario=regulatory_fragmentation**", timeout=20_000)
    wait_idle(page)
    assert month(page) == "2025-12"
    before_numbers = kpis(page)
    assert all(v.endswith("%") for v in before_numbers.values())

    slider = page.locator(".ws-slider-beta_open")
    box = slider.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.97, box["y"] + box["height"] / 2)
    page.wait_for_url("**beta_open=**", timeout=20_000)
    page.locator(".ws-delta").first.wait_for(timeout=30_000)  # the exact run, with its difference from the preset
    wait_idle(page)
    assert month(page) == "2025-12"
    assert kpis(page) != before_numbers
    typed = page.locator(".ws-input-beta_open input").input_value()
    moved = float(parse_qs(urlparse(page.url).query)["beta_open"][0])
    assert float(typed) == moved

    step(page)
    after = kpis(page)
    assert month(page) == "2026-01"
    page.wait_for_url("**month=2026-01**", timeout=20_000)  # the address bar carries the month

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
    with sized_page(browser) as other:
        open_page(other, link)
        assert month(other) == "2026-01"
        assert kpis(other) == after
        assert other.locator(".ws-input-beta_open input").input_value() == typed
        assert "regulatory_fragmentation" in other.locator(".v-input", has_text="Scenario preset").inner_text()
        other.screenshot(path=ARTIFACTS / "restored_from_link.png")


@pytest.mark.browser
def test_reload_keeps_the_month(server, page):
    open_page(page, server)
    step(page)
    step(page)
    assert month(page) == "2026-02"
    page.wait_for_url("**month=2026-02**", timeout=20_000)
    page.reload()
    page.wait_for_selector(".ws-chart-usage[data-ready='1']", timeout=60_000)
    wait_idle(page)
    assert month(page) == "2026-02"


@pytest.mark.browser
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
    field.fill("1,5")
    field.press("Enter")
    page.locator(".ws-error", has_text="'1,5'").wait_for(timeout=10_000)
    assert "commas only between thousands" in page.locator(".ws-error").first.inner_text()
    page.screenshot(path=ARTIFACTS / "inline_error.png")


@pytest.mark.browser
def test_play_and_pause(server, page):
    open_page(page, server + "?speed=4&month=2024-01")  # 7 years from the end: Pause comes first
    page.locator(".ws-play").click()
    page.wait_for_function("document.querySelector('.ws-month').innerText >= '2024-03'", timeout=60_000)
    page.locator(".ws-pause").click()
    page.locator(".ws-play").wait_for(timeout=120_000)  # Pause returns once no step is in flight
    paused = month(page)
    step(page)  # one Step moves exactly one month: no play step came after the pause
    year, mon = map(int, paused.split("-"))
    assert month(page) == f"{year + mon // 12}-{mon % 12 + 1:02d}"
    assert page.locator(".ws-play").is_visible()


@pytest.mark.browser
def test_clicking_a_developer_in_the_network_shows_its_state(server, page):
    open_page(page, server + "?month=2024-06")
    net = page.locator(".ws-chart-network")
    net.scroll_into_view_if_needed()
    box = net.bounding_box()
    # where ECharts drew the first few dots (pixels inside the chart): click one, as a visitor would
    dots = page.evaluate(
        """() => { const c = [...window.wsCharts].find(c => c.getDom().classList.contains('ws-chart-network'));
        const series = c.getModel().getSeriesByIndex(0);
        const data = series.getData();
        return [0, 1, 2, 3, 4].map(i => series.coordinateSystem.dataToPoint(data.getItemLayout(i))); }"""
    )
    inspected = page.locator(".ws-md", has_text="Developer agent")
    for x, y in dots:
        page.mouse.click(box["x"] + x, box["y"] + y)
        try:
            inspected.wait_for(timeout=10_000)
        except Exception:  # covered by a neighbour's edge or label: the next dot
            continue
        break
    text = inspected.inner_text()
    assert "region" in text and "segment" in text and "trust_sensitivity" in text


@pytest.mark.browser
def test_compare_runs_in_the_background_and_the_page_stays_responsive(server, page):
    open_page(page, server + "?tab=explore&cmp=baseline,policy_tighter_controls&cmp_n=3000")
    page.get_by_role("tab", name="Compare").click()
    page.locator(".ws-compare-run").click()
    page.locator(".ws-compare-status", has_text="running").wait_for(timeout=20_000)
    page.get_by_role("tab", name="Explore").click()
    page.wait_for_selector(".ws-chart-usage[data-ready='1']", timeout=20_000)
    wait_idle(page)
    busy = [step(page) for _ in range(3)]
    TIMINGS["step_during_compare_ms"] = [round(t[1]) for t in busy]
    assert max(t[1] for t in busy) < 10_000
    page.get_by_role("tab", name="Compare").click()
    page.locator(".ws-compare-status", has_text="20 of 20 runs finished").wait_for(timeout=180_000)
    page.wait_for_selector(".ws-compare-bands[data-ready='1']", timeout=20_000)
    page.wait_for_selector(".ws-compare-diff[data-ready='1']", timeout=20_000)
    page.screenshot(path=ARTIFACTS / "compare.png")
