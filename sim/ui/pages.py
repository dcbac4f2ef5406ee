"""The Compare, Calibration and About tabs.

Compare runs in the background (see `sim.ui.compare`): the page polls a progress number a few
times a second and stays usable, even on the Explore tab, while the runs go on.
"""

from __future__ import annotations

import math
import threading
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import solara

from sim.ensemble import has_posterior
from sim.errors import InputError
from sim.model import WeightshiftModel
from sim.params import REGISTRY
from sim.recorder import COLUMNS
from sim.ui.about import about_markdown
from sim.ui.calibration import load_targets, report
from sim.ui.charts import COMPARE_METRICS, FONT, RED, band_option, clean, is_log, line_option, months_axis
from sim.ui.compare import CompareJob, compare_entries, is_share
from sim.ui.controls import ErrorText, Md, NumberField
from sim.ui.echarts import echart
from sim.ui.export import bands_png
from sim.ui.session import apply, job, run_key, settings
from sim.ui.state import COMPARE_SEEDS_RANGE, EXPLORE, UI_MAX_DEVELOPERS, Settings, parse_number, scenario_names

HEADLINE = ("usage_share_cn_open", "download_share_cn_open", "best_capability_cn_open", "cn_compute_index")
HISTORY_MONTHS = 36  # 2023-01..2025-12


def _whole(text: str, key: str, low: int, high: int) -> int:
    v = parse_number(str(text))
    if v is None:
        v = math.nan
    if not (v.is_integer() and low <= v <= high):
        raise InputError("Compare", key, text, f"a whole number in [{low}, {high}]")
    return int(v)


@solara.component
def CompareResults(result: Any) -> None:
    """Bands, differences and a summary table for one metric, with CSV and PNG downloads."""
    metric, set_metric = solara.use_state("usage_share_cn_open")
    unit, meaning = COLUMNS["timeseries"][metric]
    scale = 100.0 if is_share(metric) else 1.0
    shown_unit = "%" if scale == 100 else unit
    solara.Select(label="Output", values=list(COMPARE_METRICS), value=metric, on_value=set_metric)
    solara.Text(f"{meaning} ({unit})", style={"font-size": "13px", "color": "#555"})
    x = result.x
    bands = result.bands(metric)
    with solara.GridFixed(columns=2):
        echart(
            band_option(f"{metric}: {result.over} each", shown_unit, x, bands, scale, log=is_log(metric)),
            height=380,
            classes="ws-compare-bands",
        )
        diff = result.differences(metric)
        title = f"Difference from {result.names[0]} (paired by {'draw' if result.draws else 'seed'})"
        echart(band_option(title, shown_unit, x, diff, scale), height=380, classes="ws-compare-diff")
    months = [m for m in ("2025-12", "2027-12", x[-1]) if m in x]
    rows = []
    for name, b in bands.items():
        cells = []
        for m in dict.fromkeys(months):
            i = x.index(m)
            cells.append(f"{b['median'][i] * scale:.3g} ({b['lo'][i] * scale:.3g}–{b['hi'][i] * scale:.3g})")
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    head = "| scenario | " + " | ".join(dict.fromkeys(months)) + " |\n|---|" + "---|" * len(dict.fromkeys(months))
    Md(f"Median (5–95%) of `{metric}` [{shown_unit}]:\n\n{head}\n" + "\n".join(rows))

    def png() -> bytes:
        panels = [
            (m, "%" if is_share(m) else COLUMNS["timeseries"][m][0], result.bands(m), 100.0 if is_share(m) else 1.0)
            for m in HEADLINE
        ]
        return bands_png(panels, x, f"Weightshift comparison ({result.over}, {result.n_developers:,} developers)")

    with solara.Row(gap="8px"):
        solara.FileDownload(
            lambda: result.table().to_csv(index=False), filename="weightshift-compare.csv", label="Bands (CSV)"
        )
        solara.FileDownload(png, filename="weightshift-compare.png", label="Charts (PNG)", mime_type="image/png")


_START = threading.Lock()


def start_comparison(entries: list, seeds: int, n_developers: int, draws: bool = False) -> CompareJob:
    """Start a comparison, or keep the one already queued or running for the same choices.

    Idempotent on purpose: a burst of clicks on Run (or a click while it runs) must neither restart
    nor cancel the work. Reads the session's current job, not the one a render captured.
    """
    with _START:
        cur = job.peek()
        choices = (entries, seeds, n_developers, draws)
        same = cur is not None and (cur.entries, cur.seeds, cur.n_developers, cur.draws) == choices
        if cur is not None and cur.running:
            if same:
                return cur
            cur.cancel()
        if same and cur.result is not None:
            return cur  # finished with these very choices: nothing new to run
        new = CompareJob(entries, seeds, n_developers, draws).start()
        job.value = new
        return new


