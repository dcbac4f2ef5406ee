"""The calibration report's figures (matplotlib, PNG, written atomically)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from calibration.summaries import weights


def _save(fig: Figure, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=100)
    os.replace(tmp, path)


def plot_targets(fit: pd.DataFrame, path: Path) -> None:
    """Each target's posterior-predictive 90% interval and point median, in units of its range."""

    def scale(v: float, row: pd.Series) -> float:
        return (v - row["low"]) / ((row["high"] - row["low"]) or 1.0)

    fig = Figure(figsize=(9, 0.45 * len(fit) + 1.5), layout="constrained")
    ax = fig.subplots()
    for i, row in fit.reset_index(drop=True).iterrows():
        ax.plot([scale(row["draws_q05"], row), scale(row["draws_q95"], row)], [i, i], lw=6, alpha=0.4, color="tab:blue")
        ax.plot(scale(row["point_median"], row), i, "o", color="tab:red")
        ax.plot(scale(row["reported"], row), i, "|", color="black", ms=14)
    ax.axvspan(0, 1, color="green", alpha=0.08)
    ax.set_yticks(range(len(fit)), [f"{t} ({c:.0%})" for t, c in zip(fit["target"], fit["coverage"], strict=True)])
    ax.set_xlabel("position within the accepted range (0 = low, 1 = high)")
    ax.set_title("Targets: posterior-predictive 90% (bar, coverage in brackets), point estimate (red), reported")
    _save(fig, path)


def plot_projection(series: dict[str, tuple[pd.DataFrame, pd.Series]], path: Path) -> None:
    """Outputs over the whole horizon: 5-95% of posterior draws (band) and the point median (line).

    `series` maps an output to (month x draw values, point-estimate median by month)."""
    fig = Figure(figsize=(10, 5), layout="constrained")
    ax = fig.subplots()
    for name, (draws, point) in series.items():
        x = np.arange(len(draws))
        ax.fill_between(x, draws.quantile(0.05, axis=1), draws.quantile(0.95, axis=1), alpha=0.25)
        ax.plot(x, point.to_numpy(), label=name)
    months = list(next(iter(series.values()))[0].index)
    ax.set_xticks(range(0, len(months), 12), months[::12])
    ax.legend(fontsize=8)
    ax.set_title("Baseline: point estimate (line) and 5-95% of posterior draws with fresh seeds (band)")
    _save(fig, path)


def plot_pairs(post: pd.DataFrame, names: Sequence[str], path: Path, n: int = 400, seed: int = 0) -> None:
    """Pairs plot of `names`: n draws resampled by importance weight (histograms on the diagonal)."""
    rng = np.random.default_rng(seed)
    sample = post.iloc[rng.choice(len(post), size=n, p=weights(post))][list(names)]
    k = len(names)
    fig = Figure(figsize=(1.7 * k + 1, 1.7 * k + 1), layout="constrained")
    axes = fig.subplots(k, k, squeeze=False)
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            ax = axes[i, j]
            if i == j:
                ax.hist(sample[a], bins=20, color="tab:blue", alpha=0.7)
            else:
                ax.plot(sample[b], sample[a], ".", ms=2, alpha=0.4, color="tab:blue")
            ax.tick_params(labelsize=6)
            if i == k - 1:
                ax.set_xlabel(b, fontsize=7)
            if j == 0:
                ax.set_ylabel(a, fontsize=7)
    fig.suptitle("Posterior pairs (resampled by importance weight): the most correlated parameters")
    _save(fig, path)
