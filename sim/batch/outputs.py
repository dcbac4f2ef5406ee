"""Outputs of interest of a sweep, and scenario-discovery conditions on them.

An output is a timeseries column at a month ("usage_share_cn_open@2030-12", or "@final" for the
last simulated month) or a summary over a window of months ("usage_share_cn_open:mean").
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sim.calendar import month_index
from sim.errors import InputError
from sim.recorder import COLUMNS

TS_COLUMNS = tuple(c for c in COLUMNS["timeseries"] if c != "month")
# Defaults among the recorder's columns; a sweep file's `outputs.columns` may name any of TS_COLUMNS.
DEFAULT_COLUMNS = tuple(
    c
    for c in ("usage_share_cn_open", "usage_share_west_open", "usage_share_closed", "startup_share_cn_among_open")
    if c in TS_COLUMNS
)
STATS = ("mean", "min", "max", "final")
_CONDITION = re.compile(r"^\s*(\S+)\s*(>=|<=|>|<)\s*([-+0-9.eE]+)\s*$")


@dataclass(frozen=True)
class Outputs:
    """Outputs of interest: timeseries columns at months ("name@YYYY-MM") and summaries ("name:stat")."""

    columns: tuple[str, ...] = DEFAULT_COLUMNS
    at: tuple[str, ...] = ("final",)
    stats: tuple[str, ...] = ()
    start: str | None = None
    end: str | None = None
    timeseries: bool = False

    @property
    def names(self) -> list[str]:
        """The output column names, in results order."""
        return [f"{c}@{m}" for c in self.columns for m in self.at] + [
            f"{c}:{s}" for c in self.columns for s in self.stats
        ]

    def extract(self, ts: pd.DataFrame) -> list[float]:
        """The outputs of one run from its timeseries table (NaN for months the run did not reach).

        Summaries ignore months where the column is undefined (NaN), e.g. shares before any adopter.
        """
        n = len(ts)
        lo = max(month_index(self.start, "", "") if self.start else 0, 0)
        hi = min(month_index(self.end, "", "") + 1 if self.end else n, n)
        out: list[float] = []
        for c in self.columns:
            arr = ts[c].to_numpy(dtype=float)
            for m in self.at:
                t = n - 1 if m == "final" else month_index(m, "", "")
                out.append(float(arr[t]) if 0 <= t < n else math.nan)
        for c in self.columns:
            window = ts[c].to_numpy(dtype=float)[lo:hi]
            for s in self.stats:
                out.append(_stat(window, s))
        return out


def _stat(window: np.ndarray, stat: str) -> float:
    defined = window[~np.isnan(window)]
    if stat == "final":
        return float(window[-1]) if window.size else math.nan
    if not defined.size:
        return math.nan
    return float({"mean": np.mean, "min": np.min, "max": np.max}[stat](defined))


@dataclass(frozen=True)
class Condition:
    """A scenario-discovery condition such as `usage_share_cn_open@2030-12 > 0.5`."""

    output: str
    op: str
    value: float

    def __str__(self) -> str:
        return f"{self.output} {self.op} {self.value:g}"

    def holds(self, y: np.ndarray) -> np.ndarray:
        """Where the condition holds (never where the output is NaN)."""
        ops = {">": np.greater, ">=": np.greater_equal, "<": np.less, "<=": np.less_equal}
        with np.errstate(invalid="ignore"):
            return ops[self.op](y, self.value) & ~np.isnan(y)


def parse_condition(text: Any, outputs: Sequence[str], where: str, key: str = "condition") -> Condition:
    """Parse "OUTPUT OP NUMBER" (OP one of > >= < <=), with OUTPUT one of `outputs`."""
    m = _CONDITION.match(text) if isinstance(text, str) else None
    try:
        value = float(m.group(3)) if m else math.nan
    except ValueError:
        value = math.nan
    if not m or math.isnan(value):
        raise InputError(where, key, text, 'a condition "OUTPUT OP NUMBER", e.g. "usage_share_cn_open@2030-12 > 0.5"')
    if m.group(1) not in outputs:
        raise InputError(where, key, text, f"a condition on one of the outputs: {', '.join(outputs)}")
    return Condition(m.group(1), m.group(2), value)
