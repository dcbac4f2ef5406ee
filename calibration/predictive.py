"""Posterior-predictive runs for the calibration report: K posterior draws of the baseline, each
with a fresh seed, run to the end of the projection.

One run per draw serves both the history window (the targets are evaluated on its first months:
the model is causal, so running further does not change them) and the projection (its last
month). Tables other than timeseries and families that have a grouping column (unit "name" in
sim.recorder.COLUMNS, e.g. region or task type) are kept at the last month, for the projection by
group: the report finds them at run time rather than naming them.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import pandas as pd

from calibration.targets import LAST_MONTH_NEEDED, evaluate_all
from sim.ensemble import draws as posterior_draws
from sim.recorder import COLUMNS

POINT_SEEDS = 10
FRESH = 4242  # root of the report's draw seeds: fresh, unrelated to the fit's


def group_tables() -> dict[str, list[str]]:
    """Output tables with a grouping column (besides month), e.g. regions -> [region]."""
    out = {}
    for table, cols in COLUMNS.items():
        if table in ("timeseries", "families"):
            continue
        keys = [c for c, (unit, _) in cols.items() if unit == "name" and c != "month"]
        if keys:
            out[table] = keys
    return out


def _run(task: tuple[dict, int]) -> dict[str, Any]:
    from sim import api

    params, seed = task
    r = api.run("baseline", seed=seed, overrides=params)
    last = r.timeseries["month"].iloc[-1]
    history = r.timeseries["month"].iloc[: min(LAST_MONTH_NEEDED, len(r.timeseries))]
    groups = {}
    for table in group_tables():
        df = getattr(r, table, None)
        if isinstance(df, pd.DataFrame) and "month" in df:
            groups[table] = df[df["month"] == last].reset_index(drop=True)
    return {
        "targets": evaluate_all(r),
        "timeseries": r.timeseries,
        "families": r.families[r.families["month"].isin(set(history))],
        "groups": groups,
    }


@dataclass
class Predictive:
    """The report's runs: the point estimate over POINT_SEEDS seeds, and K posterior draws."""

    params: pd.DataFrame  # one row per draw: the drawn parameters
    point: list[dict[str, Any]]
    draws: list[dict[str, Any]]

    def targets(self) -> pd.DataFrame:
        """draw x target: the simulated figure of every target in every draw."""
        return pd.DataFrame([d["targets"] for d in self.draws])

    def final(self) -> pd.DataFrame:
        """draw x output: the timeseries at the last month."""
        return pd.DataFrame([d["timeseries"].iloc[-1] for d in self.draws]).reset_index(drop=True)

    def final_groups(self, table: str) -> pd.DataFrame:
        """Every draw's rows of a grouped table at the last month, with a `draw` column."""
        return pd.concat([d["groups"][table].assign(draw=i) for i, d in enumerate(self.draws)], ignore_index=True)


def simulate(draws: int, workers: int, overrides: dict | None = None) -> Predictive:
    """Run the point estimate and `draws` posterior draws (fresh seed each) of the baseline."""
    extra = overrides or {}
    point_tasks = [(dict(extra), 10_000 + s) for s in range(POINT_SEEDS)]
    pairs = posterior_draws(draws, FRESH)
    draw_tasks = [(p | extra, s) for s, p in pairs]
    if workers > 1:
        ctx = multiprocessing.get_context("forkserver")  # not fork: this process may hold threads
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            point = list(pool.map(_run, point_tasks))
            post = list(pool.map(_run, draw_tasks))
    else:
        point, post = [_run(t) for t in point_tasks], [_run(t) for t in draw_tasks]
    return Predictive(pd.DataFrame([p for _, p in pairs]), point, post)
