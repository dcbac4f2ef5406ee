"""Prices from costs and competition (docs/model.md, "Prices"): list prices at launches, open weights
at cost, the capability ladder, and competition from open models as customers value them."""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd

import sim
from sim.params import defaults

RUN = {"n_developers": 800, "months": 48}


@cache
def families(**overrides) -> pd.DataFrame:
    return sim.run("baseline", seed=2, overrides=RUN | overrides).families


def _by_family(fam: pd.DataFrame, column: str) -> pd.DataFrame:
    return fam[fam["available"]].pivot(index="month", columns="family", values=column)


def test_a_closed_api_holds_its_list_price_between_its_launches():
    """Between launches a closed API's price stays put unless cost rises to meet it (prices never go
    below cost). US closed APIs: the baseline subsidises Chinese labs' serving cost, which passes
    through at once."""
    fam = families()
    closed = fam.loc[~fam["open"] & (fam["origin"] == "US"), "family"].unique()
    price, cost = _by_family(fam, "price")[closed], _by_family(fam, "cost")[closed]
    releases = _by_family(fam, "releases")[closed]
    between = ((releases.diff() == 0) & price.shift().notna()).to_numpy()
    held = (price == price.shift()).to_numpy()
    at_cost = np.isclose(price, cost, rtol=1e-12)
    assert between.sum() > 50  # many months between launches are checked
    assert (held | at_cost)[between].all()
    assert held[between].any()


def test_open_weights_are_priced_at_cost_times_the_host_markup_every_month():
    fam = families()
    open_ = fam[fam["open"] & fam["available"]]
    markup = defaults()["markup_open"]
    assert np.allclose(open_["price"], open_["cost"] * (1.0 + markup), rtol=1e-12)


def test_prices_never_fall_below_cost():
    fam = families()
    avail = fam[fam["available"]]
    assert (avail["price"] >= avail["cost"]).all()


def test_a_steeper_capability_ladder_spreads_serving_costs():
    """Models further below the top of the ladder serve cheaper tokens, more so with a steeper ladder."""

    def spread(ladder: float) -> float:
        cost = _by_family(families(cost_ladder=ladder), "cost").loc["2025-12"]
        return float(np.log10(cost.max() / cost.min()))

    assert spread(3.0) > spread(0.5)


def test_distrust_of_chinese_models_shelters_us_closed_markups():
    """Chinese open models erode a US lab's premium only within the points US buyers' distrust is worth,
    so more distrust leaves US closed labs larger markups at their launches."""

    def us_closed_markup(beta_trust: float) -> float:
        fam = families(beta_trust=beta_trust)
        us_closed = fam[(fam["origin"] == "US") & ~fam["open"] & fam["available"]]
        return float(us_closed["markup"].mean())

    assert us_closed_markup(2.5) > us_closed_markup(0.1)


def test_sticky_list_prices_are_cut_in_fewer_deeper_steps():
    """With `price_stickiness` a closed API keeps its list price at a launch unless its cost-plus price
    fell further below it than the stickiness allows (Claude Opus: $15/$75 for three versions, then
    $5/$25): fewer cuts, each of them deeper."""

    def cuts(stickiness: float) -> np.ndarray:
        fam = families(price_stickiness=stickiness)
        closed = fam.loc[~fam["open"] & (fam["origin"] == "US"), "family"].unique()
        ratio = (_by_family(fam, "price")[closed] / _by_family(fam, "price")[closed].shift()).to_numpy()
        return ratio[ratio < 0.999]

    flexible, sticky = cuts(0.0), cuts(0.6)
    assert 0 < len(sticky) < len(flexible)
    assert np.median(sticky) < np.median(flexible)
