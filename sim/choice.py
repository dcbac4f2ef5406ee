"""Developers' monthly decision: enter the market (Bass), review, choose a family per task (logit).

A developer's tokens split over task types (frontier, commodity, local; `World.tasks`); it picks a
family for each, so an organisation can mix models. Task types scale the developer's capability,
price and open-weights tastes; the other terms (trust, fit, shared terms) are common to its tasks.

Two implementations of the same decision, on the same random draws:
- `decide_all`: numpy over every developer at once (what the model runs);
- `decide_one`: one developer in plain Python (the oracle for tests, and the per-agent
  baseline of the benchmark).
They add the utility terms in the same order, and the vectorised path repeats down columns of a
(family, developer) array what the reference does with numpy along a developer's row (maximum,
running sum, pairwise sum), so they agree to the last bit.

Utilities are single precision (float32): the market's terms and the developers' tastes are
rounded to float32 once (`Market`, `Population`) and every sum and product stays in float32, in
both engines. A utility is a few units; float32 keeps it to ~1e-6 utils, far below anything a
choice probability can resolve, and it halves the memory every (family, developer) pass moves
(the decision is bound by memory traffic, not arithmetic). Welfare is accumulated in double.

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
    """What developers face this month. Utilities are in logit utils, float32 (see the module's note)."""

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
#
# Utilities are laid out (family, developer): every step is then an elementwise operation over
# long rows, and the logit's maximum and cumulative sum run across families row by row (the same
# operations in the same order as over a developer's row, so the results agree to the last bit).


def _by_family(table: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """`table[rows]` of a (group, family) table, transposed to (family, len(rows))."""
    return np.ascontiguousarray(table.T).take(rows, axis=1)


def _common(m: Market, pop: Population, who: np.ndarray) -> np.ndarray:
    """The utility terms every task of developers `who` shares, (family, developer)."""
    r = pop.region[who]
    n_regions, n_segments = m.base.shape[:2]
    u = _by_family(m.base.reshape(n_regions * n_segments, -1), r * n_segments + pop.segment[who])
    trust = _by_family(m.trust_term, r)
    trust *= pop.w_trust[who]
    u += trust
    u += pop.fit.take(who, axis=0).T  # rows, then transposed: cheaper than gathering columns
    return u


def _tastes(m: Market, pop: Population, who: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Capability, price and open-weights utility of every family for `who`, before task weights."""
    return (
        np.multiply.outer(m.cap_term, pop.w_capability[who]),
        pop.w_price[who] * _by_family(m.price_term, pop.region[who]),
        np.multiply.outer(m.open_term, pop.w_open[who]),
    )


def _peer_counts(peers: np.ndarray, n_families: int) -> np.ndarray:
    """(family, developer): how many of each developer's peers (rows of `peers`) use the family."""
    n = peers.shape[0]
    key = peers * n
    key += np.arange(n, 2 * n)[:, None]  # row 0 counts peers not in the market (family -1)
    return np.bincount(key.ravel(), minlength=(n_families + 1) * n).reshape(n_families + 1, n)[1:]


def _task_utilities(
    m: Market, u0: np.ndarray, tastes: tuple, peers: np.ndarray, task: int, unit: np.float32
) -> np.ndarray:
    """Utility of every family for task `task` (before switching costs); `peers`: (family, developer)
    counts of peers using it, each worth `unit` = beta_peers / contacts.

    The terms are added in the reference's order, in place into one scratch array (temporaries of
    this size cost more to allocate than to fill; IEEE sums and products commute exactly).
    """
    wc, wp, wo = m.task_weights[task]
    cap, price, opened = tastes
    u = np.multiply(cap, wc)
    u += u0
    term = np.multiply(price, wp)
    u += term
    u += np.multiply(opened, wo, out=term)
    u += np.multiply(peers, unit, out=term, casting="unsafe")  # exact: a small count times a float32 fits a double
    return u


def _sample(u: np.ndarray, draw: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """Invert each column's logit cumulative probabilities at its draw; `fallback` if none available.

    `u` is (family, developer); it is overwritten (shifted by its column maxima).
    """
    top = u.max(axis=0)
    ok = np.isfinite(top)
    u -= np.where(ok, top, 0.0)
    cum = np.exp(u)
    for f in range(1, len(cum)):  # running sum down the families, row by row (numpy's accumulate is slow here)
        cum[f] += cum[f - 1]
    below = cum < draw * cum[-1]  # the pick is the first family whose cumulative weight reaches the draw
    count = np.uint8 if len(cum) < 256 else np.int64  # counting in bytes is faster, while they can hold it
    pick = below.view(np.uint8).sum(axis=0, dtype=count).astype(np.int64)
    return np.where(ok, pick, fallback)


def _logsum(u: np.ndarray) -> np.ndarray:
    """Logsum of each column of a (family, developer) array."""
    top = u.max(axis=0)
    safe = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        return safe + np.log(0.0 + _pairwise_sum(np.exp(u - safe)))


def _pairwise_sum(a: np.ndarray) -> np.ndarray:
    """Sum down axis 0 in the order of numpy's own sum along a row (its `pairwise_sum`).

    The logsum always summed a developer's row with numpy (0.0, plus the row summed pairwise in
    blocks of eight); summing the same numbers in the same order down a column keeps every
    welfare figure to the last bit while the work runs along long rows.
    """
    n = len(a)
    if n > 128:
        half = n // 2 - (n // 2) % 8
        return _pairwise_sum(a[:half]) + _pairwise_sum(a[half:])
    if n < 8:
        total = np.zeros(a.shape[1:], a.dtype)
        for row in a:
            total += row
        return total
    r = a[:8].copy()
    whole = n - n % 8
    for i in range(8, whole, 8):
        r += a[i : i + 8]
    total = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
    for row in a[whole:]:
        total += row
    return total


def _lost(m: Market, pop: Population, choice: np.ndarray, entered: np.ndarray) -> np.ndarray:
    """Developers in the market one of whose families is no longer available to them.

    `in_use` marks where families were used last month, so most months one look at the small
    (region, segment, family) table shows that nobody can be lost.
    """
    lost = np.zeros(len(entered), bool)
    shut = ~np.isfinite(m.base) & m.in_use  # (region, segment, family) places where a used family is gone
    if not shut.any():
        return lost
    inside = np.flatnonzero(entered)
    r, s = pop.region[inside], pop.segment[inside]
    lost[inside] = shut[r[:, None], s[:, None], choice[inside]].any(axis=1)
    return lost


def _movers(
    m: Market, pop: Population, entered: np.ndarray, choice: np.ndarray, draws: Draws
) -> tuple[np.ndarray, np.ndarray]:
    """Who chooses this month (entrants, then reviewers and the lost, by index) and who of them is sampled."""
    outside = np.flatnonzero(~entered)
    outside = outside[draws.entry[outside] < m.bass_p + m.bass_q]  # no peer share can let the others in
    share_in = entered[pop.contacts.take(outside, axis=0)].mean(axis=1)  # (take: faster than indexing rows)
    enters = outside[draws.entry[outside] < m.bass_p + m.bass_q * share_in]
    staying = np.flatnonzero(entered & ((draws.review < m.review_rate) | _lost(m, pop, choice, entered)))
    sampled = draws.review[staying] < m.review_rate * WELFARE_SAMPLE
    return np.concatenate([enters, staying]), np.concatenate([np.zeros(len(enters), bool), sampled])


BLOCK = 16384  # movers decided together: a block's (family, developer) arrays stay in the CPU's cache


def decide_all(m: Market, pop: Population, entered: np.ndarray, choice: np.ndarray, draws: Draws) -> Decision:
    """Everyone's decision this month, from last month's state (synchronous update).

    Movers are decided in blocks of `BLOCK`: each developer's decision reads only last month's
    state, so blocks are independent and the result is the same for any block size, while a
    block's arrays fit in cache (at 200,000 developers whole-population arrays of ~6 MB did not).
    """
    movers, reviewed = _movers(m, pop, entered, choice, draws)
    new_choice = choice.copy()
    welfare = []
    for first in range(0, len(movers), BLOCK):
        block = movers[first : first + BLOCK]
        picks, block_welfare = _decide_block(m, pop, choice, draws, block, reviewed[first : first + BLOCK])
        new_choice[block] = picks
        welfare.append(block_welfare)
    new_entered = entered.copy()
    new_entered[movers] = (new_choice[movers] >= 0).all(axis=1)
    return Decision(new_entered, new_choice, movers[reviewed], np.concatenate(welfare) if welfare else np.zeros(0))


def _decide_block(
    m: Market, pop: Population, choice: np.ndarray, draws: Draws, movers: np.ndarray, reviewed: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The picks (mover, task) of `movers`, and the welfare of those of them `reviewed` (the sample)."""
    u0 = _common(m, pop, movers)
    tastes = _tastes(m, pop, movers)
    contacts = pop.contacts.take(movers, axis=0).astype(np.intp)  # converted once, not at each task's look-up
    unit = np.float32(m.beta_peers / pop.contacts.shape[1])
    sample = np.flatnonzero(reviewed)
    welfare = np.zeros(len(sample))
    aware = _by_family(m.aware, pop.region[movers[sample]])
    weight = m.task_share[pop.segment[movers[sample]]]
    picks = np.empty((len(movers), m.n_tasks), np.int64)
    for task in range(m.n_tasks):
        column = choice[:, task]
        peers = _peer_counts(column.take(contacts), len(m.cap_term))
        u = _task_utilities(m, u0, tastes, peers, task, unit)
        welfare += weight[:, task] * _logsum(u.take(sample, axis=1) - aware)
        stay = column[movers]
        cols = np.flatnonzero(stay >= 0)
        u.reshape(-1)[stay[cols] * len(movers) + cols] += m.switching_cost  # flat positions: cheaper than pairs
        picks[:, task] = _sample(u, draws.choice[:, task][movers], stay)
    return picks, welfare


# --- per-agent reference ---------------------------------------------------------------------


def _sample_rows(u: np.ndarray, draw: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """`_sample` on (developer, family) rows, with numpy's own operations along a row."""
    top = u.max(axis=1, keepdims=True)
    ok = np.isfinite(top[:, 0])
    weights = np.exp(u - np.where(ok[:, None], top, 0.0))  # u is float32 already
    cum = np.cumsum(weights, axis=1)
    pick = (cum < draw[:, None] * cum[:, -1:]).sum(axis=1)  # the first family whose cumulative weight reaches it
    return np.where(ok, pick, fallback)


def _logsum_rows(u: np.ndarray) -> np.ndarray:
    """`_logsum` on (developer, family) rows, with numpy's own sum along a row."""
    top = u.max(axis=1, keepdims=True)
    safe = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        return safe[:, 0] + np.log(np.exp(u - safe).sum(axis=1))


def utilities_one(m: Market, pop: Population, choice: np.ndarray, i: int, task: int) -> list[np.float32]:
    """Utility of every family for developer i's task, in the same order of terms as the vectorised path."""
    r, s = pop.region[i], pop.segment[i]
    unit = np.float32(m.beta_peers / pop.contacts.shape[1])
    peers = [int(choice[j, task]) for j in pop.contacts[i]]
    out = []
    wc, wp, wo = m.task_weights[task]
    for f in range(m.cap_term.shape[0]):
        u = m.base[r, s, f]
        u = u + pop.w_trust[i] * m.trust_term[r, f]
        u = u + pop.fit[i, f]
        u = u + wc * (pop.w_capability[i] * m.cap_term[f])
        u = u + wp * (pop.w_price[i] * m.price_term[r, f])
        u = u + wo * (pop.w_open[i] * m.open_term[f])
        out.append(u + np.float32(peers.count(f)) * unit)
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
            welfare += m.task_share[s, task] * float(_logsum_rows((u - m.aware[r])[None, :])[0])
        if current[task] >= 0:
            u[current[task]] += m.switching_cost
        picks[task] = int(_sample_rows(u[None, :], draws.choice[i, task : task + 1], current[task : task + 1])[0])
    return picks, welfare if sampled else None
