"""Developers' monthly decision: enter the market (Bass), review, choose a family (logit).

Two implementations of the same decision, on the same random draws:
- `decide_all`: numpy over every developer at once (what the model runs);
- `decide_one`: one developer in plain Python (the oracle for tests, and the per-agent
  baseline of the benchmark).
They add the utility terms in the same order, so they agree to the last bit.

Random draws are one uniform per developer per month and purpose (entry, review, choice), drawn
whatever the state: a policy run and its baseline consume the same numbers, so their difference
is the policy's effect, not noise. A choice is made by inverting the logit's cumulative
probabilities at the developer's uniform draw.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.population import Population


@dataclass(frozen=True)
class Market:
    """What developers face this month. Utilities are in logit utils."""

    base: np.ndarray  # (region, segment, family): shared terms; -inf = not available
    cap_term: np.ndarray  # (family,) capability utility per unit taste
    price_term: np.ndarray  # (region, family) price utility per unit taste
    open_term: np.ndarray  # (family,) open-weights utility per unit taste
    trust_term: np.ndarray  # (region, family) distrust per unit sensitivity
    beta_peers: float
    switching_cost: float
    bass_p: float
    bass_q: float
    review_rate: float


@dataclass(frozen=True)
class Draws:
    """This month's uniforms, one per developer for each purpose."""

    entry: np.ndarray
    review: np.ndarray
    choice: np.ndarray

    @classmethod
    def draw(cls, streams: dict[str, np.random.Generator], n: int) -> Draws:
        return cls(streams["entry"].random(n), streams["review"].random(n), streams["choice"].random(n))


@dataclass(frozen=True)
class Decision:
    """The month's outcome: who is in the market, what each uses, and the reviewers' logsums."""

    entered: np.ndarray
    choice: np.ndarray
    reviewers: np.ndarray  # indices of developers who reviewed by chance (a random sample)
    logsum: np.ndarray  # their expected maximum utility (logit consumer surplus, utils)


# --- vectorised ------------------------------------------------------------------------------


def _utilities(m: Market, pop: Population, choice: np.ndarray, who: np.ndarray) -> np.ndarray:
    """Utility of every family for developers `who` (before switching costs)."""
    r, s = pop.region[who], pop.segment[who]
    u = m.base[r, s]
    u = u + pop.w_capability[who, None] * m.cap_term[None, :]
    u = u + pop.w_price[who, None] * m.price_term[r]
    u = u + pop.w_open[who, None] * m.open_term[None, :]
    u = u + pop.w_trust[who, None] * m.trust_term[r]
    u = u + pop.fit[who]
    peers = choice[pop.contacts[who]]  # (who, contact): family index, -1 if not in the market
    n_fam = m.cap_term.shape[0]
    rows = np.broadcast_to(np.arange(len(who))[:, None], peers.shape)
    using = peers >= 0
    counts = np.bincount(rows[using] * n_fam + peers[using], minlength=len(who) * n_fam).reshape(len(who), n_fam)
    return u + m.beta_peers * (counts / pop.contacts.shape[1])


def _sample(u: np.ndarray, draw: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """Invert each row's logit cumulative probabilities at its draw; `fallback` if none available."""
    top = u.max(axis=1, keepdims=True)
    ok = np.isfinite(top[:, 0])
    weights = np.exp(u - np.where(ok[:, None], top, 0.0))
    cum = np.cumsum(weights, axis=1)
    pick = (cum < draw[:, None] * cum[:, -1:]).sum(axis=1)
    last = u.shape[1] - 1 - np.argmax(weights[:, ::-1] > 0, axis=1)
    return np.where(ok, np.minimum(pick, last), fallback)


def _logsum(u: np.ndarray) -> np.ndarray:
    top = u.max(axis=1, keepdims=True)
    return top[:, 0] + np.log(np.exp(u - top).sum(axis=1))


def decide_all(m: Market, pop: Population, entered: np.ndarray, choice: np.ndarray, draws: Draws) -> Decision:
    """Everyone's decision this month, from last month's state (synchronous update)."""
    outside = np.flatnonzero(~entered)
    share_in = entered[pop.contacts[outside]].mean(axis=1)
    enters = outside[draws.entry[outside] < m.bass_p + m.bass_q * share_in]
    inside = np.flatnonzero(entered)
    current = choice[inside]
    lost = ~np.isfinite(m.base[pop.region[inside], pop.segment[inside], current])
    reviews = draws.review[inside] < m.review_rate
    movers = np.concatenate([enters, inside[reviews | lost]])
    u = _utilities(m, pop, choice, movers)
    logsum = _logsum(u[len(enters) :][reviews[reviews | lost]]) if reviews.any() else np.empty(0)
    stay = choice[movers]
    rows = np.flatnonzero(stay >= 0)
    u[rows, stay[rows]] += m.switching_cost
    pick = _sample(u, draws.choice[movers], stay)
    new_choice = choice.copy()
    new_choice[movers] = pick
    new_entered = new_choice >= 0
    return Decision(new_entered, new_choice, inside[reviews], logsum)


# --- per-agent reference ---------------------------------------------------------------------


def utilities_one(m: Market, pop: Population, choice: np.ndarray, i: int) -> list[float]:
    """Utility of every family for developer i, in the same order of terms as `_utilities`."""
    r, s = pop.region[i], pop.segment[i]
    k = pop.contacts.shape[1]
    peers = [int(choice[j]) for j in pop.contacts[i]]
    out = []
    for f in range(m.cap_term.shape[0]):
        u = float(m.base[r, s, f])
        u = u + float(pop.w_capability[i] * m.cap_term[f])
        u = u + float(pop.w_price[i] * m.price_term[r, f])
        u = u + float(pop.w_open[i] * m.open_term[f])
        u = u + float(pop.w_trust[i] * m.trust_term[r, f])
        u = u + float(pop.fit[i, f])
        out.append(u + m.beta_peers * (peers.count(f) / k))
    return out


def decide_one(
    m: Market, pop: Population, entered: np.ndarray, choice: np.ndarray, draws: Draws, i: int
) -> tuple[int, float | None]:
    """Developer i's family this month (-1: not in the market) and its logsum if it reviewed."""
    current = int(choice[i])
    if not entered[i]:
        share_in = sum(bool(entered[j]) for j in pop.contacts[i]) / pop.contacts.shape[1]
        if not draws.entry[i] < m.bass_p + m.bass_q * share_in:
            return -1, None
    reviewed = bool(entered[i]) and draws.review[i] < m.review_rate
    lost = bool(entered[i]) and not np.isfinite(m.base[pop.region[i], pop.segment[i], current])
    if entered[i] and not (reviewed or lost):
        return current, None
    u = np.array(utilities_one(m, pop, choice, i))
    logsum = float(_logsum(u[None, :])[0]) if reviewed else None
    if current >= 0:
        u[current] += m.switching_cost
    return int(_sample(u[None, :], draws.choice[i : i + 1], np.array([current]))[0]), logsum
