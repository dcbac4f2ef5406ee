"""The warm start's widths: how far generation 0 may stray from its start along each parameter.

Why: a pilot drawn 0.2 prior sds around the start in every direction (the stop-19 fit) left the
populations at 0.34-0.47 prior sds three generations later even along parameters no target sees
(`homophily`, `regional_ties`): the proposal's region regains the prior's width only ~15% a
generation. Most of the 53 parameters barely move the targets near the start, and the pilot should
already be as wide as the prior there; a few move them a lot, and a wide pilot there wastes runs.

Which is which is measured, not assumed: a one-at-a-time screen (Morris 1991; Saltelli et al. 2008,
"Global Sensitivity Analysis: The Primer", ch. 3) moves each parameter `STEPS` prior sds either way
from the start (normal-score scale) and runs each move over the same `SEEDS` seeds as the start
itself (common random numbers), so the difference in the targets' distance is the move's and not
the seed's. A parameter's pilot sd is the step at which a quadratic bowl through the measured rise
would add `RISE` to the distance, `step * sqrt(RISE / rise)`, the smallest over the steps, between
`FLOOR` and `CAP` (the prior's own sd). Measured in the tenth session's fit (5,000 developers,
calibration/fits/2026-12-03-warm-start): 34 of 53 parameters got the prior's width, and generation
0's median distance was 1.35, against 1.40 for the 0.2-sd pilot; generations 1-2 then kept a median
parameter sd of 0.75-0.78 prior sds, where the 0.2-sd pilot's had 0.34-0.42.

Interactions are not screened; the pilot only places generation 1's region, and from generation 1
on the weights are the prior's whatever the pilot was (abc.PilotPrior).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from calibration.abc import Problem, worker_pool
from calibration.priors import NormalScoreRV

STEPS = (1.0, 0.5)  # prior sds moved, either way
SEEDS = 2  # common seeds per move
RISE = 0.15  # the distance a pilot sd's move may add (the start's own median distance is ~0.5)
CAP = 1.0  # no wider than the prior
FLOOR = 0.1
FILE = "pilot.json"


def screen_points(names: list[str]) -> list[tuple[str, float]]:
    """The moves screened, as (parameter, step in prior sds): ("", 0.0) is the start itself."""
    return [("", 0.0)] + [(k, sign * s) for k in sorted(names) for s in STEPS for sign in (1.0, -1.0)]


def screen_runs(problem: Problem) -> int:
    """How many model runs the screen takes (they count against the fit's budget)."""
    return len(screen_points(list(problem.priors))) * SEEDS


def _moved(start: dict[str, float], scales: dict[str, NormalScoreRV], name: str, step: float) -> dict[str, float]:
    if not name:
        return dict(start)
    return start | {name: scales[name].to_x(scales[name].to_z(start[name]) + step)}


def _distance(task: tuple[Problem, dict[str, float], int]) -> float:
    problem, point, seed = task
    return float(problem.distance(problem.simulate(point, seed), problem.observed))


def spreads_from(rises: dict[str, dict[float, float]]) -> dict[str, float]:
    """Pilot sds from the measured rises in distance: {parameter: {step: worst side's rise}}."""
    out = {}
    for name, by_step in rises.items():
        widths = [step * np.sqrt(RISE / rise) for step, rise in by_step.items() if rise > RISE]
        out[name] = float(np.clip(min(widths, default=CAP), FLOOR, CAP))
    return out


def screen(
    problem: Problem, seed: int, workers: int, progress: Callable[[int, int], None] = lambda n, t: None
) -> dict[str, float]:
    """The pilot sd of every parameter of `problem` around `problem.start` (module docstring)."""
    scales = {k: p.normal_score_rv() for k, p in problem.priors.items()}
    moves = screen_points(list(scales))
    seeds = [int(s) for s in np.random.SeedSequence([seed, 7]).generate_state(SEEDS)]
    tasks = [(problem, _moved(problem.start, scales, k, step), s) for k, step in moves for s in seeds]
    found = []
    pool = worker_pool(workers)
    try:
        for d in pool.map(_distance, tasks, chunksize=SEEDS) if pool else map(_distance, tasks):
            found.append(d)
            progress(1, 0)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    mean = {move: float(np.mean(found[i * SEEDS : (i + 1) * SEEDS])) for i, move in enumerate(moves)}
    base = mean[("", 0.0)]
    rises = {k: {s: max(mean[(k, s)], mean[(k, -s)]) - base for s in STEPS} for k in sorted(scales)}
    return spreads_from(rises)


def pilot_spreads(
    problem: Problem, seed: int, workers: int, work: Path, resume: bool, progress: Callable[[int, int], None]
) -> dict[str, float]:
    """The screen's pilot sds, kept in `work/pilot.json` so that a resumed fit uses the same ones."""
    path = work / FILE
    if resume and path.exists():
        progress(screen_runs(problem), 0)  # done before the interruption: counts against the budget
        return json.loads(path.read_text(encoding="utf-8"))
    found = screen(problem, seed, workers, progress)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(found, indent=1, sort_keys=True), encoding="utf-8")
    tmp.replace(path)
    return found
