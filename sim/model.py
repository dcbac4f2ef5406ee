"""The Weightshift model: labs, developers and governments, one step per month.

Order of a month: dated parameter changes and governments set what is in force; labs grow
compute, learn, decide whether to publish weights, release and price (sim/labs.py); the market
(what developers face) is assembled; developers enter, review and choose a family per task (all
at once, or agent by agent with engine="agents"); downloads and derivatives accrue; outputs are
recorded; governments react to what they see.

Randomness: one seed gives the developer-level streams (population, network, entry, review,
choice); the lab-level stream (release timing) has its own seed, `lab_seed` (default: the same
seed), so the two sources of noise can be told apart and a policy run shares both with its
baseline.
"""

from __future__ import annotations

import math
from typing import Any

import mesa
import networkx as nx
import numpy as np

from sim.agents import GOVERNMENTS, Developer, Government, issuer
from sim.choice import Decision, Draws, Market, decide_all
from sim.labs import Lab, attainable, knowhow_step, state_of_art_growth
from sim.params import resolve
from sim.policies import Effects
from sim.population import Population, build_population
from sim.recorder import Recorder
from sim.scenario import Scenario
from sim.usage import tally
from sim.world import ORIGINS, load_world

STREAMS = ("population", "network", "entry", "review", "choice", "labs")
ENGINES = ("vector", "agents")
CAP_REFERENCE = 1000.0  # rating points: capability utility is measured against this fixed level
CN = ORIGINS.index("CN")
HOME_REGION = ("China", "US", "EU", None)  # per ORIGINS: the region whose customers a lab of that origin serves first


def make_streams(seed: int, lab_seed: int | None = None) -> dict[str, np.random.Generator]:
    """One seed in, one independent named generator per purpose out (labs: from `lab_seed` if given)."""
    children = np.random.SeedSequence(seed).spawn(len(STREAMS))
    if lab_seed is not None:
        children[STREAMS.index("labs")] = np.random.SeedSequence(lab_seed).spawn(len(STREAMS))[STREAMS.index("labs")]
    return {name: np.random.Generator(np.random.PCG64(c)) for name, c in zip(STREAMS, children, strict=True)}


