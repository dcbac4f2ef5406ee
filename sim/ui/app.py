"""The Weightshift browser UI (Solara): `weightshift ui`, or `solara run sim.ui.app`.

Tabs: Explore (live run), Compare (scenarios over many seeds), Calibration (reported figures
against the history window) and About. The model never imports this module.

Why custom components rather than Mesa's SolaraViz: SolaraViz re-creates the model as
`type(model)(**params)` with Mesa's own `Scenario` object (ours takes a Weightshift scenario and
a parameter dict), it needs altair, whose vega scripts are not in solara-assets (the page must
work offline), and its controls have no units, tooltips or inline validation. The pieces here
follow its pattern (a reactive model, a play thread, components that take the model).
"""

from __future__ import annotations

from dataclasses import replace

import solara
import solara.lifecycle

from sim.calendar import month_label
from sim.ui import session
from sim.ui.controls import CSS
from sim.ui.explore import Explore
from sim.ui.pages import About, Calibration, Compare
from sim.ui.session import live, problems, rebuild, settings
from sim.ui.state import TABS, decode, encode

TITLE = "Weightshift"


def subtitle(months: int) -> str:
    """The header's line, with the years the run covers (`months` may reach 2042)."""
    return f"The race between Chinese and Western open-weight AI models, 2023–{month_label(months - 1)[:4]}"


def _on_session_start():
    """Each visitor's session frees its runs when it closes (its tab closed, or it was culled)."""
    return session.close


solara.lifecycle.on_kernel_start(_on_session_start)


@solara.component
def Header() -> None:
    """Title bar, large enough to read from the back of a room."""
    months = int(settings.value.resolved()["months"])
    solara.HTML(
        tag="div",
        unsafe_innerHTML=f"<span style='font-size:24px;font-weight:700'>{TITLE}</span>"
        f"<span class='ws-subtitle' style='font-size:15px;margin-left:16px;opacity:0.85'>{subtitle(months)}</span>",
        style={"background": "#1f2a44", "color": "white", "padding": "10px 18px", "border-radius": "4px"},
    )


@solara.component
def Problems() -> None:
    """Messages about input that was not taken (e.g. a bad item in a shared link), one line each."""
    for i, text in enumerate(problems.value):
        with solara.Row(style={"align-items": "center"}):
            solara.Warning(text, classes=["ws-problem"])
            solara.Button(
                icon_name="mdi-close",
                icon=True,
                small=True,
                on_click=lambda i=i: problems.set(problems.value[:i] + problems.value[i + 1 :]),
            )


@solara.component
def Page() -> None:
    """The page; the query string restores a shared state, and follows every change of a control."""
    router = solara.use_router()
    pushed = solara.use_ref(None)  # the last query string this page put in the address bar

    def restore() -> None:
        """Open the state a link describes (on load, or when a link on the page is followed)."""
        started = live.peek() is not None or session.busy.peek()
        if started and router.search == pushed.current:
            return
        new, errors = decode(router.search)
        if started and replace(new, month=0) == replace(settings.peek(), month=0):
            return  # our own push, spelt differently by the browser
        problems.value = errors
        settings.value = new
        pushed.current = router.search
        rebuild(new)

    solara.use_effect(restore, [router.search])

    query = encode(settings.value, with_month=False)

    def follow() -> None:
        run = live.peek()
        if run is not None and query != pushed.current and router.set_path is not None:
            full = encode(replace(settings.peek(), month=run.t))
            pushed.current = full
            router.push(f"{router.path}?{full}")

    solara.use_effect(follow, [query])

    solara.Title(TITLE)
    solara.Style(CSS)
    with solara.Column(style={"padding": "8px 16px"}):
        Body()


@solara.component
def Body() -> None:
    """Header, messages and the four tabs."""
    Header()
    Problems()
    tab = TABS.index(settings.value.tab)
    with solara.lab.Tabs(
        value=tab,
        on_value=lambda i: settings.set(replace(settings.value, tab=TABS[i])),
        lazy=True,
    ):
        with solara.lab.Tab("Explore"):
            Explore()
        with solara.lab.Tab("Compare"):
            Compare()
        with solara.lab.Tab("Calibration"):
            Calibration()
        with solara.lab.Tab("About"):
            About()
