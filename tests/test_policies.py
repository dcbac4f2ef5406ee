"""Every policy kind acts through a named channel that shows in the outputs (issue 11, "Must show").

Each test runs a policy beside its same-seed baseline (common random numbers): before the policy
starts the two runs are identical, from its start the named output moves in the stated direction.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd
from policy_runs import after, before, by_month, lockstep, paired_runs, start_step

from sim.world import ORIGINS, load_world

WORLD = load_world()
ORIGIN = np.array(ORIGINS)[WORLD.origin]
US_OPEN = [f for f, o, op in zip(WORLD.families, ORIGIN, WORLD.open, strict=True) if o == "US" and op]
CN_FAMILIES = np.flatnonzero(ORIGIN == "CN")


def family_mask(names: list[str]) -> np.ndarray:
    return np.isin(np.array(WORLD.families), names)


def _ts(run) -> pd.DataFrame:
    return run.timeseries.set_index("month")


def _fam(run, value: str, families: list[str] | None = None) -> pd.DataFrame:
    table = by_month(run.families, value)
    return table[families] if families is not None else table


def _same_before(base, pol, policy: dict) -> None:
    """The policy run equals its baseline, to the bit, in every table before the policy starts."""
    for name in ("timeseries", "families", "regions", "segments"):
        a, b = getattr(base, name), getattr(pol, name)
        early = a["month"] < policy["start"]
        assert early.any()
        pd.testing.assert_frame_equal(a[early], b[early], check_exact=True)


# --- chip export controls: CN compute, cost per token, capability lag -----------------------------

CHIPS = {"kind": "chip_export_controls", "start": "2026-01", "tightness": 0.9}
CHIP_RUN = {"n_developers": 1000, "months": 60}


@cache
def _chip_runs() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The chip-control run and its baseline, from the policy's start (run once for the three tests)."""
    base, pol = paired_runs(CHIPS, **CHIP_RUN)
    _same_before(base, pol, CHIPS)
    b, p = after(_ts(base), CHIPS), after(_ts(pol), CHIPS)
    assert (p["chip_tightness"] > b["chip_tightness"]).all()  # the round is tighter than the one in force
    return b, p


def test_tighter_chip_controls_cut_cn_compute():
    b, p = _chip_runs()
    assert (p["cn_compute_index"] < b["cn_compute_index"]).all()


def test_tighter_chip_controls_raise_cn_serving_cost():
    """Controls raise Chinese labs' cost per token served (grey-market and domestic chips), every month."""
    b, p = _chip_runs()
    dearer = p["cn_serving_cost"] > b["cn_serving_cost"]
    assert dearer.all(), f"CN serving cost not above baseline in {list(dearer.index[~dearer])}"


def test_tighter_chip_controls_widen_the_cn_capability_lag():
    """Less compute costs Chinese labs capability; the necessity premium builds faster under tighter
    controls (the backfire), which can lift a first month by a fraction of a point, so the lag is
    checked on average over the policy's months and at the end, not month by month."""
    b, p = _chip_runs()
    assert p["best_capability_cn"].mean() < b["best_capability_cn"].mean()
    assert p["best_capability_cn"].iloc[-1] < b["best_capability_cn"].iloc[-1]
    lag_b = b["best_capability_us"] - b["best_capability_cn"]
    lag_p = p["best_capability_us"] - p["best_capability_cn"]
    assert lag_p.mean() > lag_b.mean() and lag_p.iloc[-1] > lag_b.iloc[-1]


# --- weight export controls: the capped labs' open releases ----------------------------------------

WEIGHTS = {"kind": "weight_export_controls", "start": "2025-01", "threshold": 1300.0}  # US labs, all regions


def test_weight_export_controls_cap_the_us_open_releases():
    base, pol = paired_runs(WEIGHTS, n_developers=1000, months=48)
    _same_before(base, pol, WEIGHTS)
    threshold = WEIGHTS["threshold"]
    cap_b, cap_p = _fam(base, "capability", US_OPEN), _fam(pol, "capability", US_OPEN)
    rel_b, rel_p = _fam(base, "releases", US_OPEN), _fam(pol, "releases", US_OPEN)
    assert (after(cap_b, WEIGHTS) > threshold).any().any()  # without the cap, releases pass the threshold
    held = before(cap_p, WEIGHTS).iloc[-1]  # what each lab had released before the cap
    assert (after(cap_p, WEIGHTS) <= np.maximum(held, threshold)).all().all()
    new_release = after(rel_p.diff() > 0, WEIGHTS)
    assert new_release.any().any()  # the capped labs still release, up to the threshold
    assert ((after(cap_p, WEIGHTS) <= threshold) | ~new_release).all().all()
    assert (rel_p.iloc[-1] <= rel_b.iloc[-1]).all() and rel_p.iloc[-1].sum() < rel_b.iloc[-1].sum()


