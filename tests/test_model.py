"""Behaviour of the engine: oracle agreement, invariants, policy effects, reproducibility."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from policy_runs import with_policies

import sim
from sim import choice, usage
from sim.api import TABLES
from sim.choice import Draws, _pairwise_sum, decide_all, decide_one
from sim.model import WeightshiftModel, make_streams
from sim.policies import make_policy
from sim.scenario import Scenario, load
from sim.world import load_world

SMALL = {"n_developers": 600, "months": 30}


def small_run(
    scenario: str | Scenario = "baseline", seed: int = 0, lab_seed: int | None = None, **overrides
) -> sim.RunResult:
    return sim.run(scenario, seed=seed, overrides=SMALL | overrides, lab_seed=lab_seed)


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


def test_the_decision_is_the_same_for_any_block_size(monkeypatch):
    model = WeightshiftModel(load("baseline"), seed=2, params=load("baseline").params({"n_developers": 900}))
    for _ in range(15):
        model.step()
    draws = Draws.draw(make_streams(7), model.pop.size, len(model.world.tasks))
    whole = decide_all(model.market, model.pop, model.entered, model.choice, draws)
    monkeypatch.setattr(choice, "BLOCK", 97)
    blocks = decide_all(model.market, model.pop, model.entered, model.choice, draws)
    assert np.array_equal(whole.choice, blocks.choice) and np.array_equal(whole.entered, blocks.entered)
    assert np.array_equal(whole.welfare, blocks.welfare) and whole.welfare.size > 20


@pytest.mark.parametrize("n_families", [1, 3, 8, 15, 16, 23, 140])
def test_column_sums_repeat_numpys_row_sums_to_the_last_bit(n_families):
    """The welfare logsum sums down columns in the order numpy sums a developer's row (as it always did)."""
    rows = np.exp(np.random.default_rng(n_families).normal(0.0, 8.0, size=(500, n_families)))
    assert np.array_equal(0.0 + _pairwise_sum(np.ascontiguousarray(rows.T)), rows.sum(axis=1))


@pytest.mark.parametrize("max_table", [usage.MAX_TABLE, 1])  # the table of combinations, and the sort
def test_usage_tally_counts_like_a_direct_count(monkeypatch, max_table):
    monkeypatch.setattr(usage, "MAX_TABLE", max_table)
    rng = np.random.default_rng(4)
    cell, picks = rng.integers(0, 6, 3000), rng.integers(0, 7, (3000, 3))
    tokens = rng.random((3000, 3))
    got = usage.tally(cell, picks, tokens, tokens, 6, 7)
    assert np.array_equal(got.users, [sum(f in set(row) for row in picks.tolist()) for f in range(7)])
    assert got.mixed == sum(len(set(row)) > 1 for row in picks.tolist())
    assert np.array_equal(got.adopters, np.bincount(cell, minlength=6))
    for c, f in [(0, 0), (2, 5), (5, 6)]:
        assert got.uses[c, f] == ((cell[:, None] == c) & (picks == f)).sum()


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


BLOC_SHARES = ["usage_share_cn_open", "usage_share_west_open", "usage_share_closed"]


def assert_shares(frame: pd.DataFrame, columns: list[str]) -> None:
    """Each row of `columns` is a set of shares in [0, 1] summing to 1, or (no tokens) all undefined."""
    parts = frame[columns]
    defined = parts.notna().all(axis=1)
    assert (parts.notna().any(axis=1) == defined).all(), "a share is undefined while its siblings are not"
    assert defined.any()
    values = parts[defined]
    assert ((values >= 0) & (values <= 1)).all().all()
    assert np.allclose(values.sum(axis=1), 1.0)


def test_usage_shares_are_shares_and_sum_to_one_globally_per_task_region_and_segment():
    r = small_run(months=48)
    assert_shares(r.timeseries, BLOC_SHARES)
    for task in load_world().tasks:
        assert_shares(r.timeseries, [f"{c}_{task}" for c in BLOC_SHARES])
    for table, key in ((r.regions, "region"), (r.segments, "segment")):
        assert_shares(table, BLOC_SHARES)
        assert set(table.loc[table["usage_share_closed"].notna(), key]) == set(table[key])  # every group has tokens


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
        on_cn = us[:, None] & np.isin(model.choice, cn)  # any task of any US developer
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
    for table in TABLES:
        assert (tmp_path / "a" / f"{table}.csv").read_bytes() == (tmp_path / "b" / f"{table}.csv").read_bytes()


def test_different_seeds_differ():
    a, b = small_run(seed=1).timeseries, small_run(seed=2).timeseries
    assert not a["usage_share_cn_open"].equals(b["usage_share_cn_open"])


def release_months(r: sim.RunResult) -> pd.DataFrame:
    """(month x family) True where the family made a release that month."""
    releases = r.families.pivot(index="month", columns="family", values="releases")
    return releases.diff().fillna(releases) > 0


LABS_IGNORE_DEVELOPERS = {"data_feedback": 0.0, "open_threat": 0.0, "cannibalisation": 0.0}
"""Labs whose capability and open-or-closed decision do not follow developers' usage shares."""


def test_lab_seed_defaults_to_the_seed():
    a = sim.run("baseline", seed=4, overrides=SMALL)
    b = sim.run("baseline", seed=4, overrides=SMALL, lab_seed=4)
    for table in TABLES:
        pd.testing.assert_frame_equal(getattr(a, table), getattr(b, table), check_exact=True)


def test_lab_seed_changes_only_the_lab_level_draws():
    sc = load("baseline")
    one, two = (WeightshiftModel(sc, seed=4, params=sc.params(SMALL), lab_seed=k) for k in (1, 2))
    for trait in ("region", "segment", "volume", "w_capability", "w_price", "w_open", "w_trust", "fit", "contacts"):
        assert np.array_equal(getattr(one.pop, trait), getattr(two.pop, trait)), trait
    n, tasks = one.pop.size, len(one.world.tasks)
    for month in range(3):
        d1, d2 = Draws.draw(one.streams, n, tasks), Draws.draw(two.streams, n, tasks)
        for purpose in ("entry", "review", "choice"):
            assert np.array_equal(getattr(d1, purpose), getattr(d2, purpose)), (month, purpose)
    assert not np.array_equal(one.streams["labs"].random(15), two.streams["labs"].random(15))


def test_two_lab_seeds_give_different_release_months():
    a, b = (small_run(seed=3, lab_seed=k, months=48) for k in (1, 2))
    assert not release_months(a).equals(release_months(b))


def test_with_a_fixed_lab_seed_developer_seeds_still_differ_and_labs_do_not():
    a, b = (small_run(seed=s, lab_seed=0, months=48, **LABS_IGNORE_DEVELOPERS) for s in (1, 2))
    assert not a.timeseries["usage_share_cn_open"].equals(b.timeseries["usage_share_cn_open"])
    assert not a.families["users"].equals(b.families["users"])
    assert release_months(a).equals(release_months(b))  # lab-level noise comes from the lab seed alone
    for column in ("capability", "compute", "price", "available", "publishing"):
        pd.testing.assert_series_equal(a.families[column], b.families[column], check_exact=True)


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
