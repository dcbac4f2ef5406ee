"""Helpers for policy tests: a scenario with extra policies, and a policy run beside its same-seed baseline.

Every comparison uses common random numbers: the policy run and its baseline share the seed, so
the developers, their network and every monthly draw are the same, and any difference is the
policy's effect.
"""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd

import sim
from sim.calendar import month_index
from sim.model import WeightshiftModel
from sim.policies import make_policy
from sim.scenario import Scenario, load
from sim.world import load_world


def with_policies(*tables: dict, base: str = "baseline") -> Scenario:
    """The `base` scenario plus extra policies given as scenario-file tables."""
    sc = load(base)
    extra = tuple(make_policy(t, load_world(), "test") for t in tables)
    return Scenario("test", "", sc.overrides, sc.policies + extra, "test", sc.changes)


def paired_runs(policy: dict, seed: int = 0, **overrides) -> tuple[sim.RunResult, sim.RunResult]:
    """(baseline, baseline + `policy`) run with the same seed and overrides."""
    return (
        sim.run("baseline", seed=seed, overrides=overrides),
        sim.run(with_policies(policy), seed=seed, overrides=overrides),
    )


def lockstep(policy: dict, seed: int = 0, **overrides) -> Iterator[tuple[WeightshiftModel, WeightshiftModel]]:
    """Step the baseline and the policy run side by side; yield both models after each month."""
    models = []
    for sc in (load("baseline"), with_policies(policy)):
        models.append(WeightshiftModel(sc, seed=seed, params=sc.params(overrides)))
    base, pol = models
    while base.t < base.p["months"]:
        base.step()
        pol.step()
        yield base, pol


def start_step(policy: dict) -> int:
    """The policy's first month as a step index."""
    return month_index(policy["start"], "test", "start")


def by_month(table: pd.DataFrame, value: str, key: str = "family") -> pd.DataFrame:
    """A long table (month x `key`) pivoted to months down, `key` across."""
    return table.pivot(index="month", columns=key, values=value)


def before(frame: pd.DataFrame | pd.Series, policy: dict) -> pd.DataFrame | pd.Series:
    """Rows (months) before the policy starts."""
    return frame[frame.index < policy["start"]]


def after(frame: pd.DataFrame | pd.Series, policy: dict) -> pd.DataFrame | pd.Series:
    """Rows (months) from the policy's start on."""
    return frame[frame.index >= policy["start"]]