REGIONAL_WEIGHTS = WEIGHTS | {"regions": ["China"]}


def test_regional_weight_controls_deny_releases_above_the_threshold_in_those_regions_only():
    used_elsewhere = False
    for _, pol in lockstep(REGIONAL_WEIGHTS, n_developers=1000, months=48):
        if pol.t - 1 < start_step(REGIONAL_WEIGHTS):
            continue
        china = pol.pop.region == pol.world.regions.index("China")
        above = np.flatnonzero(family_mask(US_OPEN) & pol.available & (pol.capability > REGIONAL_WEIGHTS["threshold"]))
        assert not np.isin(pol.choice[china], above).any()
        used_elsewhere |= np.isin(pol.choice[~china], above).any()
    assert used_elsewhere  # the labs still release above the threshold; only the listed region is denied


# --- licensing: release delays and counts -----------------------------------------------------------

DELAY = {"kind": "licensing_regime", "start": "2024-01", "compliance_cost": 0.0, "delay_months": 6.0}
COSTLY = {"kind": "licensing_regime", "start": "2024-01", "compliance_cost": 1000.0, "delay_months": 0.0}


def test_licensing_delays_cut_the_bound_labs_releases():
    base, pol = paired_runs(DELAY, n_developers=1000, months=48)
    _same_before(base, pol, DELAY)
    rel_b, rel_p = _fam(base, "releases", US_OPEN), _fam(pol, "releases", US_OPEN)
    assert (rel_p.iloc[-1] <= rel_b.iloc[-1]).all() and rel_p.iloc[-1].sum() < rel_b.iloc[-1].sum()
    for family in US_OPEN:  # two releases both under the licence lie at least the delay apart
        steps = rel_p[family].diff().to_numpy() > 0
        months = np.flatnonzero(steps & (np.arange(len(steps)) >= start_step(DELAY)))
        assert (np.diff(months) >= DELAY["delay_months"]).all(), family


def test_a_licence_costing_more_than_a_lab_can_spend_stops_its_releases():
    start, cost = start_step(COSTLY), COSTLY["compliance_cost"]
    bound = [WORLD.family_index(f) for f in US_OPEN]
    stopped = released_in_baseline = 0
    last = None
    for base, pol in lockstep(COSTLY, n_developers=600, months=48):
        now = np.array([lab.releases for lab in pol.labs])
        if pol.t - 1 >= start and last is not None:
            for f in bound:
                if pol.labs[f].budget_musd < cost:
                    assert now[f] == last[f], f"{WORLD.families[f]} released under a licence it cannot afford"
                    stopped += 1
                    released_in_baseline += base.labs[f].launched or base.labs[f].improved
        last = now
    assert stopped > 0 and released_in_baseline > 0  # the licence bound labs that would have released


# --- procurement: the bound segment's choices ---------------------------------------------------------

BAN = {
    "kind": "procurement",
    "start": "2025-09",
    "regions": ["Latin America"],
    "segments": ["public"],
    "ban": ["CN"],
}
WIDE_BAN = BAN | {"segments": [s for s in WORLD.segments if s != "researcher"]}
"""A ban binding most of a region, so that many unbound developers (its researchers, and others
with ties there) watch bound ones."""
QUIET = {"awareness_q": 0.0, "beta_ecosystem": 0.0, "data_feedback": 0.0, "open_threat": 0.0, "cannibalisation": 0.0}
"""Switch off the channels through which one group's choices reach everyone (word of mouth, the
derivative ecosystem, data feedback, and the labs' open-or-closed decisions, which read the rival
bloc's share and their own closed share), so only peers carry them."""


def _bound(model, policy: dict = BAN) -> np.ndarray:
    w = model.world
    segments = [w.segments.index(s) for s in policy["segments"]]
    return (model.pop.region == w.regions.index(policy["regions"][0])) & np.isin(model.pop.segment, segments)


def test_a_procurement_ban_removes_the_banned_origin_from_every_task_of_the_bound_segment():
    start, used_before = start_step(BAN), False
    for base, pol in lockstep(BAN, seed=1, n_developers=2000, months=40):
        bound = _bound(pol)
        on_cn = np.isin(pol.choice[bound], CN_FAMILIES)
        if pol.t <= start:
            assert np.array_equal(base.choice, pol.choice)
            used_before |= on_cn.any()
        else:
            assert not on_cn.any(), f"month {pol.t - 1}: bound buyers still use a Chinese family"
    assert used_before  # the ban removed something that was there


