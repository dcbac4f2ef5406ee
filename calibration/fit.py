"""Fitting: ABC-SMC (population Monte Carlo) of the registry's calibrated parameters.

Why this method: the model is stochastic and its likelihood is unknown, while the reports give
accepted ranges rather than error models. Approximate Bayesian computation with a sequence of
shrinking tolerances (Beaumont et al. 2009, "Adaptive approximate Bayesian computation") accepts
parameter sets whose simulated figures — the mean over several seeds — fall within the ranges,
and ends with a weighted sample of accepted sets (the posterior), not a single point.

Resumability: every evaluation is appended to a journal as soon as it is done. Candidates are a
deterministic function of the calibration seed and of the previous populations, so a resumed fit
proposes exactly the same candidates and takes finished ones from the journal.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import qmc

from calibration.targets import LAST_MONTH_NEEDED, Target, distance, evaluate_all, load_targets, require_columns
from sim.params import REGISTRY, Param

HERE = Path(__file__).resolve().parent


def fitted_params(free: tuple[str, ...] = ()) -> list[Param]:
    """The parameters to fit: those the registry marks as calibrated (or just `free`), in order."""
    return [p for p in REGISTRY.values() if (p.name in free if free else p.calibrate)]


@dataclass(frozen=True)
class Settings:
    """How hard to try. Defaults fit within the 60-minute goal on two cores."""

    population: int = 120  # accepted sets kept per generation (the final posterior's size)
    first: int = 1024  # Sobol candidates of generation 0 (a power of two)
    batch: int = 96  # candidates proposed at a time in later generations
    seeds: int = 2  # model runs per candidate; the distance uses their mean
    margin: float = 0.0  # > 0: aim at the inner part of each range (see Target.miss)
    quantile: float = 0.5  # next tolerance = this quantile of the current population's distances
    budget: int = 12_000  # model runs at most (candidates x seeds)
    seed: int = 20251231
    # The search runs 10,000-developer populations (half the default, twice as fast: shares do
    # not depend on the number of agents, each agent being a cohort); the point estimate is
    # then checked at the default size.
    base_overrides: dict = field(default_factory=lambda: {"n_developers": 10_000})
    check_overrides: dict = field(default_factory=dict)  # for the point estimate's check (default size)
    free: tuple[str, ...] = ()  # fit only these (others stay at their defaults); () = all calibrated
    targets: tuple[Target, ...] = ()  # () = the shipped targets


def _key(point: dict[str, float], seed: int) -> str:
    text = json.dumps({k: float(f"{v:.12g}") for k, v in sorted(point.items())}) + f"|{seed}"
    return hashlib.sha1(text.encode()).hexdigest()


def simulate(
    point: dict[str, float], seed: int, base: dict | None = None, targets: tuple[Target, ...] = ()
) -> dict[str, float]:
    """One model run of the history window at `point`: the simulated value of every target."""
    import sim

    overrides = (base or {}) | point | {"months": LAST_MONTH_NEEDED}
    return evaluate_all(sim.run("baseline", seed=seed, overrides=overrides), targets or None)


def _simulate_task(task: tuple[dict, int, dict, tuple]) -> dict[str, float]:
    return simulate(*task)


class Journal:
    """Append-only record of finished evaluations (one JSON line each), read back on resume."""

    def __init__(self, path: Path, resume: bool) -> None:
        self.path = path
        self.done: dict[str, dict[str, float]] = {}
        path.parent.mkdir(parents=True, exist_ok=True)
        if resume and path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut short by a crash: that run is simply redone
                self.done[row["key"]] = row["values"]
        elif path.exists():
            path.unlink()
        self._file = path.open("a", encoding="utf-8")

    def add(self, key: str, values: dict[str, float]) -> None:
        self.done[key] = values
        self._file.write(json.dumps({"key": key, "values": values}) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()


class Fitter:
    """Runs the ABC-SMC generations, evaluating candidates in a process pool."""

    def __init__(self, settings: Settings, workers: int, journal: Journal, progress: Callable[[int], None]) -> None:
        self.s, self.workers, self.journal, self.progress = settings, workers, journal, progress
        self.params = fitted_params(settings.free)
        self.targets = settings.targets or load_targets()
        self.lo = np.array([p.low for p in self.params])
        self.hi = np.array([p.high for p in self.params])
        self.runs = 0  # model runs counted against the budget (journal hits included)
        self.pool = ProcessPoolExecutor(max_workers=workers) if workers > 1 else None

    # --- evaluation ------------------------------------------------------------------------------

    def _points(self, unit: np.ndarray) -> list[dict[str, float]]:
        values = self.lo + unit * (self.hi - self.lo)
        return [
            {p.name: (round(v) if p.kind is int else float(v)) for p, v in zip(self.params, row, strict=True)}
            for row in values
        ]

    def _seeds(self, tag: Iterable[int]) -> list[int]:
        state = np.random.SeedSequence([self.s.seed, *tag]).generate_state(self.s.seeds)
        return [int(x) for x in state]

    def evaluate(self, unit: np.ndarray, tag: tuple[int, int]) -> tuple[np.ndarray, list[dict[str, float]]]:
        """Distance and mean target values of each candidate (rows of `unit`, in [0, 1])."""
        points = self._points(unit)
        tasks, keys = [], []
        for i, point in enumerate(points):
            for seed in self._seeds((*tag, i)):
                keys.append(_key(point, seed))
                if keys[-1] not in self.journal.done:
                    tasks.append((keys[-1], (point, seed, self.s.base_overrides, self.s.targets)))
        mapper = self.pool.map if self.pool else map
        for (key, _), values in zip(tasks, mapper(_simulate_task, [t for _, t in tasks]), strict=True):
            self.journal.add(key, values)
            self.progress(1)
        self.progress(len(keys) - len(tasks))
        self.runs += len(keys)
        means = []
        for i in range(len(points)):
            rows = [self.journal.done[k] for k in keys[i * self.s.seeds : (i + 1) * self.s.seeds]]
            means.append({t: float(np.mean([r[t] for r in rows])) for t in rows[0]})
        return np.array([distance(m, self.targets, self.s.margin) for m in means]), means

    # --- generations ------------------------------------------------------------------------------

    def first_generation(self) -> dict:
        unit = qmc.Sobol(len(self.params), scramble=True, seed=self.s.seed).random(self.s.first)
        dist, values = self.evaluate(unit, (0, 0))
        best = np.argsort(dist, kind="stable")[: self.s.population]
        n = len(best)
        return {
            "unit": unit[best],
            "dist": dist[best],
            "values": [values[i] for i in best],
            "weight": np.full(n, 1.0 / n),
            "eps": float(dist[best].max()),
            "generation": 0,
        }

    def next_generation(self, pop: dict) -> dict | None:
        """One more generation at a tighter tolerance, or None if the budget ran out first."""
        g = pop["generation"] + 1
        eps = float(np.quantile(pop["dist"], self.s.quantile)) if pop["dist"].max() > 0 else 0.0
        cov = 2.0 * np.cov(pop["unit"].T, aweights=pop["weight"]) + 1e-9 * np.eye(len(self.params))
        chol = np.linalg.cholesky(cov)
        kept_unit, kept_dist, kept_values = [], [], []
        b = 0
        while len(kept_unit) < self.s.population:
            if self.runs + self.s.batch * self.s.seeds > self.s.budget:
                return None
            cand = self._propose(pop, chol, np.random.default_rng([self.s.seed, g, b]))
            dist, values = self.evaluate(cand, (g, b))
            ok = np.flatnonzero(dist <= eps)
            kept_unit += list(cand[ok])
            kept_dist += list(dist[ok])
            kept_values += [values[i] for i in ok]
            b += 1
        unit = np.array(kept_unit[: self.s.population])
        return {
            "unit": unit,
            "dist": np.array(kept_dist[: self.s.population]),
            "values": kept_values[: self.s.population],
            "weight": self._weights(unit, pop, cov),
            "eps": eps,
            "generation": g,
        }

    def _propose(self, pop: dict, chol: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Perturbed copies of weighted parents, redrawn until inside the bounds (uniform prior)."""
        out = np.empty((self.s.batch, len(self.params)))
        for i in range(self.s.batch):
            while True:
                parent = pop["unit"][rng.choice(len(pop["unit"]), p=pop["weight"])]
                x = parent + chol @ rng.standard_normal(len(self.params))
                if ((x >= 0) & (x <= 1)).all():
                    out[i] = x
                    break
        return out

    @staticmethod
    def _weights(unit: np.ndarray, pop: dict, cov: np.ndarray) -> np.ndarray:
        """Importance weights: uniform prior over the kernel mixture that proposed them."""
        inv = np.linalg.inv(cov)
        diff = unit[:, None, :] - pop["unit"][None, :, :]
        kernel = np.exp(-0.5 * np.einsum("ijk,kl,ijl->ij", diff, inv, diff))
        w = 1.0 / (kernel @ pop["weight"])
        return w / w.sum()

    def close(self) -> None:
        if self.pool:
            self.pool.shutdown()


