"""The Weightshift model: labs, developers and governments, one step per month.

Order of a month: governments set the policy effects in force; labs grow, release and price;
the market (what developers face) is assembled; developers enter, review and choose (all at
once, or agent by agent with engine="agents"); downloads and derivatives accrue; outputs are
recorded; governments react to what they see.
"""

from __future__ import annotations

import math
from typing import Any

import mesa
import networkx as nx
import numpy as np

from sim.agents import GOVERNMENTS, Developer, Government, Lab, issuer
from sim.choice import Decision, Draws, Market, decide_all
from sim.params import resolve
from sim.policies import Effects
from sim.population import build_population
from sim.recorder import Recorder
from sim.scenario import Scenario
from sim.world import ORIGINS, load_world

STREAMS = ("population", "network", "entry", "review", "choice", "labs")
ENGINES = ("vector", "agents")


def make_streams(seed: int) -> dict[str, np.random.Generator]:
    """One seed in, one independent named generator per purpose out."""
    children = np.random.SeedSequence(seed).spawn(len(STREAMS))
    return {name: np.random.Generator(np.random.PCG64(c)) for name, c in zip(STREAMS, children, strict=True)}


class WeightshiftModel(mesa.Model):
    """The simulated world from 2023-01. `params` are resolved values (see `sim.params`)."""

    def __init__(
        self,
        scenario: Scenario | None = None,
        seed: int = 0,
        params: dict[str, Any] | None = None,
        engine: str = "vector",
    ) -> None:
        super().__init__(rng=seed)
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES}, not {engine!r}")
        self.spec = scenario or Scenario("defaults")
        self.p = params if params is not None else resolve(self.spec.overrides, self.spec.name)
        self.seed, self.engine = seed, engine
        self.world = w = load_world()
        self.streams = make_streams(seed)
        self.pop = build_population(
            self.p["n_developers"], self.p, w, self.streams["population"], self.streams["network"]
        )
        n, nf = self.pop.size, w.n_families
        self.scale = self.p["real_developers"] / n
        self.entered = np.zeros(n, bool)
        self.choice = np.full(n, -1, np.int64)
        self.derivatives = np.zeros(nf)
        self.cum_downloads = np.zeros(nf)
        self.downloads = np.zeros(nf)
        self.usage_share = np.zeros(nf)
        self.region_volume = np.zeros((len(w.regions), nf))
        home_of = {"CN": "China", "US": "US", "EU": "EU"}
        self.home_region = np.array([[home_of.get(ORIGINS[o]) == r for o in w.origin] for r in w.regions])
        self.awareness = np.tile(np.where(w.first_release <= 0, w.brand, 0.0), (len(w.regions), 1))
        self.cn_open_share = 0.0
        self.t = 0
        self.labs = [Lab(self, f) for f in range(nf)]
        by_gov: dict[str, list] = {g: [] for g in GOVERNMENTS}
        for policy in self.spec.policies:
            by_gov[issuer(policy)].append(policy)
        self.governments = [Government(self, g, by_gov[g]) for g in GOVERNMENTS]
        self.developers = [Developer(self, i) for i in range(n)]
        self._update_best()
        self.recorder = Recorder(w, self.p["months"])

    # --- one month ----------------------------------------------------------------------------

    def step(self) -> None:
        t = self.t
        fx = self.effects = self._effects(t)
        jitter = self.streams["labs"].random(len(self.labs))
        for lab in self.labs:
            lab.grow(fx, t)
        for lab in self.labs:
            lab.release(fx, t, jitter[lab.family])
        self._update_best()
        self._hear()
        self.market = self._market(fx)
        self.draws = Draws.draw(self.streams, self.pop.size)
        decision = self._decide()
        self.entered, self.choice = decision.entered, decision.choice
        self._ecosystem()
        self.recorder.record(self, t, decision)
        for gov in self.governments:
            gov.react()
        self.t += 1
        self.running = self.t < self.p["months"]

    def run(self) -> WeightshiftModel:
        """Step to the last month."""
        while self.t < self.p["months"]:
            self.step()
        return self

    def _effects(self, t: int) -> Effects:
        fx = Effects.neutral(self.world)
        for gov in self.governments:
            gov.apply(fx, t)
        return fx

    def _update_best(self) -> None:
        w = self.world
        cap = np.array([lab.capability for lab in self.labs])
        avail = np.array([lab.available for lab in self.labs])
        self.capability, self.available = cap, avail
        self.best_open = float(cap[avail & w.open].max(initial=0.0))
        self.best_closed = float(cap[avail & ~w.open].max(initial=0.0))

    def _hear(self) -> None:
        """Awareness (region x family): general channels, word of mouth, and launch buzz.

        A developer can only pick a family it has heard of; in the logit this enters as
        log(awareness), the expected effect of choosing among the families one knows.
        """
        p = self.p
        vol = self.region_volume
        tot = vol.sum(axis=1, keepdims=True)
        share = np.divide(vol, tot, out=np.zeros_like(vol), where=tot > 0)
        tops = {self.best_open, self.best_closed}
        buzz = np.array([lab.improved and lab.capability in tops for lab in self.labs], float)
        launched = np.array([lab.launched for lab in self.labs])
        home = self.home_region & launched[None, :]  # launch news reaches home first
        gain = p["awareness_p"] + p["awareness_q"] * share + p["launch_buzz"] * np.maximum(buzz[None, :], home)
        known = np.maximum(self.awareness, np.where(launched, self.world.brand, 0.0)[None, :])
        self.awareness = known + np.minimum(gain, 1.0) * (1.0 - known)

    def _market(self, fx: Effects) -> Market:
        """Assemble what developers face this month from labs, the world and the policies."""
        p, w = self.p, self.world
        price = np.array([lab.price for lab in self.labs])
        paid = np.maximum(fx.price_floor, price[None, :] * fx.price_mult)
        self.price, self.price_paid = price, paid
        fam_origin = w.origin
        base = (
            p["beta_license"] * w.license[None, None, :]
            + p["beta_language"] * w.zh_need[:, None, None] * (w.zh[None, None, :] - 1.0)
            + p["beta_ecosystem"] * np.log1p(self.derivatives)[None, None, :]
            + fx.open_bonus[:, :, None] * w.open[None, None, :]
            + fx.trust_shift[:, :, fam_origin]
            + np.log(np.maximum(self.awareness, 1e-9))[:, None, :]
        )
        closed_out = ~w.open[None, :] & w.closed_unavailable[:, fam_origin]  # (region, family)
        too_able = self.capability[None, :] > fx.region_cap  # (region, family)
        out = fx.blocked | (closed_out | too_able)[:, None, :] | ~self.available[None, None, :]
        base = np.where(out, -np.inf, base)
        top = self.capability[self.available].max(initial=0.0)
        return Market(
            base=base,
            cap_term=p["beta_capability"] * (self.capability - top) / 100.0,
            price_term=-p["beta_price"] * np.log10(paid),
            open_term=p["beta_open"] * w.open.astype(float),
            trust_term=-p["beta_trust"] * w.distrust[:, fam_origin],
            beta_peers=p["beta_peers"],
            switching_cost=p["switching_cost"],
            bass_p=p["bass_p"],
            bass_q=p["bass_q"],
            review_rate=p["review_rate"],
        )

    def _decide(self) -> Decision:
        if self.engine == "vector":
            return decide_all(self.market, self.pop, self.entered, self.choice, self.draws)
        self.next_choice = self.choice.copy()
        self.next_logsums: list[tuple[int, float]] = []
        for dev in self.developers:
            dev.step()
        done = sorted(self.next_logsums)
        reviewers = np.array([i for i, _ in done], dtype=np.int64)
        logsum = np.array([v for _, v in done])
        return Decision(self.next_choice >= 0, self.next_choice, reviewers, logsum)

    def _ecosystem(self) -> None:
        """Users, usage shares, downloads and derivatives of each family this month."""
        w, p = self.world, self.p
        inside = self.choice[self.entered]
        nf, nr = w.n_families, len(w.regions)
        users = np.bincount(inside, minlength=nf) * self.scale
        key = self.pop.region[self.entered] * nf + inside
        vol = np.bincount(key, weights=self.pop.volume[self.entered], minlength=nr * nf)
        self.region_volume = vol.astype(float).reshape(nr, nf)
        volume = self.region_volume.sum(axis=0)
        total = volume.sum()
        self.users = users
        self.usage_share = volume / total if total > 0 else np.zeros(w.n_families)
        cn_open = (w.origin == ORIGINS.index("CN")) & w.open
        self.cn_open_share = float(self.usage_share[cn_open].sum())
        reach = users * w.breadth * w.open
        self.downloads = reach * p["downloads_per_user"]
        self.cum_downloads = self.cum_downloads + self.downloads
        self.derivatives = self.derivatives + reach * p["derivative_rate"]

    # --- inspection -----------------------------------------------------------------------------

    @property
    def network(self) -> nx.DiGraph:
        """The social network as a networkx graph (built on demand: it is large)."""
        n, k = self.pop.contacts.shape
        g = nx.DiGraph()
        g.add_nodes_from(range(n))
        g.add_edges_from(zip(np.repeat(np.arange(n), k).tolist(), self.pop.contacts.ravel().tolist(), strict=True))
        return g

    def cn_compute_index(self) -> float:
        """CN labs' compute relative to 2023-01."""
        cn = [lab for lab in self.labs if lab.origin == "CN"]
        return sum(lab.compute for lab in cn) / sum(lab.compute0 for lab in cn)

    def domestic_chip_share(self) -> float:
        cn = [lab for lab in self.labs if lab.origin == "CN"]
        return sum(lab.compute * lab.domestic_share for lab in cn) / sum(lab.compute for lab in cn)

    def geo_price(self, origin: str) -> float:
        """Geometric mean list price of the available families of an origin, USD per Mtok."""
        prices = [lab.price for lab in self.labs if lab.origin == origin and lab.available]
        return math.exp(sum(math.log(x) for x in prices) / len(prices)) if prices else math.nan