def test_a_procurement_ban_moves_unbound_developers_only_through_their_peers():
    moved = 0
    previous = None
    for base, pol in lockstep(WIDE_BAN, seed=1, n_developers=2000, months=48, **QUIET):
        for attr in ("capability", "available", "price", "publishing"):  # the labs do not react to the shifted shares
            assert np.array_equal(getattr(base, attr), getattr(pol, attr), equal_nan=True), attr
        differs = base.choice != pol.choice  # (developer, task)
        unbound = ~_bound(pol, WIDE_BAN)
        if previous is not None:
            new = differs & ~previous & unbound[:, None]
            for i, task in zip(*np.nonzero(new), strict=True):
                peers = pol.pop.contacts[i]
                assert previous[peers, task].any(), f"developer {i} moved without a peer having moved"
                moved += 1
        previous = differs
    assert moved > 0  # the ban did reach unbound developers, through peers


def test_without_peer_effects_a_procurement_ban_leaves_unbound_developers_unchanged():
    bound_moved = False
    for base, pol in lockstep(WIDE_BAN, seed=1, n_developers=2000, months=48, beta_peers=0.0, **QUIET):
        unbound = ~_bound(pol, WIDE_BAN)
        assert np.array_equal(base.choice[unbound], pol.choice[unbound])
        bound_moved |= not np.array_equal(base.choice, pol.choice)
    assert bound_moved


# --- public investment: the funded labs' compute and prices ---------------------------------------------

BOOST = {"kind": "public_investment", "start": "2025-01", "families": ["Mistral"], "compute_boost": 1.0}
SUBSIDY = {
    "kind": "public_investment",
    "start": "2025-01",
    "families": ["Mistral", "GPT"],
    "compute_boost": 0.0,
    "price_subsidy": 0.5,
}


def test_public_compute_raises_the_funded_labs_compute_only():
    base, pol = paired_runs(BOOST, n_developers=600, months=48)
    _same_before(base, pol, BOOST)
    funded = BOOST["families"]
    c_b, c_p = after(_fam(base, "compute"), BOOST), after(_fam(pol, "compute"), BOOST)
    assert (c_p[funded] > c_b[funded]).all().all()
    others = [f for f in WORLD.families if f not in funded]
    pd.testing.assert_frame_equal(c_p[others], c_b[others], check_exact=True)


def test_a_price_subsidy_lowers_the_funded_labs_prices():
    base, pol = paired_runs(SUBSIDY, n_developers=600, months=48)
    _same_before(base, pol, SUBSIDY)
    funded = SUBSIDY["families"]
    p_b, p_p = after(_fam(base, "price", funded), SUBSIDY), after(_fam(pol, "price", funded), SUBSIDY)
    assert (p_p < p_b).all().all()
    pd.testing.assert_frame_equal(_fam(pol, "compute"), _fam(base, "compute"), check_exact=True)


# --- pricing: paid prices ------------------------------------------------------------------------------

TARIFF = {"kind": "pricing", "start": "2025-01", "origins": ["CN"], "regions": ["US"], "multiplier": 3.0}


def test_a_tariff_raises_paid_prices_not_list_prices():
    base, pol = paired_runs(TARIFF, n_developers=1000, months=48)
    _same_before(base, pol, TARIFF)
    first = TARIFF["start"]
    list_b, list_p = _fam(base, "price"), _fam(pol, "price")
    pd.testing.assert_series_equal(list_p.loc[first], list_b.loc[first], check_exact=True)
    ts_b, ts_p = _ts(base).loc[first], _ts(pol).loc[first]
    assert ts_p["price_index_cn"] == ts_b["price_index_cn"]
    assert ts_p["price_paid_cn"] > ts_b["price_paid_cn"]
    assert ts_p["price_paid_us"] == ts_b["price_paid_us"]
    # families' paid price: geometric mean over regions, the tariff applies in one region of them
    factor = np.where(ORIGIN == "CN", TARIFF["multiplier"] ** (1 / len(WORLD.regions)), 1.0)
    ratio = after(_fam(pol, "price_paid") / list_p, TARIFF)[list(WORLD.families)]
    assert np.allclose(ratio.to_numpy(), factor[None, :], rtol=1e-12)


# --- trust: the targeted region's choices ---------------------------------------------------------------

DISTRUST = {"kind": "trust", "start": "2025-01", "origins": ["CN"], "regions": ["EU"], "shift": -3.0}


def test_distrust_of_an_origin_in_one_region_cuts_its_share_there():
    base, pol = paired_runs(DISTRUST, n_developers=1000, months=48)
    _same_before(base, pol, DISTRUST)
    eu_b, eu_p = (r.regions[r.regions["region"] == "EU"].set_index("month") for r in (base, pol))
    share_b, share_p = after(eu_b["usage_share_cn_open"], DISTRUST), after(eu_p["usage_share_cn_open"], DISTRUST)
    assert (share_p < share_b).all()
