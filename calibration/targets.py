"""Reported figures the history window must reproduce, and how each is computed from a run.

`targets.toml` beside this file holds them (value, accepted range, month, weight, source, and a
machine-readable `compute`). `KINDS` defines every kind of computation once: the table it reads,
its fields, and the function that turns a run's tables into the simulated figure. `evaluate` applies
a target's computation; `Target.miss` measures how far outside the accepted range the figure falls,
and `distance` combines the misses into the number the fit minimises.
"""

from __future__ import annotations

import math
import operator
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from sim.calendar import month_index
from sim.errors import FileProblem, InputError

TARGETS_FILE = "targets.toml"
SHIPPED = "calibration/targets.toml"
OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}
LAST_MONTH_NEEDED = 36  # every target lies in 2023-01..2025-12: fits simulate 36 months only

TEXT = "a non-empty text"
# What a compute field holds (the text is the "expected ..." of its error message).
MONTH = 'a month "YYYY-MM"'
NAME = "a name (text)"
COLUMN = "a column name (text)"
SERIES = "a timeseries column, or a list of them (their monthly maximum)"
OP = f"one of {', '.join(OPS)}"


class Tables(NamedTuple):
    """A run's three output tables (see `sim.recorder.COLUMNS`)."""

    timeseries: pd.DataFrame
    families: pd.DataFrame
    regions: pd.DataFrame


# --- the computations ------------------------------------------------------------------------------


def _at(frame: pd.DataFrame, month: str) -> pd.DataFrame:
    """The rows of one month; a month the run has not reached cannot be computed (KeyError)."""
    rows = frame[frame["month"] == month]
    if rows.empty:
        raise KeyError(f"month {month} is not in the run's tables")
    return rows


def _window(frame: pd.DataFrame, c: dict[str, Any]) -> pd.DataFrame:
    """The rows of the months `from`..`to`, both of which the run must have reached."""
    _at(frame, c["from"])
    _at(frame, c["to"])
    return frame[frame["month"].between(c["from"], c["to"])]


def _series(ts: pd.DataFrame, spec: str | list[str]) -> pd.Series:
    """A timeseries column, or the monthly maximum of several (NaN only where all are NaN)."""
    columns = [spec] if isinstance(spec, str) else list(spec)
    return ts[columns].astype(float).max(axis=1)


def _family_value(fam: pd.DataFrame, family: str, column: str, month: str) -> float:
    rows = _at(fam, month)
    row = rows[rows["family"] == family]
    if row.empty:
        raise KeyError(f"family {family} is not in the families table")
    return float(row[column].iloc[0])


def _timeseries(c: dict[str, Any], t: Tables) -> float:
    return float(_series(_at(t.timeseries, c["month"]), c["column"]).iloc[0])


def _timeseries_max(c: dict[str, Any], t: Tables) -> float:
    return float(_series(_window(t.timeseries, c), c["column"]).max())


def _family(c: dict[str, Any], t: Tables) -> float:
    return _family_value(t.families, c["family"], c["column"], c["month"])


def _family_ratio(c: dict[str, Any], t: Tables) -> float:
    above = _family_value(t.families, c["family"], c["column"], c["month"])
    below = _family_value(t.families, c["over"], c["column"], c["month"])
    if below > 0 or math.isnan(below):
        return above / below
    return math.inf  # nothing to divide by: far off whatever the range


def _family_share(c: dict[str, Any], t: Tables) -> float:
    window = _window(t.families, c)
    window = window[window["open"].astype(bool)]
    total = window[c["column"]].sum()
    own = window.loc[window["family"] == c["family"], c["column"]].sum()
    return float(own / total) if total > 0 else 0.0


def _region_mean(c: dict[str, Any], t: Tables) -> float:
    window = _window(t.regions, c)
    rows = window[window["region"] == c["region"]]
    if rows.empty:
        raise KeyError(f"region {c['region']} is not in the regions table")
    return float(rows[c["column"]].mean())


def _order(c: dict[str, Any], t: Tables) -> float:
    """1 if the order holds at the month, else 0 (also when either side is NaN: nothing to compare)."""
    row = _at(t.timeseries, c["month"])
    first, second = _series(row, c["column"]).iloc[0], _series(row, c["other"]).iloc[0]
    return float(OPS[c["op"]](first, second))


def mean_lag(steps: np.ndarray, leader: np.ndarray, follower: np.ndarray, first: int, last: int) -> float:
    """Mean over the months t in first..last (month steps) of t minus the first month s <= t at which
    the leader reached the follower's value at t; 0 where the leader has not reached it at t (the
    follower is ahead, or the leader is NaN). Months where the follower is NaN are not counted; NaN
    when none is left. `steps` must be increasing. A lag reaching back to the first row is cut there
    (the tables start in 2023-01): the figure is then a lower bound.
    """
    lags = []
    for i in np.flatnonzero((steps >= first) & (steps <= last)):
        if np.isnan(follower[i]):
            continue
        with np.errstate(invalid="ignore"):
            reached = leader[: i + 1] >= follower[i]  # a NaN leader never reaches
        lags.append(int(steps[i] - steps[int(np.argmax(reached))]) if reached[-1] else 0)
    return float(np.mean(lags)) if lags else math.nan


