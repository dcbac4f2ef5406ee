"""Property tests: over parameters anywhere within their declared bounds, outputs stay sane."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sim
from sim.params import REGISTRY
from sim.policies import make_policy
from sim.scenario import Scenario, load
from sim.world import load_world

FREE = [p for p in REGISTRY.values() if p.group not in ("run",) and p.kind is float]


@st.composite
def parameter_sets(draw) -> dict:
    chosen = draw(st.lists(st.sampled_from(FREE), min_size=1, max_size=8, unique_by=lambda p: p.name))
    return {p.name: draw(st.floats(p.low, p.high, allow_nan=False)) for p in chosen}


SLOW = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SLOW
@given(parameter_sets(), st.integers(0, 2**31 - 1))
def test_outputs_stay_shares_for_any_parameters_in_bounds(overrides, seed):
    r = sim.run("baseline", seed=seed, overrides=overrides | {"n_developers": 300, "months": 30})
    ts = r.timeseries
    shares = [c for c in ts.columns if "share" in c]
    values = ts[shares].to_numpy()
    finite = values[np.isfinite(values)]
    assert ((finite >= 0) & (finite <= 1 + 1e-12)).all()
    usage = ts[["usage_share_cn_open", "usage_share_west_open", "usage_share_closed"]].dropna()
    assert np.allclose(usage.sum(axis=1), 1.0)
    fam = r.families
    assert (fam["users"] >= 0).all() and (fam["downloads"] >= 0).all()
    assert np.isfinite(fam[["capability", "price"]].to_numpy()).all()
    assert (fam["price"] > 0).all()
    month_users = fam.groupby("month")["users"].sum()
    assert np.allclose(month_users.to_numpy(), ts["adopters"].to_numpy())


@SLOW
@given(parameter_sets(), st.floats(0, 1), st.floats(0, 1))
def test_tighter_controls_never_give_more_cn_compute(overrides, a, b):
    lo, hi = sorted((a, b))
    world, base = load_world(), load("baseline")

    def compute_with(tightness: float) -> np.ndarray:
        extra = make_policy({"kind": "chip_export_controls", "start": "2023-01", "tightness": tightness}, world, "t")
        sc = Scenario("t", "", {}, (extra,), "t")
        r = sim.run(sc, seed=0, overrides=overrides | {"n_developers": 200, "months": 24})
        return r.timeseries["cn_compute_index"].to_numpy()

    assert base.policies  # the baseline carries controls; here one round is set for the whole run
    assert (compute_with(hi) <= compute_with(lo) + 1e-12).all()


def test_every_parameter_is_fully_declared():
    for p in REGISTRY.values():
        assert p.unit and p.help and p.source and p.group, p.name
        assert p.low <= p.default <= p.high, p.name
        assert p.check(p.default, "registry") == p.default
