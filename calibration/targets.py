"""Reported figures the history window must reproduce, and how each is computed from a run.

`targets.toml` beside this file holds them (value, accepted range, month, weight, source, and a
machine-readable `compute`). `evaluate` turns a run's tables into the simulated figure;
`miss` measures how far outside the accepted range it falls, which is what the fit minimises.
"""

from __future__ import annotations

import operator
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import pandas as pd

from sim.errors import FileProblem, InputError

TARGETS_FILE = "targets.toml"
KINDS = ("timeseries", "family", "family_ratio", "family_share", "region_mean", "order")
OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}
LAST_MONTH_NEEDED = 36  # every target lies in 2023-01..2025-12: fits simulate 36 months only


@dataclass(frozen=True)
class Target:
    """One reported figure: what to compute, the reported value, the accepted range, its weight."""

    id: str
    metric: str
    how: str
    month: str
    value: float
    low: float
    high: float
    weight: float
    source: str
    compute: dict[str, Any]

    def miss(self, simulated: float, margin: float = 0.0) -> float:
        """0 inside [low, high]; outside, the distance to the range in units of its width.

        With a `margin` (a fraction of the width), the range is first narrowed by that much on
        each side: a fit that aims at the inner range leaves room for the noise of single runs.
        A point range (low == high, as for the yes/no capability orders) counts a miss as 1.
        """
        width = self.high - self.low
        low, high = self.low + margin * width, self.high - margin * width
        if low <= simulated <= high:
            return 0.0
        if simulated != simulated or simulated in (float("inf"), float("-inf")):
            return 10.0  # undefined (no adopters, nothing to divide by): far off
        gap = low - simulated if simulated < low else simulated - high
        return 1.0 if width == 0 else gap / width

    def inside(self, simulated: float) -> bool:
        return self.low <= simulated <= self.high


def _check(t: dict, where: str) -> Target:
    need = {"id", "metric", "how", "month", "value", "low", "high", "weight", "source", "compute"}
    for key in t:
        if key not in need:
            raise InputError(where, key, t[key], f"one of {', '.join(sorted(need))}")
    missing = need - set(t)
    if missing:
        raise InputError(where, sorted(missing)[0], None, "present in every [[target]]")
    if t["compute"].get("kind") not in KINDS:
        raise InputError(where, "compute.kind", t["compute"].get("kind"), f"one of {', '.join(KINDS)}")
    if not t["low"] <= t["value"] <= t["high"]:
        raise InputError(where, f"{t['id']}.value", t["value"], f"within [low, high] = [{t['low']}, {t['high']}]")
    return Target(**t)


@cache
def load_targets() -> tuple[Target, ...]:
    """The shipped targets (cached: the file does not change while running)."""
    where = "calibration/targets.toml"
    try:
        doc = tomllib.loads(resources.files("calibration").joinpath(TARGETS_FILE).read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise FileProblem(where, f"not valid TOML: {exc}") from None
    return tuple(_check(t, where) for t in doc["target"])


def _family(fam: pd.DataFrame, family: str, column: str, month: str) -> float:
    row = fam[(fam["family"] == family) & (fam["month"] == month)]
    return float(row[column].iloc[0])


def evaluate(target: Target, timeseries: pd.DataFrame, families: pd.DataFrame, regions: pd.DataFrame) -> float:
    """The simulated value of one target, from a run's three tables."""
    c = target.compute
    kind = c["kind"]
    if kind == "timeseries":
        return float(timeseries.loc[timeseries["month"] == c["month"], c["column"]].iloc[0])
    if kind == "family":
        return _family(families, c["family"], c["column"], c["month"])
    if kind == "family_ratio":
        below = _family(families, c["over"], c["column"], c["month"])
        return _family(families, c["family"], c["column"], c["month"]) / below if below > 0 else float("inf")
    if kind == "family_share":
        window = families[(families["month"] >= c["from"]) & (families["month"] <= c["to"]) & families["open"]]
        total = window[c["column"]].sum()
        own = window.loc[window["family"] == c["family"], c["column"]].sum()
        return float(own / total) if total > 0 else 0.0
    if kind == "region_mean":
        rows = regions[(regions["region"] == c["region"]) & regions["month"].between(c["from"], c["to"])]
        return float(rows[c["column"]].mean())
    row = timeseries.loc[timeseries["month"] == c["month"]].iloc[0]
    return float(OPS[c["op"]](row[c["column"]], row[c["other"]]))


def evaluate_all(result: Any, targets: tuple[Target, ...] | None = None) -> dict[str, float]:
    """Every target's simulated value for a `sim.RunResult` (or anything with the three tables)."""
    tables = (result.timeseries, result.families, result.regions)
    return {t.id: evaluate(t, *tables) for t in targets or load_targets()}


def distance(values: dict[str, float], targets: tuple[Target, ...] | None = None, margin: float = 0.0) -> float:
    """Weighted root-sum-square of the targets' misses: 0 when every target is inside its range."""
    return sum(t.weight * t.miss(values[t.id], margin) ** 2 for t in targets or load_targets()) ** 0.5
