"""The Mesa agents: developers and governments (labs: `sim.labs.Lab`).

Labs and governments are few and keep their own state. Developers are many: each is a Mesa
agent whose state is a row of the model's population arrays, so the model can decide for all of
them at once while the UI can still click on one and read it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import mesa

from sim.choice import decide_one
from sim.labs import Lab
from sim.world import ORIGINS

if TYPE_CHECKING:
    from sim.model import WeightshiftModel
    from sim.policies import Effects, Policy


class Developer(mesa.Agent):
    """One cohort of real developers; its state is row `index` of the model's arrays."""

    def __init__(self, model: WeightshiftModel, index: int) -> None:
        super().__init__(model)
        self.index = index

    @property
    def families(self) -> dict[str, str | None]:
        """The family used for each task type (None: not in the market)."""
        w = self.model.world
        return {
            task: (w.families[f] if f >= 0 else None)
            for task, f in zip(w.tasks, self.model.choice[self.index], strict=True)
        }

    def step(self) -> None:
        """The per-agent reference decision (engine="agents"); writes into the model's next state."""
        m = self.model
        picks, welfare = decide_one(m.market, m.pop, m.entered, m.choice, m.draws, self.index)
        m.next_choice[self.index] = picks
        if welfare is not None:
            m.next_welfare.append((self.index, welfare))

    def state(self) -> dict[str, Any]:
        m, i = self.model, self.index
        w = m.world
        return {
            "id": self.unique_id,
            "region": w.regions[m.pop.region[i]],
            "segment": w.segments[m.pop.segment[i]],
            "families": self.families,
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

    def support(self, fx: Effects) -> None:
        """China's reactive rule: compute support for its labs in proportion to the controls in force."""
        p, w = self.model.p, self.model.world
        if self.name == "China" and p["reactive_cn_support"]:
            fx.compute_boost[w.origin == ORIGINS.index("CN")] += p["reactive_cn_boost"] * fx.chip_tightness

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


__all__ = ["GOVERNMENTS", "Developer", "Government", "Lab", "issuer"]