def _lag(c: dict[str, Any], t: Tables) -> float:
    ts = t.timeseries.sort_values("month")
    _window(ts, c)
    steps = np.array([month_index(m, "timeseries", "month") for m in ts["month"]])
    leader, follower = _series(ts, c["leader"]).to_numpy(), _series(ts, c["follower"]).to_numpy()
    first, last = month_index(c["from"], "", ""), month_index(c["to"], "", "")
    return mean_lag(steps, leader, follower, first, last)


def _yearly_growth(c: dict[str, Any], t: Tables) -> float:
    """(value at `to` / value at `from`) ** (12 / months between): the mean yearly growth factor."""
    start = float(_series(_at(t.timeseries, c["from"]), c["column"]).iloc[0])
    end = float(_series(_at(t.timeseries, c["to"]), c["column"]).iloc[0])
    months = month_index(c["to"], "", "") - month_index(c["from"], "", "")
    return (end / start) ** (12 / months) if start > 0 else math.nan


@dataclass(frozen=True)
class Kind:
    """One kind of computation: the table its columns come from, its fields, and its function."""

    table: str
    fields: dict[str, str]
    compute: Callable[[dict[str, Any], Tables], float]


KINDS: dict[str, Kind] = {
    "timeseries": Kind("timeseries", {"column": SERIES, "month": MONTH}, _timeseries),
    "timeseries_max": Kind("timeseries", {"column": SERIES, "from": MONTH, "to": MONTH}, _timeseries_max),
    "family": Kind("families", {"family": NAME, "column": COLUMN, "month": MONTH}, _family),
    "family_ratio": Kind("families", {"family": NAME, "over": NAME, "column": COLUMN, "month": MONTH}, _family_ratio),
    "family_share": Kind("families", {"family": NAME, "column": COLUMN, "from": MONTH, "to": MONTH}, _family_share),
    "region_mean": Kind("regions", {"region": NAME, "column": COLUMN, "from": MONTH, "to": MONTH}, _region_mean),
    "order": Kind("timeseries", {"column": SERIES, "op": OP, "other": SERIES, "month": MONTH}, _order),
    "lag": Kind("timeseries", {"leader": SERIES, "follower": SERIES, "from": MONTH, "to": MONTH}, _lag),
    "yearly_growth": Kind("timeseries", {"column": SERIES, "from": MONTH, "to": MONTH}, _yearly_growth),
}


# --- targets ---------------------------------------------------------------------------------------


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

    def columns(self) -> list[tuple[str, str, str]]:
        """(field, table, column) for every output column the computation reads."""
        kind = KINDS[self.compute["kind"]]
        found = []
        for field, what in kind.fields.items():
            if what in (COLUMN, SERIES):
                spec = self.compute[field]
                found += [(field, kind.table, col) for col in ([spec] if isinstance(spec, str) else spec)]
        return found


def evaluate(target: Target, timeseries: pd.DataFrame, families: pd.DataFrame, regions: pd.DataFrame) -> float:
    """The simulated value of one target, from a run's three tables.

    Raises KeyError when the tables lack what it needs (a month not reached, a column not recorded).
    """
    return KINDS[target.compute["kind"]].compute(target.compute, Tables(timeseries, families, regions))


def evaluate_all(result: Any, targets: tuple[Target, ...] | None = None) -> dict[str, float]:
    """Every target's simulated value for a `sim.RunResult` (or anything with the three tables)."""
    tables = (result.timeseries, result.families, result.regions)
    return {t.id: evaluate(t, *tables) for t in targets or load_targets()}


def distance(values: dict[str, float], targets: tuple[Target, ...] | None = None, margin: float = 0.0) -> float:
    """Weighted root-sum-square of the targets' misses: 0 when every target is inside its range."""
    return sum(t.weight * t.miss(values[t.id], margin) ** 2 for t in targets or load_targets()) ** 0.5


def missing_columns(
    targets: Iterable[Target], recorded: Mapping[str, Iterable[str]] | None = None
) -> list[tuple[str, str, str, str]]:
    """(target id, field, table, column) for each column a target reads that the model does not record.

    `recorded` defaults to the model's declared outputs, `sim.recorder.COLUMNS`.
    """
    if recorded is None:
        from sim.recorder import COLUMNS

        recorded = COLUMNS
    have = {table: set(cols) for table, cols in recorded.items()}
    return [(t.id, f, tab, col) for t in targets for f, tab, col in t.columns() if col not in have.get(tab, ())]


