"""The Explore tab: controls on the left, the live run on the right.

The controls and the live view are separate components on purpose: a step re-renders only the
live view (charts, numbers, inspector), not the forty controls, which keeps a step fast.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from dataclasses import replace
from typing import Any

import numpy as np
import solara

from sim.calendar import month_label
from sim.recorder import COLUMNS
from sim.ui.charts import LIVE_CHARTS, group_of, labs_option, line_option, months_axis, network_option, regions_option
from sim.ui.controls import Fold, Md, NumberField, ParamPanel, PolicyPanel, ScenarioPicker
from sim.ui.echarts import echart
from sim.ui.export import charts_png, tables_zip
from sim.ui.session import apply, live, playing, reference, reset, selected, settings, step, version
from sim.ui.state import SPEED_RANGE, LiveRun, Settings, encode

KPIS = (
    ("usage_share_cn_open", "Chinese open", "#d62728"),
    ("usage_share_west_open", "Western open", "#1f77b4"),
    ("usage_share_closed", "Closed", "#7f7f7f"),
    ("download_share_cn_open", "CN share of open downloads", "#d62728"),
)
BIG = "font-size:30px;font-weight:700"


def share_url(s: Settings, month: int) -> str:
    """The full shared link (host and port from the server), restoring settings and month."""
    host, port = os.environ.get("SERVER_NAME", "127.0.0.1"), os.environ.get("SERVER_PORT", "8765")
    if host in ("0.0.0.0", "::", ""):  # listening everywhere: name this machine instead
        try:
            host = socket.gethostbyname(socket.gethostname())
        except OSError:
            host = "127.0.0.1"
    return f"http://{host}:{port}/?{encode(replace(s, month=month))}"


@solara.component
def RunControls() -> None:
    """Play / pause / step / reset, speed and seed; the play loop runs in a thread of its own."""
    s = settings.value
    run = live.value

    def play_loop(cancel: threading.Event) -> None:
        while playing.value and not cancel.is_set():
            t0 = time.perf_counter()
            if not step():
                playing.value = False
                return
            cancel.wait(max(0.01, 1.0 / settings.value.speed - (time.perf_counter() - t0)))

    solara.use_thread(play_loop, dependencies=[playing.value, run], intrusive_cancel=False)
    done = run is None or run.done
    with solara.Row(gap="6px", style={"flex-wrap": "wrap"}):
        if playing.value:
            solara.Button("❚❚ Pause", color="primary", on_click=lambda: playing.set(False), classes=["ws-pause"])
        else:
            solara.Button(
                "▶ Play", color="primary", on_click=lambda: playing.set(True), disabled=done, classes=["ws-play"]
            )
        solara.Button("Step", on_click=lambda: step(), disabled=done or playing.value, classes=["ws-step"])
        solara.Button("+12", on_click=lambda: step(12), disabled=done or playing.value, classes=["ws-step12"])
        solara.Button("Reset", on_click=reset, outlined=True, classes=["ws-reset"])
    NumberField(
        label="speed (months per second)",
        value=s.speed,
        low=SPEED_RANGE[0],
        high=SPEED_RANGE[1],
        integer=True,
        on_value=lambda v: apply(replace(settings.value, speed=int(v))),
        parse=_parse_speed,
        tooltip="How fast ▶ Play advances the model.",
        testid="speed",
    )
    NumberField(
        label="seed (random draws)",
        value=s.seed,
        low=0,
        high=999,
        integer=True,
        on_value=lambda v: apply(replace(settings.value, seed=int(v))),
        parse=_parse_seed,
        tooltip="Same seed, same run. Change it to see how much of a result is chance.",
        testid="seed",
    )


def _parse_speed(text: str) -> int:
    from sim.errors import InputError

    try:
        v = float(text)
    except ValueError:
        v = None
    if v is None or not v.is_integer() or not SPEED_RANGE[0] <= v <= SPEED_RANGE[1]:
        raise InputError("Run", "speed", text, f"a whole number of months per second in {list(SPEED_RANGE)}")
    return int(v)


def _parse_seed(text: str) -> int:
    from sim.errors import InputError

    try:
        v = float(text)
    except ValueError:
        v = None
    if v is None or not v.is_integer() or not 0 <= v <= 2**31 - 1:
        raise InputError("Run", "seed", text, "a whole number >= 0")
    return int(v)


@solara.component
def Controls() -> None:
    """Everything a visitor can change (left column)."""
    s = settings.value
    ScenarioPicker(s, apply)
    RunControls()
    with Fold(f"Policies ({len(s.preset().policies) - len(s.off) + len(s.policies)} in force)"):
        PolicyPanel(s, apply)
    with Fold("Parameters", expand=True):
        n = (s.preset_params() | s.params)["n_developers"]
        solara.Text(
            f"{n:,} developer agents. Changing a value re-runs from 2023-01 to this month.",
            style={"font-size": "13px", "color": "#555"},
        )
        ParamPanel(s, apply)


def _series(run: LiveRun) -> dict[str, np.ndarray]:
    ts = run.model.recorder.ts
    return {k: v[: run.t] for k, v in ts.items()}


@solara.component
def Kpis(run: LiveRun, t: int) -> None:
    """Big numbers for the back of the room: the month and the headline shares (`t`: months run)."""
    ts = run.model.recorder.ts
    label = month_label(t - 1) if t else "2023-01 (not started)"
    phase = "history" if 0 < t <= 36 else ("projection" if t > 36 else "press ▶ Play or Step")
    sticky = {"position": "sticky", "top": "0", "z-index": "5", "background": "white", "padding-bottom": "4px"}
    with solara.Row(gap="10px", style={"flex-wrap": "wrap", "align-items": "stretch", **sticky}):
        solara.HTML(
            tag="div",
            unsafe_innerHTML=f"<div style='font-size:13px;color:#555'>month {t} of {run.months} · {phase}</div>"
            f"<div class='ws-month' style='{BIG}'>{label}</div>",
            style={"padding": "4px 14px", "border-left": "4px solid #333"},
        )
        for col, name, colour in KPIS:
            v = ts[col][t - 1] if t else float("nan")
            shown = f"{v * 100:.1f}%" if np.isfinite(v) else "–"
            solara.HTML(
                tag="div",
                unsafe_innerHTML=f"<div style='font-size:13px;color:#555'>{name}</div>"
                f"<div class='ws-kpi' data-key='{col}' style='{BIG};color:{colour}'>{shown}</div>",
                style={"padding": "4px 14px", "border-left": f"4px solid {colour}"},
            )


@solara.component
def Inspector(run: LiveRun, t: int) -> None:
    """The state of the clicked agent (developer, lab) or region, refreshed every step."""
    sel = selected.value
    if sel is None:
        solara.Text("Click a dot in the network, a bar in the labs chart or a region to inspect it.")
        return
    kind, key = sel
    m = run.model
    if kind == "developer":
        state = m.developers[key].state()
        title = f"Developer agent {state.get('id', key)}"
    elif kind == "lab":
        state = m.labs[key].state() | {"usage_share": float(m.usage_share[key])}
        title = f"Lab: {m.labs[key].name}"
    else:
        reg = m.recorder.reg
        state = {c: float(reg[c][run.t - 1, key]) if run.t else None for c in reg}
        title = f"Region: {m.world.regions[key]}"
    rows = "\n".join(f"| {k} | {_show(v)} |" for k, v in state.items())
    Md(f"**{title}** ({month_label(max(run.t - 1, 0))})\n\n| | |\n|---|---|\n{rows}")


def _show(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "–" if v is None else str(v)


@solara.component
def LiveView() -> None:
    """Numbers, charts, network, regions and inspector of the live run (re-rendered every step).

    The only reader of `version`: its children get the month as an argument, so one step is one
    render pass (each subscriber would add a pass over the whole page).
    """
    version.value  # noqa: B018  (subscribe: re-render after every step)
    run, ref = live.value, reference.value
    if run is None:
        solara.ProgressLinear(True)
        return
    with run.lock:
        data = _series(run)
        refdata = _series(ref) if ref is not None else None
        m = run.model
        choice = m.choice.copy()
        usage, avail = m.usage_share.copy(), m.available.copy()
        t = run.t
        shares = {
            c: m.recorder.reg[c][t - 1] if t else np.zeros(len(m.world.regions))
            for c in COLUMNS["regions"]
            if c.startswith("usage")
        }
    x = months_axis(run.months)
    Kpis(run, t)
    if "model_ms" in run.timing:
        solara.Text(
            f"last step: model {run.timing['model_ms']:.0f} ms, page {run.timing['page_ms']:.0f} ms",
            style={"font-size": "12px", "color": "#888"},
            classes=["ws-timing"],
        )
    w = m.world

    def click_dev(data: dict) -> None:
        index = {str(i): d for i, d in zip(run.sample.ids, run.sample.nodes, strict=True)}.get(str(data.get("name")))
        if data.get("seriesType") == "graph" and index is not None:
            selected.set(("developer", int(index)))

    def click_lab(data: dict) -> None:
        if data.get("name") in w.families:
            selected.set(("lab", w.families.index(data["name"])))

    def click_region(data: dict) -> None:
        if data.get("name") in w.regions:
            selected.set(("region", w.regions.index(data["name"])))

    s = run.sample
    with solara.GridFixed(columns=2):
        for chart in LIVE_CHARTS:
            echart(line_option(chart, x, data, refdata), classes=f"ws-chart-{chart.key}")
        echart(labs_option(w, usage, avail), on_click=click_lab, classes="ws-chart-labs")
        echart(
            network_option(w, s.nodes, s.egos, s.edges, s.xy, choice, s.ids),
            on_click=click_dev,
            height=420,
            classes="ws-chart-network",
        )
        with solara.Card("Inspector", style={"min-height": "420px"}):  # beside the network: click, read
            Inspector(run, t)
        echart(regions_option(w.regions, shares), on_click=click_region, height=380, classes="ws-chart-regions")
        with solara.Card("Export and share"):
            ExportShare(run, t)
    counts = np.bincount(group_of(w, choice), minlength=4)
    solara.Text(
        f"Developer agents: {counts[0]:,} on Chinese open, {counts[1]:,} on Western open, "
        f"{counts[2]:,} on closed, {counts[3]:,} not yet using a model.",
        style={"font-size": "13px", "color": "#555"},
    )


@solara.component
def ExportShare(run: LiveRun, t: int) -> None:
    """CSV tables and PNG charts of the current run, and a link that restores it."""
    s = settings.value
    name = f"weightshift-{s.scenario}-seed{s.seed}-{month_label(max(run.t - 1, 0))}"

    def csv_zip() -> bytes:
        note = f"Weightshift run: {s.scenario}, seed {s.seed}, to {month_label(max(run.t - 1, 0))}.\n"
        note += f"Restore it: {share_url(s, run.t)}\n"
        return tables_zip(run.tables(), note)

    def png() -> bytes:
        tables = run.tables()
        return charts_png(tables["timeseries"], months_axis(run.months), f"Weightshift: {s.scenario} (seed {s.seed})")

    with solara.Row(gap="8px", style={"flex-wrap": "wrap"}):
        solara.FileDownload(csv_zip, filename=f"{name}.zip", label="Tables (CSV, zip)", mime_type="application/zip")
        solara.FileDownload(png, filename=f"{name}.png", label="Charts (PNG)", mime_type="image/png")
    url = share_url(s, run.t)
    solara.InputText("Share link (restores scenario, controls and month)", value=url, classes=["ws-share"])


@solara.component
def Explore() -> None:
    """The Explore tab: controls left, live run right."""
    with solara.Row(gap="16px", style={"align-items": "flex-start", "flex-wrap": "nowrap"}):
        with solara.Column(style={"width": "380px", "min-width": "340px", "flex": "0 0 380px"}):
            Controls()
        with solara.Column(style={"flex": "1", "min-width": "0"}):
            LiveView()
