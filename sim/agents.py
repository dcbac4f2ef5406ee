"""The Mesa agents: labs, developers and governments.

Labs and governments are few and keep their own state. Developers are many: each is a Mesa
agent whose state is a row of the model's population arrays, so the model can decide for all of
them at once while the UI can still click on one and read it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import mesa

from sim.choice import decide_one
from sim.world import NEVER, ORIGINS

if TYPE_CHECKING:
    from sim.model import WeightshiftModel
    from sim.policies import Effects, Policy


class Lab(mesa.Agent):
    """The lab behind one model family: compute, efficiency, capability, releases, price."""

    def __init__(self, model: WeightshiftModel, family: int) -> None:
        super().__init__(model)
        w = model.world
        self.family = family
        self.name = w.families[family]
        self.origin = ORIGINS[w.origin[family]]
        self.is_open = bool(w.open[family])
        self.compute0 = float(w.compute[family])
        self.compute = self.compute0
        self.efficiency = 1.0
        self.bonus = 0.0  # capability from spillover, distillation and data feedback
        self.frontier = float(w.capability[family])  # best it could release now
        self.capability = self.frontier  # of its current release
        self.price = float(w.price[family])
        self.domestic_share = 0.0  # share of compute on domestic chips (CN labs)
        self.release_month = int(w.first_release[family])
        self.available = self.release_month <= 0
        self.launched = self.improved = False  # this month: first release / a better version
        self.next_release = max(self.release_month, 0) + int(w.cadence[family])

    def grow(self, fx: Effects, t: int) -> None:
        """One month of compute, efficiency and frontier capability."""
        p, w = self.model.p, self.model.world
        growth = math.log(p["compute_growth"]) / 12
        if self.origin == "CN":
            blocked = fx.chip_tightness * p["control_effect"] * (1 - self.domestic_share)
            growth *= 1 - blocked
            self.domestic_share += p["domestic_substitution"] * fx.chip_tightness * (1 - self.domestic_share)
        growth += math.log1p(fx.compute_boost[self.family]) / 12
        self.compute *= math.exp(growth)
        rate = p["efficiency_growth_cn"] if self.origin == "CN" else p["efficiency_growth_west"]
        self.efficiency *= rate ** (1 / 12)
        m = self.model
        gap_open = max(0.0, m.best_open - self.frontier)
        gap_closed = max(0.0, m.best_closed - self.frontier)
        self.bonus += p["spillover"] * gap_open + p["distillation"] * gap_closed
        self.bonus += p["data_feedback"] / 12 * math.sqrt(m.usage_share[self.family])  # saturating
        decades = math.log10(self.compute * self.efficiency / self.compute0)
        self.frontier = float(w.capability[self.family]) + p["capability_per_decade"] * decades + self.bonus
        decline = p["price_decline_cn"] if self.origin == "CN" else p["price_decline_west"]
        self.price = float(w.price[self.family]) * (1 - decline) ** ((t + 1) / 12)

    def release(self, fx: Effects, t: int, jitter: float) -> None:
        """Publish a new version when due; open labs may be capped, delayed or priced out."""
        self.launched = False
        if self.model.world.trigger[self.family] and not self.available:
            self._consider_opening(fx, t)
        if not self.available and t >= self.release_month:
            self.available = self.launched = True
        self.improved = False
        if not self.available or t < self.next_release:
            return
        cadence = self.model.world.cadence[self.family] * (0.75 + 0.5 * jitter)
        self.next_release = t + max(1, round(cadence + fx.release_delay[self.family]))
        if self.is_open and fx.compliance_cost[self.family] > self.budget_musd:
            return  # the licence costs more than the lab can spend on a release
        new = max(self.capability, min(self.frontier, fx.weight_cap[self.family]))
        self.improved = new > self.capability
        self.capability = new

    def _consider_opening(self, fx: Effects, t: int) -> None:
        """A closed lab's open line: published once Chinese open models take enough usage."""
        losing = self.model.cn_open_share >= self.model.p["open_response_threshold"]
        forbidden = fx.weight_cap[self.family] < self.frontier
        if losing and not forbidden and self.release_month == NEVER:
            self.release_month = t
            self.next_release = t

    @property
    def budget_musd(self) -> float:
        """What the lab can spend on licensing one release, million USD (assumed: 1 per 1e22 FLOP)."""
        return self.compute / 1e22

    def state(self) -> dict[str, Any]:
        """A readable snapshot for the UI's inspector."""
        return {
            "family": self.name,
            "origin": self.origin,
            "open": self.is_open,
            "available": self.available,
            "capability": round(self.capability, 1),
            "frontier": round(self.frontier, 1),
            "price_usd_per_mtok": self.price,
            "compute_flop": self.compute,
            "efficiency": self.efficiency,
            "domestic_chip_share": self.domestic_share,
        }


class Developer(mesa.Agent):
    """One cohort of real developers; its state is row `index` of the model's arrays."""

    def __init__(self, model: WeightshiftModel, index: int) -> None:
        super().__init__(model)
        self.index = index

    @property
    def family(self) -> str | None:
        f = int(self.model.choice[self.index])
        return self.model.world.families[f] if f >= 0 else None

    def step(self) -> None:
        """The per-agent reference decision (engine="agents"); writes into the model's next state."""
        m = self.model
        f, logsum = decide_one(m.market, m.pop, m.entered, m.choice, m.draws, self.index)
        m.next_choice[self.index] = f
        if logsum is not None:
            m.next_logsums.append((self.index, logsum))

    def state(self) -> dict[str, Any]:
        m, i = self.model, self.index
        w = m.world
        return {
            "id": self.unique_id,
            "region": w.regions[m.pop.region[i]],
            "segment": w.segments[m.pop.segment[i]],
            "family": self.family,
            "volume_mtok": float(m.pop.volume[i]),
            "taste_capability": float(m.pop.w_capability[i]),
            "taste_price": float(m.pop.w_price[i]),
            "taste_open": float(m.pop.w_open[i]),
            "trust_sensitivity": float(m.pop.w_trust[i]),
        }


class Government(mesa.Agent):
    """A government holding its policies and, for the US, an optional reactive control rule."""

    def __init__(self, model: WeightshiftModel, name: str, policies: list[Policy]) -> None:
        super().__init__(model)
        self.name = name
        self.policies = policies
        self.reactive_added = 0.0

    def apply(self, fx: Effects, t: int) -> None:
        """Add the effects of this government's policies in force at step t."""
        for policy in self.policies:
            if policy.active(t):
                policy.apply(fx, self.model.world)
        if self.reactive_added:
            fx.chip_tightness = min(1.0, fx.chip_tightness + self.reactive_added)

    def react(self) -> None:
        """The US reactive rule: tighten once the CN open usage share passes the threshold."""
        p = self.model.p
        armed = self.name == "US" and p["reactive_us_controls"] and not self.reactive_added
        if armed and self.model.cn_open_share > p["reactive_threshold"]:
            self.reactive_added = p["reactive_step"]


def issuer(policy: Policy) -> str:
    """Which government imposes a policy: the US for export controls; for licences and public
    investment the government of the labs' origin; for rules on buyers (procurement, pricing,
    trust) the government of the one region they bind, else the rest of the world."""
    if policy.government == "US":
        return "US"
    if policy.kind in ("licensing_regime", "public_investment"):
        names = policy.values.get("origins") or ()
    else:
        names = policy.values.get("regions") or ()
    name = names[0] if len(names) == 1 else ""
    return {"US": "US", "CN": "China", "China": "China", "EU": "EU"}.get(name, "Rest of world")


GOVERNMENTS = ("US", "China", "EU", "Rest of world")
