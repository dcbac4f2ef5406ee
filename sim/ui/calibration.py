"""The Calibration tab's data: the reported figures (calibration/targets.toml) against a run.

How a target is computed belongs to the calibration (`calibration.targets.evaluate`); this module
only lays the figures beside a run's values for the page.
"""

from __future__ import annotations

import math

import pandas as pd

from calibration.targets import Target, evaluate, load_targets

__all__ = ["load_targets", "report", "simulated_value"]


def simulated_value(target: Target, tables: dict[str, pd.DataFrame]) -> float | None:
    """The model's value of one target from a run's tables, or None when it cannot be computed
    (e.g. a target month the run has not reached)."""
    try:
        return float(evaluate(target, tables["timeseries"], tables["families"], tables["regions"]))
    except (KeyError, IndexError):
        return None


def report(targets: tuple[Target, ...], tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per target: reported value and range, the model's value, and whether it falls inside."""
    rows = []
    for t in targets:
        v = simulated_value(t, tables)
        ok = None if v is None or not math.isfinite(v) else t.inside(v)
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
