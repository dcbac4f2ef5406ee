"""Calibration: target computations, the committed default set against the reported figures, and
the posterior runs (the fit itself: tests/test_calibration_fit.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import sim
from calibration.targets import LAST_MONTH_NEEDED, Target, evaluate, evaluate_all, load_targets, missing_columns
from sim.cli import main


def _skip_unless_all_recorded() -> None:
    missing = sorted({col for *_, col in missing_columns(load_targets())})
    if missing:
        pytest.skip(f"the model does not record {', '.join(missing)} yet (Model v2 adds them to sim/recorder.py)")


def _target(compute: dict, low: float = 0.0, high: float = 1.0, value: float = 0.5) -> Target:
    return Target("t", "m", "h", "2025-12", value, low, high, 1.0, "s", compute)


@pytest.fixture
def tables():
    months = ["2025-10", "2025-11", "2025-12"]
    ts = pd.DataFrame(
        {
            "month": months,
            "usage_share_cn_open": [0.1, 0.2, 0.3],
            "best_capability_cn_open": [10.0, 12.0, 14.0],
            "best_capability_west_open": [11.0, 12.0, 13.0],
        }
    )
    fam = pd.DataFrame(
        {
            "month": np.repeat(months, 3),
            "family": ["Qwen", "Llama", "GPT"] * 3,
            "open": [True, True, False] * 3,
            "downloads": [1.0, 3.0, 0.0, 2.0, 2.0, 0.0, 3.0, 1.0, 0.0],
            "cum_downloads": [1.0, 3.0, 0.0, 3.0, 5.0, 0.0, 6.0, 6.0, 0.0],
        }
    )
    reg = pd.DataFrame(
        {
            "month": np.repeat(months, 2),
            "region": ["US", "EU"] * 3,
            "startup_share_cn_among_open": [0.6, 0.1, 0.7, 0.1, 0.8, 0.1],
        }
    )
    return ts, fam, reg


def test_each_kind_of_target_matches_a_hand_computed_value(tables):
    ts, fam, reg = tables
    cases = [
        ({"kind": "timeseries", "column": "usage_share_cn_open", "month": "2025-11"}, 0.2),
        ({"kind": "family", "family": "Llama", "column": "cum_downloads", "month": "2025-11"}, 5.0),
        (
            {"kind": "family_ratio", "family": "Qwen", "over": "Llama", "column": "cum_downloads", "month": "2025-11"},
            3.0 / 5.0,
        ),
        (
            {"kind": "family_share", "family": "Qwen", "column": "downloads", "from": "2025-10", "to": "2025-12"},
            6.0 / 12.0,
        ),
        (
            {
                "kind": "region_mean",
                "region": "US",
                "column": "startup_share_cn_among_open",
                "from": "2025-11",
                "to": "2025-12",
            },
            0.75,
        ),
        (
            {
                "kind": "order",
                "column": "best_capability_cn_open",
                "op": ">=",
                "other": "best_capability_west_open",
                "month": "2025-10",
            },
            0.0,
        ),
        (
            {
                "kind": "order",
                "column": "best_capability_cn_open",
                "op": ">=",
                "other": "best_capability_west_open",
                "month": "2025-12",
            },
            1.0,
        ),
    ]
    for compute, expected in cases:
        assert evaluate(_target(compute), ts, fam, reg) == pytest.approx(expected), compute


def test_a_miss_is_zero_inside_the_range_and_grows_outside():
    t = _target({}, low=0.2, high=0.4)
    assert t.miss(0.2) == t.miss(0.3) == t.miss(0.4) == 0.0
    assert t.miss(0.5) == pytest.approx(0.5) and t.miss(0.0) == pytest.approx(1.0)
    assert t.miss(float("nan")) > 1.0
    point = _target({}, low=1.0, high=1.0, value=1.0)
    assert point.miss(1.0) == 0.0 and point.miss(0.0) == 1.0


def test_shipped_targets_are_the_briefs_seventeen_and_all_computable():
    targets = load_targets()
    assert len(targets) == 17 and all(t.source for t in targets)
    _skip_unless_all_recorded()
    values = evaluate_all(sim.run("baseline", seed=0, overrides={"n_developers": 500, "months": LAST_MONTH_NEEDED}))
    assert set(values) == {t.id for t in targets}
    assert all(np.isfinite(v) for v in values.values())


@pytest.mark.usefixtures("stub_posterior")
def test_posterior_draws_give_ordered_bands(tmp_path):
    rc = main(
        [
            "run",
            "baseline",
            "--draws",
            "3",
            "--set",
            "n_developers=300",
            "--set",
            "months=24",
            "--out",
            str(tmp_path / "d"),
        ]
    )
    assert rc == 0
    bands = pd.read_csv(tmp_path / "d" / "timeseries_bands.csv").dropna()
    assert (bands["q05"] <= bands["median"] + 1e-12).all() and (bands["median"] <= bands["q95"] + 1e-12).all()
    draws = pd.read_csv(tmp_path / "d" / "draws.csv")
    assert len(draws) == 3 and draws["seed"].nunique() == 3


@pytest.mark.parametrize(
    "argv",
    [
        ["calibrate", "--budget", "0"],
        ["calibrate", "--workers", "x"],
        ["report", "calibration", "--draws", "5"],
        ["report", "calibration", "--workers", "0"],
        ["report", "nothing", "--out", "x"],
        ["run", "baseline", "--draws", "0"],
        ["calibrate", "--margin", "0.9"],
        ["docs", "--readme", "no/such/README.md"],
    ],
)
def test_bad_calibration_flags_are_one_line_and_exit_2(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_the_committed_default_set_hits_every_target_over_several_seeds():
    _skip_unless_all_recorded()
    runs = [evaluate_all(sim.run("baseline", seed=s, overrides={"months": LAST_MONTH_NEEDED})) for s in range(5)]
    for t in load_targets():
        values = [r[t.id] for r in runs]
        assert t.inside(float(np.median(values))), (t.id, values, (t.low, t.high))
    inside = np.mean([t.inside(r[t.id]) for r in runs for t in load_targets()])
    assert inside >= 0.8, inside
