"""Recovery: can the targets pin down parameters whose true values we know?

The model itself makes the data: runs at known parameter values (`truth`) give synthetic figures
for every target that has a range (the yes/no ones are left out: they carry little information):
their mean over a few seeds, with the range the shipped target has relative to its reported value
(`cn_compute_growth_2023_2024`: 3.0 in 2.0-4.0, so a synthetic 2.5 gets 1.67-3.33). The question
is then the real one: whether targets as precise as the reports pin the parameter down. (Ranges of
+-10% were used before; they are narrower than one run's seed-to-seed spread for most targets, so
no fit could reach the tolerance at which they inform anything, and what failed was the sampler,
not the targets.) The fit then starts from the priors of
the parameters under test (the others stay at their defaults) and a parameter counts as recovered
when its truth lies inside the posterior's 90% interval and the posterior is markedly narrower than
the prior (sd ratio below MAX_SD_RATIO). Names come from the registry at run time.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from calibration.abc import AbcSettings, run_abc
from calibration.fit import HistorySimulator, Settings, problem
from calibration.priors import all_priors
from calibration.summaries import weighted_quantile, weighted_sd, weights
from calibration.targets import Target, load_targets

MAX_SD_RATIO = 0.7
# candidates, in order of preference; those not in the registry (or without a prior) are skipped
LAB_SIDE = ("control_effect", "compute_growth", "cn_efficiency_premium")
DEMAND_SIDE = ("beta_capability", "bass_q", "beta_price", "review_rate")
RECOVERY_FILE = "recovery.csv"
TRUTH_QUANTILE = 0.35  # truth = this quantile of each prior: inside, and not its centre


def default_names() -> list[str]:
    """Two lab-side and two demand-side parameters that exist in this registry (see LAB_SIDE, DEMAND_SIDE)."""
    fittable = all_priors()
    lab = [n for n in LAB_SIDE if n in fittable][:2]
    demand = [n for n in DEMAND_SIDE if n in fittable][:2]
    return lab + demand


def truth_of(names: Sequence[str]) -> dict[str, float]:
    """A known interior point: the TRUTH_QUANTILE quantile of each parameter's prior."""
    priors = all_priors(tuple(names))
    out = {}
    for n, p in priors.items():
        rv = p.rv()
        out[n] = float(rv.frozen.ppf(rv.c_low + TRUTH_QUANTILE * rv.mass))
    return out


def synthetic_targets(truth: dict[str, float], developers: int, seeds: int = 4) -> tuple[Target, ...]:
    """The shipped targets with values replaced by the model's own figures at `truth`, each range
    scaled with its value (the shipped range's bounds relative to the reported value)."""
    sim = HistorySimulator({"n_developers": developers})
    runs = [sim(truth, 1000 + s) for s in range(seeds)]
    out = []
    for t in load_targets():
        if t.low == t.high:
            continue  # yes/no figures
        v = float(np.mean([r[t.id] for r in runs]))
        if t.value:
            low, high = sorted((t.low * v / t.value, t.high * v / t.value))
        else:  # a reported zero: keep the range's offsets
            low, high = v + t.low, v + t.high
        out.append(dataclasses.replace(t, value=v, low=low, high=high))
    return tuple(out)


def recover(
    names: Sequence[str],
    workers: int,
    out: Path,
    developers: int = 1000,
    particles: int = 60,
    budget: int = 1200,
    seed: int = 3,
) -> pd.DataFrame:
    """Fit `names` to synthetic targets made at a known truth; one row per parameter."""
    truth = truth_of(names)
    targets = synthetic_targets(truth, developers)
    abc = AbcSettings(population=particles, budget=budget, seed=seed, batch=32)
    settings = Settings(abc=abc, developers=developers, free=tuple(names), targets=targets, start="prior")
    prob = problem(settings)
    post = run_abc(prob, abc, out / "work" / "recovery", workers).posterior
    w = weights(post)
    rows = []
    for n, p in prob.priors.items():
        q05, q50, q95 = weighted_quantile(post[n].to_numpy(), w, (0.05, 0.5, 0.95))
        ratio = weighted_sd(post[n].to_numpy(), w) / p.sd()
        rows.append(
            {"parameter": n, "truth": truth[n], "median": q50, "q05": q05, "q95": q95, "sd_over_prior_sd": ratio}
            | {"recovered": bool(q05 <= truth[n] <= q95 and ratio < MAX_SD_RATIO)}
        )
    return pd.DataFrame(rows)


def write_recovery(out: Path, workers: int) -> Path:
    """Run `recover` on default_names() and write the table where the report reads it."""
    from calibration.store import save_table

    table = recover(default_names(), workers, out)
    return save_table(out, RECOVERY_FILE, table)
