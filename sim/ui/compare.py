"""The Compare tab's engine: several scenarios over many seeds, run off the page's thread.

Why a process next to a thread: the runs are numpy work that holds the interpreter lock much of
the time, so running them in a thread of the web server would slow every click. A background
thread hands (scenario, seed) runs to a worker process and collects them, updating `progress`;
the page only reads that number. The worker pool keeps one core free for the web server.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import warnings
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from sim.model import WeightshiftModel
from sim.recorder import COLUMNS
from sim.ui.charts import COMPARE_METRICS, months_axis
from sim.ui.state import Settings

_POOL: ProcessPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def pool() -> ProcessPoolExecutor:
    """One shared worker pool per server (spawned: safe beside the server's threads)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            workers = max(1, (os.cpu_count() or 2) - 1)
            _POOL = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
        return _POOL


def run_metrics(settings: Settings, seed: int, n_developers: int, drawn: dict[str, Any] | None = None) -> np.ndarray:
    """One run's timeseries outputs as a (months, metrics) array, in `COMPARE_METRICS` order.

    `drawn`: a posterior draw's parameters, in place of the calibrated ones; the scenario's own and
    the visitor's changes still win (as `weightshift run --draws` lets user overrides win)."""
    scenario, params = settings.build()
    params = params | {k: v for k, v in (drawn or {}).items() if k not in scenario.overrides}
    params = params | {"n_developers": n_developers}
    model = WeightshiftModel(scenario, seed=seed, params=params).run()
    ts = model.recorder.ts
    return np.stack([ts[m][: model.t] for m in COMPARE_METRICS], axis=1)


def is_share(metric: str) -> bool:
    """Shares and 0-1 indices are shown in % (from the unit in `COLUMNS`)."""
    return COLUMNS["timeseries"][metric][0] in ("share", "0-1")


@dataclass
class CompareResult:
    """Each scenario's runs: `runs[name]` is (seeds, months, metrics); seeds are paired across scenarios."""

    names: list[str]
    runs: dict[str, np.ndarray]
    seeds: int
    n_developers: int
    draws: bool = False  # runs are posterior draws (parameters and seed), not seeds at the calibrated point

    @property
    def over(self) -> str:
        """What the bands are over, for titles: "10 seeds" or "10 posterior draws"."""
        return f"{self.seeds} {'posterior draws' if self.draws else 'seeds'}"

    @property
    def x(self) -> list[str]:
        return months_axis(min(r.shape[1] for r in self.runs.values()))

    def _col(self, name: str, metric: str) -> np.ndarray:
        months = len(self.x)
        return self.runs[name][:, :months, COMPARE_METRICS.index(metric)]

    @staticmethod
    def _band(values: np.ndarray) -> dict[str, np.ndarray]:
        with warnings.catch_warnings():  # months where a share is undefined in every seed stay gaps
            warnings.simplefilter("ignore", RuntimeWarning)
            lo, med, hi = np.nanpercentile(values, [5, 50, 95], axis=0)
        return {"lo": lo, "median": med, "hi": hi}

    def bands(self, metric: str) -> dict[str, dict[str, np.ndarray]]:
        """Median and 5-95% band over seeds, per scenario."""
        return {name: self._band(self._col(name, metric)) for name in self.names}

    def differences(self, metric: str) -> dict[str, dict[str, np.ndarray]]:
        """Each later scenario minus the first, run by run (same seed, and same draw: paired), then banded."""
        base = self._col(self.names[0], metric)
        return {f"{n} − {self.names[0]}": self._band(self._col(n, metric) - base) for n in self.names[1:]}

    def table(self) -> pd.DataFrame:
        """Tidy summary for CSV export: scenario, month, metric, p5, median, p95."""
        frames = []
        for metric in COMPARE_METRICS:
            for name, b in self.bands(metric).items():
                frames.append(
                    pd.DataFrame(
                        {"scenario": name, "month": self.x, "metric": metric, "p5": b["lo"]}
                        | {"median": b["median"], "p95": b["hi"]}
                    )
                )
        return pd.concat(frames, ignore_index=True)


@dataclass
class CompareJob:
    """A comparison in progress. `start()` returns at once; read `progress`, `result`, `error`."""

    entries: list[tuple[str, Settings]]  # (display name, settings) per scenario
    seeds: int  # runs per scenario
    n_developers: int
    draws: bool = False  # run i is posterior draw i (its parameters and seed) rather than seed i
    processes: bool = True  # False: run in the background thread itself (tests, tiny jobs)
    progress: float = 0.0
    result: CompareResult | None = None
    error: str | None = None
    cancelled: bool = False
    _futures: list[Future] = field(default_factory=list, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def total(self) -> int:
        return len(self.entries) * self.seeds

    def start(self, on_progress: Any = None) -> CompareJob:
        """Run in a daemon thread; `on_progress()` is called after each finished run."""
        self._thread = threading.Thread(target=self._work, args=(on_progress,), daemon=True, name="compare")
        self._thread.start()
        return self

    def cancel(self) -> None:
        self.cancelled = True
        for f in self._futures:
            f.cancel()

    def wait(self, timeout: float | None = None) -> CompareJob:
        if self._thread is not None:
            self._thread.join(timeout)
        return self

    def _work(self, on_progress: Any) -> None:
        try:
            seeds, drawn = self._runs()
            jobs = [(name, s, i) for name, s in self.entries for i in range(self.seeds)]
            args = [(s, seeds[i], self.n_developers, drawn[i]) for _, s, i in jobs]
            out: dict[str, list[np.ndarray]] = {name: [None] * self.seeds for name, _ in self.entries}
            if self.processes:
                ex = pool()
                self._futures = [ex.submit(run_metrics, *a) for a in args]
                results = (f.result() for f in self._futures)
            else:
                results = (run_metrics(*a) for a in args)
            for i, ((name, _, run), arr) in enumerate(zip(jobs, results, strict=True)):
                if self.cancelled:
                    return
                out[name][run] = arr
                self.progress = (i + 1) / len(jobs)
                if on_progress is not None:
                    on_progress()
            runs = {name: np.stack(arrs) for name, arrs in out.items()}
            self.result = CompareResult([n for n, _ in self.entries], runs, self.seeds, self.n_developers, self.draws)
        except Exception as exc:  # shown on the page as one line, never as a traceback
            if not self.cancelled:
                self.error = f"comparison failed: {type(exc).__name__}: {exc}"
        finally:
            if on_progress is not None:
                on_progress()

    def _runs(self) -> tuple[list[int], list[dict[str, Any] | None]]:
        """Seed and drawn parameters of run i, shared by every scenario (common random numbers)."""
        if not self.draws:
            return list(range(self.seeds)), [None] * self.seeds
        from sim.ensemble import draws

        seeds, params = zip(*draws(self.seeds, 0), strict=True)
        return list(seeds), list(params)


def compare_entries(s: Settings) -> list[tuple[str, Settings]]:
    """The scenarios picked on the Compare tab as (name, settings); `explore` = the Explore tab's settings."""
    out = []
    for name in s.compare:
        if name == "explore":
            out.append((f"Explore ({s.scenario}, edited)" if s.edited else f"Explore ({s.scenario})", s))
        else:
            out.append((name, Settings(scenario=name)))
    return [(n, replace(st, month=0)) for n, st in out]
