"""The committed baseline regression table: how it is made, and the command that remakes it.

Run `python tests/regression.py` only when a change to the model is meant to change the
baseline; commit the new table with that change and say why in the commit message.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

import sim

TABLE = Path(__file__).parent / "data" / "baseline_regression.csv"
SETTINGS = {"n_developers": 2000, "months": 36}
SEED = 0


def current() -> pd.DataFrame:
    """The baseline's timeseries at the regression settings."""
    return sim.run("baseline", seed=SEED, overrides=SETTINGS).timeseries


if __name__ == "__main__":
    TABLE.parent.mkdir(exist_ok=True)
    current().to_csv(TABLE, index=False, float_format="%.12g")
    print(f"wrote {TABLE}")
