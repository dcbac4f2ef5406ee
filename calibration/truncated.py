"""The fit's proposal: the prior truncated to a region around the current population (TSNPE-style):
a box in the population's principal axes, cut to the population's widened 99% ellipsoid.

Why: the history is reproduced where several parameters sit at the edges of their sourced ranges
(normal scores of -3 to -4), and along such a direction the posterior is the prior's own tail, cut off
by the targets. A Gaussian proposal fitted there mismatches that shape in every such direction, the
mismatches multiply in the importance weights (prior / proposal), and the fit ended with one particle
holding all the weight (ESS 1-2 of 400). Drawing from the prior itself, restricted to a region that
holds the current population, makes every weight inside the region equal (prior / (prior / P(box))
= P(box)): the effective sample size is the population size whatever the posterior's shape. Deistler,
Goncalves & Macke (2022, "Truncated proposals for scalable and hassle-free simulation-based
inference", NeurIPS) use the same idea with a density estimator's high-probability region.

The region is a box in the population's principal axes on the normal-score scale, where the prior is
N(0, I) and so stays a product of independent standard normals in any rotated frame (each axis is
drawn from a one-dimensional truncated normal). Along each axis the box spans the population's
`QUANTILES`, widened by `WIDEN` of that span on each side: the next generation's ABC posterior, at a
smaller tolerance, lies inside the current one's. Where the population presses against a face (more
than `PRESSED` of its weight in the outer `EDGE_BAND` of the span: a normal population puts 3%
there, a flat one 11%, one piled against the face more), that side moves out by `GROW` spans
instead: a warm start next to the posterior, or narrower than it, grows to it within a few
generations, and along the directions the targets leave uninformed the box settles at about +/-3
prior sds, which keeps 99.7% of the prior (a population drawn from it has sd 0.986, and its box is
the same again; the fit reports how many faces are still pressed: `pressed`). The ABC posterior is
the prior restricted to the box times the ABC likelihood; the cut is what a box that no longer grows
misses. The box alone is far larger than the cloud it holds once many directions are informed (in
15, a cube holds 86,000 times the volume of its inscribed ball): in the Model v2 fit (53 parameters)
the population's 99% ellipsoid, widened by `WIDEN`, held under 1/20,000 of its box, and box draws
were accepted 1.1% of the time at tolerance 1.07 where box-and-ellipsoid draws were accepted 6.25% of
the time. So proposals are box draws kept when inside that ellipsoid (centred on the population,
scaled by its sd along each axis, radius its `ROUND` quantile widened by `WIDEN`): still the prior
restricted to a region, so still one weight for all. The ellipsoid grows as the population does, but
slowly: a population cut by it piles at its surface, and the widened quantile of the next one lies
~15% further out, so a narrow warm start takes many generations to regain the prior's width along
the directions the targets leave uninformed (compare each parameter's posterior sd with its
prior's).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pyabc.parameters import Parameter
from pyabc.transition import Transition
from scipy.special import log_ndtr, ndtr, ndtri

from calibration.summaries import weighted_quantile

QUANTILES = (0.01, 0.99)
WIDEN = 0.15  # of the quantile span, on each side
EDGE_BAND = 0.1  # the outer tenth of the span on each side ...
PRESSED = 0.06  # ... holding more than this share of the weight: the posterior runs on past the face
GROW = 0.5  # a pressed side moves out by this many spans
LIMIT = 8.0  # no axis reaches past +/- this many prior sds (the prior's mass there is ~1e-15)
ROUND = 0.99  # the region is also cut to the ellipsoid that holds this share of the population, widened
MASS_DRAWS = 20_000  # box draws that estimate the share of the box inside the ellipsoid
BLOCK = 1_000  # box draws made at a time when proposing


def log_mass(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """log(Phi(b) - Phi(a)) per axis, accurate in both tails (a < b)."""
    upper = a > 0  # mirror the upper tail onto the lower one, where log_ndtr is accurate
    lo, hi = np.where(upper, -b, a), np.where(upper, -a, b)
    return log_ndtr(hi) + np.log1p(-np.exp(log_ndtr(lo) - log_ndtr(hi)))


def principal_box(x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """The box around the population `x` (weights `w`, summing to 1) in its principal axes
    (module docstring): the axes (columns), their variances, the box's low and high faces along
    them, and how many faces the population pressed (those moved out by `GROW` spans)."""
    d = x - w @ x
    vals, axes = np.linalg.eigh((d * w[:, None]).T @ d)
    y = x @ axes
    lo, hi = np.array([weighted_quantile(y[:, k], w, QUANTILES) for k in range(y.shape[1])]).T
    span = np.maximum(hi - lo, 1e-6)
    below, above = w @ (y < lo + EDGE_BAND * span) > PRESSED, w @ (y > hi - EDGE_BAND * span) > PRESSED
    low = np.clip(lo - np.where(below, GROW, WIDEN) * span, -LIMIT, LIMIT - 1e-3)
    high = np.clip(hi + np.where(above, GROW, WIDEN) * span, low + 1e-3, LIMIT)
    return axes, vals, low, high, int(below.sum() + above.sum())


class TruncatedPrior(Transition):
    """The prior N(0, I) on the normal-score scale, restricted to a box in the population's
    principal axes cut to its ellipsoid (module docstring). Every particle it proposes has the same
    importance weight."""

    def fit(self, X: pd.DataFrame, w: np.ndarray) -> None:
        x = X.to_numpy(dtype=float)
        w = np.asarray(w, dtype=float) / np.sum(w)
        self._axes, vals, self.low, self.high, self.pressed = principal_box(x, w)
        self._log_box = float(log_mass(self.low, self.high).sum())
        # each axis is drawn by inverse CDF between these, mirrored in the upper tail (ndtr's accuracy)
        self._upper = self.low > 0
        self._u = (
            np.where(self._upper, ndtr(-self.high), ndtr(self.low)),
            np.where(self._upper, ndtr(-self.low), ndtr(self.high)),
        )
        self._fit_round(x @ self._axes, w, vals)

    def _fit_round(self, y: np.ndarray, w: np.ndarray, vals: np.ndarray) -> None:
        """The ellipsoid: centred on the population, scaled by its sd along each axis, radius its
        `ROUND` quantile widened by `WIDEN`; and the share of the box's prior mass inside it."""
        self._centre, self._sd = w @ y, np.sqrt(np.maximum(vals, 1e-12))
        r2 = (((y - self._centre) / self._sd) ** 2).sum(axis=1)
        self._radius2 = (1 + WIDEN) ** 2 * weighted_quantile(r2, w, [ROUND])[0]
        rng = np.random.default_rng(0)  # a fixed stream: the share is part of the density, not a draw
        inside = self._in_round(self._draw(rng.uniform(size=(MASS_DRAWS, len(vals)))))
        self._log_share = float(np.log(max(inside.mean(), 1.0 / MASS_DRAWS)))

    def _in_round(self, y: np.ndarray) -> np.ndarray:
        return (((y - self._centre) / self._sd) ** 2).sum(axis=1) <= self._radius2

    def log_box_mass(self) -> float:
        """log of the prior's mass inside the region (the box, cut to the ellipsoid)."""
        return self._log_box + self._log_share

    def rvs_single(self) -> Parameter:
        while True:  # box draws, the first inside the ellipsoid kept: the prior restricted to both
            y = self._draw(np.random.uniform(size=(BLOCK, len(self.low))))
            inside = np.flatnonzero(self._in_round(y))
            if inside.size:
                return Parameter(dict(zip(self.X.columns, self._axes @ y[inside[0]], strict=True)))

    def _draw(self, u: np.ndarray) -> np.ndarray:
        """Inverse-CDF draws of each axis's truncated normal (mirrored in the upper tail)."""
        lo, hi = self._u
        y = ndtri(lo + u * (hi - lo))
        return np.clip(np.where(self._upper, -y, y), self.low, self.high)

    def pdf(self, x: Parameter | pd.Series | pd.DataFrame) -> float | np.ndarray:
        if isinstance(x, Parameter | pd.Series):
            return float(self._density(np.array([x[k] for k in self.X.columns], dtype=float)[None, :])[0])
        return self._density(x[self.X.columns].to_numpy(dtype=float))

    def _density(self, x: np.ndarray) -> np.ndarray:
        y = x @ self._axes
        inside = ((y >= self.low - 1e-9) & (y <= self.high + 1e-9)).all(axis=1) & self._in_round(y)
        log_prior = -0.5 * len(self.low) * np.log(2 * np.pi) - 0.5 * (x**2).sum(axis=1)
        return np.where(inside, np.exp(log_prior - self.log_box_mass()), 0.0)
