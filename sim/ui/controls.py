"""Controls generated from `sim.params.REGISTRY` and `sim.policies.KINDS` (never re-declared here).

Every field shows its unit, its allowed range and, on hover, its help and source. A typed value is
checked by the registry's own rule; a bad one leaves the model untouched and shows the registry's
message (field, value, what is allowed) under the field, never a traceback.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import replace
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Any

import markdown
import solara
from solara.alias import rv, rvue

from sim.errors import InputError
from sim.params import REGISTRY, Param
from sim.policies import KINDS, Field
from sim.ui.state import (
    Settings,
    check_policy,
    describe_policy,
    field_choices,
    parse_field,
    parse_param,
    scenario_names,
)

DEFAULT_GROUP = "choice"
CSS = """
.ws-md table { border-collapse: collapse; margin: 6px 0 12px; }
.ws-md th, .ws-md td { border-bottom: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
.ws-md code { background: #f2f2f2; padding: 0 3px; border-radius: 3px; }
.ws-md h2 { margin: 18px 0 8px; } .ws-md h3 { margin: 14px 0 6px; }
.ws-explore { display: flex; gap: 16px; align-items: flex-start; }
.ws-controls { flex: 0 0 360px; width: 360px; min-width: 0; }
.ws-live { flex: 1 1 auto; min-width: 0; }
.ws-grid { display: grid; gap: 12px; grid-template-columns: repeat(auto-fill, minmax(460px, 1fr)); }
.ws-grid > *, .ws-cells > * { min-width: 0; }
.ws-cells { display: contents; }
.ws-error { color: #b00020; font-size: 13px; white-space: pre-wrap; }
@media (max-width: 1400px) { .ws-controls { flex-basis: 300px; width: 300px; } }
@media (max-width: 1100px) {
  .ws-controls { flex-basis: 270px; width: 270px; }
  .ws-grid { grid-template-columns: 1fr; }
}
@media (max-width: 760px) {
  .ws-explore { flex-direction: column; }
  .ws-controls { width: 100%; flex-basis: auto; }
}
"""
GROUPS = tuple(dict.fromkeys(p.group for p in REGISTRY.values()))


@lru_cache(maxsize=512)
def md_html(text: str) -> str:
    """Markdown to HTML on the server (Solara's own Markdown loads KaTeX from a CDN: not offline).

    Raw HTML is not passed through ("<" is escaped first): text may quote what a visitor typed.
    """
    return markdown.markdown(text.replace("<", "&lt;"), extensions=["tables"])


@solara.component
def Md(text: str) -> None:
    """Markdown text (tables allowed), styled by `CSS`."""
    solara.HTML(tag="div", unsafe_innerHTML=md_html(text), classes=["ws-md"])


def fmt(value: Any) -> str:
    """A value as a visitor would type it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1e5 else f"{value:.6g}"
    return str(value)


def nice_step(low: float, high: float, integer: bool) -> float:
    """A round slider step giving about 100-200 positions over [low, high]."""
    raw = (high - low) / 150
    step = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    for m in (1, 2, 5):
        if step * m >= raw:
            step *= m
            break
    return max(1, round(step)) if integer else step


def on_grid(value: float, low: float, high: float, step: float) -> float:
    """`value` at the slider position the browser would move it to (Vuetify's `roundValue`, with
    JavaScript's `Math.round` and `toFixed`).

    Why: a slider given a value between its positions moves to the nearest one and sends that back,
    and every render of the page then set the exact value again: a message each way per such slider
    and render (seven sliders at the baseline: fourteen messages at every step and every preview).
    """
    decimals = max(0, -math.floor(math.log10(step)))
    offset = math.fmod(low, step)
    snapped = math.floor((min(max(value, low), high) - offset) / step + 0.5) * step + offset
    return float(Decimal(min(snapped, high)).quantize(Decimal(10) ** -decimals, rounding=ROUND_HALF_UP))


def has_slider(low: float, high: float, integer: bool) -> bool:
    """Sliders only where a position means something: not for spans of several decades."""
    return not ((integer and high - low > 1000) or (low > 0 and high / low >= 100))


@solara.component
def NumberField(
    label: str,
    value: float,
    low: float,
    high: float,
    on_value: Callable[[Any], None],
    parse: Callable[[str], Any],
    tooltip: str = "",
    integer: bool = False,
    changed: bool = False,
    on_reset: Callable[[], None] | None = None,
    testid: str = "",
) -> None:
    """A labelled slider plus a text box; `parse` turns typed text into a value or raises InputError."""
    draft, set_draft = solara.use_state(None)  # text being typed, kept while it is not allowed
    error, set_error = solara.use_state("")

    def typed(text: str | None) -> None:
        try:
            new = parse(text or "")
        except InputError as exc:
            set_draft(text)
            set_error(str(exc))
            return
        set_draft(None)
        set_error("")
        if new != value:
            on_value(new)

    def slid(*args: Any) -> None:
        set_draft(None)
        set_error("")
        typed(str(args[-1]))

    with solara.Column(gap="0px", classes=["ws-field"], style={"margin-bottom": "6px"}):
        with solara.Row(gap="4px", style={"align-items": "center"}):
            with solara.Tooltip(tooltip or label):
                solara.HTML(
                    tag="span",
                    unsafe_innerHTML=("● " if changed else "") + label,
                    style={"font-weight": "600" if changed else "400", "font-size": "14px", "cursor": "help"},
                )
            solara.InputText(
                "",
                value=draft if draft is not None else fmt(value),
                on_value=typed,
                error=bool(error),
                dense=True,
                hide_details=True,
                style={"max-width": "110px", "margin-left": "auto"},
                classes=[f"ws-input-{testid}"] if testid else [],
            )
            if changed and on_reset is not None:
                solara.Button(icon_name="mdi-undo", icon=True, small=True, on_click=on_reset)
        if has_slider(low, high, integer):
            Slider(value, low, high, nice_step(low, high, integer), slid, f"ws-slider-{testid}" if testid else "")
        if error:
            ErrorText(error)


@solara.component
def ErrorText(text: str) -> None:
    """A message under a field. Plain text, never HTML: it quotes what the visitor typed."""
    solara.Text(text, classes=["ws-error"])


@solara.component
def Fold(title: str, expand: bool = False, children: list | None = None) -> None:
    """A section that renders its content only while open: every widget on the page costs time at
    each step (the whole page is reconciled), so closed sections should cost nothing."""
    is_open, set_open = solara.use_state(expand)
    solara.Button(
        ("▾ " if is_open else "▸ ") + title,
        text=True,
        on_click=lambda: set_open(not is_open),
        classes=["ws-fold"],
        style={"justify-content": "flex-start", "font-size": "15px", "width": "100%"},
    )
    if is_open:
        solara.Column(children=children or [], style={"padding": "0 4px 8px 8px"})


@solara.component
def Slider(value: float, low: float, high: float, step: float, on_release: Callable[..., None], class_: str) -> None:
    """A slider that reports only when released (a drag would otherwise re-run the model many times)."""
    slider = rv.Slider(
        v_model=on_grid(value, low, high, step),
        min=low,
        max=high,
        step=step,
        dense=True,
        hide_details=True,
        thumb_label=True,
        class_=class_,
    )
    rvue.use_event(slider, "change", on_release)


def param_tooltip(p: Param) -> str:
    """Hover text of a parameter: meaning, unit, allowed range and source, all from the registry."""
    return f"{p.help} Unit: {p.unit}. Allowed: {p.low:g} to {p.high:g}. Source: {p.source}"


@solara.component
def ParamControl(name: str, value: Any, preset: Any, on_value: Callable[[str, Any], None]) -> None:
    """One registry parameter: a switch for on/off ones, a number field for the rest."""
    p = REGISTRY[name]
    label = f"{name} ({p.unit})"
    if p.kind is bool:
        with solara.Tooltip(param_tooltip(p)):
            solara.Switch(label=label, value=bool(value), on_value=lambda v: on_value(name, bool(v)))
        return
    NumberField(
        label=label,
        value=value,
        low=p.low,
        high=p.high,
        on_value=lambda v: on_value(name, v),
        parse=lambda text: parse_param(name, text),
        tooltip=param_tooltip(p),
        integer=p.kind is int,
        changed=value != preset,
        on_reset=lambda: on_value(name, preset),
        testid=name,
    )


@solara.component
def ParamPanel(settings: Settings, on_settings: Callable[[Settings], None]) -> None:
    """The registry's parameters, one group at a time (a short list reads better on a projector)."""
    group, set_group = solara.use_state(DEFAULT_GROUP)
    preset = settings.preset_params()
    values = preset | settings.params

    def set_param(name: str, value: Any) -> None:
        on_settings(settings.with_param(name, value))

    changed = len(settings.params)
    solara.Select(label="Parameter group", values=list(GROUPS), value=group, on_value=set_group)
    for name, p in REGISTRY.items():
        if p.group == group:
            ParamControl(name, values[name], preset[name], set_param)
    if changed:
        with solara.Row(style={"align-items": "center"}):
            solara.Text(f"{changed} changed: " + ", ".join(sorted(settings.params)), style={"font-size": "13px"})
            solara.Button(
                "Reset all", small=True, text=True, on_click=lambda: on_settings(replace(settings, params={}))
            )


@solara.component
def ScenarioPicker(settings: Settings, on_settings: Callable[[Settings], None]) -> None:
    """Preset picker; picking one starts from its own parameters and policies."""
    names = scenario_names()

    def pick(name: str) -> None:
        if name != settings.scenario:
            on_settings(replace(settings, scenario=name, params={}, policies=(), off=()))

    solara.Select(label="Scenario preset", values=names, value=settings.scenario, on_value=pick)
    text = settings.preset().description.strip()
    if text:
        first = re.split(r"(?<=\.)\s", text, maxsplit=1)[0]
        with solara.Tooltip(text):
            solara.Text(first, style={"font-size": "13px", "color": "#555"})


@solara.component
def PolicyForm(on_add: Callable[[dict[str, Any]], None]) -> None:
    """A new policy: kind, months and the kind's own fields (from its FIELDS), checked before adding."""
    kind, set_kind = solara.use_state("chip_export_controls")
    values, set_values = solara.use_state({})
    error, set_error = solara.use_state("")
    cls = KINDS[kind]
    where = f"new {kind} policy"

    def set_value(key: str, value: Any) -> None:
        set_values(values | {key: value})

    def choose_kind(k: str) -> None:
        set_kind(k)
        set_values({})
        set_error("")

    def add() -> None:
        table = {"kind": kind, "start": values.get("start", "2026-01")}
        if values.get("end"):
            table["end"] = values["end"]
        for name, spec in cls.FIELDS.items():
            if name in values:
                table[name] = values[name]
            elif spec.kind == "number" and spec.default is None:
                table[name] = (spec.low + spec.high) / 2
        try:
            check_policy(table, where)
        except InputError as exc:
            set_error(str(exc))
            return
        set_error("")
        on_add(table)

    solara.Select(label="Policy kind", values=list(KINDS), value=kind, on_value=choose_kind)
    solara.Text(cls.help, style={"font-size": "13px", "color": "#555"})
    with solara.Row():
        for key, default in (("start", "2026-01"), ("end", "")):
            MonthField(key, values.get(key, default), lambda v, k=key: set_value(k, v), where, optional=key == "end")
    for name, spec in cls.FIELDS.items():
        PolicyField(kind, name, spec, values.get(name), lambda v, n=name: set_value(n, v), where)
    solara.Button("Add policy", color="primary", small=True, on_click=add, classes=["ws-add-policy"])
    if error:
        ErrorText(error)


@solara.component
def MonthField(key: str, value: str, on_value: Callable[[str], None], where: str, optional: bool = False) -> None:
    """A "YYYY-MM" month, checked as scenario files are."""
    error, set_error = solara.use_state("")

    def typed(text: str | None) -> None:
        text = (text or "").strip()
        if optional and not text:
            set_error("")
            on_value("")
            return
        try:
            parse_field("", key, text, where)
            set_error("")
        except InputError as exc:
            set_error(str(exc))  # kept in the form too, so "Add policy" refuses it by name
        on_value(text)

    label = f"{key} (YYYY-MM{', optional' if optional else ''})"
    solara.InputText(label, value=value, on_value=typed, error=error or False, dense=True, classes=[f"ws-month-{key}"])


@solara.component
def PolicyField(kind: str, name: str, spec: Field, value: Any, on_value: Callable[[Any], None], where: str) -> None:
    """One field of a policy kind, generated from its spec: a number or a list of names."""
    tip = f"{spec.help} " + (f"Allowed: {spec.low:g} to {spec.high:g} {spec.unit}." if spec.kind == "number" else "")
    if spec.kind == "number":
        default = spec.default if spec.default is not None else (spec.low + spec.high) / 2
        NumberField(
            label=f"{name} ({spec.unit})",
            value=value if value is not None else default,
            low=spec.low,
            high=spec.high,
            on_value=on_value,
            parse=lambda text: parse_field(kind, name, text, where),
            tooltip=tip,
            testid=f"policy-{name}",
        )
        return
    choices = list(field_choices(spec))
    chosen = list(value) if value is not None else list(spec.default if spec.default is not None else choices)
    with solara.Tooltip(tip):
        solara.SelectMultiple(
            label=f"{name} ({spec.help.split('(')[0].strip()})",
            values=chosen,
            all_values=choices,
            on_value=on_value,
            dense=True,
        )


@solara.component
def PolicyPanel(settings: Settings, on_settings: Callable[[Settings], None]) -> None:
    """The preset's policies (each can be switched off) and the visitor's added ones."""
    preset = settings.preset()
    adding, set_adding = solara.use_state(False)

    def toggle(i: int, on: bool) -> None:
        off = set(settings.off)
        off.discard(i) if on else off.add(i)
        on_settings(replace(settings, off=tuple(sorted(off))))

    def remove(i: int) -> None:
        on_settings(replace(settings, policies=settings.policies[:i] + settings.policies[i + 1 :]))

    def add(table: dict[str, Any]) -> None:
        set_adding(False)
        on_settings(replace(settings, policies=(*settings.policies, table)))

    if not preset.policies:
        solara.Text("This preset has no policies.", style={"font-size": "13px"})
    for i, pol in enumerate(preset.policies):
        solara.Checkbox(label=describe_policy(pol), value=i not in settings.off, on_value=lambda on, i=i: toggle(i, on))
    for i, table in enumerate(settings.policies):
        with solara.Row(style={"align-items": "center"}):
            solara.Text("+ " + check_policy(table, f"added policy {i + 1}"), style={"font-size": "13px"})
            solara.Button(icon_name="mdi-close", icon=True, small=True, on_click=lambda i=i: remove(i))
    if adding:
        with solara.Card(style={"padding": "8px"}):
            PolicyForm(on_add=add)
            solara.Button("Cancel", small=True, text=True, on_click=lambda: set_adding(False))
    else:
        solara.Button("Add a policy", small=True, outlined=True, on_click=lambda: set_adding(True))
