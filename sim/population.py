"""The developer population as arrays (one entry per developer agent) and its social network.

Developers are Mesa agents, but their state lives here, column by column, so that a month's
decisions are a few numpy operations over everyone at once.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from sim.world import World


@dataclass
class Population:
    """Fixed traits of every developer, plus the network: `contacts[i]` are the peers i watches."""

    region: np.ndarray  # int
    segment: np.ndarray  # int
    volume: np.ndarray  # million tokens per month
    w_capability: np.ndarray
    w_price: np.ndarray
    w_open: np.ndarray
    w_trust: np.ndarray
    fit: np.ndarray  # (n, family) persistent match of each family to the developer's use, utils
    contacts: np.ndarray  # (n, k) int32

    @property
    def size(self) -> int:
        return len(self.region)

    def frozen(self) -> Population:
        """This population with every array read-only, so it can be shared by several runs.

        A run only reads its population (state that changes lives on the model); freezing makes
        any write fail loudly instead of leaking from one run into the next.
        """
        for f in fields(self):
            getattr(self, f.name).flags.writeable = False
        return self


# What `build_population` reads from the parameters: with the seed, they fix the population exactly
# (it and the network are drawn from their own streams of the seed, see `sim.model.make_streams`).
POPULATION_PARAMS = ("n_developers", "taste_sd", "volume_sd", "fit_sd", "contacts", "homophily", "regional_ties")


def population_key(seed: int, params: dict[str, Any]) -> tuple:
    """Runs with equal keys have identical populations, so one built population can serve them all."""
    return (seed, *(params[name] for name in POPULATION_PARAMS))


def _lognormal_weight(rng: np.random.Generator, base: np.ndarray, sd: float) -> np.ndarray:
    """Segment weight times a mean-one lognormal taste shock."""
    return base * rng.lognormal(-0.5 * sd * sd, sd, size=len(base))


def build_population(
    n: int, params: dict, world: World, rng: np.random.Generator, net_rng: np.random.Generator
) -> Population:
    """Draw regions, segments, tastes and usage volumes (rng), then wire the network (net_rng)."""
    region = rng.choice(len(world.regions), size=n, p=world.region_share / world.region_share.sum())
    segment = rng.choice(len(world.segments), size=n, p=world.segment_share / world.segment_share.sum())
    sd = params["taste_sd"]
    vsd = params["volume_sd"]
    volume = world.volume[segment] * rng.lognormal(-0.5 * vsd * vsd, vsd, size=n)
    # tastes and fit enter utilities, which are single precision (sim/choice.py says why)
    return Population(
        region=region,
        segment=segment,
        volume=volume,
        w_capability=_lognormal_weight(rng, world.w_capability[segment], sd).astype(np.float32),
        w_price=_lognormal_weight(rng, world.w_price[segment], sd).astype(np.float32),
        w_open=_lognormal_weight(rng, world.w_open[segment], sd).astype(np.float32),
        w_trust=_lognormal_weight(rng, world.w_trust[segment], sd).astype(np.float32),
        fit=rng.normal(0.0, params["fit_sd"], size=(n, world.n_families)).astype(np.float32),
        contacts=build_contacts(region, segment, len(world.segments), params, net_rng),
    )


def _pick_within(groups: np.ndarray, owner_group: np.ndarray, u: np.ndarray) -> np.ndarray:
    """For each owner, a uniformly random member of its own group (u in [0, 1))."""
    order = np.argsort(groups, kind="stable")
    size = np.bincount(groups, minlength=groups.max() + 1)
    start = np.concatenate(([0], np.cumsum(size)[:-1]))
    g = owner_group
    return order[start[g] + (u * size[g]).astype(np.int64)]


def build_contacts(
    region: np.ndarray, segment: np.ndarray, n_segments: int, params: dict, rng: np.random.Generator
) -> np.ndarray:
    """Each developer watches `contacts` peers: mostly its own region and segment.

    A tie goes to the same region and segment with probability `homophily`, to the same region
    with probability `regional_ties`, otherwise to anyone. The result is a directed "who I look
    at" graph; `WeightshiftModel.network` offers it as a networkx graph.
    """
    n, k = len(region), params["contacts"]
    kind = rng.random((n, k))
    u = rng.random((n, k))
    owner = np.repeat(np.arange(n), k).reshape(n, k)
    group = region * n_segments + segment
    same_group = _pick_within(group, group[owner], u)
    same_region = _pick_within(region, region[owner], u)
    anyone = (u * n).astype(np.int64)
    h, r = params["homophily"], params["regional_ties"]
    out = np.where(kind < h, same_group, np.where(kind < h + r, same_region, anyone))
    return out.astype(np.int32)
