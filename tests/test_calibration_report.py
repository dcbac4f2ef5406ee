"""`weightshift report calibration`: every table and figure, on a small population and horizon."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from calibration.predictive import group_tables
from calibration.report import write_report
from calibration.summaries import conditional_sd
from calibration.targets import load_targets


@pytest.mark.usefixtures("stub_posterior")
def test_the_report_writes_coverage_identifiability_projection_and_drivers(tmp_path):
    md = write_report(tmp_path, draws=50, workers=2, overrides={"n_developers": 300, "months": 40})
    text = md.read_text(encoding="utf-8")
    for section in ("## Fit", "## Generations", "## Parameters and identifiability", "## Baseline projection"):
        assert section in text
    for png in ("targets.png", "pairs.png", "projection.png"):
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    fit = pd.read_csv(tmp_path / "fit.csv")
    assert set(fit["target"]) == {t.id for t in load_targets()}
    assert fit["coverage"].between(0, 1).all()
    params = pd.read_csv(tmp_path / "parameters.csv")
    assert set(params["verdict"]) <= {"identified", "ridge", "weak"}
    proj = pd.read_csv(tmp_path / "projection.csv")
    assert (proj["month"] == "2026-04").all()  # the last month of a 40-month run
    for key in [k for keys in group_tables().values() for k in keys]:
        assert key in set(proj["by"])
    drivers = pd.read_csv(tmp_path / "drivers.csv")
    assert len(drivers) and drivers["S1"].notna().all()


def test_conditional_sd_sees_a_ridge_that_marginal_sd_misses():
    rng = np.random.default_rng(0)
    a = rng.uniform(0, 1, 2000)
    post = pd.DataFrame({"a": a, "b": 1 - a + rng.normal(0, 0.01, 2000), "c": rng.uniform(0, 1, 2000)})
    post["weight"] = 1.0
    cond = conditional_sd(post, ["a", "b", "c"])
    assert cond["a"] < 0.05 * post["a"].std() and cond["b"] < 0.05 * post["b"].std()  # pinned jointly
    assert cond["c"] > 0.9 * post["c"].std()  # independent: given the others, as wide as alone
