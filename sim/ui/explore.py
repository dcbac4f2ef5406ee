"""The Explore tab: controls on the left, the live run on the right.

The controls and the live view are separate components on purpose: a step re-renders only the
live view (charts, numbers, inspector), not the forty controls, which keeps a step fast.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import solara

from sim.calendar import month_label
from sim.errors import InputError
from sim.recorder import COLUMNS
from sim.ui.charts import (
    LIVE_CHARTS,
    group_of,
    labs_option,
    line_option,
    main_choice,
    months_axis,
    network_option,
    regions_option,
    task_columns,
)
from sim.ui.controls import Fold, Md, NumberField, ParamPanel, PolicyPanel, ScenarioPicker
from sim.ui.echarts import AddressBar, Echart, Opaque, echart
from sim.ui.export import charts_png, tables_zip
from sim.ui.session import (
    PREVIEW_N,
    apply,
    busy,
    live,
    pause,
    playing,
    preview,
    reference,
    reset,
    run_again,
    selected,
    settings,
    step,
    version,
)
from sim.ui.state import HISTORY_MONTHS, SPEED_RANGE, LiveRun, Settings, describe_edits, encode, file_stem, parse_number

KPIS = (
    ("usage_share_cn_open", "Chinese open", "#d62728"),
    ("usage_share_west_open", "Western open", "#1f77b4"),
    ("usage_share_closed", "Closed", "#7f7f7f"),
    ("download_share_cn_open", "CN share of open downloads", "#d62728"),
)
BIG = "font-size:30px;font-weight:700"
KPI_ROW = {  # sticky: the numbers stay in sight while the charts scroll
    "display": "flex",
    "flex-wrap": "wrap",
    "gap": "10px",
    "align-items": "stretch",
    "position": "sticky",
    "top": "0",
    "z-index": "5",
    "background": "white",
    "padding-bottom": "4px",
}


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
def PlayButtons() -> None:
    """Play / pause / step / reset; re-rendered at every step (it shows whether the run is at its end).

    The play loop runs in a thread of its own. Every button is disabled while a re-run is being built,
    and at the last month Play, Step and +12 give way to a note and *Run again*.
    """
    version.value  # noqa: B018  (subscribe: the end of the run is a matter of steps)
    run = live.value
    building = busy.value

    def play_loop(cancel: threading.Event) -> None:
        while playing.value and not cancel.is_set():
            if busy.value:  # a re-run is being built: wait for it, then go on
                cancel.wait(0.05)
                continue
            t0 = time.perf_counter()
            current = live.value
            if (current is None or current.done or not step()) and not busy.value:
                playing.value = False
                return
            took = time.perf_counter() - t0  # the step and its page update
            # at least half a step's time between steps: clicks (Pause) get their turn on a busy machine
            cancel.wait(max(0.05, 0.5 * took, 1.0 / settings.value.speed - took))

    solara.use_thread(play_loop, dependencies=[playing.value], intrusive_cancel=False)
    done = run is not None and run.done and not building
    hold = run is None or building
    # one column around everything: with a varying number of top-level children Solara would wrap
    # them or not, and the buttons would be made anew (dozens of widget messages) at each busy change
    with solara.Column(gap="4px"):
        with solara.Row(gap="6px", style={"flex-wrap": "wrap", "align-items": "center"}):
            if playing.value:
                solara.Button("❚❚ Pause", color="primary", on_click=pause, classes=["ws-pause"])
            else:
                solara.Button(
                    "▶ Play",
                    color="primary",
                    on_click=lambda: playing.set(True),
                    disabled=done or hold,
                    classes=["ws-play"],
                )
            solara.Button("Step", on_click=lambda: step(), disabled=done or hold or playing.value, classes=["ws-step"])
            solara.Button(
                "+12", on_click=lambda: step(12), disabled=done or hold or playing.value, classes=["ws-step12"]
            )
            solara.Button("Reset", on_click=reset, outlined=True, classes=["ws-reset"])
        if building:
            solara.ProgressLinear(True)
            solara.Text("Re-running from 2023-01 with your change…", classes=["ws-busy"], style={"font-size": "13px"})
        elif done:
            with solara.Row(gap="8px", style={"align-items": "center"}):
                solara.Text(
                    f"End of the run ({month_label(run.months - 1)}): `months` sets how far it goes.",
                    classes=["ws-end"],
                    style={"font-size": "13px"},
                )
                solara.Button("↻ Run again", small=True, color="primary", on_click=run_again, classes=["ws-run-again"])


@solara.component
def RunControls() -> None:
    """The buttons, speed and seed."""
    s = settings.value
    PlayButtons()
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
    v = parse_number(text)
    if v is None or not v.is_integer() or not SPEED_RANGE[0] <= v <= SPEED_RANGE[1]:
        raise InputError("Run", "speed", text, f"a whole number of months per second in {list(SPEED_RANGE)}")
    return int(v)


def _parse_seed(text: str) -> int:
    v = parse_number(text)
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


def _delta(v: float, ref: float) -> str:
    """The change from the preset in percentage points ("Δ +1.2 pp"); "" when there is none to show."""
    if not (np.isfinite(v) and np.isfinite(ref)):
        return ""
    d = (v - ref) * 100
    return f"Δ {d:+.1f} pp vs preset" if abs(d) >= 0.05 else "= preset"


@solara.component
def Kpis(run: LiveRun, t: int, ref: LiveRun | None = None, provisional: bool = False) -> None:
    """Big numbers for the back of the room: the month and the headline shares (`t`: months run).

    With edited controls each number also shows its difference from the preset as shipped (`ref`).
    """
    ts = run.model.recorder.ts
    label = month_label(t - 1) if t else "2023-01 (not started)"
    if t == 0:
        phase = "press ▶ Play or Step"
    elif t >= run.months:
        phase = "end of the run"
    else:
        phase = "history (calibrated)" if t <= HISTORY_MONTHS else "projection"
    if provisional:
        phase += f" · preview on {PREVIEW_N:,} agents, full run follows"
    cells = [
        _cell(
            "#333",
            f"<div style='font-size:13px;color:#555'>month {t} of {run.months} · {phase}</div>"
            f"<div class='ws-month' style='{BIG}'>{label}</div>",
        )
    ]
    for col, name, colour in KPIS:
        v = ts[col][t - 1] if t else float("nan")
        shown = f"{'≈' if provisional else ''}{v * 100:.1f}%" if np.isfinite(v) else "–"
        r = ref.model.recorder.ts[col][t - 1] if ref is not None and 0 < t <= ref.t else float("nan")
        delta = _delta(v, r)
        cells.append(
            _cell(
                colour,
                f"<div style='font-size:13px;color:#555'>{name}</div>"
                f"<div class='ws-kpi' data-key='{col}' style='{BIG};color:{colour}'>{shown}</div>"
                + (f"<div class='ws-delta' data-key='{col}' style='font-size:14px'>{delta}</div>" if delta else ""),
            )
        )
    # one widget for the row: each widget changed is one more message before the page shows the numbers
    solara.HTML(tag="div", unsafe_innerHTML="".join(cells), style=KPI_ROW)


def _cell(colour: str, html: str) -> str:
    return f"<div style='padding:4px 14px;border-left:4px solid {colour}'>{html}</div>"


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


@dataclass(frozen=True)
class LiveState:
    """What the charts of the live run itself show at one month (not the preview's lines).

    Made once per (run, month) and its chart options kept (`use_memo`): a preview or a change of the
    selection re-renders the page, but these charts then keep their option, so neither the server nor
    ECharts redraws them.
    """

    t: int
    choice: np.ndarray  # each developer's family for its main task
    labs: Opaque
    network: Opaque | None
    regions: Opaque


def live_state(run: LiveRun) -> LiveState:
    """The live run's month, main choices and the options of its labs, network and regions charts."""
    with run.lock:
        m, t = run.model, run.t
        choice = main_choice(m.world, m.choice, m.pop.segment).copy()
        usage, avail = m.usage_share.copy(), m.available.copy()
        publishing = getattr(m, "publishing", None)  # Model v2: each open line's publish-or-not decision
        publishing = None if publishing is None else np.array(publishing, bool)
        shares = {
            c: m.recorder.reg[c][t - 1] if t else np.zeros(len(m.world.regions))
            for c in COLUMNS["regions"]
            if c.startswith("usage")
        }
    w, smp = m.world, run.sample
    network = None
    if smp is not None:
        network = Opaque(network_option(w, smp.nodes, smp.egos, smp.edges, smp.xy, choice, smp.ids))
    return LiveState(
        t=t,
        choice=choice,
        labs=Opaque(labs_option(w, usage, avail, publishing)),
        network=network,
        regions=Opaque(regions_option(w.regions, shares)),
    )


@solara.component
def LiveView() -> None:
    """Numbers, charts, network, regions and inspector of the live run (re-rendered every step).

    The only reader of `version`: its children get the month as an argument, so one step is one
    render pass (each subscriber would add a pass over the whole page). While a change is being
    re-run, `Headline`, `TimeCharts` and `TaskChart` show the provisional preview instead: they read
    `session.preview` themselves, so drawing a preview renders them alone, not this view.
    """
    version.value  # noqa: B018  (subscribe: re-render after every step)
    run, ref = live.value, reference.value
    s = settings.value
    state = solara.use_memo(lambda: live_state(run) if run is not None else None, dependencies=[run, _t(run)])
    if state is None:
        solara.ProgressLinear(True)
        solara.Text("Running the calibrated history, 2023-01 to 2025-12…", classes=["ws-loading"])
        return
    w = run.model.world
    AddressBar(encode(replace(s, month=state.t)))
    Headline(run, state.t, ref)

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

    with solara.Div(classes=["ws-grid"]):
        TimeCharts(run, state.t, ref)
        Echart(state.labs, on_click=click_lab, classes="ws-chart-labs")
        if state.network is not None:
            Echart(state.network, on_click=click_dev, height=420, classes="ws-chart-network")
        with solara.Card("Inspector", style={"min-height": "420px"}):  # beside the network: click, read
            Inspector(run, state.t)
        Echart(state.regions, on_click=click_region, height=380, classes="ws-chart-regions")
        if task_columns(getattr(w, "tasks", ())):
            TaskChart(run, state.t)
        with solara.Card("Export and share"):
            ExportShare(run, state.t, ref)
    counts = np.bincount(group_of(w, state.choice), minlength=4)
    solara.Text(
        f"Developer agents: {counts[0]:,} on Chinese open, {counts[1]:,} on Western open, "
        f"{counts[2]:,} on closed, {counts[3]:,} not yet using a model.",
        style={"font-size": "13px", "color": "#555"},
    )


def _shown(run: LiveRun, ref: LiveRun | None, pv: LiveRun | None) -> tuple[LiveRun, LiveRun | None]:
    """The run the numbers and time charts show (the preview while there is one), and the preset's run
    to compare it with (none when nothing is edited, or it is the preset of another scenario)."""
    shown = pv if pv is not None else run
    if ref is not None and (not shown.settings.edited or ref.settings.scenario != shown.settings.scenario):
        ref = None
    return shown, ref


@solara.component
def Headline(run: LiveRun, t: int, ref: LiveRun | None = None) -> None:
    """The big numbers, the preview's while there is one, and the last step's timing.

    `t` (months run) is an argument so that a step, which leaves `run` the same object, renders it.
    """
    pv = preview.value
    shown, ref = _shown(run, ref, pv)
    Kpis(shown, shown.t, ref, provisional=pv is not None)
    if "model_ms" in run.timing and not run.done and pv is None:
        solara.Text(
            f"last step: model {run.timing['model_ms']:.0f} ms, page {run.timing['page_ms']:.0f} ms",
            style={"font-size": "12px", "color": "#888"},
            classes=["ws-timing"],
        )


@solara.component
def TimeCharts(run: LiveRun, t: int, ref: LiveRun | None = None) -> None:
    """The time charts of `LIVE_CHARTS`: pale lines while a preview stands in for the run, the preset's
    dashed beside them when controls are edited. Cells of the surrounding grid (`ws-cells`); `t` as
    in `Headline`."""
    pv = preview.value
    shown, ref = _shown(run, ref, pv)
    with shown.lock:
        data = _series(shown)
        refdata = {k: v[: shown.t] for k, v in _series(ref).items()} if ref is not None else None
    x = months_axis(shown.months)
    with solara.Div(classes=["ws-cells"]):
        for chart in LIVE_CHARTS:
            echart(line_option(chart, x, data, refdata, provisional=pv is not None), classes=f"ws-chart-{chart.key}")


@solara.component
def TaskChart(run: LiveRun, t: int) -> None:
    """This month's usage by task type and origin (the preview's while there is one; `t` as in `Headline`)."""
    shown = preview.value or run
    w = shown.model.world
    with shown.lock:
        ts, month = shown.model.recorder.ts, shown.t
        by_task = {
            f"usage_share_{b}": [ts[c][month - 1] if month else 0.0 for c in cols]
            for b, cols in task_columns(w.tasks).items()
        }
    echart(
        regions_option(
            [task.capitalize() for task in w.tasks],  # short: the axis has room for a word
            by_task,
            "Usage by task type",
            "; ".join(f"{task.capitalize()}: {label}" for task, label in zip(w.tasks, w.task_labels, strict=True)),
        ),
        height=320,
        classes="ws-chart-tasks",
    )


def _t(run: LiveRun | None) -> int:
    """The month of `run` (-1 for none): with the run itself, what the live charts depend on."""
    return -1 if run is None else run.t


def ExportShare(run: LiveRun, t: int, ref: LiveRun | None = None) -> None:
    """CSV tables and PNG charts of the current run, and a link that restores it.

    File names and the PNG's title name the scenario, the seed and every edit.
    """
    s = run.settings
    name = file_stem(s, t)
    edits = describe_edits(s)
    title = f"Weightshift: {s.scenario}, seed {s.seed}" + (f"; edited: {edits}" if edits else "")
    title += f" (to {month_label(t - 1) if t else '2023-01'})"

    def csv_zip() -> bytes:
        note = f"{title}.\nRestore it: {share_url(s, t)}\n"
        return tables_zip(run.tables(), note)

    def png() -> bytes:
        preset = ref.tables()["timeseries"] if ref is not None else None
        return charts_png(run.tables()["timeseries"], months_axis(run.months), title, reference=preset)

    with solara.Row(gap="8px", style={"flex-wrap": "wrap"}):
        solara.FileDownload(csv_zip, filename=f"{name}.zip", label="Tables (CSV, zip)", mime_type="application/zip")
        solara.FileDownload(png, filename=f"{name}.png", label="Charts (PNG)", mime_type="image/png")
    url = share_url(s, t)
    solara.InputText("Share link (restores scenario, controls and month)", value=url, classes=["ws-share"])


@solara.component
def Explore() -> None:
    """The Explore tab: controls left, live run right."""
    with solara.Div(classes=["ws-explore"]):
        with solara.Div(classes=["ws-controls"]):
            Controls()
        with solara.Div(classes=["ws-live"]):
            LiveView()
