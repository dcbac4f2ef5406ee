"""A chart component whose option is sent to the browser without passing through Solara's diff.

Why not `solara.FigureEcharts`: Solara (reacton) walks every list and dict given to a component at
every render, looking for child components. A network view of 355 nodes and five time series make
some 20,000 values per step, which took most of a step's time at 20k developers. Here the option
is set on the widget directly after the render, and the Vue template ignores updates that arrive
before the ECharts script has loaded. ECharts itself comes from solara-assets (no internet).

Why some layout happens in the browser (`fit` in the template): only the browser knows a chart's
width. From it, the yearly axis labels choose their spacing, long titles and legends wrap instead of
being cut or paged, and the plot area moves down to make room, so the page reads at 1024 px too.
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
        (window.wsCharts = window.wsCharts || new Set()).add(this.chart);
        this.draw(true);
        this.chart.on("click", (e) => this.on_click({
          name: e.name, seriesName: e.seriesName, seriesType: e.seriesType,
          dataType: e.dataType, dataIndex: e.dataIndex,
        }));
        // counted so tests and the timing note can tell when a step is fully drawn
        this.chart.on("rendered", () => { window.wsChartsDrawn = (window.wsChartsDrawn || 0) + 1; });
        this.width = this.$refs.chart.clientWidth;
        this.observer = new ResizeObserver(() => {
          if (!this.chart) return;
          const w = this.$refs.chart.clientWidth;
          if (w !== this.width) { this.width = w; this.draw(false); }
          this.chart.resize();
        });
        this.observer.observe(this.$refs.chart);
        this.$refs.chart.dataset.ready = "1";
      });
    });
  },
  beforeDestroy() {
    this.gone = true;
    if (this.observer) this.observer.disconnect();
    if (this.chart) { window.wsCharts && window.wsCharts.delete(this.chart); this.chart.dispose(); }
  },
  methods: {
    textWidth(text, size) { return String(text || "").length * size * 0.58; },
    fit(option) {
      // lay the option out for this chart's width (see the module docstring)
      const o = JSON.parse(JSON.stringify(option || {}));
      const width = Math.max(this.$refs.chart.clientWidth, 200);
      const inner = width - 40;
      let top = 16;
      if (o.title && !Array.isArray(o.title)) {
        const ts = (o.title.textStyle || {}).fontSize || 18;
        const ss = (o.title.subtextStyle || {}).fontSize || 12;
        const room = inner - (o.toolbox ? 40 : 0);
        o.title.textStyle = Object.assign({}, o.title.textStyle, {width: room, overflow: "break"});
        o.title.subtextStyle = Object.assign({}, o.title.subtextStyle, {width: room, overflow: "break"});
        const lines = Math.ceil(this.textWidth(o.title.text, ts) / room);
        const sublines = o.title.subtext ? Math.ceil(this.textWidth(o.title.subtext, ss) / room) : 0;
        top = 10 + lines * (ts + 6) + sublines * (ss + 5) + 8;
      }
      let bottom = 8;
      if (o.legend && o.legend.show !== false && o.legend.data) {
        const ls = (o.legend.textStyle || {}).fontSize || 12;
        o.legend.type = "plain";
        o.legend.width = inner;
        let rows = 1, used = 0;
        for (const name of o.legend.data) {
          const w = this.textWidth(name, ls) + 40;
          if (used + w > inner && used > 0) { rows += 1; used = 0; }
          used += w;
        }
        bottom = 8 + rows * (ls + 12);
      }
      const grids = o.grid ? (Array.isArray(o.grid) ? o.grid : [o.grid]) : [];
      for (const g of grids) {
        if (g.wsFit === false) continue;
        g.top = Math.max(g.top || 0, top + (o.yAxis && [].concat(o.yAxis).some(a => a.name) ? 22 : 4));
        g.bottom = Math.max(g.bottom || 0, bottom + 26);
      }
      const axes = o.xAxis ? [].concat(o.xAxis) : [];
      for (const ax of axes) {
        if (!ax.wsYears || !ax.data) continue;
        // one label per January, or per 2, 5, 10 years: whichever fits the width
        const gw = width - ((grids[0] && grids[0].left) || 60) - ((grids[0] && grids[0].right) || 40);
        const years = ax.data.length / 12;
        const fs = (ax.axisLabel && ax.axisLabel.fontSize) || 12;
        const per = Math.max(1, Math.ceil((years * (this.textWidth("2030", fs) + 14)) / Math.max(gw, 50)));
        const step = [1, 2, 5, 10, 20].find(s => s >= per) || per;
        ax.axisLabel = Object.assign({}, ax.axisLabel, {
          interval: (i, v) => v.endsWith("-01") && ((+v.slice(0, 4)) % step === 0),
          formatter: (v) => v.slice(0, 4),
          hideOverlap: true,
        });
        ax.axisTick = Object.assign({}, ax.axisTick, {interval: (i, v) => v.endsWith("-01")});
        delete ax.wsYears;
      }
      if (o.series && o.grid) {
        for (const s of [].concat(o.series)) {
          if (s.markArea && s.markArea.label) s.markArea.label.show = width > 520;
        }
      }
      return o;
    },
    draw(first) {
      if (!this.chart) return;
      this.chart.setOption(this.fit(this.option), first ? true : {notMerge: true, lazyUpdate: true});
    },
  },
  watch: {
    option() {
      window.wsChartUpdates = (window.wsChartUpdates || 0) + 1;
      window.wsLastOption = performance.now();
      this.draw(false);
    },
  },
};
</script>
"""


ADDRESS = """
<template><span style="display:none"></span></template>
<script>
module.exports = {
  mounted() { this.follow(); },
  watch: { query() { this.follow(); } },
  methods: {
    follow() {
      // replaceState: the month follows every step without a history entry per step (F5 keeps it)
      const url = window.location.pathname + (this.query ? "?" + this.query : "") + window.location.hash;
      if (url !== window.location.pathname + window.location.search + window.location.hash) {
        window.history.replaceState(window.history.state, "", url);
      }
    },
  },
};
</script>
"""


class AddressWidget(ipyvue.VueTemplate):
    """Keeps the browser's address bar at `query` (no new history entry): F5 restores this state."""

    template = traitlets.Unicode(ADDRESS).tag(sync=True)
    query = traitlets.Unicode("").tag(sync=True)


@solara.component
def AddressBar(query: str) -> None:
    """The address bar follows `query` (settings and month), so a reload reopens what is shown."""
    AddressWidget.element(query=query)


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