def posterior_table(fitter: Fitter, pop: dict) -> pd.DataFrame:
    """The final population as a table: parameters, weights, distance and mean target values.

    `weight` is uniform: the final population is used as an acceptance ensemble (every set in it
    keeps every target inside its range). The SMC importance weights, kept as `importance_weight`,
    degenerate in 21 dimensions (an effective sample size near 1), so they would reduce the
    ensemble to a single set; see the README's Calibration section.
    """
    rows = []
    n = len(pop["unit"])
    for point, w, d, values in zip(fitter._points(pop["unit"]), pop["weight"], pop["dist"], pop["values"], strict=True):
        rows.append(
            point
            | {"weight": 1.0 / n, "importance_weight": w, "distance": d}
            | {f"sim_{k}": v for k, v in values.items()}
        )
    return pd.DataFrame(rows)


def choose_point(fitter: Fitter, table: pd.DataFrame, seeds: int, candidates: int = 8) -> tuple[dict, float]:
    """The point estimate: of the accepted sets closest to the reported values, the one that
    keeps every target inside its range over the most fresh seeds (ties: closest).

    Returns the parameter set and the share of (target x seed) checks it passed.
    """
    targets, names = fitter.targets, [p.name for p in fitter.params]

    def closeness(row: pd.Series) -> float:
        return sum(t.weight * ((row[f"sim_{t.id}"] - t.value) / max(t.high - t.low, 1e-9)) ** 2 for t in targets)

    shortlist = table.assign(close=table.apply(closeness, axis=1)).nsmallest(candidates, "close")
    best, best_score = None, (-1.0, 0.0)
    for _, row in shortlist.iterrows():
        point = {k: row[k] for k in names}
        runs = [simulate(point, 10_000 + s, fitter.s.check_overrides, fitter.s.targets) for s in range(seeds)]
        passed = float(np.mean([t.inside(r[t.id]) for r in runs for t in targets]))
        score = (passed, -row["close"])
        if score > best_score:
            best, best_score = point, score
    return best, best_score[0]


