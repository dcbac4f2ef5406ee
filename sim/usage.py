"""Who uses what, and how much: the month's adopters tallied by (region, segment) cell and family.

The token sums run over (adopter, task) pairs in that order, as they always have (a float sum's
last bit depends on its order). The counts are integers, exact in any order: distinct users and
multi-model use come from one histogram of the combinations of families (one per task) that
adopters use, so they cost a bincount over adopters plus work over the few combinations seen.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_TABLE = 1 << 22  # largest histogram of combinations (entries) worth a table rather than a sort


@dataclass(frozen=True)
class Usage:
    """Tallies over adopters (model agents, not scaled to real developers)."""

    volume: np.ndarray  # (cell, family) tokens
    task_volume: np.ndarray  # (task, family) tokens as an API router sees them
    uses: np.ndarray  # (cell, family) task uses: an adopter counts once per task it uses the family for
    adopters: np.ndarray  # (cell,)
    users: np.ndarray  # (family,) float: adopters using the family for at least one task
    mixed: int  # adopters using two or more families across their tasks


def tally(
    cell: np.ndarray, picks: np.ndarray, tokens: np.ndarray, routed: np.ndarray, n_cells: int, n_families: int
) -> Usage:
    """Tally adopters: `cell` (adopter,), `picks` (adopter, task) families >= 0, and their (adopter, task)
    `tokens` and router-weighted tokens `routed`."""
    nf, n_tasks = n_families, picks.shape[1]
    key = (cell[:, None] * nf + picks).ravel()
    volume = np.bincount(key, weights=tokens.ravel(), minlength=n_cells * nf)
    task_key = (np.arange(n_tasks) * nf + picks).ravel()
    task_volume = np.bincount(task_key, weights=routed.ravel(), minlength=n_tasks * nf)
    users, mixed = _distinct(picks, nf)
    return Usage(
        volume=volume.reshape(n_cells, nf).astype(float),  # float even with no adopters
        task_volume=task_volume.reshape(n_tasks, nf).astype(float),
        uses=np.bincount(key, minlength=n_cells * nf).reshape(n_cells, nf),
        adopters=np.bincount(cell, minlength=n_cells),
        users=users,
        mixed=mixed,
    )


def _distinct(picks: np.ndarray, n_families: int) -> tuple[np.ndarray, int]:
    """Adopters per family (using it for some task), and adopters using two or more families."""
    n_tasks = picks.shape[1]
    code = picks[:, 0].copy()  # a combination is a number in base n_families, first task first
    for task in range(1, n_tasks):
        code *= n_families
        code += picks[:, task]
    if n_families**n_tasks <= MAX_TABLE:
        hist = np.bincount(code, minlength=n_families**n_tasks)
        combo = np.flatnonzero(hist)
        count = hist[combo]
    else:  # too many possible combinations for a table: sort the codes instead
        combo, count = np.unique(code, return_counts=True)
    digit = n_families ** np.arange(n_tasks - 1, -1, -1)
    families = combo[:, None] // digit % n_families  # (combination seen, task)
    users = np.zeros(n_families)
    for task in range(n_tasks):
        first = (families[:, :task] != families[:, task, None]).all(axis=1)  # not counted at an earlier task
        users += np.bincount(families[first, task], weights=count[first], minlength=n_families)
    return users, int(count[(families != families[:, :1]).any(axis=1)].sum())
