"""Developers' monthly decision: enter the market (Bass), review, choose a family per task (logit).

A developer's tokens split over task types (frontier, commodity, local; `World.tasks`); it picks a
family for each, so an organisation can mix models. Task types scale the developer's capability,
price and open-weights tastes; the other terms (trust, fit, shared terms) are common to its tasks.

Two implementations of the same decision, on the same random draws:
- `decide_all`: numpy over every developer at once (what the model runs);
- `decide_one`: one developer in plain Python (the oracle for tests, and the per-agent
  baseline of the benchmark).
They add the utility terms in the same order, so they agree to the last bit.

Random draws are one uniform per developer per month and purpose (entry, review, and choice per
task), drawn whatever the state: a policy run and its baseline consume the same numbers, so their difference
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
    aware: np.ndarray  # (region, family): log awareness inside `base` (left out of welfare)
    cap_term: np.ndarray  # (family,) capability utility per unit taste, against a fixed reference
    price_term: np.ndarray  # (region, family) price utility per unit taste
    open_term: np.ndarray  # (family,) open-weights utility per unit taste
    task_weights: np.ndarray  # (task, 3): multipliers of the capability, price and open terms per task
    trust_term: np.ndarray  # (region, family) distrust per unit sensitivity
    task_share: np.ndarray  # (segment, task) token shares (weights welfare over tasks)
    in_use: np.ndarray  # (region, segment, family) bool: someone there used the family last month
    beta_peers: float
    switching_cost: float
    bass_p: float
    bass_q: float
    review_rate: float

    @property
    def n_tasks(self) -> int:
        return self.task_weights.shape[0]


@dataclass(frozen=True)
class Draws:
    """This month's uniforms, one per developer for entry and review, one per developer and task for choice."""

    entry: np.ndarray
    review: np.ndarray
    choice: np.ndarray  # (n, task)

    @classmethod
    def draw(cls, streams: dict[str, np.random.Generator], n: int, n_tasks: int) -> Draws:
        return cls(streams["entry"].random(n), streams["review"].random(n), streams["choice"].random((n, n_tasks)))


@dataclass(frozen=True)
class Decision:
    """The month's outcome: who is in the market, what each uses per task, and the reviewers' welfare."""

    entered: np.ndarray
    choice: np.ndarray  # (n, task) family index, -1 if not in the market
    reviewers: np.ndarray  # indices of the welfare sample: reviewers whose review draw fell in its first quarter
    welfare: np.ndarray  # their consumer surplus: task-share-weighted logsum without awareness, utils


WELFARE_SAMPLE = 0.25  # share of each month's reviewers whose consumer surplus is measured (a random sample)

# --- vectorised ------------------------------------------------------------------------------


def _common(m: Market, pop: Population, who: np.ndarray) -> np.ndarray:
    """The utility terms every task of developers `who` shares."""
    r, s = pop.region[who], pop.segment[who]
    u = m.base[r, s]
    u = u + pop.w_trust[who, None] * m.trust_term[r]
    return u + pop.fit[who]


