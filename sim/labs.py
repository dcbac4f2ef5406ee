"""Labs: compute under chip controls, know-how diffusion, capability, the open-or-closed decision, prices.

Each lab (one per model family) is a Mesa agent. Its month (MODEL.md, revision 2, notes 1-4):
1. compute grows toward a ceiling; Chinese labs' Nvidia compute grows more slowly under chip
   controls, while domestic chips fill part of the gap and get better the longer controls last;
2. know-how (algorithmic efficiency, in decades of compute saved) follows a world frontier that
   advances with the halving time of Epoch AI's algorithmic progress; a lab behind it catches up
   through papers, released weights and distillation from accessible APIs, but never beyond what
   its own compute lets it absorb;
3. capability = a concave (log) function of own compute times know-how, plus a bounded
   data-feedback term: compute (which controls reach) and lag (which diffusion reaches) set it;
4. at each release an open line decides whether to publish weights, by comparing the value of the
   ecosystem with the lead it would give away;
5. price = serving cost x (1 + markup): cost from model size, hardware, know-how and chips;
   the markup of a closed lab grows with its lead over the best open model.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import mesa

from sim.world import CN_LAG, ORIGINS

if TYPE_CHECKING:
    from sim.model import WeightshiftModel
    from sim.policies import Effects

CAP_AT_1E24 = 1100.0  # rating of a 1e24-FLOP model at the 2023-01 know-how frontier (anchors the scale)
REF_FLOP = 1e24


def knowhow_step(p: dict) -> float:
    """Monthly advance of the world know-how frontier, in decades of compute saved."""
    return math.log10(2.0) / p["algo_halving_months"]


class Lab(mesa.Agent):
    """The lab behind one model family."""

    def __init__(self, model: WeightshiftModel, family: int) -> None:
        super().__init__(model)
        p, w = model.p, model.world
        self.family = family
        self.name = w.families[family]
        self.origin = ORIGINS[w.origin[family]]
        self.is_cn = self.origin == "CN"
        self.open_line = bool(w.open[family])
        self.compute0 = float(w.compute[family])
        dom = p["domestic_share_2023"] if self.is_cn else 0.0
        self.nvidia = self.compute0 * (1.0 - dom)  # FLOP on imported (frontier) chips
        self.domestic = self.compute0 * dom  # FLOP on domestic chips
        lag = p["cn_knowhow_lag_2023"] if w.knowhow_lag[family] == CN_LAG else float(w.knowhow_lag[family])
        self.knowhow = -lag * knowhow_step(p)
        self.premium = 0.0  # efficiency above the frontier's know-how it has built (Chinese labs, under controls)
        self.compute = self.compute0
        self.frontier = self.capability = self._capability(0.0)
        self.available = False
        self.publishing = not self.open_line  # closed lines always "publish" through their API
        self.releases = 0
        self.launched = self.improved = False
        self.first_month = int(w.first_release[family])
        self.next_release = self.first_month
        self.cost = self.unit_cost = self.price = self.markup = self.list_price = self.ladder = math.nan

    # --- compute ------------------------------------------------------------------------------

    def grow(self, fx: Effects, quality: float, largest: float) -> None:
        """One month of compute; for Chinese labs, chip controls cut Nvidia growth.

        Growth slows for every lab as the state of the art (`largest`: the largest lab's compute on
        its policy-free path) nears `compute_ceiling` (industry-wide limits of power, chip supply and
        data), so the ceiling does not erase the gaps between labs, and a subsidy that lifts one lab
        past the state of the art does not slow the others.

        Controls remove a share (tightness x `control_effect`) of the growth of a Chinese lab's
        Nvidia fleet, so the gap compounds (Epoch AI: ~3x a year vs ~5x). Part of the budget the
        controls block (`domestic_substitution`) buys domestic chips instead, at their current
        compute per dollar (`quality`, below Nvidia's): a lost Nvidia FLOP buys at most one
        domestic FLOP, so tighter controls never give more compute, while the domestic fleet grows
        with the length and tightness of controls (the backfire).
        """
        p = self.model.p
        grow = ceiling_rate(p, largest) + math.log1p(fx.compute_boost[self.family]) / 12
        if self.is_cn:
            kept = math.exp(grow * (1.0 - fx.chip_tightness * p["control_effect"]))
            lost = self.nvidia * (math.exp(grow) - kept)
            self.nvidia *= kept
            self.domestic += p["domestic_substitution"] * quality * lost
        else:
            self.nvidia *= math.exp(grow)
        self.compute = self.nvidia + self.domestic

    def chip_cost(self, fx: Effects, quality: float) -> float:
        """Serving cost per FLOP relative to Nvidia at list price: grey-market premium, dearer domestic chips."""
        if not self.is_cn:
            return 1.0
        dear = self.nvidia * (1.0 + self.model.p["grey_market_premium"] * fx.chip_tightness)
        return (dear + self.domestic / quality) / self.compute

    # --- know-how and capability --------------------------------------------------------------

    def build_premium(self, exposure: float) -> None:
        """Chinese labs' necessity premium: a bounded efficiency level that builds up under controls.

        Constraints on chips pushed Chinese labs to efficient architectures and training (RISE:
        DeepSeek V3 at ~$5.6M); the premium approaches `cn_efficiency_premium` as tightness-years
        of controls accumulate (`necessity_years` to reach 63% of it). A level, never a growth rate.
        """
        p = self.model.p
        if self.is_cn:
            full = math.log10(p["cn_efficiency_premium"])
            self.premium = full * (1.0 - math.exp(-exposure / p["necessity_years"]))

    def learn(self, frontier: float, best_open: float, best_api: float, largest: float) -> None:
        """Own research keeps pace with the frontier; diffusion closes the gap; capacity bounds it.

        A lab's attainable know-how is the frontier's plus, for Chinese labs, the efficiency
        premium (a level, reached by catching up, never a growth rate). Papers and people close a
        share of the gap to it each month; studying the best open release and distilling from the
        best accessible API close the gap to theirs. A lab whose compute trails the state of the art's
        cannot absorb all of it (absorptive capacity), so a small-model lab stays one.
        """
        p = self.model.p
        k = self.knowhow
        attainable = frontier + self.premium
        k += knowhow_step(p)
        k += p["diffusion_papers"] * max(0.0, attainable - self.knowhow)
        k += p["diffusion_open"] * max(0.0, best_open - self.knowhow)
        k += p["diffusion_distill"] * max(0.0, best_api - self.knowhow)
        ceiling = attainable - p["absorptive_capacity"] * max(0.0, math.log10(largest / self.compute))
        self.knowhow = min(k, ceiling)

    def _capability(self, share: float) -> float:
        p = self.model.p
        decades = p["compute_elasticity"] * math.log10(self.compute / REF_FLOP) + self.knowhow
        return CAP_AT_1E24 + p["capability_per_decade"] * decades + p["data_feedback"] * math.sqrt(share)

    def update_frontier(self) -> None:
        """What the lab could release now (data feedback from last month's token share)."""
        self.frontier = self._capability(float(self.model.usage_share[self.family]))

    # --- releases and the open-or-closed decision ----------------------------------------------

    def release(self, fx: Effects, t: int, jitter: float, best_open_other: float) -> None:
        """Publish a new version when due; an open line first decides whether to publish weights."""
        self.launched = self.improved = False
        if t < self.next_release:
            return
        cadence = self.model.world.cadence[self.family] * (0.75 + 0.5 * jitter)
        new = self.frontier
        if self.open_line:
            cadence += fx.release_delay[self.family]
            new = min(new, fx.weight_cap[self.family])
            self.publishing = self.open_value(fx, new, best_open_other) > 0.0
        self.next_release = t + max(1, round(cadence))
        if not self.publishing and not self.available:
            self.next_release = t + 1  # a line that has never published reconsiders every month
        if not self.publishing or (new <= self.capability and self.available):
            return
        self.launched = not self.available
        self.improved = new > self.capability or self.launched
        self.available = True
        self.capability = new
        self.releases += 1

    def open_value(self, fx: Effects, candidate: float, best_open_other: float) -> float:
        """Rating points by which publishing weights beats keeping them (MODEL.md rev 2, note 4).

        For: the ecosystem value of the lab's business model (less what a licence costs it), and
        the threat of the rival bloc's open models (a lab opens when it is losing developers).
        Against: the lead over the best open model it would give away, and the API revenue the
        open model would cannibalise (its own closed families' token share, for API-led labs).
        """
        m, w = self.model, self.model.world
        if fx.compliance_cost[self.family] > self.budget_musd:
            return -math.inf  # the licence costs more than the lab can spend on a release
        ecosystem = w.open_value[self.family] * (1.0 - fx.compliance_cost[self.family] / self.budget_musd)
        threat = m.p["open_threat"] * 100.0 * m.rival_open_share(self.origin)
        lead = max(0.0, candidate - best_open_other) if math.isfinite(best_open_other) else 0.0  # none open yet
        cannibal = 100.0 * m.p["cannibalisation"] * w.lead_premium[self.family] * m.closed_share_of_lab(self.family)
        return ecosystem + threat - lead - cannibal

    @property
    def lag_months(self) -> float:
        """Months by which the lab's know-how trails the world frontier (negative: ahead of it)."""
        return (self.model.knowhow_frontier - self.knowhow) / knowhow_step(self.model.p)

    @property
    def budget_musd(self) -> float:
        """What the lab can spend on licensing one release, million USD (assumed: 1 per 1e22 FLOP)."""
        return self.compute / 1e22

    # --- prices -------------------------------------------------------------------------------

    def set_price(self, fx: Effects, t: int, chip_cost: float, best_open: float, top: float) -> None:
        """Serving cost x (1 + markup); a closed lab's markup grows with its lead over open models.

        A token of the lab's current model costs less with better hardware and with know-how ahead
        of the frontier's (a lab behind serves a model of its class less efficiently; the Chinese
        premium serves it more efficiently), and more with dearer chips. Frontier know-how itself goes
        into more capable models rather than cheaper tokens of the current one, so the frontier's
        price falls with hardware and competition, not by Epoch's 10-100x a year for a fixed
        capability. Cost follows capability rather than model size: mixture-of-experts models decouple
        the parameters a token uses from training compute (DeepSeek V3: 37B of 671B active, RISE).

        The capability ladder: at any date, a model below the top of the ladder (`top`: what the world
        frontier's know-how buys with the largest lab's compute, `attainable`) serves cheaper tokens,
        as the frontier of an earlier date does at today's prices (`cost_ladder` decades per 100
        points); so a frontier model costs more per token than one a year behind (Epoch AI: the price
        of a fixed capability falls 9-900x a year, ~40x median; the frontier gains ~95 points a year).
        The rung is read at the model's launch and kept: Epoch's fall comes from new, smaller models
        matching old ones, while a released model's own cost falls only with hardware and know-how.

        The markup's competition is the best open model as the lab's home customers value it: its
        capability less the points their distrust of its origin is worth (`best_open_seen` in
        sim/model.py). US buyers distrust Chinese models (`regions.toml`), so Chinese open models
        erode a US lab's premium only once they come within that margin of it. A closed API's list
        price is set when the lab launches a version and held until the next (Claude Opus 4 kept its
        $15/$75 list price from May to Nov 2025; Opus 4.5 cut it to $5/$25 at launch), so its
        realised markup grows as cost falls between launches; open weights are served by competing
        hosts, so their price follows cost every month.
        """
        p = self.model.p
        hardware = p["hardware_price_performance"] ** (t / 12)
        efficiency = 10.0 ** (self.knowhow - self.model.knowhow_frontier)
        if self.improved or math.isnan(self.ladder):  # a model's size, and so its rung, is fixed at its launch
            behind = max(0.0, top - self.capability) if self.available else 0.0
            self.ladder = 10.0 ** (-p["cost_ladder"] * behind / 100.0)
        ladder = self.ladder
        variable = p["serve_cost_2023"] / (hardware * efficiency) * chip_cost * ladder
        gross = p["cost_floor"] + variable  # before any subsidy
        subsidy = 1.0 - fx.cost_subsidy[self.family]
        self.cost = p["cost_floor"] + variable * subsidy
        self.unit_cost = p["cost_floor"] + variable / ladder * subsidy  # a token at the top of the ladder
        if self.open_line:  # hosts compete on open weights: the price follows cost month by month
            self.markup = p["markup_open"]
            self.price = self.cost * (1.0 + self.markup)
            return
        if self.improved or math.isnan(self.list_price):  # a closed API sets its list price at a launch
            self.list_price = self._launch_price(gross * (1.0 + p["markup_closed"] + self._lead_markup(best_open)))
        else:  # and holds it until the next launch (never below cost); a subsidy passes through at once
            self.list_price = max(self.list_price, gross)
        self.price = self.list_price * (self.cost / gross)
        self.markup = self.price / self.cost - 1.0

    def _launch_price(self, target: float) -> float:
        """The list price a closed API launches at: its cost-plus `target`, unless that is only a
        little below the list it already has (within `price_stickiness`), which it then keeps.

        Labs keep a tier's list price across versions and cut it in steps, not with each fall in
        cost (Claude Opus: $15/$75 from Claude 3 to Opus 4.1, then $5/$25 at Opus 4.5).
        """
        if math.isnan(self.list_price) or target < self.list_price * (1.0 - self.model.p["price_stickiness"]):
            return target
        return max(self.list_price, target)

    def _lead_markup(self, best_open: float) -> float:
        """The premium a closed lab's lead over the best open model (as its customers value it) earns."""
        p = self.model.p
        lead = max(0.0, self.capability - best_open) if best_open > 0 else 0.0
        return self.model.world.lead_premium[self.family] * p["markup_lead"] * lead / (lead + p["markup_lead_half"])

    def state(self) -> dict[str, Any]:
        """A readable snapshot for the UI's inspector."""
        return {
            "family": self.name,
            "origin": self.origin,
            "open line": self.open_line,
            "publishing weights": self.open_line and self.publishing,
            "available": self.available,
            "releases": self.releases,
            "capability": round(self.capability, 1),
            "frontier": round(self.frontier, 1),
            "knowhow_lag_months": round(self.lag_months, 1),
            "efficiency_premium_x": round(10.0**self.premium, 2),
            "compute_flop": self.compute,
            "serving_cost_usd_per_mtok": self.cost,
            "markup": self.markup,
            "price_usd_per_mtok": self.price,
        }


def attainable(p: dict, largest: float, frontier: float) -> float:
    """The top of the month's capability ladder: what the world frontier's know-how buys with the
    largest lab's compute. Smooth in time, so a rival's release does not move anyone's cost."""
    decades = p["compute_elasticity"] * math.log10(largest / REF_FLOP) + frontier
    return CAP_AT_1E24 + p["capability_per_decade"] * decades


def ceiling_rate(p: dict, state_of_art: float) -> float:
    """One month's log growth of compute before boosts and controls: power, chips and data limit the
    whole industry, so it slows as the state of the art nears `compute_ceiling`."""
    return math.log(p["compute_growth"]) / 12 * max(0.0, 1.0 - state_of_art / p["compute_ceiling"])


def state_of_art_growth(p: dict, compute: float) -> float:
    """One month's growth factor of the state of the art's compute: `Lab.grow`'s law without boosts or controls."""
    return math.exp(ceiling_rate(p, compute))
