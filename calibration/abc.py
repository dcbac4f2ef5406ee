"""ABC-SMC through pyabc, made deterministic and resumable: the engine under `weightshift calibrate`.

pyabc (Klinger et al. 2018) does the statistics: the importance weights (prior / proposal), the
adaptive tolerance and the SQLite history. The proposal is the project's (calibration/truncated.py:
the prior restricted to a box around the population, on each prior's normal-score scale): pyabc's
stock kernel mixture, and then a Gaussian fitted to the population, let the weights collapse to one
particle in the fit's ~50 dimensions. This module also adds three things the project needs and
pyabc's stock samplers do not give together:

- Determinism. pyabc draws proposals from numpy's global generator, and its multicore samplers
  reseed workers from the operating system. `SeededSampler` instead proposes in batches and seeds
  particle i of batch b of generation t with SeedSequence([seed, t, b, i]) just before it is
  proposed; results come back in order and the first n accepted ones form the generation. So a
  fit is a pure function of its settings, whatever the number of workers. The model run's own
  seed is derived from the root seed and the proposed parameter values (`CachedModel`).
- Resume. pyabc stores each finished generation in its history database; `--resume` continues
  from the last one. Runs of an unfinished generation are kept too: every model run is journalled
  the moment it finishes, and since a resumed generation proposes exactly the same particles, it
  takes them from the journal instead of running them again.
- A budget on model runs, checked before every batch (pyabc checks its own only between
  generations).
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import os
import random
import signal
import warnings
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cloudpickle
import numpy as np
import pandas as pd
import pyabc
from pyabc.parameters import Parameter
from pyabc.random_variables import RVBase
from pyabc.sampler import Sampler
from threadpoolctl import threadpool_limits

from calibration.priors import NormalScoreRV, Prior
from calibration.summaries import ess
from calibration.truncated import TruncatedPrior, principal_box

DB_NAME = "abc.db"
JOURNAL_PREFIX = "runs-"


@dataclass(frozen=True)
class Problem:
    """What to fit: the priors, a simulator of summary statistics and a distance to the data.

    `simulate(params, seed)` and `distance(stats, observed)` must be picklable (module-level
    functions or instances of module-level classes) so worker processes can run them.
    """

    priors: dict[str, Prior]
    simulate: Callable[[dict[str, float], int], dict[str, float]]
    distance: Callable[[dict[str, float], dict[str, float]], float]
    observed: dict[str, float]
    start: dict[str, float] | None = None  # the pilot's centre (see PilotPrior); None: the prior
    spread: dict[str, float] | None = None  # the pilot's sd per parameter (calibration/pilot.py); None: all alike


@dataclass(frozen=True)
class AbcSettings:
    """How hard to try. `budget` caps model runs; the fit stops at `min_epsilon` or the budget."""

    population: int = 200  # accepted particles per generation
    batch: int = 64  # particles proposed at a time (a multiple of the workers keeps them all busy)
    budget: int = 24_200  # the kept fit's generation 2 ends at 24,106 runs, screen included (fit.py)
    min_epsilon: float = 0.0
    alpha: float = 0.5  # next tolerance = this weighted quantile of the current distances
    seed: int = 20251231
    max_generations: int = 60
    pilot_spread: float = 0.2  # the pilot's sd around `Problem.start` where `Problem.spread` is None (prior sds)


# --- the model, journalled ------------------------------------------------------------------------

_CACHES: dict[str, dict[str, dict[str, float]]] = {}
_FILES: dict[tuple[str, int], Any] = {}


def _key(point: dict[str, float], seed: int) -> str:
    text = json.dumps({k: float(f"{v:.15g}") for k, v in sorted(point.items())}) + f"|{seed}"
    return hashlib.sha1(text.encode()).hexdigest()


def read_journal(folder: Path) -> dict[str, dict[str, float]]:
    """Every journalled run in `folder` (a line cut short by a crash is skipped: that run is redone)."""
    done: dict[str, dict[str, float]] = {}
    for path in sorted(folder.glob(f"{JOURNAL_PREFIX}*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            done[row["key"]] = row["values"]
    return done


def _cache(folder: str) -> dict[str, dict[str, float]]:
    if folder not in _CACHES:
        _CACHES[folder] = read_journal(Path(folder))
    return _CACHES[folder]


def _record(folder: str, key: str, values: dict[str, float]) -> None:
    """Append one run to this process's journal file (one writer per file: no interleaving)."""
    slot = (folder, os.getpid())
    if slot not in _FILES:
        _FILES[slot] = open(Path(folder) / f"{JOURNAL_PREFIX}{os.getpid()}.jsonl", "a", encoding="utf-8")  # noqa: SIM115
    f = _FILES[slot]
    f.write(json.dumps({"key": key, "values": values}) + "\n")
    f.flush()
    _cache(folder)[key] = values


