"""Behaviour of the engine: oracle agreement, invariants, policy effects, reproducibility."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import sim
from sim.choice import Draws, decide_all, decide_one
from sim.model import WeightshiftModel, make_streams
from sim.policies import make_policy
from sim.scenario import Scenario, load
from sim.world import load_world

SMALL = {"n_developers": 600, "months": 30}


def small_run(scenario: str | Scenario = "baseline", seed: int = 0, **overrides) -> sim.RunResult:
    return sim.run(scenario, seed=seed, overrides=SMALL | overrides)


def with_policies(*tables: dict, base: str = "baseline") -> Scenario:
    """The baseline plus extra policies given as scenario-file tables."""
    sc = load(base)
    extra = tuple(make_policy(t, load_world(), "test") for t in tables)
    return Scenario("test", "", sc.overrides, sc.policies + extra, "test")


# --- the vectorised decision agrees with the per-agent reference ----------------------------------


def test_vectorised_decision_matches_reference_on_a_mid_run_state():
    params = load("baseline").params({"n_developers": 800, "review_rate": 0.3})  # many reviews to compare
    model = WeightshiftModel(load("baseline"), seed=3, params=params)
    for _ in range(20):
        model.step()
    draws = Draws.draw(make_streams(99), model.pop.size, len(model.world.tasks))
    fast = decide_all(model.market, model.pop, model.entered, model.choice, draws)
    slow = [decide_one(model.market, model.pop, model.entered, model.choice, draws, i) for i in range(model.pop.size)]
    assert np.array_equal(fast.choice, np.array([f for f, _ in slow]))
    reviewed = {i: v for i, (_, v) in enumerate(slow) if v is not None}
    assert list(fast.reviewers) == sorted(reviewed)
    assert np.array_equal(fast.welfare, np.array([reviewed[i] for i in fast.reviewers]))
    assert fast.reviewers.size > 50  # the comparison covered real reviews, not only stayers


def test_agent_engine_reproduces_the_vectorised_run_exactly():
    sc = load("baseline")
    params = sc.params({"n_developers": 400, "months": 24})
    runs = [WeightshiftModel(sc, seed=5, params=params, engine=e).run() for e in ("vector", "agents")]
    a, b = (r.recorder.tables(r.t) for r in runs)
    for name in ("timeseries", "families", "regions", "segments"):
        pd.testing.assert_frame_equal(a[name], b[name], check_exact=True)


# --- invariants -------------------------------------------------------------------------------------


def test_no_adopters_means_no_users_downloads_or_derivatives():
    everyone = {"segments": list(load_world().segments), "ban": ["CN", "US", "EU", "other"]}
    nothing_allowed = with_policies({"kind": "procurement", "start": "2023-01"} | everyone)
    r = small_run(nothing_allowed)
    assert (r.families["users"] == 0).all()
    assert (r.families["downloads"] == 0).all()
    assert (r.families["derivatives"] == 0).all()
    assert (r.timeseries["adopters"] == 0).all()


def test_usage_shares_are_shares_and_sum_to_one():
    ts = small_run(months=48).timeseries.dropna(subset=["usage_share_closed"])
    parts = ts[["usage_share_cn_open", "usage_share_west_open", "usage_share_closed"]]
    assert ((parts >= 0) & (parts <= 1)).all().all()
    assert np.allclose(parts.sum(axis=1), 1.0)


def test_closed_families_never_have_downloads_and_cumulatives_never_fall():
    r = small_run(months=48)
    fam = r.families
    assert (fam.loc[~fam["open"], "downloads"] == 0).all()
    for _, g in fam.groupby("family"):
        assert (np.diff(g["cum_downloads"]) >= 0).all()
        assert (np.diff(g["derivatives"]) >= 0).all()


def test_tighter_chip_controls_mean_less_cn_compute():
    loose = with_policies({"kind": "chip_export_controls", "start": "2026-01", "tightness": 0.1})
    tight = with_policies({"kind": "chip_export_controls", "start": "2026-01", "tightness": 0.9})
    a = small_run(loose, months=60).timeseries.set_index("month")["cn_compute_index"]
    b = small_run(tight, months=60).timeseries.set_index("month")["cn_compute_index"]
    assert (a[:"2025-12"] == b[:"2025-12"]).all()
    assert (b["2026-02":] < a["2026-02":]).all()


def test_controls_raise_the_domestic_chip_share():
    none = with_policies({"kind": "chip_export_controls", "start": "2023-01", "tightness": 0.0})
    ts = small_run(none).timeseries
    assert ts["cn_domestic_chip_share"].iloc[-1] < small_run().timeseries["cn_domestic_chip_share"].iloc[-1]


def test_a_procurement_ban_removes_banned_families_from_affected_developers():
    ban = with_policies(
        {
            "kind": "procurement",
            "start": "2025-09",
            "regions": ["US"],
            "segments": ["startup", "enterprise", "individual", "researcher", "public"],
            "ban": ["CN"],
        }
    )
    model = WeightshiftModel(ban, seed=1, params=ban.params({"n_developers": 2000, "months": 40}))
    world, cn = model.world, np.flatnonzero(load_world().origin == 0)
    us = model.pop.region == world.regions.index("US")
    seen_cn_before = False
    while model.t < 40:
        model.step()
        on_cn = us & np.isin(model.choice, cn)
        if model.t <= 32:  # steps 0..31 are 2023-01..2025-08, before the ban
            seen_cn_before |= on_cn.any()
        else:
            assert not on_cn.any(), f"month {model.t}: US developers still on Chinese models"
    assert seen_cn_before  # the ban removed something that was there


def test_weight_export_controls_cap_us_open_releases():
    cap = with_policies({"kind": "weight_export_controls", "start": "2024-01", "threshold": 1150.0})
    fam = small_run(cap, months=48).families
    us_open = fam[(fam.origin == "US") & fam.open & (fam.month >= "2024-01")]
    before = small_run(months=48).families
    assert us_open["capability"].max() <= max(
        1150.0, before[(before.origin == "US") & before.open & (before.month == "2023-12")]["capability"].max()
    )


def test_policy_after_its_end_month_has_no_effect_on_the_neutral_effects():
    world = load_world()
    policy = make_policy({"kind": "pricing", "start": "2024-01", "end": "2024-06", "multiplier": 3.0}, world, "t")
    assert not policy.active(11) and policy.active(12) and policy.active(16) and not policy.active(17)


# --- reproducibility and common random numbers --------------------------------------------------------


def test_same_seed_gives_byte_identical_csv(tmp_path):
    for name in ("a", "b"):
        small_run(seed=7).save(tmp_path / name, parquet=False)
    for table in ("timeseries", "families", "regions"):
        assert (tmp_path / "a" / f"{table}.csv").read_bytes() == (tmp_path / "b" / f"{table}.csv").read_bytes()


def test_different_seeds_differ():
    a, b = small_run(seed=1).timeseries, small_run(seed=2).timeseries
    assert not a["usage_share_cn_open"].equals(b["usage_share_cn_open"])


def test_a_policy_run_shares_the_baselines_draws_until_the_policy_starts():
    late = with_policies({"kind": "pricing", "start": "2025-01", "origins": ["US"], "multiplier": 2.0})
    a = small_run(late).timeseries.set_index("month")
    b = small_run().timeseries.set_index("month")
    pd.testing.assert_frame_equal(a[:"2024-12"], b[:"2024-12"], check_exact=True)
    assert not a.loc["2025-06":, "usage_share_closed"].equals(b.loc["2025-06":, "usage_share_closed"])


def test_result_tables_have_the_documented_columns():
    from sim.recorder import COLUMNS

    r = small_run(months=3)
    for name, cols in COLUMNS.items():
        assert list(getattr(r, name).columns) == list(cols)
    assert len(r.timeseries) == 3 and r.timeseries["month"].tolist() == ["2023-01", "2023-02", "2023-03"]


def test_engine_name_is_checked():
    with pytest.raises(ValueError, match="engine"):
        WeightshiftModel(engine="turbo")


def test_readme_reference_tables_are_current():
    from pathlib import Path

    from sim.docs import fill_readme

    text = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    assert fill_readme(text) == text, "run `weightshift docs` to regenerate the README tables"
