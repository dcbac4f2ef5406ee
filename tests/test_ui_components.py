"""Solara component tests of the UI pieces, rendered in-process (no browser, no server)."""

from __future__ import annotations

import ipyvuetify as v
import pytest
import solara

from sim.params import REGISTRY
from sim.ui import session as S
from sim.ui.echarts import ChartWidget
from sim.ui.state import Settings

P = REGISTRY["beta_open"]
BASE = {"n_developers": 400}  # every page here starts from this change (a small population)


@pytest.fixture
def page():
    """The whole page at a small population (the reactives are process-global outside a server)."""
    for r, value in ((S.settings, Settings()), (S.live, None), (S.reference, None), (S.selected, None)):
        r.value = value
    S.problems.value = []
    S.playing.value = False
    from sim.ui import app

    original = app.decode
    app.decode = lambda search: (Settings(params=dict(BASE)), [])
    try:
        _, rc = solara.render(app.Page(), handle_error=False)
        yield rc
    finally:
        app.decode = original
        rc.close()


def html_with(rc, marker: str) -> list[str]:
    return [w.unsafe_innerHTML for w in rc.find(solara.widgets.HTML).widgets if marker in w.unsafe_innerHTML]


def chart(rc, key: str) -> ChartWidget:
    (w,) = [w for w in rc.find(ChartWidget).widgets if f"ws-chart-{key}" in w.attributes.get("class", "")]
    return w


def type_into(rc, css_class: str, text: str) -> None:
    field = rc.find(v.TextField, class_=css_class).widget
    field.v_model = text
    field.fire_event("keyup.enter", None)


def test_step_advances_the_month_numbers_and_charts(page):
    rc = page
    assert S.live.value.t == 0
    before = chart(rc, "usage").option
    rc.find(v.Btn, children=["+12"]).widget.click()
    assert S.live.value.t == 12
    assert "2023-12" in html_with(rc, "ws-month")[0]
    assert chart(rc, "usage").option != before
    assert len(chart(rc, "usage").option["series"][0]["data"]) == 12
    rc.find(v.Btn, children=["Step"]).widget.click()
    assert S.live.value.t == 13 and "2024-01" in html_with(rc, "ws-month")[0]
    rc.find(v.Btn, children=["Reset"]).widget.click()
    assert S.live.value.t == 0


def test_a_bad_typed_value_shows_an_inline_message_and_changes_nothing(page):
    rc = page
    run = S.live.value
    type_into(rc, "ws-input-beta_open", "lots")
    (msg,) = html_with(rc, "not allowed")
    assert "beta_open" in msg and "'lots'" in msg and f"[{P.low:g}, {P.high:g}]" in msg
    assert "Traceback" not in msg
    assert S.live.value is run and S.settings.value.params == BASE


def test_a_typed_value_reruns_to_the_same_month_and_draws_the_preset_dashed(page):
    rc = page
    rc.find(v.Btn, children=["+12"]).widget.click()
    new = P.low if S.settings.value.preset_params()["beta_open"] != P.low else P.high
    type_into(rc, "ws-input-beta_open", str(new))
    assert S.settings.value.params == BASE | {"beta_open": new}
    assert S.live.value.t == 12 and S.live.value.model.p["beta_open"] == new
    assert S.reference.value is not None and S.reference.value.t == 12
    names = [s["name"] for s in chart(rc, "usage").option["series"]]
    assert any(n.endswith("(preset)") for n in names)
    assert not html_with(rc, "not allowed")


def test_picking_a_preset_starts_from_its_own_controls(page):
    rc = page
    S.apply(S.settings.value.with_param("beta_open", P.high))
    rc.find(v.Select, label="Scenario preset").widget.v_model = "convergence"
    assert S.settings.value.scenario == "convergence" and S.settings.value.params == {}
    assert S.live.value.scenario.name == S.settings.value.preset().name


def test_clicking_agents_shows_their_state(page):
    rc = page
    rc.find(v.Btn, children=["+12"]).widget.click()
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
    rc.find(v.Btn, children=[f"▸ Policies ({n_preset} in force)"]).widget.click()
    rc.find(v.Checkbox).widgets[0].v_model = False
    assert S.settings.value.off == (0,)
    rc.find(v.Btn, children=["Add a policy"]).widget.click()
    type_into(rc, "ws-month-start", "2026-13")
    assert any("start" in m for w in rc.find(v.TextField, class_="ws-month-start").widgets for m in w.messages)
    rc.find(v.Btn, children=["Add policy"]).widget.click()
    (msg,) = html_with(rc, "not allowed")
    assert "start" in msg and "2026-13" in msg and S.settings.value.policies == ()
    type_into(rc, "ws-month-start", "2027-01")
    type_into(rc, "ws-input-policy-tightness", "0.95")
    rc.find(v.Btn, children=["Add policy"]).widget.click()
    assert S.settings.value.policies == ({"kind": "chip_export_controls", "start": "2027-01", "tightness": 0.95},)
    assert len(S.live.value.scenario.policies) == n_preset  # one off, one added


def test_a_bad_shared_link_is_reported_above_the_tabs():
    from sim.ui import app

    S.live.value = None
    S.problems.value = []
    original = app.decode
    app.decode = lambda search: original("scenario=baseline&n_developers=400&beta_open=oops")
    try:
        _, rc = solara.render(app.Page(), handle_error=False)
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
