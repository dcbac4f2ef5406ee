"""Property tests: over parameters anywhere within their declared bounds, outputs stay sane."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import sim
from sim.calendar import month_index
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
@example({"bass_p": REGISTRY["bass_p"].low}, 0)  # a first month in which no developer enters
def test_outputs_stay_shares_for_any_parameters_in_bounds(overrides, seed):
    r = sim.run("baseline", seed=seed, overrides=overrides | {"n_developers": 300, "months": 30})
    ts = r.timeseries
    shares = [c for c in ts.columns if "share" in c]
    values = ts[shares].to_numpy()
    finite = values[np.isfinite(values)]
    assert ((finite >= 0) & (finite <= 1 + 1e-12)).all()
    blocs = ["usage_share_cn_open", "usage_share_west_open", "usage_share_closed"]
    groups = [ts[blocs]] + [ts[[f"{b}_{task}" for b in blocs]] for task in load_world().tasks]
    for parts in [*groups, r.regions[blocs], r.segments[blocs]]:  # global, per task, region and segment
        assert (parts.isna().any(axis=1) == parts.isna().all(axis=1)).all()
        assert np.allclose(parts.dropna().sum(axis=1), 1.0)
        values = parts.dropna().to_numpy()
        assert ((values >= 0) & (values <= 1 + 1e-12)).all()
    fam = r.families
    assert (fam["users"] >= 0).all() and (fam["downloads"] >= 0).all()
    assert np.isfinite(fam[["capability", "price"]].to_numpy()).all()
    assert (fam["price"] > 0).all()
    # a developer counts once per family it uses, and a multi-model user uses 2 to one-per-task families
    users = fam.groupby("month", sort=False)["users"].sum().to_numpy()
    adopters, multi = ts["adopters"].to_numpy(), ts["multi_model_share"].fillna(0.0).to_numpy()
    tasks = len(load_world().tasks)
    assert (users >= adopters * (1 + multi) * (1 - 1e-12)).all()
    assert (users <= adopters * (1 + (tasks - 1) * multi) * (1 + 1e-12)).all()


@SLOW
@given(parameter_sets(), st.floats(0, 1), st.floats(0, 1))
@example({"bass_p": REGISTRY["bass_p"].low}, 0.2, 0.8)  # a first month in which no developer enters
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


HISTORY_END = month_index("2025-12", "test", "history")
LONG = settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def release_months(fam: pd.DataFrame) -> np.ndarray:
    """(month, family): the month of the family's latest release so far (NaN before its first)."""
    releases = fam.pivot(index="month", columns="family", values="releases").to_numpy()
    new = np.diff(releases, axis=0, prepend=0.0) > 0
    months = np.where(new, np.arange(len(releases))[:, None], np.nan)
    return pd.DataFrame(months).ffill().to_numpy()


def yearly_capability_bound(p: dict) -> float:
    """Rating points a year the frontier can gain: own compute growth and know-how, plus data feedback."""
    decades = math.log10(p["compute_growth"]) + math.log10(2.0) * 12 / p["algo_halving_months"]
    return p["capability_per_decade"] * decades + p["data_feedback"]


@LONG
@given(parameter_sets(), st.integers(0, 2**31 - 1))
def test_nothing_degenerates_over_twenty_years(overrides, seed):
    """At months = 240 shares, prices and capability stay finite; prices stay above the cost floor;
    capability grows no faster than compute and know-how allow."""
    r = sim.run("baseline", seed=seed, overrides=overrides | {"n_developers": 300, "months": 240})
    p = r.params
    late = r.timeseries.iloc[HISTORY_END + 1 :]
    shares = late[[c for c in late.columns if c.startswith("usage_share_")]].to_numpy()
    assert np.isfinite(shares).all() and ((shares >= 0) & (shares <= 1 + 1e-12)).all()
    fam = r.families
    for column in ("capability", "compute", "cost", "price", "price_paid"):
        assert np.isfinite(fam[column].to_numpy()).all(), column
    assert (fam["cost"] >= p["cost_floor"]).all() and (fam["price"] >= p["cost_floor"]).all()

    table = fam.pivot(index="month", columns="family", values="capability")  # months and families sorted
    names, caps = list(table.columns), table.to_numpy()
    avail = fam.pivot(index="month", columns="family", values="available").to_numpy(bool)
    best = np.where(avail, caps, -np.inf).max(axis=1)
    assert (np.diff(best) >= 0).all()  # released capability never falls
    last_release = release_months(fam)
    rate = yearly_capability_bound(p)
    for t in range(HISTORY_END + 13, len(best)):
        s = t - 12
        j = int(np.argmax(np.where(avail[t], caps[t], -np.inf)))
        released = last_release[s, j]  # best(s) is at least family j's release of that month
        assert np.isfinite(released)
        years = (t - released) / 12  # the frontier time between j's two releases
        assert best[t] - best[s] <= rate * years + 1e-9, (t, names[j], best[t] - best[s], rate * years)
