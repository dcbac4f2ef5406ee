"""Scenario claims: what a scenario says will happen, as checks a run can pass or fail.

A scenario file may carry `[[claims]]`: each names an output at a month (a timeseries column, or
a column of the regions or segments table for one region or segment) and says it ends above or
below the baseline's, above or below a fixed value, or above or below another output of the same
run and table (e.g. the best Chinese open model above the best US closed one). `check_claims` runs
the scenario and its baseline on the same seeds (common random numbers) and reports, per claim, the median difference
and the share of seeds on the claimed side, so a claim is judged against noise, not one run.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sim.calendar import month_index, month_label
from sim.errors import InputError

CLAIM_KEYS = ("text", "metric", "month", "region", "segment", "above", "below")


@dataclass(frozen=True)
class Claim:
    """One checkable statement: `metric` at `month` is above/below `than`: "baseline", a number, or
    another column of the same table in the same run."""

    text: str
    metric: str
    month: str
    direction: str  # "above" or "below"
    than: str | float
    region: str | None = None
    segment: str | None = None

    def value(self, tables: dict[str, pd.DataFrame]) -> float:
        """The claimed output in one run's tables."""
        return self._at(tables, self.metric)

    def _at(self, tables: dict[str, pd.DataFrame], column: str) -> float:
        if self.region is not None:
            frame = tables["regions"]
            frame = frame[frame["region"] == self.region]
        elif self.segment is not None:
            frame = tables["segments"]
            frame = frame[frame["segment"] == self.segment]
        else:
            frame = tables["timeseries"]
        return float(frame.loc[frame["month"] == self.month, column].iloc[0])

    def reference(self, run: dict[str, pd.DataFrame], baseline: dict[str, pd.DataFrame]) -> float:
        """What the metric is compared with in this run: the baseline's value, a number or another output."""
        if self.than == "baseline":
            return self.value(baseline)
        if isinstance(self.than, str):
            return self._at(run, self.than)
        return float(self.than)


def parse_claims(tables: Any, where: str, columns: dict[str, dict], names: dict[str, tuple[str, ...]]) -> tuple:
    """Checked `[[claims]]` of a scenario file; `columns` are the output tables' columns."""
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise InputError(where, "claims", tables, "an array of [[claims]] tables")
    return tuple(_claim(t, f"{where} [[claims]] #{i + 1}", columns, names) for i, t in enumerate(tables))


def _claim(t: dict, here: str, columns: dict[str, dict], names: dict[str, tuple[str, ...]]) -> Claim:
    for key in t:
        if key not in CLAIM_KEYS:
            raise InputError(here, key, t[key], f"one of {', '.join(CLAIM_KEYS)}")
    for key in ("text", "metric"):
        if not isinstance(t.get(key), str) or not t[key].strip():
            raise InputError(here, key, t.get(key), "a non-empty string")
    month = month_label(month_index(t.get("month"), here, "month"))
    table = "regions" if "region" in t else "segments" if "segment" in t else "timeseries"
    if "region" in t and "segment" in t:
        raise InputError(here, "segment", t["segment"], "either region or segment, not both")
    for key, kind in (("region", "regions"), ("segment", "segments")):
        if key in t and t[key] not in names[kind]:
            raise InputError(here, key, t[key], f"one of {', '.join(names[kind])}")
    if t["metric"] not in columns[table] or t["metric"] in ("month", "region", "segment"):
        raise InputError(here, "metric", t["metric"], f"an output column of the {table} table")
    sides = [k for k in ("above", "below") if k in t]
    if len(sides) != 1:
        raise InputError(here, "above", t.get("above", t.get("below")), "exactly one of above or below")
    than = t[sides[0]]
    if isinstance(than, str) and than != "baseline" and (than not in columns[table] or than == "month"):
        raise InputError(here, sides[0], than, f'"baseline", a number or an output column of the {table} table')
    if isinstance(than, bool) or not isinstance(than, int | float | str):
        raise InputError(here, sides[0], than, '"baseline", a number or an output column')
    return Claim(t["text"], t["metric"], month, sides[0], than, t.get("region"), t.get("segment"))


@dataclass(frozen=True)
class Verdict:
    """A claim's outcome over seeds: median difference (or value) and the share of seeds that agree."""

    claim: Claim
    median: float
    agree: float

    @property
    def holds(self) -> bool:
        return self.agree >= 0.7 and (self.median > 0 if self.claim.direction == "above" else self.median < 0)


def judge(claims: Iterable[Claim], runs: list[dict], baselines: list[dict]) -> list[Verdict]:
    """Verdicts from paired runs (scenario and baseline tables, seed by seed)."""
    out = []
    for c in claims:
        ref = [c.reference(r, b) for r, b in zip(runs, baselines, strict=True)]
        diff = np.array([c.value(r) for r in runs]) - np.array(ref)
        side = diff > 0 if c.direction == "above" else diff < 0
        out.append(Verdict(c, float(np.median(diff)), float(side.mean())))
    return out
