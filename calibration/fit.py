"""Fitting the history window: ABC-SMC (pyabc, through calibration/abc.py) of every parameter
that has a prior (calibration/priors.py) to the targets of calibration/targets.toml.

Why this method: the model is stochastic and its likelihood is unknown, while the reports give
accepted ranges rather than error models. Approximate Bayesian computation with shrinking
tolerances (Beaumont et al. 2009; pyabc, Klinger et al. 2018) accepts parameter sets whose
simulated figures — one run with its own seed — fall near the ranges, and ends with an
importance-weighted sample of the posterior, not a single point. The distance is the targets'
own: the weighted root-sum-square of how far each figure falls outside its range, in units of the
range's width (0 inside), so at tolerance 0 the posterior is the prior restricted to the parameter
sets whose runs land every figure in its range. It is not made adaptive: its units are already
comparable across targets (range widths), and an adaptive rescaling would move the goal posts
that a tolerance of 0 means.

Parameters and priors come from the registry and priors.toml at run time, never from names here.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from calibration.abc import DB_NAME, AbcSettings, Problem, run_abc
from calibration.pilot import pilot_spreads, screen_runs
from calibration.priors import Prior, all_priors
from calibration.targets import LAST_MONTH_NEEDED, Target, distance, evaluate_all, load_targets, require_columns
from sim.errors import InputError
from sim.params import REGISTRY, defaults

HERE = Path(__file__).resolve().parent
SETTINGS_FILE = "settings.json"
SCREEN_SHARE = 4  # a warm start screens its pilot's widths (calibration/pilot.py) when the budget
# holds this many screens; a smaller budget (a smoke test) draws the pilot 0.2 sds wide throughout
METHOD = (
    "ABC-SMC (pyabc), uniform priors on registry bounds + calibration/priors.toml; range distance; "
    "proposals: the prior restricted to a box and ellipsoid around the population"
)


@dataclass(frozen=True)
class Settings:
    """What to fit and how hard. Defaults fit within the 60-minute goal on two cores."""

    abc: AbcSettings = field(default_factory=AbcSettings)
    developers: int = 5_000  # agents per calibration run (shares do not depend on it: each agent is a cohort)
    margin: float = 0.0  # > 0: aim at the inner part of each range (see Target.miss)
    check_seeds: int = 6  # fresh seeds the point estimate is checked over
    free: tuple[str, ...] = ()  # fit only these (others stay at their defaults); () = every prior
    start: str = "calibrated"  # generation 0 draws near the "calibrated" set (abc.PilotPrior), or from the "prior"
    targets: tuple[Target, ...] = field(default=(), compare=False)  # () = the shipped targets

    def resumable(self) -> dict:
        """What must not change between a fit and its resume (the budget and workers may)."""
        d = asdict(self.abc) | {"developers": self.developers, "margin": self.margin, "free": list(self.free)}
        d.pop("budget")
        return d | {"targets": [t.id for t in self.targets], "start": start_point(self)}


def start_point(settings: Settings) -> dict[str, float] | None:
    """Where generation 0 is drawn around: the calibrated set's values of the fitted parameters
    (`sim.params.defaults()`, i.e. calibrated.toml as it was when the fit began), or None for the prior."""
    if settings.start == "prior":
        return None
    used = defaults()
    return {k: float(used[k]) for k in all_priors(settings.free)}


@dataclass(frozen=True)
class HistorySimulator:
    """One model run of the history window at `point`: the simulated value of every target."""

    base: dict
    targets: tuple[Target, ...] = ()

    def __call__(self, point: dict[str, float], seed: int) -> dict[str, float]:
        from sim import api

        values = {k: REGISTRY[k].typed(v) for k, v in point.items()}
        overrides = self.base | values | {"months": LAST_MONTH_NEEDED}
        return evaluate_all(api.run("baseline", seed=seed, overrides=overrides), self.targets or None)


@dataclass(frozen=True)
class TargetDistance:
    """The targets' weighted range distance (pyabc passes the observed figures; the ranges are what count)."""

    targets: tuple[Target, ...] = ()
    margin: float = 0.0

    def __call__(self, x: dict[str, float], x0: dict[str, float]) -> float:
        return distance(x, self.targets or None, self.margin)


def problem(settings: Settings) -> Problem:
    """The Weightshift fit as an ABC problem: priors from the registry and priors.toml."""
    priors: dict[str, Prior] = all_priors(settings.free)
    targets = settings.targets or load_targets()
    return Problem(
        priors=priors,
        simulate=HistorySimulator({"n_developers": settings.developers}, settings.targets),
        distance=TargetDistance(settings.targets, settings.margin),
        observed={t.id: t.value for t in targets},
        start=start_point(settings),
    )


