"""Welfare is comparable across scenarios (issue 11, point 7).

A policy that binds only one region, with every other region's choice set and paid prices
unchanged, leaves those regions' welfare unchanged; and welfare does not move with this month's
best model (capability utility is measured against a fixed reference).

Each test first builds the precondition and asserts it month by month: the other regions face the
same families, capabilities and paid prices as in the same-seed baseline. It then asserts exact
equality of their welfare.
"""

from __future__ import annotations

import numpy as np
from policy_runs import lockstep

CLOSED_WORLD = {
    "n_developers": 1500,
    "months": 48,
    "data_feedback": 0.0,  # capability does not follow usage shares
    "open_threat": 0.0,  # labs do not open weights in answer to the rival bloc's share
    "cannibalisation": 0.0,  # nor weigh their own closed share
    "launch_buzz": 0.0,  # news of a release depends on the world's best model, usable or not
    "diffusion_distill": 0.0,  # labs do not learn from the best API, usable or not
    "beta_ecosystem": 0.0,  # the shared derivative count carries no utility across regions
    "homophily": 0.5,
    "regional_ties": 0.5,  # every peer is in the developer's own region
}
"""Parameters under which one region's choices cannot reach another region's choice set: no data
feedback, no strategic opening, no cross-region peers, no shared ecosystem term."""


def _regions(model):
    return model.recorder.tables(model.t)["regions"]


def _peers_stay_home(model) -> None:
    pop = model.pop
    assert (pop.region[pop.contacts] == pop.region[:, None]).all()


def test_a_policy_binding_one_region_leaves_other_regions_welfare_unchanged():
    policy = {"kind": "trust", "start": "2025-01", "origins": ["CN"], "regions": ["EU"], "shift": -3.0}
    for base, pol in lockstep(policy, **CLOSED_WORLD):
        if base.t == 1:
            _peers_stay_home(pol)
        eu = pol.world.regions.index("EU")
        other = np.arange(len(pol.world.regions)) != eu
        assert np.array_equal(base.price_paid[other], pol.price_paid[other])
        assert np.array_equal(base.available, pol.available)
        assert np.array_equal(base.capability, pol.capability)
    a, b = _regions(base), _regions(pol)
    rest = a["region"] != "EU"
    assert a.loc[~rest, "welfare"].ne(b.loc[~rest, "welfare"]).any()  # the policy binds where it applies
    assert a.loc[rest, "welfare"].equals(b.loc[rest, "welfare"])


def test_welfare_does_not_move_with_a_better_model_developers_cannot_use():
    """Boost a China-only family until it is the world's best: US developers, who cannot use it, lose nothing."""
    policy = {
        "kind": "public_investment",
        "start": "2025-01",
        "families": ["Doubao and Ernie"],
        "compute_boost": 10.0,
        "price_subsidy": 0.5,
    }
    became_best = False
    for base, pol in lockstep(policy, **CLOSED_WORLD):
        w = pol.world
        us, boosted = w.regions.index("US"), w.family_index("Doubao and Ernie")
        usable = np.arange(w.n_families) != boosted
        assert not np.isfinite(pol.market.base[us, :, boosted]).any()  # US developers cannot use it
        assert np.array_equal(base.price_paid[us, usable], pol.price_paid[us, usable])
        assert np.array_equal(base.available[usable], pol.available[usable])
        assert np.array_equal(base.capability[usable], pol.capability[usable])
        assert np.array_equal(base.awareness[us, usable], pol.awareness[us, usable])
        became_best |= pol.capability[boosted] > pol.capability[usable].max() and pol.available[boosted]
    assert became_best  # under a "this month's best" reference, US welfare would have fallen
    a, b = _regions(base), _regions(pol)
    us_rows = a["region"] == "US"
    assert a.loc[us_rows, "welfare"].notna().any()
    assert a.loc[us_rows, "welfare"].equals(b.loc[us_rows, "welfare"])
    assert a.loc[a["region"] == "China", "welfare"].ne(b.loc[b["region"] == "China", "welfare"]).any()
