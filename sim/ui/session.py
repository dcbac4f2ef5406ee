"""One visitor's state in the running page, and the transitions the controls trigger.

Solara keeps a separate value of each `solara.reactive` per browser session, so two people using
the same server (a teacher's screen and a student's laptop) never share a run.

Why a builder thread: re-running a 20,000-agent model to the current month takes 0.3-2 s. Done in
the click handler, a burst of clicks queued up that much work and froze the page. Here a click only
posts a request; one thread per session builds the latest request (older ones are dropped, and a
build that a newer request supersedes stops at its next month). While it works, a preview of the
same settings on a small population (`PREVIEW_N` agents, same seed) is drawn as a provisional line
within ~0.1 s, the way En-ROADS answers a slider at once.

Why the order in `apply`: the preview is what the visitor waits for. The builder is held while it is
computed (two CPU-bound threads would halve its speed), it is drawn by a render of the components
that show it alone (the numbers and time charts: every widget message costs a round trip to the
server's event loop), the controls and the busy state follow in one more render, and only then does
the exact run start. The preview records its timeseries alone (`timeseries_only`): nothing else of
it is shown.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import reacton.core
import solara
from solara.server import kernel_context

from sim.errors import InputError
from sim.ui.compare import CompareJob
from sim.ui.state import Cancelled, LiveRun, Settings, encode_policy

PREVIEW_N = 1000  # agents of the provisional run drawn while the exact one is built (fewer: noise)

settings = solara.reactive(Settings())
live: solara.Reactive[LiveRun | None] = solara.reactive(None)
reference: solara.Reactive[LiveRun | None] = solara.reactive(None)  # the preset as shipped, for dashed lines
preview: solara.Reactive[LiveRun | None] = solara.reactive(None)  # small-population run shown while building
busy = solara.reactive(False)  # a rebuild is queued or running
version = solara.reactive(0)  # bumped after every step or swap: what the live charts depend on
playing = solara.reactive(False)
selected: solara.Reactive[tuple[str, Any] | None] = solara.reactive(None)  # ("developer", i), ("lab", i), ...
problems: solara.Reactive[list[str]] = solara.reactive([])  # shown above the tabs (e.g. a bad shared link)
job: solara.Reactive[CompareJob | None] = solara.reactive(None)
_builder: solara.Reactive[Builder | None] = solara.reactive(None)


def run_key(s: Settings) -> tuple:
    """What the model depends on: a change here means a new run."""
    return (s.scenario, s.seed, tuple(sorted(s.params.items())), tuple(map(encode_policy, s.policies)), s.off)


class Builder:
    """Builds the live run for the latest requested settings in a thread of its own (one per session).

    `lock` is also held by every step, so a step and a swap of the live run never interleave, and a
    Pause that takes it knows no step is still in flight.
    """

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._cond = threading.Condition()
        self._pending: tuple[Settings, int] | None = None
        self._generation = 0
        self._held = 0  # `held()` blocks in progress: no build starts meanwhile
        self._thread: threading.Thread | None = None  # the thread taking requests, if any
        self._threads: list[threading.Thread] = []  # started and maybe still finishing (for `idle`)

    def submit(self, s: Settings) -> None:
        """Ask for a run of `s` (to `s.month`); a request not yet started is replaced, a running one stops.

        No reactive is set while `_cond` is held: setting one renders, and a render waits for the
        page's lock, which the thread handling a click holds while it waits for `_cond`.
        """
        with self._cond:
            self._generation += 1
            cur = live.peek()
            self._pending = (s, cur.t if cur is not None else 0)
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, daemon=True, name="ws-builder")
                self._thread.start()
                self._threads.append(self._thread)
        busy.value = True

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """While the page answers a change: the build in progress stops at its next month, queued
        requests are dropped, and none starts until the block ends (`submit` the new one inside it)."""
        with self._cond:
            self._held += 1
            self._generation += 1
            self._pending = None
        try:
            yield
        finally:
            with self._cond:
                self._held -= 1
                self._cond.notify_all()

    def idle(self, timeout: float | None = None) -> bool:
        """Wait until no request is queued or running (tests); True when idle."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._cond:
                alive = [t for t in self._threads if t.is_alive()]
                self._threads = alive
            if not alive:
                return True
            alive[0].join(None if deadline is None else max(0.0, deadline - time.monotonic()))
            if deadline is not None and time.monotonic() >= deadline:
                return not any(t.is_alive() for t in alive)

    def _work(self) -> None:
        while True:
            with self._cond:
                while self._held:
                    self._cond.wait()
                if self._pending is None:
                    self._thread = None
                    break
                (s, seen), generation = self._pending, self._generation
                self._pending = None

            def stale(generation: int = generation) -> bool:
                return generation != self._generation

            try:
                self._build(s, seen, stale)
            except Cancelled:
                continue
            except InputError as exc:  # should have been caught at its field; reported, never raised
                preview.value = None
                problems.value = [*problems.value, str(exc)]
        with self._cond:
            quiet = self._thread is None  # else a newer request's thread is at work: the page stays busy
        if not quiet:
            return
        busy.value = False
        with self._cond:
            again = self._thread is not None  # a request came in meanwhile: its thread is at work
        if again:
            busy.value = True

    def _build(self, s: Settings, seen: int, stale: Any) -> None:
        """Build `s`; `seen` is the live month when it was asked for."""
        run = LiveRun(s, stale=stale)
        ref = _reference_for(s, run.t, stale)
        # Reactives are set outside `lock`: setting one renders, and a render waits for the page's own
        # lock, which a Pause holding that lock while waiting for `lock` would never give up.
        with self.lock:
            if stale():
                raise Cancelled
            cur = live.peek()
            if cur is not None and cur.t > seen:
                run.step(cur.t - seen)  # playing went on while this was built
            if ref is not None and ref.t < run.t:
                ref.step(run.t - ref.t)
        with one_render():  # the exact run replaces the preview in one pass, not four
            reference.value = ref
            live.value = run
            preview.value = None
            version.value += 1