def fit(
    settings: Settings, workers: int, resume: bool, out: Path = HERE, progress: Callable[[int], None] = lambda n: None
) -> dict:
    """Run the whole calibration; write `posterior.csv` and `calibrated.toml` into `out`.

    Returns a summary: generations, final tolerance, model runs, wall time.
    """
    from calibration.store import save_results

    require_columns(settings.targets or load_targets())  # refuse before touching the journal
    start = time.perf_counter()
    journal = Journal(out / "work" / "journal.jsonl", resume)
    fitter = Fitter(settings, workers, journal, progress)
    try:
        pop = fitter.first_generation()
        while pop["eps"] > 0:
            nxt = fitter.next_generation(pop)
            if nxt is None:
                break
            pop = nxt
    finally:
        fitter.close()
        journal.close()
    table = posterior_table(fitter, pop)
    point, passed = choose_point(fitter, table, seeds=6)
    summary = {
        "method": "ABC-SMC (population Monte Carlo), uniform priors on registry bounds",
        "generations": pop["generation"] + 1,
        "final_tolerance": pop["eps"],
        "model_runs": fitter.runs,
        "distinct_model_runs": len(journal.done),
        "wall_seconds": round(time.perf_counter() - start, 1),
        "workers": workers,
        "seeds_per_candidate": settings.seeds,
        "population": len(table),
        "point_checks_passed": passed,
    }
    save_results(out, table, point, summary)
    return summary