def _tastes(m: Market, pop: Population, who: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Capability, price and open-weights utility of every family for `who`, before task weights."""
    return (
        pop.w_capability[who, None] * m.cap_term[None, :],
        pop.w_price[who, None] * m.price_term[pop.region[who]],
        pop.w_open[who, None] * m.open_term[None, :],
    )


def _task_utilities(m: Market, u0: np.ndarray, tastes: tuple, peers: np.ndarray, task: int) -> np.ndarray:
    """Utility of every family for task `task` (before switching costs); `peers` = families peers use."""
    wc, wp, wo = m.task_weights[task]
    cap, price, opened = tastes
    u = u0 + wc * cap
    u = u + wp * price
    u = u + wo * opened
    n, n_fam = u.shape
    key = (np.arange(n)[:, None] * (n_fam + 1) + (peers + 1)).ravel()  # column 0 counts peers not in the market
    counts = np.bincount(key, minlength=n * (n_fam + 1)).reshape(n, n_fam + 1)[:, 1:]
    return u + m.beta_peers * (counts / peers.shape[1])


def _sample(u: np.ndarray, draw: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """Invert each row's logit cumulative probabilities at its draw; `fallback` if none available."""
    top = u.max(axis=1, keepdims=True)
    ok = np.isfinite(top[:, 0])
    weights = np.exp(u - np.where(ok[:, None], top, 0.0))
    cum = np.cumsum(weights, axis=1)
    pick = (cum < draw[:, None] * cum[:, -1:]).sum(axis=1)  # the first family whose cumulative weight reaches it
    return np.where(ok, pick, fallback)


def _logsum(u: np.ndarray) -> np.ndarray:
    top = u.max(axis=1, keepdims=True)
    safe = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        return safe[:, 0] + np.log(np.exp(u - safe).sum(axis=1))


def _lost(m: Market, pop: Population, choice: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """Developers in the market one of whose families is no longer available to them.

    `in_use` marks where families were used last month, so most months one look at the small
    (region, segment, family) table shows that nobody can be lost.
    """
    lost = np.zeros(len(inside), bool)
    shut = ~np.isfinite(m.base) & m.in_use  # (region, segment, family) places where a used family is gone
    if not shut.any():
        return lost
    r, s = pop.region[inside], pop.segment[inside]
    current = choice[inside]
    lost[:] = shut[r[:, None], s[:, None], current].any(axis=1)
    return lost


def decide_all(m: Market, pop: Population, entered: np.ndarray, choice: np.ndarray, draws: Draws) -> Decision:
    """Everyone's decision this month, from last month's state (synchronous update)."""
    outside = np.flatnonzero(~entered)
    outside = outside[draws.entry[outside] < m.bass_p + m.bass_q]  # no peer share can let the others in
    share_in = entered[pop.contacts[outside]].mean(axis=1)
    enters = outside[draws.entry[outside] < m.bass_p + m.bass_q * share_in]
    inside = np.flatnonzero(entered)
    lost = _lost(m, pop, choice, inside)
    reviews = draws.review[inside] < m.review_rate
    movers = np.concatenate([enters, inside[reviews | lost]])
    sampled = draws.review[inside] < m.review_rate * WELFARE_SAMPLE
    reviewed = np.concatenate([np.zeros(len(enters), bool), sampled[reviews | lost]])
    u0 = _common(m, pop, movers)
    tastes = _tastes(m, pop, movers)
    contacts = pop.contacts[movers]
    new_choice = choice.copy()
    welfare = np.zeros(int(reviewed.sum()))
    aware = m.aware[pop.region[movers[reviewed]]]
    weight = m.task_share[pop.segment[movers[reviewed]]]
    for task in range(m.n_tasks):
        u = _task_utilities(m, u0, tastes, choice[contacts, task], task)
        welfare += weight[:, task] * _logsum(u[reviewed] - aware)
        stay = choice[movers, task]
        rows = np.flatnonzero(stay >= 0)
        u[rows, stay[rows]] += m.switching_cost
        new_choice[movers, task] = _sample(u, draws.choice[movers, task], stay)
    new_entered = entered.copy()
    new_entered[movers] = (new_choice[movers] >= 0).all(axis=1)
    return Decision(new_entered, new_choice, movers[reviewed], welfare)


# --- per-agent reference ---------------------------------------------------------------------


def utilities_one(m: Market, pop: Population, choice: np.ndarray, i: int, task: int) -> list[float]:
    """Utility of every family for developer i's task, in the same order of terms as the vectorised path."""
    r, s = pop.region[i], pop.segment[i]
    k = pop.contacts.shape[1]
    peers = [int(choice[j, task]) for j in pop.contacts[i]]
    out = []
    wc, wp, wo = (float(x) for x in m.task_weights[task])
    for f in range(m.cap_term.shape[0]):
        u = float(m.base[r, s, f])
        u = u + float(pop.w_trust[i] * m.trust_term[r, f])
        u = u + float(pop.fit[i, f])
        u = u + wc * float(pop.w_capability[i] * m.cap_term[f])
        u = u + wp * float(pop.w_price[i] * m.price_term[r, f])
        u = u + wo * float(pop.w_open[i] * m.open_term[f])
        out.append(u + m.beta_peers * (peers.count(f) / k))
    return out


def decide_one(
    m: Market, pop: Population, entered: np.ndarray, choice: np.ndarray, draws: Draws, i: int
) -> tuple[np.ndarray, float | None]:
    """Developer i's family per task this month (-1: not in the market) and its welfare if in the sample."""
    current = choice[i].copy()
    if not entered[i]:
        share_in = sum(bool(entered[j]) for j in pop.contacts[i]) / pop.contacts.shape[1]
        if not draws.entry[i] < m.bass_p + m.bass_q * share_in:
            return current, None
    r, s = pop.region[i], pop.segment[i]
    reviewed = bool(entered[i]) and draws.review[i] < m.review_rate
    sampled = bool(entered[i]) and draws.review[i] < m.review_rate * WELFARE_SAMPLE
    lost = bool(entered[i]) and not all(np.isfinite(m.base[r, s, f]) for f in current)
    if entered[i] and not (reviewed or lost):
        return current, None
    welfare = 0.0
    picks = current.copy()
    for task in range(m.n_tasks):
        u = np.array(utilities_one(m, pop, choice, i, task))
        if sampled:
            welfare += m.task_share[s, task] * float(_logsum((u - m.aware[r])[None, :])[0])
        if current[task] >= 0:
            u[current[task]] += m.switching_cost
        picks[task] = int(_sample(u[None, :], draws.choice[i, task : task + 1], current[task : task + 1])[0])
    return picks, welfare if sampled else None