def builder() -> Builder:
    """This session's builder (made on first use)."""
    b = _builder.peek()
    if b is None:
        b = Builder()
        _builder.value = b
    return b


def _reference_for(s: Settings, month: int, stale: Any) -> LiveRun | None:
    """The shipped preset's run (same seed) at `month`, or none when nothing is edited."""
    if not s.edited:
        return None
    ref = reference.peek()
    want = Settings(scenario=s.scenario, seed=s.seed)
    if ref is None or run_key(ref.settings) != run_key(want) or ref.t > month:
        return LiveRun(replace(want, month=month), network_sample=0, stale=stale)
    return ref


def rebuild(s: Settings) -> None:
    """Ask for a fresh run for `s`, stepped to `s.month` (the same seed, so only the change differs)."""
    builder().submit(s)


def quick_preview(s: Settings) -> LiveRun | None:
    """`s` with the same seed on `PREVIEW_N` agents, or None when the run is that small anyway.

    Built in the click handler itself (~0.1 s), so it is drawn in the same page update as the
    change of the control; the exact run follows from the builder.
    """
    if s.resolved()["n_developers"] <= PREVIEW_N:
        return None
    return LiveRun(s.with_param("n_developers", PREVIEW_N), network_sample=0, timeseries_only=True)


def apply(new: Settings) -> bool:
    """Take new settings from a control; rerun to the current month when the model is affected.

    A change that cannot be built (it should have been caught at its field) is reported, not raised.
    """
    cur = live.peek()
    try:
        new.build()
    except InputError as exc:
        problems.value = [*problems.value, str(exc)]
        return False
    if cur is not None and run_key(new) == run_key(cur.settings):
        settings.value = new
        return True
    target = replace(new, month=cur.t if cur is not None else new.month)
    with builder().held():
        provisional = quick_preview(target) if cur is not None else None
        if provisional is not None:
            preview.value = provisional  # drawn first, alone: only its numbers and charts render, the answer
        with one_render():
            settings.value = new
            preview.value = provisional
            busy.value = True
        rebuild(target)  # inside: the builder starts it once the block ends, never idles in between
    return True


@contextlib.contextmanager
def one_render() -> Iterator[None]:
    """Set several reactives and render the page once, at the end of the block.

    Outside a page (no render context, e.g. plain tests) the sets simply render one by one.
    """
    rc = reacton.core.get_render_context(required=False)
    if rc is None and kernel_context.has_current_context():
        app = kernel_context.get_current_context().app_object
        rc = app if isinstance(app, reacton.core._RenderContext) else None
    if rc is None:
        yield
        return
    with rc:
        yield


def step(n: int = 1) -> bool:
    """Advance the live run (and the dashed reference) by n months; False at the end of the run."""
    with builder().lock:
        run = live.peek()
        if run is None or busy.peek():
            return False
        t0 = time.perf_counter()
        moved = run.step(n)
        ref = reference.peek()
        if ref is not None:
            ref.step(run.t - ref.t)
        t1 = time.perf_counter()
    if moved:
        version.value += 1  # outside the lock: see Builder._build
        run.timing.update(model_ms=(t1 - t0) * 1000, page_ms=(time.perf_counter() - t1) * 1000)
    return moved


def pause() -> None:
    """Stop playing. Returns once no step is in flight, and redraws, so the month then shown is final."""
    playing.value = False
    with builder().lock:
        pass
    version.value += 1


def reset() -> None:
    """Back to 2023-01 with the same settings."""
    pause()
    rebuild(replace(settings.peek(), month=0))


def run_again() -> None:
    """At the end of a run: back to 2023-01 and play it again."""
    reset()
    playing.value = True


def close() -> None:
    """Free this session's runs (its tab closed): the models are the bulk of a session's memory."""
    b = _builder.peek()
    if b is not None:
        with b._cond:
            b._generation += 1
            b._pending = None
    playing.value = False
    j = job.peek()
    if j is not None and j.running:
        j.cancel()
    for r in (live, reference, preview, job, selected, _builder):
        r.value = None
    gc.collect()
    release_memory()


def release_memory() -> None:
    """Hand freed memory back to the system (glibc keeps it in its arenas otherwise); no-op elsewhere."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
