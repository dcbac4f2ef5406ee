"""Chart definitions and ECharts options for the browser UI (no Solara here: plain dicts, testable).

Why ECharts: it draws in the browser from a few kilobytes of JSON, so a step at 20,000 developers
re-renders in milliseconds on the server, and its script ships inside solara-assets (no internet).
Why one `Chart` list: the live charts, the PNG export (`sim.ui.export`) and the Compare tab all
read the same definitions, and units and meanings come from `sim.recorder.COLUMNS`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.calendar import month_label
from sim.recorder import COLUMNS
from sim.world import ORIGINS, World, load_world

HISTORY_END = "2025-12"  # last month of the calibration window (MODEL.md: Clock)
RED, BLUE, GREY, GOLD, GREEN, PURPLE, PALE = (
    "#d62728",
    "#1f77b4",
    "#7f7f7f",
    "#e6a117",
    "#2ca02c",
    "#9467bd",
    "#cfcfcf",
)
GROUPS = ("Chinese open", "Western open", "Closed", "No model yet")
GROUP_COLOURS = (RED, BLUE, GREY, PALE)
# Red, blue and grey mean origins everywhere (Chinese, Western, closed); scenarios get other colours.
SCENARIO_COLOURS = (PURPLE, GREEN, GOLD, "#17becf", "#8c564b", "#e377c2", "#bcbd22", "#393b79")
FONT = {"fontSize": 13}
YEARS = {"fontSize": 13}  # the browser picks one label per 1, 2, 5 or 10 years from the width (sim.ui.echarts)


def years_axis(x: Sequence[str]) -> dict[str, Any]:
    """A monthly category axis labelled by year; `wsYears` asks the chart widget to space the labels."""
    return {"type": "category", "data": list(x), "axisLabel": dict(YEARS), "boundaryGap": False, "wsYears": True}


@dataclass(frozen=True)
class Chart:
    """One time-series chart: columns of the timeseries table with a label and colour each."""

    key: str
    title: str
    series: tuple[tuple[str, str, str], ...]  # (column, label, colour)
    percent: bool = False  # shares drawn as %
    log: bool = False
    right: tuple[tuple[str, str, str], ...] = ()  # 0-1 series on a right-hand % axis
    note: str = ""
    dotted: tuple[str, ...] = ()  # columns drawn dotted (e.g. list prices beside prices paid)
    marks: tuple[tuple[str, str], ...] = ()  # (month, label): dated events drawn as vertical lines

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(c for c, _, _ in self.series + self.right)

    @property
    def unit(self) -> str:
        return "%" if self.percent else COLUMNS["timeseries"][self.series[0][0]][0]


LIVE_CHARTS: tuple[Chart, ...] = (
    Chart(
        "usage",
        "Usage share by origin",
        (
            ("usage_share_cn_open", "Chinese open", RED),
            ("usage_share_west_open", "Western open", BLUE),
            ("usage_share_closed", "Closed", GREY),
        ),
        percent=True,
        note="Share of all developers' AI tokens; the three add up to 100%.",
    ),
    Chart(
        "downloads",
        "Open-model downloads: Chinese share",
        (("download_share_cn_open", "Chinese families' share of downloads", RED),),
        percent=True,
        note="Chinese families' share of this month's open-model downloads.",
    ),
    Chart(
        "capability",
        "Capability race",
        (
            ("best_capability_cn_open", "Best Chinese open", RED),
            ("best_capability_west_open", "Best Western open", BLUE),
            ("best_capability_closed", "Best closed", GREY),
        ),
        note="Arena-style rating of the best available release of each kind. Dashed: the reasoning step (o1).",
        marks=((month_label(load_world().reasoning_month), "o1"),),
    ),
    Chart(
        "price",
        "Price index",
        (
            ("price_index_cn", "Chinese", RED),
            ("price_index_us", "US", BLUE),
            ("price_index_eu", "EU", GOLD),
        ),
        log=True,
        note="Geometric mean list price, USD per million tokens (log scale).",
    ),
    Chart(
        "compute",
        "Chinese compute under export controls",
        (("cn_compute_index", "CN compute (x 2023-01, log)", RED),),
        log=True,
        right=(
            ("chip_tightness", "Chip-control tightness", GREY),
            ("cn_domestic_chip_share", "Domestic-chip share", GREEN),
        ),
        note="CN labs' training compute; right: chip-control tightness, domestic-chip share (%).",
    ),
)
_PAID = tuple(c for c in COLUMNS["timeseries"] if c.startswith("price_paid_"))
if _PAID:  # Model v2: what developers pay (after policies) beside the list prices
    _BLOC = {"cn": ("Chinese", RED), "us": ("US", BLUE), "eu": ("EU", GOLD)}
    _paid = tuple((c, f"{_BLOC[c[-2:]][0]} paid", _BLOC[c[-2:]][1]) for c in _PAID if c[-2:] in _BLOC)
    _list = tuple(
        (f"price_index_{c[-2:]}", f"{_BLOC[c[-2:]][0]} list", _BLOC[c[-2:]][1])
        for c in _PAID
        if c[-2:] in _BLOC and f"price_index_{c[-2:]}" in COLUMNS["timeseries"]
    )
    LIVE_CHARTS = (
        *LIVE_CHARTS,
        Chart(
            "paid",
            "Prices paid and list prices",
            _paid + _list,
            log=True,
            note="USD per million tokens (log). Solid: paid, after tariffs and subsidies; dotted: list price.",
            dotted=tuple(c for c, _, _ in _list),
        ),
    )
CHARTS_BY_KEY = {c.key: c for c in LIVE_CHARTS}
BLOCS = ("cn_open", "west_open", "closed")  # the origin groups of the usage columns


def task_columns(tasks: Sequence[str]) -> dict[str, list[str]]:
    """For each origin group, its usage column per task type (Model v2's usage by task), or {}."""
    ts = COLUMNS["timeseries"]
    cols = {b: [f"usage_share_{b}_{task}" for task in tasks] for b in BLOCS}
    return cols if all(c in ts for cs in cols.values() for c in cs) else {}


def main_choice(world: World, choice: np.ndarray, segment: np.ndarray) -> np.ndarray:
    """Each developer's family for its main task type (the one with most of its segment's tokens).

    Model v2 gives a developer one family per task type (`choice` is (developer, task)); a 1-D
    `choice` (one family each) is returned as it is.
    """
    if choice.ndim == 1:
        return choice
    main = np.asarray(world.task_share)[segment].argmax(axis=1)
    return choice[np.arange(len(choice)), main]


COMPARE_METRICS: tuple[str, ...] = tuple(c for c in COLUMNS["timeseries"] if c != "month")


def clean(values: Iterable[float], scale: float = 1.0) -> list[float | None]:
    """JSON-ready numbers: NaN and infinities become gaps, four significant digits are enough."""
    out: list[float | None] = []
    for v in values:
        v = float(v) * scale
        out.append(float(f"{v:.4g}") if math.isfinite(v) else None)
    return out


def months_axis(months: int) -> list[str]:
    """Month labels of a run of `months` steps (the x axis of every time chart)."""
    return [month_label(t) for t in range(months)]


def _base(title: str, unit: str, subtitle: str = "") -> dict[str, Any]:
    return {
        "animation": False,
        "title": {"text": title, "subtext": subtitle, "left": 8, "textStyle": {"fontSize": 16}},
        "tooltip": {"trigger": "axis", "textStyle": FONT},
        "legend": {"bottom": 0, "textStyle": FONT},
        "grid": {"left": 64, "right": 56, "top": 56, "bottom": 56},
        "toolbox": {"right": 8, "feature": {"saveAsImage": {"title": "PNG", "pixelRatio": 2}}},
        "yAxis": [{"type": "value", "name": unit, "nameTextStyle": FONT, "axisLabel": FONT, "scale": True}],
    }


def _history_area() -> dict[str, Any]:
    return {
        "silent": True,
        "itemStyle": {"color": "rgba(0,0,0,0.05)"},
        "label": {"color": "#666", "fontSize": 12},
        "data": [[{"name": "history (calibrated)", "xAxis": "2023-01"}, {"xAxis": HISTORY_END}]],
    }


def _event_lines(marks: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """Vertical lines at dated events (the reasoning step on the capability chart), so a viewer sees
    why a line jumps where it does."""
    return {
        "silent": True,
        "symbol": "none",
        "lineStyle": {"type": "dashed", "color": "#666", "width": 1},
        "label": {"formatter": "{b}", "color": "#666", "fontSize": 12, "position": "insideStartTop"},
        "data": [{"name": label, "xAxis": month} for month, label in marks],
    }


def line_option(
    chart: Chart,
    x: Sequence[str],
    data: dict[str, Sequence[float]],
    reference: dict[str, Sequence[float]] | None = None,
    provisional: bool = False,
) -> dict[str, Any]:
    """A time-series chart over the whole horizon `x` (the lines grow as the run advances).

    `reference` (same columns) is drawn dashed: the scenario as shipped, for comparison.
    `provisional`: the lines are a quick preview on a small population (drawn lighter).
    """
    opt = _base(chart.title, chart.unit, chart.note)
    opt["xAxis"] = years_axis(x)
    if chart.log:
        opt["yAxis"][0].update(type="log", scale=False)
    if chart.right:
        opt["yAxis"].append({"type": "value", "name": "%", "min": 0, "max": 100, "axisLabel": FONT})
    series: list[dict[str, Any]] = []
    for i, (col, label, colour) in enumerate(chart.series + chart.right):
        on_right = i >= len(chart.series)
        scale = 100.0 if (chart.percent or on_right) else 1.0
        s = {
            "name": label,
            "type": "line",
            "showSymbol": False,
            "yAxisIndex": 1 if on_right else 0,
            "data": clean(data[col], scale),
            "lineStyle": {
                "width": 2 if on_right or col in chart.dotted else 3,
                "color": colour,
                "opacity": 0.55 if provisional else 1,
                **({"type": "dotted"} if col in chart.dotted else {}),
            },
            "itemStyle": {"color": colour},
        }
        if i == 0:
            s["markArea"] = _history_area()
            if chart.marks:
                s["markLine"] = _event_lines(chart.marks)
        series.append(s)
        if reference is not None:
            series.append(
                {
                    "name": f"{label} (preset)",
                    "type": "line",
                    "showSymbol": False,
                    "yAxisIndex": 1 if on_right else 0,
                    "data": clean(reference[col], scale),
                    "lineStyle": {"width": 1.5, "type": "dashed", "color": colour},
                    "itemStyle": {"color": colour},
                }
            )
    opt["series"] = series
    opt["legend"]["data"] = [label for _, label, _ in chart.series + chart.right]  # not the dashed copies
    if reference is not None:
        opt["title"]["subtext"] += " Dashed: the preset as shipped."
    if provisional:
        opt["title"]["subtext"] += " Pale: a quick preview; the full run follows."
    if chart.percent:
        opt["yAxis"][0].update(min=0, max=100, scale=False)
    return opt


def group_of(world: World, choice: np.ndarray) -> np.ndarray:
    """0 Chinese open, 1 Western open, 2 closed, 3 no model yet, for each chosen family index."""
    f = np.maximum(choice, 0)
    cn = np.array(ORIGINS)[world.origin] == "CN"
    group = np.where(world.open[f], np.where(cn[f], 0, 1), 2)
    return np.where(choice < 0, 3, group)


def network_option(
    world: World,
    nodes: np.ndarray,
    egos: np.ndarray,
    edges: Sequence[tuple[int, int]],
    xy: np.ndarray,
    choice: np.ndarray,
    names: Sequence[int] | None = None,
) -> dict:
    """The sampled developers, coloured by the origin of their model; clicking one inspects it.

    `names` label the nodes (the agents' ids); by default their population index.
    """
    names = nodes if names is None else names
    groups = group_of(world, choice[nodes])
    fams = ["none yet" if c < 0 else world.families[c] for c in choice[nodes]]
    data = [
        {
            "name": str(int(name)),
            "value": fam,
            "x": round(float(x) * 1000, 1),
            "y": round(float(y) * 1000, 1),
            "category": int(g),
            "symbolSize": 11 if ego else 7,
        }
        for name, ego, (x, y), g, fam in zip(names, egos, xy, groups, fams, strict=True)
    ]
    return {
        "animation": False,
        "title": {
            "text": f"Who watches whom: {len(nodes)} sampled developers",
            "subtext": "Colour: origin of the model each uses. Click a dot to inspect that developer.",
            "left": 8,
            "textStyle": {"fontSize": 16},
        },
        "tooltip": {"formatter": "Developer agent {b}: {c}", "textStyle": FONT},
        "legend": {"bottom": 0, "data": list(GROUPS), "textStyle": FONT},
        "toolbox": {"right": 8, "feature": {"saveAsImage": {"title": "PNG", "pixelRatio": 2}}},
        "series": [
            {
                "type": "graph",
                "layout": "none",
                "top": 70,
                "bottom": 40,
                "categories": [
                    {"name": n, "itemStyle": {"color": c}} for n, c in zip(GROUPS, GROUP_COLOURS, strict=True)
                ],
                "data": data,
                "links": [{"source": int(a), "target": int(b)} for a, b in edges],
                "lineStyle": {"color": "#999", "opacity": 0.35, "width": 0.8},
                "emphasis": {"focus": "adjacency"},
            }
        ],
    }


def labs_option(
    world: World, usage_share: np.ndarray, available: np.ndarray, publishing: np.ndarray | None = None
) -> dict:
    """Usage share per family (one bar per lab); clicking a bar inspects that lab.

    `publishing` (Model v2: each open line's lab decides whether to publish weights): an open line
    that withholds them is drawn grey, as closed, and labelled "closed".
    """
    cn = np.array(ORIGINS)[world.origin] == "CN"
    shut = np.zeros(len(world.families), bool) if publishing is None else np.asarray(world.open) & ~publishing
    colours = [
        GREY if o and s else RED if c and o else BLUE if o else GREY
        for c, o, s in zip(cn, world.open, shut, strict=True)
    ]
    note = "Click a bar to inspect that lab."
    if publishing is not None:
        note += " Grey: closed, including open lines whose lab stopped publishing weights (labelled)."
    opt = _base("Labs: usage share by family", "% of tokens", note)
    opt["tooltip"] = {"trigger": "item", "textStyle": FONT}
    opt["legend"] = {"show": False}
    opt["grid"] = {"left": 56, "right": 16, "top": 70, "bottom": 90}
    opt["xAxis"] = {"type": "category", "data": list(world.families), "axisLabel": {"rotate": 40, "fontSize": 12}}
    opt["series"] = [
        {
            "type": "bar",
            "name": "usage share",
            "data": [
                {"value": v, "itemStyle": {"color": col, "opacity": 1.0 if a else 0.3}}
                | ({"label": {"show": True, "position": "top", "formatter": "closed", "fontSize": 11}} if s else {})
                for v, col, a, s in zip(clean(usage_share, 100), colours, available, shut, strict=True)
            ],
        }
    ]
    return opt


def regions_option(
    regions: Sequence[str],
    shares: dict[str, Sequence[float]],
    title: str = "Regions: usage share by origin",
    note: str = "Click a region to see its numbers.",
) -> dict:
    """Per-region (or per task type) breakdown: tokens on Chinese open, Western open and closed models."""
    opt = _base(title, "", note)
    opt["tooltip"] = {"trigger": "axis", "axisPointer": {"type": "shadow"}, "textStyle": FONT}
    opt["grid"] = {"left": 110, "right": 24, "top": 70, "bottom": 50}
    opt["xAxis"] = {"type": "value", "max": 100, "axisLabel": {"formatter": "{value}%", **FONT}}
    opt["yAxis"] = {"type": "category", "data": list(regions), "axisLabel": FONT, "inverse": True}
    opt["legend"]["data"] = list(GROUPS[:3])
    cols = tuple(f"usage_share_{b}" for b in BLOCS)
    opt["series"] = [
        {
            "name": name,
            "type": "bar",
            "stack": "share",
            "data": clean(shares[col], 100),
            "itemStyle": {"color": colour},
        }
        for col, name, colour in zip(cols, GROUPS, GROUP_COLOURS, strict=False)
    ]
    return opt


def band_option(
    title: str,
    unit: str,
    x: Sequence[str],
    bands: dict[str, dict[str, Sequence[float]]],
    scale: float = 1.0,
    log: bool = False,
) -> dict:
    """Median lines with shaded 5-95% bands, one colour per scenario (`bands[name]` has lo, median, hi).

    `log`: a log axis (as Explore draws compute and prices); the band is then drawn as its two edges,
    since stacking a width on a log axis would misplace it.
    """
    opt = _base(title, unit, "Lines: median over seeds; shaded: 5-95% of seeds.")
    opt["xAxis"] = years_axis(x)
    if log:
        opt["yAxis"][0].update(type="log", scale=False)
    series = []
    for i, (name, b) in enumerate(bands.items()):
        colour = SCENARIO_COLOURS[i % len(SCENARIO_COLOURS)]
        lo, hi = np.asarray(b["lo"], float), np.asarray(b["hi"], float)
        stack = f"band{i}"
        if log:
            series += [_edge(f"{name} {q}", v, scale, colour) for q, v in (("5%", lo), ("95%", hi))]
            series.append(_median(name, b["median"], scale, colour))
            continue
        series += [
            {
                "name": f"{name} 5%",
                "type": "line",
                "data": clean(lo, scale),
                "stack": stack,
                "stackStrategy": "all",
                "lineStyle": {"opacity": 0},
                "showSymbol": False,
                "tooltip": {"show": False},
                "legendHoverLink": False,
            },
            {
                "name": f"{name} band",
                "type": "line",
                "data": clean(hi - lo, scale),
                "stack": stack,
                "stackStrategy": "all",
                "lineStyle": {"opacity": 0},
                "areaStyle": {"color": colour, "opacity": 0.18},
                "showSymbol": False,
                "tooltip": {"show": False},
            },
            _median(name, b["median"], scale, colour),
        ]
    series[0]["markArea"] = _history_area()
    opt["series"] = series
    opt["legend"]["data"] = list(bands)
    return opt


def _median(name: str, values: Sequence[float], scale: float, colour: str) -> dict[str, Any]:
    return {
        "name": name,
        "type": "line",
        "data": clean(values, scale),
        "showSymbol": False,
        "lineStyle": {"width": 3, "color": colour},
        "itemStyle": {"color": colour},
    }


def _edge(name: str, values: Sequence[float], scale: float, colour: str) -> dict[str, Any]:
    return {
        "name": name,
        "type": "line",
        "data": clean(values, scale),
        "showSymbol": False,
        "lineStyle": {"width": 1, "type": "dashed", "color": colour, "opacity": 0.7},
        "tooltip": {"show": False},
    }


def is_log(metric: str) -> bool:
    """Whether a timeseries column is drawn on a log axis (as in the Explore charts that show it)."""
    return any(c.log and metric in {col for col, _, _ in c.series} for c in LIVE_CHARTS)
