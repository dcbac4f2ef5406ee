"""A chart component whose option is sent to the browser without passing through Solara's diff.

Why not `solara.FigureEcharts`: Solara (reacton) walks every list and dict given to a component at
every render, looking for child components. A network view of 355 nodes and five time series make
some 20,000 values per step, which took most of a step's time at 20k developers. Here the option
is set on the widget directly after the render, and the Vue template ignores updates that arrive
before the ECharts script has loaded. ECharts itself comes from solara-assets (no internet).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ipyvue
import solara
import traitlets

TEMPLATE = """
<template>
  <div ref="chart" v-bind="attributes"></div>
</template>
<script>
module.exports = {
  mounted() {
    const cdn = (window.solara && window.solara.cdn) || "_solara/cdn";
    const ready = window.requirejs ? Promise.resolve() : new Promise((ok, fail) => {
      const s = document.createElement("script");
      s.src = `${cdn}/requirejs@2.3.6/require.js`;
      s.onload = ok;
      s.onerror = fail;
      document.head.appendChild(s);
    });
    ready.then(() => {
      window.requirejs([`${cdn}/echarts@5.4.0/dist/echarts.js`], (echarts) => {
        if (this.gone) return;
        this.chart = echarts.init(this.$refs.chart);
        this.chart.setOption(this.option || {}, true);
        this.chart.on("click", (e) => this.on_click({
          name: e.name, seriesName: e.seriesName, seriesType: e.seriesType,
          dataType: e.dataType, dataIndex: e.dataIndex,
        }));
        // counted so tests and the timing note can tell when a step is fully drawn
        this.chart.on("rendered", () => { window.wsChartsDrawn = (window.wsChartsDrawn || 0) + 1; });
        this.observer = new ResizeObserver(() => this.chart && this.chart.resize());
        this.observer.observe(this.$refs.chart);
        this.$refs.chart.dataset.ready = "1";
      });
    });
  },
  beforeDestroy() {
    this.gone = true;
    if (this.observer) this.observer.disconnect();
    if (this.chart) this.chart.dispose();
  },
  watch: {
    option() {
      window.wsChartUpdates = (window.wsChartUpdates || 0) + 1;
      window.wsLastOption = performance.now();
      if (this.chart) this.chart.setOption(this.option, {notMerge: true, lazyUpdate: true});
    },
  },
};
</script>
"""


class ChartWidget(ipyvue.VueTemplate):
    """ECharts in a Vue template: `option` is the ECharts option, clicks call `on_click(data)`."""

    template = traitlets.Unicode(TEMPLATE).tag(sync=True)
    option = traitlets.Any({}).tag(sync=True)
    attributes = traitlets.Dict({}).tag(sync=True)
    on_click = traitlets.Callable(None, allow_none=True)

    def vue_on_click(self, data: dict[str, Any]) -> None:
        if self.on_click is not None:
            self.on_click(data)


class Opaque:
    """A value Solara's diff does not look into (a chart option); a new one means 'changed'."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


@solara.component
def Echart(
    option: Opaque,
    on_click: Callable[[dict[str, Any]], None] | None = None,
    height: int = 300,
    classes: str = "",
) -> None:
    """An ECharts chart; `option` is wrapped so the diff skips it, and set on the widget after the render."""
    el = ChartWidget.element(
        attributes={"style": f"height: {height}px; width: 100%;", "class": f"ws-chart {classes}".strip()},
        on_click=on_click,
    )

    def push() -> None:
        solara.get_widget(el).option = option.value

    solara.use_effect(push, [option])


def echart(
    option: dict[str, Any],
    on_click: Callable[[dict[str, Any]], None] | None = None,
    height: int = 300,
    classes: str = "",
) -> Any:
    """`Echart` from a plain option dict (call it during a render, like a component)."""
    return Echart(Opaque(option), on_click=on_click, height=height, classes=classes)
