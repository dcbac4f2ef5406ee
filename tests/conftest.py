"""Make the tests folder importable (the regression helper lives here); shared fixtures and plugins."""

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))
pytest_plugins = ["uibrowser"]  # the browser tests' fixtures (Chromium, the UI server, pages)


@pytest.fixture
def stub_posterior(monkeypatch):
    """A small weighted parameter sample around the calibrated point, for tests of the `--draws` machinery.

    No posterior is shipped while the calibration is an interim point fit, and these tests check
    the machinery (bands, pairing, reports), not the calibration; the sample varies every calibrated
    parameter by up to 5% of its range and carries unequal importance weights.
    """
    from calibration import report
    from sim import ensemble
    from sim.params import REGISTRY, defaults

    rng = np.random.default_rng(7)
    point = defaults()
    rows = []
    for _ in range(24):
        row = {}
        for name, p in REGISTRY.items():
            if p.calibrate:
                v = point[name] + rng.uniform(-0.05, 0.05) * (p.high - p.low)
                row[name] = float(min(p.high, max(p.low, v)))
        rows.append(row)
    table = pd.DataFrame(rows)
    table["weight"] = rng.uniform(0.5, 1.5, len(table))
    table["weight"] /= table["weight"].sum()
    monkeypatch.setattr(ensemble, "posterior", lambda: table)
    monkeypatch.setattr(report, "posterior", lambda: table)
    return table
