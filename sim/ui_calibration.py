"""The Calibration tab's data: the reported figures (calibration/targets.toml) against a run.

`simulated_value` is deliberately small and separate: the calibration code (issue #3) owns how a
target is computed. When its `calibration.targets.evaluate` can be imported, it is used; otherwise
the fallback here reads the target's machine-readable `compute` table (same kinds), and a target
without one is shown as "not computed" rather than guessed.
"""

from __future__ import annotations

import math
import operator
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from sim.errors import FileProblem

TARGETS_PATH = Path(__file__).resolve().parent.parent / "calibration" / "targets.toml"
_OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}


@dataclass(frozen=True)
class Target:
    """One reported figure as the file states it (extra keys are kept in `raw`)."""

    id: str
    metric: str
    how: str
    month: str
    value: float
    low: float
    high: float
    weight: float
    source: str
    raw: dict[str, Any]


def load_targets(path: Path = TARGETS_PATH) -> list[Target]:
    """Targets from the file, or FileProblem naming what is wrong with it."""
    if not path.is_file():
        raise FileProblem(str(path), "no calibration targets file (issue #3 adds it)")
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise FileProblem(str(path), f"not valid TOML: {exc}") from None
    keys = ("id", "metric", "how", "month", "value", "low", "high", "weight", "source")
    out = []
    for t in doc.get("target", []):
        missing = [k for k in keys if k not in t]
        if missing:
            raise FileProblem(str(path), f"a [[target]] lacks {', '.join(missing)}")
        out.append(Target(*(t[k] for k in keys), raw=t))
    return out


def _family(fam: pd.DataFrame, family: str, column: str, month: str) -> float:
    row = fam[(fam["family"] == family) & (fam["month"] == month)]
    return float(row[column].iloc[0])


def _fallback(c: dict[str, Any], ts: pd.DataFrame, fam: pd.DataFrame, reg: pd.DataFrame) -> float:
    kind = c["kind"]
    if kind == "timeseries":
        return float(ts.loc[ts["month"] == c["month"], c["column"]].iloc[0])
    if kind == "family":
        return _family(fam, c["family"], c["column"], c["month"])
    if kind == "family_ratio":
        below = _family(fam, c["over"], c["column"], c["month"])
        return _family(fam, c["family"], c["column"], c["month"]) / below if below > 0 else math.inf
    if kind == "family_share":
        window = fam[(fam["month"] >= c["from"]) & (fam["month"] <= c["to"]) & fam["open"]]
        total = window[c["column"]].sum()
        return float(window.loc[window["family"] == c["family"], c["column"]].sum() / total) if total > 0 else 0.0
    if kind == "region_mean":
        rows = reg[(reg["region"] == c["region"]) & reg["month"].between(c["from"], c["to"])]
        return float(rows[c["column"]].mean())
    if kind == "order":
        row = ts.loc[ts["month"] == c["month"]].iloc[0]
        return float(_OPS[c["op"]](row[c["column"]], row[c["other"]]))
    raise KeyError(kind)


def simulated_value(target: Target, tables: dict[str, pd.DataFrame]) -> float | None:
    """The model's value of one target from a run's tables, or None when it cannot be computed."""
    ts, fam, reg = tables["timeseries"], tables["families"], tables["regions"]
    try:
        from calibration.targets import evaluate  # issue #3's definition
        from calibration.targets import load_targets as official

        match = {t.id: t for t in official()}.get(target.id)
        if match is not None:
            return float(evaluate(match, ts, fam, reg))
    except Exception:  # not installed, or a different interface: fall back below
        pass
    compute = target.raw.get("compute")
    if not isinstance(compute, dict):
        return None
    try:
        return _fallback(compute, ts, fam, reg)
    except (KeyError, IndexError, TypeError, ValueError):
        return None


def report(targets: list[Target], tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per target: reported value and range, the model's value, and whether it falls inside."""
    rows = []
    for t in targets:
        v = simulated_value(t, tables)
        ok = None if v is None or not math.isfinite(v) else t.low <= v <= t.high
        rows.append(
            {
                "target": t.id,
                "month": t.month,
                "what": t.how,
                "reported": t.value,
                "low": t.low,
                "high": t.high,
                "model": v,
                "inside": ok,
                "source": t.source,
            }
        )
    return pd.DataFrame(rows)
