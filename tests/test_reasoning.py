"""The reasoning step (o1, 2024-09): held by its lab, secret until replicated, then diffused."""

from __future__ import annotations

import numpy as np
import pytest

import sim
from sim.labs import knowhow_step
from sim.model import WeightshiftModel
from sim.scenario import load
from sim.world import load_world

SMALL = {"n_developers": 600, "months": 30}


def model_at(month: int, **overrides) -> WeightshiftModel:
    """A baseline model stepped through months 0..month (so `month` is the last one simulated)."""
    sc = load("baseline")
    model = WeightshiftModel(sc, seed=0, params=sc.params(SMALL | overrides))
    for _ in range(month + 1):
        model.step()
    return model


def lags(model: WeightshiftModel) -> np.ndarray:
    return np.array([lab.lag_months for lab in model.labs])


def test_no_gain_means_the_replication_time_changes_nothing():
    a = sim.run("baseline", seed=1, overrides=SMALL | {"reasoning_gain": 0.0, "reasoning_replication_months": 2.0})
    b = sim.run("baseline", seed=1, overrides=SMALL | {"reasoning_gain": 0.0, "reasoning_replication_months": 6.0})
    assert a.timeseries.equals(b.timeseries)
    assert a.families.equals(b.families)


def test_at_its_month_only_the_holder_has_the_step():
    w = load_world()
    t0, gain = w.reasoning_month, 0.4
    with_step, without = model_at(t0, reasoning_gain=gain), model_at(t0, reasoning_gain=0.0)
    step_months = gain / knowhow_step(with_step.p)
    assert with_step.knowhow_frontier == pytest.approx(without.knowhow_frontier + gain)
    extra = lags(with_step) - lags(without)
    holder = w.reasoning_family
    assert extra[holder] == pytest.approx(0.0, abs=1e-9)  # it moved with the frontier
    others = np.delete(extra, holder)
    assert others == pytest.approx(np.full(others.size, step_months))  # nobody else learnt any of it


def test_nobody_learns_the_step_before_replication_and_everyone_catches_up_after():
    w = load_world()
    t0, gain, secret = w.reasoning_month, 0.4, 4.0
    overrides = {"reasoning_gain": gain, "reasoning_replication_months": secret}
    holder = w.reasoning_family
    step_months = gain / knowhow_step(model_at(0).p)

    def extra_lag(month: int) -> np.ndarray:
        return np.delete(lags(model_at(month, **overrides)) - lags(model_at(month, reasoning_gain=0.0)), holder)

    last_secret = t0 + int(secret) - 1
    assert extra_lag(last_secret) == pytest.approx(np.full(len(w.families) - 1, step_months), rel=1e-6)
    later = extra_lag(last_secret + 6)
    assert (later < 0.5 * step_months).all()  # six months of diffusion closed most of it
    assert (later >= -1e-9).all()  # and nobody overtook where it would have been


def test_the_step_widens_the_lead_of_us_models_over_chinese_ones_while_it_is_secret():
    on = sim.run("baseline", seed=0, overrides=SMALL | {"reasoning_gain": 0.4})
    off = sim.run("baseline", seed=0, overrides=SMALL | {"reasoning_gain": 0.0})
    month = "2024-12"

    def gap(r: sim.RunResult) -> float:
        row = r.timeseries.set_index("month").loc[month]
        return row.best_capability_us - row.best_capability_cn

    assert gap(on) > gap(off)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_step_lowers_the_chinese_share_in_late_2024(seed):
    """The channel behind the late-2024 figure: while the step is secret, the frontier pulls away."""
    over = {"n_developers": 4000, "months": 36}
    on = sim.run("baseline", seed=seed, overrides=over).timeseries.set_index("month").usage_share_cn_open
    off = sim.run("baseline", seed=seed, overrides=over | {"reasoning_gain": 0.0})
    off = off.timeseries.set_index("month").usage_share_cn_open
    assert on["2024-12"] < off["2024-12"]
