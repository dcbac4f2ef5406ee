"""One visitor's state in the running page, and the transitions the controls trigger.

Solara keeps a separate value of each `solara.reactive` per browser session, so two people using
the same server (a teacher's screen and a student's laptop) never share a run.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import solara

from sim.errors import InputError
from sim.ui.compare import CompareJob
from sim.ui.state import LiveRun, Settings, encode_policy

settings = solara.reactive(Settings())
live: solara.Reactive[LiveRun | None] = solara.reactive(None)
reference: solara.Reactive[LiveRun | None] = solara.reactive(None)  # the preset as shipped, for dashed lines
version = solara.reactive(0)  # bumped after every step: what the live charts depend on
playing = solara.reactive(False)
selected: solara.Reactive[tuple[str, Any] | None] = solara.reactive(None)  # ("developer", i), ("lab", i), ...
problems: solara.Reactive[list[str]] = solara.reactive([])  # shown above the tabs (e.g. a bad shared link)
job: solara.Reactive[CompareJob | None] = solara.reactive(None)


def run_key(s: Settings) -> tuple:
    """What the model depends on: a change here means a new run."""
    return (s.scenario, s.seed, tuple(sorted(s.params.items())), tuple(map(encode_policy, s.policies)), s.off)


def _sync_reference(s: Settings, month: int) -> None:
    """Keep the shipped preset's run (same seed) at `month`, or none when nothing is edited."""
    if not s.edited:
        reference.value = None
        return
    ref = reference.value
    want = Settings(scenario=s.scenario, seed=s.seed)
    if ref is None or run_key(ref.settings) != run_key(want) or ref.t > month:
        ref = LiveRun(replace(want, month=month))
    else:
        ref.step(month - ref.t)
    reference.value = ref


def rebuild(s: Settings) -> None:
    """A fresh run for `s`, stepped to `s.month` (the same seed, so only the change differs)."""
    run = LiveRun(s)
    _sync_reference(s, run.t)
    live.value = run
    version.value += 1


def apply(new: Settings) -> bool:
    """Take new settings from a control; rerun to the current month when the model is affected.

    A change that cannot be built (it should have been caught at its field) is reported, not raised.
    """
    cur = live.value
    try:
        if cur is None or run_key(new) != run_key(cur.settings):
            rebuild(replace(new, month=cur.t if cur is not None else new.month))
    except InputError as exc:
        problems.value = [*problems.value, str(exc)]
        return False
    settings.value = new
    return True


def step(n: int = 1) -> bool:
    """Advance the live run (and the dashed reference) by n months; False at the end of the run."""
    run = live.value
    if run is None:
        return False
    t0 = time.perf_counter()
    moved = run.step(n)
    if reference.value is not None:
        reference.value.step(run.t - reference.value.t)
    t1 = time.perf_counter()
    version.value += 1
    run.timing.update(model_ms=(t1 - t0) * 1000, page_ms=(time.perf_counter() - t1) * 1000)
    return moved


def reset() -> None:
    """Back to 2023-01 with the same settings."""
    playing.value = False
    rebuild(replace(settings.value, month=0))
