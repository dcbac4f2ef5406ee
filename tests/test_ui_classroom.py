"""The UI as a class meets it (see tests/uibrowser.py): a projector's 1024x768 screen, bursts of clicks,
markup typed into fields, the end of a run, the instant preview, and memory after sessions close.

All marked `browser`: CI (.ci/run) runs them, and so does `bash run.sh test -m browser`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from uibrowser import (
    ARTIFACTS,
    SERVERS,
    TIMINGS,
    handled,
    median,
    month,
    open_page,
    sized_page,
    step,
    wait_idle,
)

pytestmark = pytest.mark.browser

# Every text element ECharts drew, per chart: [{cls, W, H, boxes: [{text, x, y, w, h, rotated}]}].
TEXT_BOXES_JS = """() => [...(window.wsCharts || [])].filter(c => c.getDom().offsetParent).map(chart => {
    const dom = chart.getDom();
    const boxes = [];
    chart.getZr().storage.getDisplayList(true).forEach(el => {
        if (el.type !== 'tspan' || el.ignore || el.invisible || !el.style || !el.style.text) return;
        const r = el.getBoundingRect().clone();
        if (el.transform) r.applyTransform(el.transform);
        boxes.push({text: String(el.style.text), x: r.x, y: r.y, w: r.width, h: r.height,
                    rotated: !!el.rotation || !!(el.parent && el.parent.rotation)});
    });
    return {cls: dom.className, W: dom.clientWidth, H: dom.clientHeight, boxes};
})"""

# Armed before a slider is moved: the time of the release of the mouse (when the slider takes its
# value), then of the first frame showing the preview (≈ numbers and the pale line drawn in the usage
# chart), then of the first showing the exact run (exact numbers with their Δ, full line, not busy).
# `option`: when the last chart option before the preview's frame arrived (the rest is ECharts' drawing).
ARM_PREVIEW_JS = """() => {
    const usage = [...window.wsCharts].find(c => c.getDom().classList.contains('ws-chart-usage'));
    const pale = () => { const s = usage.getOption().series; return !!s && !!s[0] && s[0].lineStyle.opacity < 1; };
    const kpi = () => document.querySelector('.ws-kpi');
    const w = window.wsPreview = {t0: null, preview: null, option: null, exact: null};
    const release = () => { if (w.t0 === null) w.t0 = performance.now(); };
    window.addEventListener('mouseup', release, {capture: true, once: true});
    const poll = () => {
        if (w.t0 !== null) {
            const now = performance.now() - w.t0, k = kpi();
            const busy = !!document.querySelector('.ws-busy');
            if (w.preview === null && k && k.innerText.startsWith('≈') && pale()) {
                w.preview = now;
                w.option = (window.wsLastOption || 0) - w.t0;
            }
            if (w.preview !== null && !busy && k && !k.innerText.startsWith('≈') && !pale()
                && document.querySelector('.ws-delta')) { w.exact = now; return; }
        }
        requestAnimationFrame(poll);
    };
    requestAnimationFrame(poll);
}"""
SHOWN_JS = "() => window.wsPreview.exact !== null"


def overlaps(boxes: list[dict]) -> list[tuple[str, str]]:
    """Pairs of labels whose boxes overlap by more than a pixel (rotated labels' boxes are not tight)."""
    flat = [b for b in boxes if not b["rotated"]]
    out = []
    for i, a in enumerate(flat):
        for b in flat[i + 1 :]:
            dx = min(a["x"] + a["w"], b["x"] + b["w"]) - max(a["x"], b["x"])
            dy = min(a["y"] + a["h"], b["y"] + b["h"]) - max(a["y"], b["y"])
            if dx > 1 and dy > 1:
                out.append((a["text"], b["text"]))
    return out


@pytest.mark.parametrize(
    "width,height",
    [
        (1024, 768),
        pytest.param(1280, 720, marks=pytest.mark.slow),
        pytest.param(1400, 900, marks=pytest.mark.slow),
        (1600, 1000),
    ],
)
def test_charts_fit_the_screen_labels_do_not_overlap_titles_and_legends_are_whole(server, browser, width, height):
    with sized_page(browser, width, height) as pg:
        first = open_page(pg, server)
        pg.wait_for_function("(window.wsCharts || new Set()).size >= 8", timeout=30_000)
        step(pg, ".ws-step12")  # a longer line, and the charts drawn once more
        times = [step(pg) for _ in range(5)]
        TIMINGS[f"first_paint_{width}x{height}_s"] = round(first, 2)
        TIMINGS[f"step_redraw_median_{width}x{height}_ms"] = median([t[1] for t in times])
        print(f"{width}x{height}: first paint {first:.2f} s, step redraw median {median([t[1] for t in times])} ms")
        charts = pg.evaluate(TEXT_BOXES_JS)
        pg.screenshot(path=ARTIFACTS / f"explore_{width}x{height}.png", full_page=True)
    assert len(charts) >= 8
    for c in charts:
        assert overlaps(c["boxes"]) == [], f"{c['cls']} at {width}x{height}: overlapping labels"
        texts = [b["text"] for b in c["boxes"]]
        assert not [t for t in texts if "/" in t and t.replace("/", "").isdigit()], "a legend is paged"
        for b in c["boxes"]:
            assert b["x"] >= -1 and b["x"] + b["w"] <= c["W"] + 1, f"{b['text']!r} cut at {width}px in {c['cls']}"
    usage = next(c for c in charts if "ws-chart-usage" in c["cls"])
    years = [b["text"] for b in usage["boxes"] if b["text"].isdigit() and len(b["text"]) == 4]
    assert len(years) >= 3, "the time axis lost its year labels"
    assert "Closed" in [b["text"] for b in usage["boxes"]]  # the legend shows every origin


def test_a_burst_of_resets_is_coalesced_and_the_page_answers_at_once(server, page):
    open_page(page, server)
    page.evaluate("() => { for (let i = 0; i < 20; i++) document.querySelector('.ws-reset').click(); }")
    handled(page)  # a busy page may go idle between two of the clicks: wait until all are handled
    page.wait_for_function("document.querySelector('.ws-month').innerText.includes('not started')", timeout=60_000)
    wait_idle(page)
    assert page.locator(".ws-play").is_visible()  # no Play fired by itself
    step(page)
    assert month(page) == "2023-01"


def test_a_burst_of_compare_runs_starts_one_comparison_and_finishes_it(server, page):
    open_page(page, server + "?cmp=baseline,policy_tighter_controls&cmp_n=2000")
    page.get_by_role("tab", name="Compare").click()
    page.locator(".ws-compare-run").click()  # at once after opening the tab
    page.evaluate("() => { for (let i = 0; i < 20; i++) document.querySelector('.ws-compare-run').click(); }")
    status = page.locator(".ws-compare-status")
    status.wait_for(timeout=20_000)
    page.locator(".ws-compare-status", has_text="20 of 20 runs finished").wait_for(timeout=180_000)
    assert "cancelled" not in status.inner_text()
    page.wait_for_selector(".ws-compare-bands[data-ready='1']", timeout=20_000)


MARKUP = '<img src=x onerror="window.wsPwned=1"><b>bold</b>'


def test_markup_typed_into_any_field_is_shown_as_text_and_never_runs(server, page):
    open_page(page, server)
    page.get_by_role("button", name="▸ Policies").click()
    page.get_by_role("button", name="Add a policy").click()
    fields = page.locator(".ws-controls input[type='text']")
    page.locator(".ws-month-start input").wait_for(timeout=10_000)
    n = fields.count()
    assert n >= 10  # speed, seed, the parameters of the open group, the policy form's fields
    checked = 0
    for i in range(n):
        field = fields.nth(i)
        if not field.is_editable():  # a drop-down list: nothing to type
            continue
        number = "ws-input-" in field.evaluate("e => e.closest('.v-input').className")
        before = page.locator(".ws-error").count()
        field.fill(MARKUP)
        field.press("Enter")
        if number:  # its message appears under it, quoting the text
            page.wait_for_function(f"document.querySelectorAll('.ws-error').length > {before}", timeout=20_000)
            checked += 1
    assert checked >= 10
    assert page.evaluate("window.wsPwned") is None
    assert page.locator(".ws-explore img[src='x']").count() == 0 and page.locator(".ws-explore b").count() == 0
    assert page.locator(".ws-error", has_text=MARKUP).count() == checked  # shown as the text it is


def test_the_end_of_the_run_disables_stepping_and_offers_to_run_again(server, page):
    open_page(page, server + "?month=2030-11")
    step(page)
    assert month(page) == "2030-12"
    page.locator(".ws-end", has_text="End of the run (2030-12)").wait_for(timeout=20_000)
    assert page.locator(".ws-step").is_disabled() and page.locator(".ws-step12").is_disabled()
    assert page.locator(".ws-timing").count() == 0
    page.locator(".ws-run-again").click()
    page.wait_for_function("document.querySelector('.ws-month').innerText < '2030'", timeout=120_000)
    page.locator(".ws-pause").wait_for(timeout=60_000)  # started over, and playing


def test_a_slider_answers_at_once_with_a_preview_then_the_exact_run(server, page):
    open_page(page, server)
    slider = page.locator(".ws-slider-beta_peers")
    times = []
    for frac in (0.9, 0.2, 0.7, 0.4, 0.8, 0.3, 0.6):
        slider.scroll_into_view_if_needed()
        page.evaluate(ARM_PREVIEW_JS)
        box = slider.bounding_box()
        page.mouse.click(box["x"] + box["width"] * frac, box["y"] + box["height"] / 2)
        page.wait_for_function(SHOWN_JS, timeout=60_000)  # the preview was drawn, then the exact run
        times.append(page.evaluate("() => window.wsPreview"))
        wait_idle(page)
    preview = median([t["preview"] for t in times])
    exact = median([t["exact"] for t in times])
    TIMINGS["slider_to_preview_ms"] = [round(t["preview"]) for t in times]
    TIMINGS["slider_to_preview_median_ms"] = preview
    TIMINGS["slider_to_preview_option_median_ms"] = median([t["option"] for t in times])
    TIMINGS["slider_to_exact_median_ms"] = exact
    arrived = TIMINGS["slider_to_preview_option_median_ms"]
    print(f"slider to preview: median {preview} ms (its chart option in the page at {arrived} ms); exact: {exact} ms")
    assert all(t["preview"] <= t["exact"] for t in times)


def _rss_mib(pid: int) -> float:
    """Resident memory of `pid` and its children (the Solara server runs as a child of `weightshift ui`)."""
    total = 0.0
    pids = [pid]
    while pids:
        p = pids.pop()
        status = Path(f"/proc/{p}/status").read_text()
        total += int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS"))) / 1024
        for task in Path(f"/proc/{p}/task").iterdir():
            children = (task / "children").read_text().split()
            pids += [int(c) for c in children]
    return total


@pytest.mark.slow  # 21 sessions: a few minutes on a busy machine; CI runs it (.ci/run)
@pytest.mark.skipif(not Path("/proc/self/task").exists() or os.name != "posix", reason="reads /proc (Linux)")
def test_memory_returns_near_the_baseline_after_20_sessions_close(server, browser):
    pid = SERVERS[server]

    def session() -> None:
        with sized_page(browser, 1280, 720) as pg:
            open_page(pg, server + "?n_developers=5000")
            step(pg, ".ws-step12")
            pg.close(run_before_unload=True)  # the tab closes: the browser tells the server

    session()  # warm: imports, caches and the first allocations
    base = _rss_mib(pid)
    for _ in range(20):
        session()
    after = _rss_mib(pid)
    TIMINGS["rss_mib"] = {"before_20_sessions": round(base), "after_20_sessions": round(after)}
    print(f"RSS of the UI server: {base:.0f} MiB before 20 sessions, {after:.0f} MiB after they closed")
    assert after - base < 60, f"RSS grew from {base:.0f} to {after:.0f} MiB over 20 closed sessions"