@solara.component
def Compare() -> None:
    """Pick scenarios, seeds and population; run in the background; show bands and differences."""
    s = settings.value
    j = job.value
    tick = solara.use_reactive(0)
    error, set_error = solara.use_state("")
    choices = [EXPLORE, *scenario_names()]

    def poll(cancel: threading.Event) -> None:
        while j is not None and j.running and not cancel.is_set():
            cancel.wait(0.3)
            tick.value += 1
        tick.value += 1

    solara.use_thread(poll, dependencies=[j], intrusive_cancel=False)

    posterior = has_posterior()

    def start() -> None:
        now = settings.peek()
        entries = compare_entries(now)
        if len(entries) < 2:
            set_error("Compare: scenarios = one is not allowed; expected two or more scenarios")
            return
        set_error("")
        start_comparison(entries, now.seeds, now.compare_n, now.vary == "posterior" and posterior)

    Md(
        "Runs each scenario with the same seeds (0, 1, 2, …): a seed gives every scenario the same random "
        "draws, so a difference is the scenarios' effect, not luck. With *posterior draws*, run *i* of every "
        "scenario takes draw *i* of the calibration's posterior (its parameters and its seed), so the bands "
        "also carry what the calibration leaves uncertain. `explore` is the Explore tab's current "
        "settings (its edits win over a draw). The first scenario is the reference of the difference chart."
    )
    with solara.Row(gap="16px", style={"align-items": "flex-start", "flex-wrap": "wrap"}):
        with solara.Column(style={"min-width": "340px", "flex": "1"}):
            solara.SelectMultiple(
                "Scenarios (two or more)",
                values=list(s.compare),
                all_values=choices,
                on_value=lambda v: apply(replace(settings.value, compare=tuple(v))),
                classes=["ws-compare-pick"],
            )
        with solara.Column(style={"min-width": "260px"}):
            NumberField(
                label="seeds per scenario",
                value=s.seeds,
                low=COMPARE_SEEDS_RANGE[0],
                high=COMPARE_SEEDS_RANGE[1],
                integer=True,
                on_value=lambda v: apply(replace(settings.value, seeds=int(v))),
                parse=lambda text: _whole(text, "seeds", *COMPARE_SEEDS_RANGE),
                tooltip="More runs: steadier bands, longer wait.",
                testid="seeds",
            )
            VaryPick(s.vary, posterior)
        with solara.Column(style={"min-width": "260px"}):
            p = REGISTRY["n_developers"]
            NumberField(
                label="developer agents per run",
                value=s.compare_n,
                low=p.low,
                high=UI_MAX_DEVELOPERS,
                integer=True,
                on_value=lambda v: apply(replace(settings.value, compare_n=int(v))),
                parse=lambda text: _whole(text, "developer agents", int(p.low), UI_MAX_DEVELOPERS),
                tooltip=p.help + " Fewer agents: faster runs, wider bands.",
                testid="compare-n",
            )
    with solara.Row(gap="8px", style={"align-items": "center"}):
        solara.Button("Run comparison", color="primary", on_click=start, classes=["ws-compare-run"])
        if j is not None and j.running:
            solara.Button("Cancel", outlined=True, on_click=j.cancel)
    if error:
        ErrorText(error)
    if j is None:
        solara.Text(f"{len(s.compare) * s.seeds} runs of {s.compare_n:,} developers when you press Run.")
        return
    done = round(j.progress * j.total)
    if j.running:
        solara.ProgressLinear(j.progress * 100)
    status = "cancelled" if j.cancelled else ("finished" if j.result is not None else "running")
    solara.Text(f"{done} of {j.total} runs {status}", classes=["ws-compare-status"])
    if j.error:
        solara.Error(j.error)
    if j.result is not None:
        CompareResults(j.result)


@solara.component
def VaryPick(vary: str, posterior: bool) -> None:
    """Seeds or posterior draws; without a shipped posterior, seeds only, and why."""
    labels = {"seeds": "seeds (chance)", "posterior": "posterior draws (parameters and chance)"}
    if not posterior:
        solara.Text(
            "Runs differ by seed: no calibrated posterior is shipped to draw parameters from.",
            style={"font-size": "13px", "color": "#555"},
            classes=["ws-compare-vary-note"],
        )
        return
    solara.ToggleButtonsSingle(
        value=labels[vary],
        values=list(labels.values()),
        on_value=lambda v: apply(replace(settings.value, vary=next(k for k, lab in labels.items() if lab == v))),
        classes=["ws-compare-vary"],
    )


def _history_run(s: Settings) -> dict[str, pd.DataFrame]:
    scenario, params = s.build()
    params = params | {"months": HISTORY_MONTHS}
    model = WeightshiftModel(scenario, seed=s.seed, params=params).run()
    return model.recorder.tables(model.t)