def require_columns(targets: Iterable[Target]) -> None:
    """Refuse, in one line, targets that read a column the model does not record (before any run)."""
    for tid, field, table, column in missing_columns(targets)[:1]:
        raise InputError("calibration targets", f"{tid}.compute.{field}", column, f"a {table} column the model records")


# --- reading and checking the file -----------------------------------------------------------------

FIELDS = ("id", "metric", "how", "month", "value", "low", "high", "weight", "source", "compute")


def _check_field(value: Any, what: str, where: str, key: str) -> None:
    if what == MONTH:
        month_index(value, where, key)
    elif what == OP:
        if not isinstance(value, str) or value not in OPS:
            raise InputError(where, key, value, what)
    elif what == SERIES and isinstance(value, list):
        if not value or not all(isinstance(v, str) and v for v in value):
            raise InputError(where, key, value, what)
    elif not (isinstance(value, str) and value):
        raise InputError(where, key, value, what)


def _check_compute(c: Any, tid: str, month: str, where: str) -> None:
    key = f"{tid}.compute"
    if not isinstance(c, dict):
        raise InputError(where, key, c, 'a table such as { kind = "timeseries", column = "...", month = "..." }')
    kind = c.get("kind")
    if not isinstance(kind, str) or kind not in KINDS:
        raise InputError(where, f"{key}.kind", kind, f"one of {', '.join(KINDS)}")
    fields = KINDS[kind].fields
    for name in c:
        if name != "kind" and name not in fields:
            raise InputError(where, f"{key}.{name}", c[name], f"a field of kind {kind}: {', '.join(fields)}")
    for name, what in fields.items():
        if name not in c:
            raise InputError(where, f"{key}.{name}", None, f"present for kind {kind}: {what}")
        _check_field(c[name], what, where, f"{key}.{name}")
    if "from" in fields:
        months = month_index(c["to"], where, "") - month_index(c["from"], where, "")
        if months < 0 or (months == 0 and kind == "yearly_growth"):  # no growth over zero months
            raise InputError(where, f"{key}.to", c["to"], f"a month after from = {c['from']}")
    end = "month" if "month" in fields else "to"
    if c[end] != month:
        raise InputError(where, f"{key}.{end}", c[end], f"the target's month {month}")


def _check(t: Any, where: str) -> Target:
    if not isinstance(t, dict):
        raise InputError(where, "target", t, "a [[target]] table")
    tid = t.get("id")
    name = tid if isinstance(tid, str) and tid else "target"
    for key in t:
        if key not in FIELDS:
            raise InputError(where, f"{name}.{key}", t[key], f"one of {', '.join(FIELDS)}")
    for key in FIELDS:
        if key not in t:
            raise InputError(where, f"{name}.{key}", None, "present in every [[target]]")
    for key in ("id", "metric", "how", "source"):
        _check_field(t[key], TEXT, where, f"{name}.{key}")
    month_index(t["month"], where, f"{name}.month")
    for key in ("value", "low", "high", "weight"):
        if isinstance(t[key], bool) or not isinstance(t[key], int | float) or not math.isfinite(t[key]):
            raise InputError(where, f"{name}.{key}", t[key], "a finite number")
    if t["weight"] <= 0:
        raise InputError(where, f"{name}.weight", t["weight"], "a number > 0")
    if not t["low"] <= t["value"] <= t["high"]:
        raise InputError(where, f"{name}.value", t["value"], f"within [low, high] = [{t['low']}, {t['high']}]")
    _check_compute(t["compute"], name, t["month"], where)
    return Target(**{k: float(t[k]) if k in ("value", "low", "high", "weight") else t[k] for k in FIELDS})


def parse_targets(text: str, where: str) -> tuple[Target, ...]:
    """The targets in a targets file's text, each checked; bad input raises a one-line InputError."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise FileProblem(where, f"not valid TOML: {exc}") from None
    rows = doc.get("target")
    if not isinstance(rows, list) or not rows:
        raise InputError(where, "target", rows, "one or more [[target]] tables")
    targets = tuple(_check(t, where) for t in rows)
    seen: set[str] = set()
    for t in targets:
        if t.id in seen:
            raise InputError(where, f"{t.id}.id", t.id, "an id no other target has")
        seen.add(t.id)
    return targets


def read_targets(path: Path) -> tuple[Target, ...]:
    """The targets in a file (any path: tests and trial files)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FileProblem(str(path), f"cannot be read ({exc.__class__.__name__})") from None
    return parse_targets(text, str(path))


@cache
def load_targets() -> tuple[Target, ...]:
    """The shipped targets (cached: the file does not change while running)."""
    return parse_targets(resources.files("calibration").joinpath(TARGETS_FILE).read_text(encoding="utf-8"), SHIPPED)