def checks_passed(point: dict, settings: Settings) -> float:
    """The share of (target x fresh seed) checks that `point` keeps inside their ranges, at the fit's
    population size over `settings.check_seeds` seeds."""
    targets = settings.targets or load_targets()
    check = HistorySimulator({"n_developers": settings.developers}, settings.targets)
    runs = [check(point, 10_000 + s) for s in range(settings.check_seeds)]
    return float(np.mean([t.inside(r[t.id]) for r in runs for t in targets]))


def choose_point(
    posterior: pd.DataFrame, settings: Settings, names: list[str], candidates: int = 8
) -> tuple[dict, float]:
    """The point estimate: of the weightier particles closest to the reported values, the one that
    keeps every target inside its range over the most fresh seeds at the fit's population size
    (ties: the closest). Returns it and the share of (target x seed) checks it passed.

    A warm-started fit keeps its start instead (see `fit`)."""
    targets = settings.targets or load_targets()

    def closeness(row: pd.Series) -> float:
        return sum(t.weight * ((row[f"sim_{t.id}"] - t.value) / max(t.high - t.low, 1e-9)) ** 2 for t in targets)

    pool = posterior[posterior["weight"] >= posterior["weight"].median()]
    shortlist = pool.assign(close=pool.apply(closeness, axis=1)).nsmallest(candidates, "close")
    best, best_score = None, (-1.0, 0.0)
    for _, row in shortlist.iterrows():
        point = {k: REGISTRY[k].typed(row[k]) for k in names}
        score = (checks_passed(point, settings), -row["close"])
        if score > best_score:
            best, best_score = point, score
    return best, best_score[0]


def _check_resume(work: Path, settings: Settings, resume: bool) -> None:
    saved = work / SETTINGS_FILE
    if resume:
        if not (work / DB_NAME).exists():
            raise InputError("--resume", "history", str(work / DB_NAME), "an earlier calibration to resume")
        before = json.loads(saved.read_text(encoding="utf-8")) if saved.exists() else {}
        for key, value in settings.resumable().items():
            if key in before and before[key] != value:
                raise InputError("--resume", key, value, f"the interrupted fit's value {before[key]!r}")
    work.mkdir(parents=True, exist_ok=True)
    saved.write_text(json.dumps(settings.resumable(), indent=1), encoding="utf-8")


def fit(
    settings: Settings,
    workers: int,
    resume: bool,
    out: Path = HERE,
    progress: Callable[[int, int], None] = lambda n, t: None,
) -> dict:
    """Run the whole calibration; write posterior.csv, generations.csv and calibrated.toml into `out`.

    Returns a summary: generations, final tolerance and ESS, model runs, wall time.
    """
    from calibration.store import save_results

    require_columns(settings.targets or load_targets())  # refuse before touching the history
    start = time.perf_counter()
    work = out / "work"
    _check_resume(work, settings, resume)
    prob, abc = problem(settings), settings.abc
    screened = screen_runs(prob)
    if prob.start is None or abc.budget < SCREEN_SHARE * screened:
        screened = 0  # a fit from the prior, or a smoke test: no screen
    if screened:
        prob = replace(prob, spread=pilot_spreads(prob, abc.seed, workers, work, resume, progress))
        abc = replace(abc, budget=abc.budget - screened)
    result = run_abc(prob, abc, work, workers, resume, progress)
    names = list(prob.priors)
    if prob.start is None:
        point, passed = choose_point(result.posterior, settings, names)
    else:  # a warm start keeps the default set it started from and adds the posterior around it
        point = {k: REGISTRY[k].typed(v) for k, v in prob.start.items()}
        passed = checks_passed(point, settings)
    gens = result.generations
    summary = {
        "method": METHOD,
        "parameters": len(names),
        "from_priors_toml": sum(not p.calibrated for p in prob.priors.values()),
        "generations": len(gens),
        "final_tolerance": float(gens["epsilon"].iloc[-1]),
        "final_ess": round(float(gens["ess"].iloc[-1]), 1),
        "final_pressed_faces": int(gens["pressed_faces"].iloc[-1]),
        "population": settings.abc.population,
        "model_runs": result.model_runs + screened,
        "pilot_screen_runs": screened,
        "fresh_runs_this_call": result.fresh_runs,
        "budget": settings.abc.budget,
        "wall_seconds_this_call": round(time.perf_counter() - start, 1),
        "workers": workers,
        "developers_per_run": settings.developers,
        "seed": settings.abc.seed,
        "point_checks_passed": passed,
    }
    save_results(out, result.posterior, point, summary, {"generations": gens})
    return summary
