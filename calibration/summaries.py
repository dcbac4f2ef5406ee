"""Weighted summaries of an importance-weighted posterior sample (posterior.csv)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def weights(post: pd.DataFrame) -> np.ndarray:
    """The normalised importance weights of a posterior table."""
    w = post["weight"].to_numpy(dtype=float)
    return w / w.sum()


def weighted_quantile(x: np.ndarray, w: np.ndarray, q: Sequence[float]) -> list[float]:
    """Quantiles of x under weights w (the inverse of the weighted empirical CDF, midpoint rule)."""
    order = np.argsort(x, kind="stable")
    xs, ws = np.asarray(x, dtype=float)[order], np.asarray(w, dtype=float)[order]
    cum = (np.cumsum(ws) - 0.5 * ws) / ws.sum()
    return [float(np.interp(p, cum, xs)) for p in q]


def weighted_sd(x: np.ndarray, w: np.ndarray) -> float:
    m = float(np.average(x, weights=w))
    return float(np.sqrt(np.average((np.asarray(x) - m) ** 2, weights=w)))


def weighted_corr(post: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    """Posterior correlation matrix of the parameters `names`."""
    cov = np.cov(post[list(names)].to_numpy(dtype=float).T, aweights=weights(post))
    sd = np.sqrt(np.diag(cov))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = cov / np.outer(sd, sd)
    return pd.DataFrame(corr, index=list(names), columns=list(names))


def conditional_sd(post: pd.DataFrame, names: Sequence[str]) -> dict[str, float]:
    """Each parameter's posterior sd given all the others, in a Gaussian (linear) approximation.

    A ridge (parameters traded off along a line) leaves each one's marginal sd wide but makes its
    conditional sd narrow: the targets pin a combination, not it. The share of variance the others
    explain (R^2 = 1 - 1 / (var_ii * precision_ii)) is adjusted for the d - 1 regressors fitted on an
    effective sample of ESS draws, as a sample barely larger than d explains variance by chance."""
    w = weights(post)
    cov = np.atleast_2d(np.cov(post[list(names)].to_numpy(dtype=float).T, aweights=w))
    prec = np.linalg.pinv(cov)
    n, d = ess(w), len(names)
    out = {}
    for i, name in enumerate(names):
        if cov[i, i] <= 0 or prec[i, i] <= 0 or n - d <= 0:
            out[name] = float("nan")
            continue
        r2 = 1 - 1 / (cov[i, i] * prec[i, i])
        adjusted = 1 - (1 - r2) * (n - 1) / (n - d)
        out[name] = float(np.sqrt(cov[i, i] * max(1 - adjusted, 0.0)))
    return out


def ess(w: np.ndarray) -> float:
    """Kish's effective sample size."""
    w = np.asarray(w, dtype=float)
    return float(w.sum() ** 2 / (w**2).sum()) if len(w) else 0.0
