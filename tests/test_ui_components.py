"""Solara component tests of the UI pieces, rendered in-process (no browser, no server)."""

from __future__ import annotations

import re

import ipyvuetify as v
import pytest
import solara

from sim.params import REGISTRY
from sim.ui import session as S
from sim.ui.controls import has_slider, nice_step, on_grid
from sim.ui.echarts import ChartWidget
from sim.ui.state import Settings

P = REGISTRY["beta_open"]
BASE = {"n_developers": 400}  # every page here starts from this change (a small population)


def settle() -> None:
    """Wait until the session's builder has built the latest request (it works in a thread)."""
    assert S.builder().idle(timeout=120), "the live run was not built within 120 s"


def fresh_session() -> None:
    """The reactives are process-global outside a server: start each test from a fresh session."""
    S.close()
    S.settings.value = Settings()
    S.problems.value = []


@pytest.fixture
def page():
    """The whole page at a small population, opened on the calibrated history (2025-12)."""
    fresh_session()
    from sim.ui import app

    original = app.decode
    app.decode = lambda search: (Settings(params=dict(BASE)), [])
    try:
        _, rc = solara.render(app.Page(), handle_error=False)
        settle()
        yield rc
    finally:
        app.decode = original
        rc.close()
        S.close()


def html_with(rc, marker: str) -> list[str]:
    return [w.unsafe_innerHTML for w in rc.find(solara.widgets.HTML).widgets if marker in w.unsafe_innerHTML]


def errors(rc) -> list[str]:
    """The messages shown under fields (plain text)."""
    return [str(w.children[0]) for w in rc.find(v.Html, class_="ws-error").widgets if w.children]


def chart(rc, key: str) -> ChartWidget:
    (w,) = [w for w in rc.find(ChartWidget).widgets if f"ws-chart-{key}" in w.attributes.get("class", "")]
    return w


def type_into(rc, css_class: str, text: str) -> None:
    field = rc.find(v.TextField, class_=css_class).widget
    field.v_model = text
    field.fire_event("keyup.enter", None)
    settle()


def click(rc, label: str) -> None:
    rc.find(v.Btn, children=[label]).widget.click()
    settle()


def test_a_slider_is_given_the_position_it_shows_so_the_browser_never_sends_it_back():
    assert on_grid(-0.9790967, -3.0, 3.0, 0.05) == -1.0
    assert on_grid(0.05, 0.0, 1.0, 0.02) == 0.06  # half way: up, as the browser rounds
    assert on_grid(0.125, 0.005, 1.0, 0.01) == 0.13  # JavaScript's toFixed: a tie goes up
    for p in REGISTRY.values():
        if p.kind in (int, float) and has_slider(p.low, p.high, p.kind is int):
            step = nice_step(p.low, p.high, p.kind is int)
            for v in (p.low, p.high, (p.low + p.high) / 2):
                once = on_grid(v, p.low, p.high, step)
                assert p.low <= once <= p.high and on_grid(once, p.low, p.high, step) == once


def test_the_page_opens_on_the_calibrated_history_and_steps_into_the_projection(page):
    rc = page
    assert S.live.value.t == 36 and "2025-12" in html_with(rc, "ws-month")[0]
    assert "history (calibrated)" in html_with(rc, "ws-month")[0]
    assert all("%" in h for h in html_with(rc, "ws-kpi"))
    before = chart(rc, "usage").option
    click(rc, "+12")
    assert S.live.value.t == 48
    assert "2026-12" in html_with(rc, "ws-month")[0] and "projection" in html_with(rc, "ws-month")[0]
    assert chart(rc, "usage").option != before
    assert len(chart(rc, "usage").option["series"][0]["data"]) == 48
    click(rc, "Step")
    assert S.live.value.t == 49 and "2027-01" in html_with(rc, "ws-month")[0]
    click(rc, "Reset")
    assert S.live.value.t == 0


def test_at_the_end_of_the_run_step_is_disabled_with_a_note_and_run_again_is_offered(page):
    rc = page
    S.apply(S.settings.value.with_param("months", 40))
    settle()
    assert S.live.value.t == 36
    click(rc, "+12")
    assert S.live.value.done and S.live.value.t == 40
    assert rc.find(v.Btn, children=["Step"]).widget.disabled
    assert rc.find(v.Btn, children=["+12"]).widget.disabled
    assert rc.find(v.Btn, children=["▶ Play"]).widget.disabled
    (note,) = [str(w.children[0]) for w in rc.find(v.Html, class_="ws-end").widgets]
    assert "End of the run (2026-04)" in note
    assert not rc.find(v.Html, class_="ws-timing").widgets  # no "model 0 ms" note for a step that did nothing
    click(rc, "↻ Run again")
    assert S.playing.value and S.live.value.t < 40
    S.pause()


def test_a_bad_typed_value_shows_an_inline_message_and_changes_nothing(page):
    rc = page
    run = S.live.value
    type_into(rc, "ws-input-beta_open", "lots")
    (msg,) = errors(rc)
    assert "beta_open" in msg and "'lots'" in msg and f"[{P.low:g}, {P.high:g}]" in msg
    assert "Traceback" not in msg
    assert S.live.value is run and S.settings.value.params == BASE


def test_a_typed_value_reruns_to_the_same_month_and_draws_the_preset_dashed(page):
    rc = page
    click(rc, "+12")
    new = P.low if S.settings.value.preset_params()["beta_open"] != P.low else P.high
    type_into(rc, "ws-input-beta_open", str(new))
    assert S.settings.value.params == BASE | {"beta_open": new}
    assert S.live.value.t == 48 and S.live.value.model.p["beta_open"] == new
    assert S.reference.value is not None and S.reference.value.t == 48
    names = [s["name"] for s in chart(rc, "usage").option["series"]]
    assert any(n.endswith("(preset)") for n in names)
    assert not html_with(rc, "not allowed")
    deltas = re.findall(r"class='ws-delta'[^>]*>([^<]*)<", "".join(html_with(rc, "ws-delta")))
    assert len(deltas) == 4 and all("vs preset" in d or "= preset" in d for d in deltas)


