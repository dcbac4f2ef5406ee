"""Downloads: the current run's tables as CSV (zipped) and its charts as one PNG.

Why matplotlib for the PNG when the page draws with ECharts: the file is made on the server, so it
is identical whatever browser asks, works in tests, and suits slides and reports. Each ECharts
chart also has its own PNG button (toolbox) for a quick grab of a single chart.
"""

from __future__ import annotations

import io
import textwrap
import zipfile
from collections.abc import Sequence

import numpy as np
import pandas as pd

from sim.ui.charts import HISTORY_END, LIVE_CHARTS, Chart


def tables_zip(tables: dict[str, pd.DataFrame], readme: str = "") -> bytes:
    """The run's tables as CSV files (same format as `weightshift run --out`) in one zip."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, df in tables.items():
            z.writestr(f"{name}.csv", df.to_csv(index=False, float_format="%.10g"))
        if readme:
            z.writestr("README.txt", readme)
    return buf.getvalue()


def _axes_grid(n: int, title: str):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure  # no pyplot: no global figure state in a server

    cols = 2
    rows = (n + 1) // cols
    fig = Figure(figsize=(14, 3.6 * rows), dpi=100, layout="constrained")
    fig.suptitle(textwrap.fill(title, 140), fontsize=13)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes


def _finish(ax, x: Sequence[str], title: str, unit: str, twin=None) -> None:
    ticks = [i for i, m in enumerate(x) if m.endswith("-01")]
    ax.set_xticks(ticks, [x[i][:4] for i in ticks])
    ax.set_xlim(0, max(len(x) - 1, 1))
    if HISTORY_END in x:
        ax.axvspan(0, list(x).index(HISTORY_END), color="0.93", zorder=0)
    ax.set_title(title, fontsize=11, loc="left")
    ax.set_ylabel(unit)
    ax.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    if twin is not None:  # one legend for both axes: two would overlap
        more = twin.get_legend_handles_labels()
        handles, labels = handles + more[0], labels + more[1]
    ax.legend(handles, labels, fontsize=8, loc="upper left", bbox_to_anchor=(1.0 if twin is None else 1.12, 1.0))


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def charts_png(
    ts: pd.DataFrame,
    x: Sequence[str],
    title: str,
    charts: Sequence[Chart] = LIVE_CHARTS,
    reference: pd.DataFrame | None = None,
) -> bytes:
    """The live charts of a run (its timeseries table so far) drawn over the full horizon `x`.

    `reference`: the preset as shipped (same columns), drawn dashed beside an edited run.
    """
    fig, axes = _axes_grid(len(charts), title)
    t = np.arange(len(ts))
    for ax, chart in zip(axes, charts, strict=False):
        for col, label, colour in chart.series:
            ax.plot(t, ts[col] * (100 if chart.percent else 1), color=colour, lw=2, label=label)
            if reference is not None:
                r = reference[col].to_numpy()[: len(ts)] * (100 if chart.percent else 1)
                ax.plot(np.arange(len(r)), r, color=colour, lw=1.2, ls="--", label=f"{label} (preset)")
        if chart.log:
            ax.set_yscale("log")
        ax2 = None
        if chart.right:
            ax2 = ax.twinx()
            for col, label, colour in chart.right:
                ax2.plot(t, ts[col] * 100, color=colour, lw=1.3, ls=":", label=f"{label} (%, right)")
            ax2.set_ylim(0, 100)
            ax2.set_ylabel("%")
        _finish(ax, x, chart.title, chart.unit, twin=ax2)
    return _png(fig)


def bands_png(panels: Sequence[tuple[str, str, dict, float]], x: Sequence[str], title: str) -> bytes:
    """Compare charts: each panel is (title, unit, bands by scenario, scale) with lo/median/hi arrays."""
    from sim.ui.charts import SCENARIO_COLOURS, is_log

    fig, axes = _axes_grid(len(panels), title)
    t = np.arange(len(x))
    for ax, (name, unit, bands, scale) in zip(axes, panels, strict=False):
        for i, (label, b) in enumerate(bands.items()):
            colour = SCENARIO_COLOURS[i % len(SCENARIO_COLOURS)]
            ax.fill_between(t, b["lo"] * scale, b["hi"] * scale, color=colour, alpha=0.18, lw=0)
            ax.plot(t, b["median"] * scale, color=colour, lw=2, label=label)
        if is_log(name):
            ax.set_yscale("log")
        _finish(ax, x, name, unit)
    return _png(fig)