def _close_journal(folder: str) -> None:
    for slot in [s for s in _FILES if s[0] == folder]:
        _FILES.pop(slot).close()
    _CACHES.pop(folder, None)


@dataclass(frozen=True)
class CachedModel:
    """pyabc's model: runs `simulate` at the proposed parameters, or reads the journal on resume.

    pyabc works on each prior's normal-score scale (`NormalScoreRV`); `simulate` gets values."""

    simulate: Callable[[dict[str, float], int], dict[str, float]]
    seed: int
    journal: str
    scales: dict[str, NormalScoreRV]

    def __call__(self, par: Any) -> dict[str, float]:
        point = {k: self.scales[k].to_x(float(par[k])) for k in sorted(par.keys())}
        key = _key(point, self.seed)
        done = _cache(self.journal)
        if key in done:
            return done[key]
        run_seed = int(np.random.SeedSequence([self.seed, int(key[:15], 16)]).generate_state(1)[0])
        values = {k: float(v) for k, v in self.simulate(point, run_seed).items()}
        _record(self.journal, key, values)
        return values


# --- the sampler ------------------------------------------------------------------------------------

_LAST: dict[str, Any] = {}


def _simulate_seeded(task: tuple[bytes, np.ndarray]) -> Any:
    """Propose, run and judge one particle with numpy's and Python's generators seeded first."""
    blob, state = task
    if _LAST.get("blob") != blob:
        _LAST.update(blob=blob, fn=cloudpickle.loads(blob))
    np.random.seed(state)
    random.seed(int(state[0]))
    return _LAST["fn"]()


def _init_worker() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle
    threadpool_limits(1)  # one BLAS thread per process: threads only fight over two cores
    logging.getLogger("ABC").setLevel(logging.ERROR)  # as in run_abc


def worker_pool(workers: int) -> ProcessPoolExecutor | None:
    """The fit's model-run processes (None for one worker: runs stay in this process).

    forkserver: workers fork from a clean single-threaded server, not from this process (which
    holds BLAS and database threads by now, and forking those can deadlock)."""
    if workers <= 1:
        return None
    ctx = multiprocessing.get_context("forkserver")
    return ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker)


class PilotPrior(pyabc.Distribution):
    """The prior, except that generation 0 draws from a pilot: a normal around a starting point on
    the normal-score scale, `spread[name]` prior sds along each parameter.

    Why: the history is reproduced only in a small corner of the priors (a Chinese take-off by
    2025; several values at the edges of their sourced ranges), and a fit that starts from prior
    draws spends its budget on the broad region where Chinese models never take off (the Model v2
    fit from prior draws: best distance 2.2 after 7,000 runs, against ~0.4 at the CMA-ES point).
    Starting next to a known good point is an SMC warm start, not a change of target: generation 0
    accepts every draw and serves only to place generation 1's proposal, and from generation 1 on
    pyabc weights each particle by prior / proposal with this class's density, which is the prior's.
    The proposal (calibration/truncated.py) is the prior restricted to a box around the population
    whose faces move out by `truncated.GROW` spans wherever the population presses against them, so
    a narrow start widens to what the targets allow (generations.csv's `pressed_faces` says whether
    it still presses). The region widens only ~15% a generation where the population fills it, so
    `weightshift calibrate` sets the pilot's sd per parameter from a screen (calibration/pilot.py):
    the prior's width where the targets barely see a parameter.
    """

    def __init__(self, scales: dict[str, RVBase], start: dict[str, float] | None, spread: dict[str, float]) -> None:
        super().__init__(**scales)
        self.start, self.spread = start, spread

    def copy(self) -> PilotPrior:
        return PilotPrior({k: v.copy() for k, v in self.items()}, self.start, self.spread)

    def rvs(self, *args: Any, **kwargs: Any) -> Parameter:
        if self.start is None:
            return super().rvs()
        return Parameter({k: self.start[k] + self.spread[k] * np.random.standard_normal() for k in self})