class WeightshiftModel(mesa.Model):
    """The simulated world from 2023-01. `params` are resolved values (see `sim.params`).

    `population`: one already built for the same seed and population parameters (equal
    `sim.population.population_key`), to skip drawing it again; a run only reads it, so the results
    are those of a fresh build.
    """

    def __init__(
        self,
        scenario: Scenario | None = None,
        seed: int = 0,
        params: dict[str, Any] | None = None,
        engine: str = "vector",
        lab_seed: int | None = None,
        population: Population | None = None,
    ) -> None:
        super().__init__(rng=seed)
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES}, not {engine!r}")
        self.spec = scenario or Scenario("defaults")
        self.base_p = params if params is not None else resolve(self.spec.overrides, self.spec.name)
        self.p = self.base_p
        self.seed, self.engine, self.lab_seed = seed, engine, lab_seed
        self.world = w = load_world()
        self.streams = make_streams(seed, lab_seed)
        if population is None:
            population = build_population(
                self.p["n_developers"], self.p, w, self.streams["population"], self.streams["network"]
            )
        self.pop = population
        if self.pop.size != self.p["n_developers"]:
            raise ValueError(f"a population of {self.pop.size}, not n_developers={self.p['n_developers']}")
        n, nf = self.pop.size, w.n_families
        self.scale = self.p["real_developers"] / n
        self.entered = np.zeros(n, bool)
        self.choice = np.full((n, len(w.tasks)), -1, np.int64)
        self.cell = self.pop.region * len(w.segments) + self.pop.segment  # (region, segment) cell of each developer
        self.tokens = self.pop.volume[:, None] * w.task_share[self.pop.segment]  # (developer, task) tokens
        self.routed = self.tokens * w.router[self.pop.region, None]  # those tokens as an API router sees them
        self.derivatives = np.zeros(nf)
        self.cum_downloads = np.zeros(nf)
        self.downloads = np.zeros(nf)
        self.usage_share = np.zeros(nf)
        self.region_volume = np.zeros((len(w.regions), nf))
        self.in_use = np.zeros((len(w.regions), len(w.segments), nf), bool)
        self.home_region = np.array([[HOME_REGION[o] == r for o in w.origin] for r in w.regions])
        self.awareness = np.zeros((len(w.regions), nf))
        self.cn_open_share = 0.0
        self.task_volume = np.zeros((len(w.tasks), nf))
        self.t = 0
        self.knowhow_frontier = 0.0
        self.chip_exposure = 0.0  # tightness-years of chip controls so far (builds the CN premium)
        self.labs = [Lab(self, f) for f in range(nf)]
        # the compute of the state of the art: the largest lab's law of growth, free of any policy. It is
        # the scale against which the compute ceiling, absorptive capacity and the capability ladder
        # are read, so one lab's boost or another's controls do not move every other lab
        self.state_of_art_compute = max(lab.compute for lab in self.labs)
        by_gov: dict[str, list] = {g: [] for g in GOVERNMENTS}
        for policy in self.spec.policies:
            by_gov[issuer(policy)].append(policy)
        self.governments = [Government(self, g, by_gov[g]) for g in GOVERNMENTS]
        self.developers = [Developer(self, i) for i in range(n)]
        self._update_best()
        self.price = self.cost = np.full(nf, np.nan)
        self.recorder = Recorder(w, self.p["months"])

    # --- one month ----------------------------------------------------------------------------

    def step(self) -> None:
        t = self.t
        self.p = self.spec.params_at(self.base_p, t)
        fx = self.effects = self._effects(t)
        self._labs_month(fx, t)
        self._hear()
        self.market = self._market(fx)
        self.draws = Draws.draw(self.streams, self.pop.size, len(self.world.tasks))
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
        for gov in self.governments:
            gov.support(fx)
        return fx

    def _labs_month(self, fx: Effects, t: int) -> None:
        """Compute, know-how, capability, releases (with the open-or-closed decision) and prices."""
        p, w_origin = self.p, self.world.origin
        self.domestic_quality = 1.0 - (1.0 - p["domestic_quality_2023"]) * math.exp(-p["domestic_learning"] * t / 12)
        jitter = self.streams["labs"].random(len(self.labs))
        secret = self._reasoning(t)
        holder = self.world.reasoning_family

        def seen(lab: Lab) -> float:  # the know-how others can learn from a lab's releases
            return lab.knowhow - (secret if lab.family == holder else 0.0)

        best_open_k = max((seen(lab) for lab in self.labs if lab.open_line and lab.available), default=-np.inf)
        best_api_k = max((seen(lab) for lab in self.labs if not lab.open_line and lab.available), default=-np.inf)
        for lab in self.labs:  # the industry-wide ceiling slows everyone by the state of the art's size
            lab.grow(fx, self.domestic_quality, self.state_of_art_compute)
        self.knowhow_frontier += knowhow_step(p)
        self.state_of_art_compute *= state_of_art_growth(p, self.state_of_art_compute)
        self.chip_exposure += fx.chip_tightness / 12
        for lab in self.labs:
            lab.build_premium(self.chip_exposure)
            frontier = self.knowhow_frontier - (0.0 if lab.family == holder else secret)
            lab.learn(frontier, best_open_k, best_api_k, self.state_of_art_compute)
            lab.update_frontier()
        for lab in self.labs:
            if t >= lab.first_month and (t >= 1 or not lab.open_line):  # open lines decide on last month's market
                others = [o.capability for o in self.labs if o is not lab and o.open_line and o.available]
                lab.release(fx, t, jitter[lab.family], max(others, default=-math.inf))
        self._update_best()
        top = attainable(p, self.state_of_art_compute, self.knowhow_frontier)
        for lab in self.labs:
            seen = self.best_open_seen[w_origin[lab.family]]
            lab.set_price(fx, t, lab.chip_cost(fx, self.domestic_quality), seen, top)
        self.price = np.array([lab.price for lab in self.labs])
        self.cost = np.array([lab.cost for lab in self.labs])
        self.unit_cost = np.array([lab.unit_cost for lab in self.labs])
        self.publishing = np.array([lab.open_line and lab.publishing for lab in self.labs])

    def _update_best(self) -> None:
        w = self.world
        cap = np.array([lab.capability for lab in self.labs])
        avail = np.array([lab.available for lab in self.labs])
        self.capability, self.available = cap, avail
        self.best_open = float(cap[avail & w.open].max(initial=0.0))
        self.best_closed = float(cap[avail & ~w.open].max(initial=0.0))
        self.best_open_seen = self._best_open_seen(cap, avail & w.open)

    def _best_open_seen(self, cap: np.ndarray, open_avail: np.ndarray) -> np.ndarray:
        """Per origin: the best open model as that origin's home customers value it, in rating points.

        A closed lab's price competes with open models its customers would use; distrust of an
        origin (its home region's, at trust sensitivity 1) costs an open model the capability that
        is worth as much: 100 * beta_trust * distrust / beta_capability points. So Chinese open
        models erode a US lab's markup only as they come within that margin of it.
        """
        w, p = self.world, self.p
        out = np.zeros(len(ORIGINS))
        if not open_avail.any():
            return out
        for o, home in enumerate(HOME_REGION):
            if home is None or home not in w.regions:
                continue
            distrust = w.distrust[w.regions.index(home)][w.origin[open_avail]]
            points = 100.0 * p["beta_trust"] * distrust / p["beta_capability"]
            out[o] = float(np.max(cap[open_avail] - points))
        return out

    def rival_open_share(self, origin: str) -> float:
        """Last month's token share of open families from the other bloc (CN vs the rest)."""
        cn_open = (self.world.origin == CN) & self.world.open
        rival = cn_open if origin != "CN" else ~cn_open & self.world.open
        return float(self.usage_share[rival].sum())

    def closed_share_of_lab(self, family: int) -> float:
        """Last month's token share of the closed families of the same lab (what an open model would cannibalise)."""
        w = self.world
        same = (np.array(w.labs) == w.labs[family]) & ~w.open
        return float(self.usage_share[same].sum())

    def _reasoning(self, t: int) -> float:
        """The reasoning step (o1, sim/data/families.toml): at its month the know-how frontier and its
        holder's know-how jump by `reasoning_gain`; return the part no other lab can learn yet.

        Until `reasoning_replication_months` have passed, others learn from papers, weights and
        distillation as if the step had not happened (the recipe was secret, the chains of thought
        hidden); then the gap diffuses like any other. This is what let the frontier pull away from
        open models in late 2024 and open reasoning models (DeepSeek-R1) close it in 2025.
        """
        p, w = self.p, self.world
        if t == w.reasoning_month:
            self.knowhow_frontier += p["reasoning_gain"]
            self.labs[w.reasoning_family].knowhow += p["reasoning_gain"]
        secret = w.reasoning_month <= t < w.reasoning_month + p["reasoning_replication_months"]
        return p["reasoning_gain"] if secret else 0.0

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
        news = max(self.best_open, self.best_closed) - p["buzz_gap"]  # close enough to the frontier to make news
        buzz = np.array([lab.improved and lab.capability in tops and lab.capability >= news for lab in self.labs])
        launched = np.array([lab.launched for lab in self.labs])
        home = self.home_region & launched[None, :]  # launch news reaches home first
        gain = p["awareness_p"] + p["awareness_q"] * share + p["launch_buzz"] * np.maximum(buzz[None, :], home)
        known = np.maximum(self.awareness, np.where(launched, self.world.brand, 0.0)[None, :])
        self.awareness = np.where(self.available[None, :], known + np.minimum(gain, 1.0) * (1.0 - known), 0.0)

    def _market(self, fx: Effects) -> Market:
        """Assemble what developers face this month from labs, the world and the policies."""
        p, w = self.p, self.world
        paid = np.maximum(fx.price_floor, self.price[None, :] * fx.price_mult)
        self.price_paid = paid
        fam_origin = w.origin
        aware = np.log(np.maximum(self.awareness, 1e-9))
        base = (
            p["beta_license"] * w.license[None, None, :]
            + p["beta_language"] * w.zh_need[:, None, None] * (w.zh[None, None, :] - 1.0)
            + p["beta_ecosystem"] * np.log1p(self.derivatives)[None, None, :]
            + fx.open_bonus[:, :, None] * w.open[None, None, :]
            + fx.trust_shift[:, :, fam_origin]
            + aware[:, None, :]
        )
        closed_out = ~w.open[None, :] & w.closed_unavailable[:, fam_origin]  # (region, family)
        too_able = self.capability[None, :] > fx.region_cap  # (region, family)
        out = fx.blocked | (closed_out | too_able)[:, None, :] | ~self.available[None, None, :]
        base = np.where(out, -np.inf, base)
        cap = p["beta_capability"] * (self.capability - CAP_REFERENCE) / 100.0
        price = -p["beta_price"] * np.log10(paid)
        opened = p["beta_open"] * w.open.astype(float)
        f32 = np.float32  # utilities are single precision (sim/choice.py says why)
        return Market(
            base=base.astype(f32),
            aware=aware.astype(f32),
            cap_term=cap.astype(f32),
            price_term=price.astype(f32),
            open_term=opened.astype(f32),
            task_weights=np.stack([w.task_w_capability, w.task_w_price, w.task_w_open], axis=1).astype(f32),
            trust_term=(-p["beta_trust"] * w.distrust[:, fam_origin]).astype(f32),
            task_share=w.task_share,
            in_use=self.in_use,
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
        self.next_welfare: list[tuple[int, float]] = []
        for dev in self.developers:
            dev.step()
        done = sorted(self.next_welfare)
        reviewers = np.array([i for i, _ in done], dtype=np.int64)
        welfare = np.array([v for _, v in done])
        return Decision((self.next_choice >= 0).all(axis=1), self.next_choice, reviewers, welfare)

    def _ecosystem(self) -> None:
        """Users, token volumes (by region and by task), downloads and derivatives of each family."""
        w, p = self.world, self.p
        nf, nr, ns = w.n_families, len(w.regions), len(w.segments)
        inside = np.flatnonzero(self.entered)
        everyone = len(inside) == self.pop.size  # then the developers' own arrays serve, without a copy

        def rows(a: np.ndarray) -> np.ndarray:
            return a if everyone else a[inside]

        usage = self.usage = tally(
            rows(self.cell), rows(self.choice), rows(self.tokens), rows(self.routed), nr * ns, nf
        )
        self.rsf_volume = usage.volume.reshape(nr, ns, nf)
        self.region_volume = self.rsf_volume.sum(axis=1)
        self.task_volume = usage.task_volume
        self.in_use = usage.uses.reshape(nr, ns, nf) > 0
        users = usage.users * self.scale
        volume = w.router @ self.region_volume  # as an API router sees it (see regions.toml)
        total = volume.sum()
        self.users = users
        self.usage_share = volume / total if total > 0 else np.zeros(nf)
        cn_open = (w.origin == CN) & w.open
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
        """Share of Chinese labs' effective compute on domestic chips."""
        cn = [lab for lab in self.labs if lab.is_cn]
        return sum(lab.domestic for lab in cn) / sum(lab.compute for lab in cn)

    def geo_mean(self, values: np.ndarray, origin: str) -> float:
        """Geometric mean of a per-family quantity over the available families of an origin."""
        mask = (self.world.origin == ORIGINS.index(origin)) & self.available
        return float(np.exp(np.log(values[mask]).mean())) if mask.any() else math.nan