def targets_option(rep: pd.DataFrame) -> dict:
    """Each numeric target as model ÷ reported (log axis): the bar is the accepted range, the dot the model."""
    rows = rep[(rep["low"] < rep["high"]) & rep["model"].notna()]
    ids = list(rows["target"])
    series = []
    for i, r in enumerate(rows.itertuples()):
        series.append(
            {
                "type": "line",
                "data": [[r.low / r.reported, i], [r.high / r.reported, i]],
                "lineStyle": {"width": 12, "color": "#9ecae1", "cap": "round"},
                "showSymbol": False,
                "silent": True,
            }
        )
    ratio = [[max(float(r.model) / r.reported, 1e-3), i] for i, r in enumerate(rows.itertuples())]
    colours = ["#2ca02c" if r.inside else RED for r in rows.itertuples()]
    series.append(
        {
            "type": "scatter",
            "name": "model",
            "symbolSize": 14,
            "data": [{"value": v, "itemStyle": {"color": c}} for v, c in zip(ratio, colours, strict=True)],
            "markLine": {"silent": True, "symbol": "none", "data": [{"xAxis": 1}], "label": {"formatter": "reported"}},
        }
    )
    return {
        "animation": False,
        "title": {
            "text": "Model ÷ reported figure",
            "subtext": "Bar: accepted range. Dot: the model (green inside).",
            "left": 8,
        },
        "grid": {"left": 190, "right": 30, "top": 64, "bottom": 40},
        "xAxis": {"type": "log", "axisLabel": FONT},
        "yAxis": {"type": "category", "data": ids, "axisLabel": FONT, "inverse": True},
        "tooltip": {"trigger": "item"},
        "series": series,
    }


@solara.component
def Calibration() -> None:
    """The reported figures (calibration/targets.toml) against a run's history window."""
    s = settings.value
    source, set_source = solara.use_state("baseline")
    run_settings = Settings(scenario="baseline", seed=s.seed) if source == "baseline" else s
    try:
        targets = load_targets()
    except InputError as exc:
        solara.Warning(str(exc))
        return
    result = solara.use_thread(lambda: _history_run(run_settings), dependencies=[run_key(run_settings)])
    Md(
        "The model's history window (2023-01 to 2025-12) against the figures reported for it, each with "
        "the range the reports allow. Run with the current seed and the number of developer agents in force."
    )
    solara.ToggleButtonsSingle(value=source, values=["baseline", "explore"], on_value=set_source)
    if result.state == solara.ResultState.ERROR:
        solara.Error(f"The history run failed: {result.error}")
        return
    if result.state != solara.ResultState.FINISHED or result.value is None:
        solara.ProgressLinear(True)
        solara.Text("Running the history window…")
        return
    tables = result.value
    rep = report(targets, tables)
    inside = rep["inside"].fillna(False).astype(bool)
    Md(f"**{int(inside.sum())} of {len(rep)} targets inside their accepted range.**")
    ts = tables["timeseries"]
    x = months_axis(HISTORY_MONTHS)
    with solara.GridFixed(columns=2):
        echart(targets_option(rep), height=420, classes="ws-calibration")
        echart(_usage_with_targets(ts, x, rep), height=420, classes="ws-calibration-usage")
    lines = ["| target | month | reported (range) | model | inside | source |", "|---|---|---|---|---|---|"]
    for r in rep.itertuples():
        model = "not computed" if r.model is None or not np.isfinite(r.model) else f"{r.model:.3g}"
        mark = {True: "✓", False: "✗"}.get(r.inside, "–")
        lines.append(
            f"| `{r.target}` | {r.month} | {r.reported:g} ({r.low:g}–{r.high:g}) | {model} | {mark} | {r.source} |"
        )
    Md("\n".join(lines))


def _usage_with_targets(ts: pd.DataFrame, x: list[str], rep: pd.DataFrame) -> dict:
    """CN open usage share over the history window with the reported figures and their ranges."""
    from sim.ui.charts import CHARTS_BY_KEY

    opt = line_option(CHARTS_BY_KEY["usage"], x, {c: ts[c].to_numpy() for c in CHARTS_BY_KEY["usage"].columns})
    rows = rep[rep["target"].isin(["cn_usage_late_2024", "cn_usage_late_2025"])]
    opt["series"].append(
        {
            "type": "scatter",
            "name": "reported (CN open)",
            "symbol": "diamond",
            "symbolSize": 16,
            "itemStyle": {"color": "#000"},
            "data": [[r.month, clean([r.reported], 100)[0]] for r in rows.itertuples() if r.month in x],
            "markLine": {
                "symbol": "none",
                "lineStyle": {"width": 8, "opacity": 0.25, "color": RED, "type": "solid"},
                "data": [
                    [{"coord": [r.month, r.low * 100]}, {"coord": [r.month, r.high * 100]}]
                    for r in rows.itertuples()
                    if r.month in x
                ],
            },
        }
    )
    opt["title"]["text"] = "Usage share in the history window, with reported figures"
    return opt


@solara.component
def About() -> None:
    """The About tab (its Markdown is built once per session)."""
    text = solara.use_memo(about_markdown, [])
    with solara.Column(style={"max-width": "1100px", "font-size": "15px"}):
        Md(text)