def test_picking_a_preset_starts_from_its_own_controls(page):
    rc = page
    S.apply(S.settings.value.with_param("beta_open", P.high))
    settle()
    rc.find(v.Select, label="Scenario preset").widget.v_model = "convergence"
    settle()
    assert S.settings.value.scenario == "convergence" and S.settings.value.params == {}
    assert S.live.value.scenario.name == S.settings.value.preset().name


def test_clicking_agents_shows_their_state(page):
    rc = page
    click(rc, "+12")
    node = chart(rc, "network").option["series"][0]["data"][3]
    chart(rc, "network").vue_on_click({"name": node["name"], "seriesType": "graph", "dataType": "node"})
    (text,) = html_with(rc, f"Developer agent {node['name']}")
    assert "region" in text and "segment" in text and "taste_open" in text
    chart(rc, "labs").vue_on_click({"name": "Qwen", "seriesType": "bar"})
    (text,) = html_with(rc, "Lab: Qwen")
    assert "capability" in text and "price_usd_per_mtok" in text
    chart(rc, "regions").vue_on_click({"name": "India", "seriesType": "bar"})
    assert html_with(rc, "Region: India")


def test_policies_can_be_switched_off_and_added_with_checked_fields(page):
    rc = page
    n_preset = len(S.settings.value.preset().policies)
    click(rc, f"▸ Policies ({n_preset} in force)")
    rc.find(v.Checkbox).widgets[0].v_model = False
    settle()
    assert S.settings.value.off == (0,)
    assert not [w for w in rc.find(v.Checkbox).widgets if "('" in w.label]  # lists without Python's tuples
    click(rc, "Add a policy")
    type_into(rc, "ws-month-start", "2026-13")
    assert any("start" in m for w in rc.find(v.TextField, class_="ws-month-start").widgets for m in w.messages)
    click(rc, "Add policy")
    (msg,) = errors(rc)
    assert "start" in msg and "2026-13" in msg and S.settings.value.policies == ()
    type_into(rc, "ws-month-start", "2027-01")
    type_into(rc, "ws-input-policy-tightness", "0.95")
    click(rc, "Add policy")
    assert S.settings.value.policies == ({"kind": "chip_export_controls", "start": "2027-01", "tightness": 0.95},)
    assert len(S.live.value.scenario.policies) == n_preset  # one off, one added


def test_a_bad_shared_link_is_reported_above_the_tabs():
    from sim.ui import app

    fresh_session()
    original = app.decode
    app.decode = lambda search: original("scenario=baseline&n_developers=400&beta_open=oops")
    try:
        _, rc = solara.render(app.Page(), handle_error=False)
        settle()
        texts = [w.children for w in rc.find(v.Alert).widgets]
        assert any("beta_open" in str(t) and "oops" in str(t) for t in texts)
        assert S.settings.value.params == {"n_developers": 400}
        rc.close()
    finally:
        app.decode = original


def test_about_and_calibration_tabs_render():
    from sim.ui.pages import About, Calibration

    S.settings.value = Settings(params={"n_developers": 300})
    _, rc = solara.render(About(), handle_error=False)
    assert html_with(rc, "Things to try in class")
    rc.close()
    _, rc = solara.render(Calibration(), handle_error=False)
    import time

    for _ in range(100):  # the history run is a background thread
        if html_with(rc, "targets inside their accepted range"):
            break
        time.sleep(0.1)
    assert html_with(rc, "targets inside their accepted range")
    assert [w for w in rc.find(ChartWidget).widgets if "ws-calibration" in w.attributes["class"]]
    rc.close()


def test_markup_typed_into_every_field_of_every_group_never_reaches_the_page_as_html(page):
    from sim.ui.controls import GROUPS

    rc = page
    markup = '<img src=x onerror="alert(1)">'
    typed = 0
    for group in GROUPS:
        rc.find(v.Select, label="Parameter group").widget.v_model = group
        for field in rc.find(v.TextField).widgets:
            if field.readonly:
                continue
            field.v_model = markup
            field.fire_event("keyup.enter", None)
            typed += 1
    settle()
    assert typed >= len([p for p in REGISTRY.values() if p.kind is not bool])
    assert not html_with(rc, "<img")  # every message quoting it is plain text
    assert any(markup in e for e in errors(rc))
    assert S.settings.value.params == BASE


def test_compare_offers_posterior_draws_only_when_a_posterior_is_shipped(stub_posterior, monkeypatch):
    import pandas as pd

    from sim import ensemble
    from sim.ui.pages import Compare

    fresh_session()
    S.settings.value = Settings(params=dict(BASE))
    _, rc = solara.render(Compare(), handle_error=False)
    toggle = rc.find(v.BtnToggle, class_="ws-compare-vary").widget
    toggle.v_model = 1
    settle()  # with no live run yet, a change builds one: let it finish before the next test's session
    assert S.settings.value.vary == "posterior"
    rc.close()
    monkeypatch.setattr(ensemble, "posterior", pd.DataFrame)
    _, rc = solara.render(Compare(), handle_error=False)
    assert not rc.find(v.BtnToggle, class_="ws-compare-vary").widgets
    (note,) = rc.find(v.Html, class_="ws-compare-vary-note").widgets
    assert "no calibrated posterior" in str(note.children)
    rc.close()
    fresh_session()