class SeededSampler(Sampler):
    """Deterministic batch sampler: same settings, same particles, whatever the worker count."""

    def __init__(self, settings: AbcSettings, workers: int, progress: Callable[[int, int], None]) -> None:
        super().__init__()
        self.s, self.progress = settings, progress
        self.used = 0  # model evaluations proposed so far (journal hits included), against the budget
        self.pool = worker_pool(workers)
        self.workers = workers

    def _map(self, tasks: list) -> Iterable[Any]:
        if self.pool is None:
            return map(_simulate_seeded, tasks)
        chunk = max(1, len(tasks) // (4 * self.workers))
        return self.pool.map(_simulate_seeded, tasks, chunksize=chunk)

    def sample_until_n_accepted(
        self,
        n: int,
        simulate_one: Callable,
        t: int,
        *,
        max_eval: float = np.inf,
        all_accepted: bool = False,
        ana_vars: Any = None,
    ) -> Any:
        blob = cloudpickle.dumps(simulate_one)
        sample = self._create_empty_sample()
        proposed, b = 0, 0
        while sample.n_accepted < n:
            size = min(self.s.batch, self.s.budget - self.used)
            if size <= 0:
                sample.ok = False  # out of budget: pyabc stops and keeps the last finished generation
                break
            states = [np.random.SeedSequence([self.s.seed, t + 1, b, i]).generate_state(4) for i in range(size)]
            for particle in self._map([(blob, s) for s in states]):
                if sample.n_accepted < n:
                    sample.append(particle)
            proposed += size
            self.used += size
            self.progress(size, t)
            b += 1
        # every run counts, including the tail of the last batch: the budget, the acceptance rate
        # and a resume (which restarts its count from the history's total) all see the same number
        self.nr_evaluations_ = proposed
        return sample

    def stop(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)
            self.pool = None


class ResumableEpsilon(pyabc.QuantileEpsilon):
    """Quantile tolerance whose first generation accepts every prior draw (no calibration sample),
    and which, on resume, recomputes the next tolerance from the stored last generation exactly as
    an uninterrupted fit would have."""

    def __init__(self, alpha: float) -> None:
        super().__init__(initial_epsilon=np.inf, alpha=alpha, weighted=True)

    def requires_calibration(self) -> bool:
        return False

    def initialize(self, t: int, get_weighted_distances: Callable, *args: Any, **kwargs: Any) -> None:
        if t == 0:
            self._look_up = {0: np.inf}
        else:
            self._update(t, get_weighted_distances())


# --- running it -----------------------------------------------------------------------------------


@dataclass
class AbcResult:
    """A finished (or budget-stopped) fit: the last generation and the history of all of them."""

    posterior: pd.DataFrame  # parameters, weight (normalised importance weight), distance, sim_<stat>
    generations: pd.DataFrame  # t, epsilon, model runs, accepted, ESS
    model_runs: int  # evaluations proposed in this call (journal hits included)
    fresh_runs: int  # model runs actually executed in this call


def _posterior(history: pyabc.History, scales: dict[str, NormalScoreRV]) -> pd.DataFrame:
    pop = history.get_population(t=history.max_t)
    w = np.array([p.weight for p in pop.particles], dtype=float)
    rows = [
        {k: scales[k].to_x(float(v)) for k, v in p.parameter.items()}
        | {"weight": wi, "distance": p.distance}
        | {f"sim_{k}": float(np.asarray(v)) for k, v in p.sum_stat.items()}
        for p, wi in zip(pop.particles, w / w.sum(), strict=True)
    ]
    return pd.DataFrame(rows)


def _generations(history: pyabc.History) -> pd.DataFrame:
    """Per generation: tolerance, runs, ESS, and the faces of the next box the population still
    pressed against (`truncated.principal_box`; 0: the box no longer cuts the posterior)."""
    pops = history.get_all_populations()
    pops = pops[pops["t"] >= 0]
    rows = []
    for r in pops.itertuples():
        x, w = history.get_distribution(m=0, t=int(r.t))
        pressed = principal_box(x.to_numpy(dtype=float), np.asarray(w, dtype=float) / np.sum(w))[-1]
        rows.append(
            {"t": int(r.t), "epsilon": float(r.epsilon), "model_runs": int(r.samples), "accepted": int(r.particles)}
            | {"ess": ess(w), "pressed_faces": pressed}
        )
    return pd.DataFrame(rows)


def run_abc(
    problem: Problem,
    settings: AbcSettings,
    workdir: Path,
    workers: int = 1,
    resume: bool = False,
    progress: Callable[[int, int], None] = lambda n, t: None,
) -> AbcResult:
    """Fit `problem` with ABC-SMC; its history and run journal live in `workdir`.

    `resume=True` continues the history in `workdir` (journalled runs are not redone); otherwise
    `workdir` is emptied first. `progress(n, t)` hears of every batch of n runs of generation t.
    Ctrl-C (KeyboardInterrupt) leaves both consistent for a resume.
    """
    # pyabc's "many samples have prior density zero" warning fires all the time with bounded priors
    # in tens of dimensions (perturbations leave the box and are redrawn: CPU, not model runs);
    # errors still show. The generations' figures are in generations.csv.
    logging.getLogger("ABC").setLevel(logging.ERROR)
    workdir.mkdir(parents=True, exist_ok=True)
    folder = str(workdir.resolve())
    _close_journal(folder)
    if not resume:
        for f in [workdir / DB_NAME, *workdir.glob(f"{JOURNAL_PREFIX}*.jsonl")]:
            f.unlink(missing_ok=True)
    before = len(read_journal(workdir))
    _cache(folder)  # loaded before the workers fork, so they inherit it
    sampler = SeededSampler(settings, workers, progress)
    scales = {name: p.normal_score_rv() for name, p in problem.priors.items()}
    start = None if problem.start is None else {k: scales[k].to_z(problem.start[k]) for k in scales}
    spread = problem.spread or dict.fromkeys(scales, settings.pilot_spread)
    prior = PilotPrior(scales, start, spread)
    abc = pyabc.ABCSMC(
        models=CachedModel(problem.simulate, settings.seed, folder, scales),
        parameter_priors=prior,
        distance_function=problem.distance,
        population_size=settings.population,
        sampler=sampler,
        transitions=TruncatedPrior(),
        eps=ResumableEpsilon(settings.alpha),
    )
    db = f"sqlite:///{workdir / DB_NAME}"
    limits = threadpool_limits(1)
    try:
        if resume:
            abc.load(db, 1)
            sampler.used = int(abc.history.total_nr_simulations)
            progress(sampler.used, abc.history.max_t + 1)  # finished generations count against the budget
        else:
            abc.new(db, problem.observed)
        done = abc.history.max_t + 1
        if done < settings.max_generations:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # pyabc's inf - inf when generation 0 has eps = inf
                abc.run(minimum_epsilon=settings.min_epsilon, max_nr_populations=settings.max_generations - done)
    finally:
        limits.restore_original_limits()
        sampler.stop()
        _close_journal(folder)
    history = abc.history
    if history.max_t < 0:
        raise RuntimeError("the budget ran out before the first generation was complete")
    fresh = len(read_journal(workdir)) - before
    return AbcResult(_posterior(history, scales), _generations(history), sampler.used, fresh)
