"""Priors of every parameter the fit draws: uniform on the registry's bounds for the calibrated
ones, and the documented priors of `priors.toml` for those that shape the history but are not
marked `calibrate=True` in `sim/params.py`.

Why a data file: the registry says *which* parameters the targets should pin down and within what
bounds; `priors.toml` says what is known about the others (a distribution and its source), so no
hand-set value stays outside the uncertainty. Both kinds enter the ABC-SMC with their prior; where
the targets say nothing about a `priors.toml` parameter its posterior stays its prior, and the
ensemble (`weightshift run --draws K`) carries it either way, since it reads every parameter
column of `posterior.csv`.

Every prior is truncated to the registry's [low, high], so the model never sees an illegal value.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from pyabc.random_variables import RVBase
from scipy import stats
from scipy.special import ndtr, ndtri

from sim.errors import FileProblem, InputError
from sim.params import REGISTRY

PRIORS_FILE = "priors.toml"
SQRT_2PI = math.sqrt(2 * math.pi)
WHERE = "calibration/priors.toml"
# dist -> its parameters, in order; every entry also needs `source`
SHAPES: dict[str, tuple[str, ...]] = {
    "uniform": ("low", "high"),
    "normal": ("mean", "sd"),
    "lognormal": ("median", "sigma"),
    "triangular": ("low", "mode", "high"),
}


def density(dist: str, a: Mapping[str, float], x: float) -> float:
    """The untruncated density at x, in closed form: the sampler evaluates every prior at every
    proposal (tens of thousands of times a generation), where scipy's per-call overhead dominates."""
    if dist == "uniform":
        return 1.0 / (a["high"] - a["low"]) if a["low"] <= x <= a["high"] else 0.0
    if dist == "normal":
        z = (x - a["mean"]) / a["sd"]
        return math.exp(-0.5 * z * z) / (a["sd"] * SQRT_2PI)
    if dist == "lognormal":
        if x <= 0:
            return 0.0
        z = (math.log(x) - math.log(a["median"])) / a["sigma"]
        return math.exp(-0.5 * z * z) / (x * a["sigma"] * SQRT_2PI)
    lo, mode, hi = a["low"], a["mode"], a["high"]
    if not lo <= x <= hi:
        return 0.0
    if x < mode:
        return 2 * (x - lo) / ((hi - lo) * (mode - lo))
    return 2 * (hi - x) / ((hi - lo) * (hi - mode)) if hi > mode else 2 / (hi - lo)


class Truncated(RVBase):
    """A distribution of SHAPES restricted to [low, high], as a pyabc random variable.

    Draws invert the CDF between the bounds, so they are exact and use numpy's global generator,
    which the sampler seeds per particle (see calibration/abc.py).
    """

    def __init__(self, dist: str, args: Mapping[str, float], low: float, high: float) -> None:
        self.dist, self.args, self.low, self.high = dist, dict(args), float(low), float(high)
        self.frozen = _frozen(dist, self.args)
        self.c_low, self.c_high = float(self.frozen.cdf(low)), float(self.frozen.cdf(high))
        self.mass = self.c_high - self.c_low

    def copy(self) -> Truncated:
        return Truncated(self.dist, self.args, self.low, self.high)

    def rvs(self, *args: Any, **kwargs: Any) -> float:
        return self.ppf(np.random.uniform())

    def pdf(self, x: float, *args: Any, **kwargs: Any) -> float:
        if not self.low <= x <= self.high:
            return 0.0
        return density(self.dist, self.args, float(x)) / self.mass

    def pmf(self, x: float, *args: Any, **kwargs: Any) -> float:
        return 0.0  # continuous

    def cdf(self, x: float, *args: Any, **kwargs: Any) -> float:
        return (float(self.frozen.cdf(np.clip(x, self.low, self.high))) - self.c_low) / self.mass

    def ppf(self, u: float) -> float:
        """The value below which a share u of this truncated prior lies (the inverse of `cdf`)."""
        return float(np.clip(self.frozen.ppf(self.c_low + u * self.mass), self.low, self.high))

    def __repr__(self) -> str:
        return f"<Truncated {self.dist} on [{self.low:g}, {self.high:g}]>"


class NormalScoreRV(RVBase):
    """A Truncated prior seen through its normal score z = Phi^-1(F(x)), F the prior's CDF: under
    the prior every parameter is a standard normal, whatever its distribution and bounds.

    Why: in tens of dimensions, importance weights (prior / proposal) degenerate unless the proposal
    matches the prior (with a kernel mixture and 51 parameters one particle took all the weight).
    With every prior N(0, 1) on this scale, the joint prior is N(0, I), which stays a product of
    independent standard normals in any rotated frame; so the prior restricted to a box in the
    population's principal axes is easy to draw from and has a constant weight
    (calibration/truncated.py). The scale is unbounded, so proposals never leave the support."""

    EDGE = 1e-15  # F(x) is kept this far from 0 and 1, so z stays finite (|z| < 8)

    def __init__(self, base: Truncated) -> None:
        self.base = base

    def to_x(self, z: float) -> float:
        u = min(max(float(ndtr(z)), self.EDGE), 1 - self.EDGE)
        return self.base.ppf(u)

    def to_z(self, x: float) -> float:
        u = min(max(self.base.cdf(x), self.EDGE), 1 - self.EDGE)
        return float(ndtri(u))

    def copy(self) -> NormalScoreRV:
        return NormalScoreRV(self.base.copy())

    def rvs(self, *args: Any, **kwargs: Any) -> float:
        return float(np.random.standard_normal())

    def pdf(self, z: float, *args: Any, **kwargs: Any) -> float:
        return math.exp(-0.5 * float(z) ** 2) / SQRT_2PI

    def pmf(self, x: float, *args: Any, **kwargs: Any) -> float:
        return 0.0  # continuous

    def cdf(self, z: float, *args: Any, **kwargs: Any) -> float:
        return float(ndtr(z))


def _frozen(dist: str, a: Mapping[str, float]) -> Any:
    if dist == "uniform":
        return stats.uniform(loc=a["low"], scale=a["high"] - a["low"])
    if dist == "normal":
        return stats.norm(loc=a["mean"], scale=a["sd"])
    if dist == "lognormal":
        return stats.lognorm(s=a["sigma"], scale=a["median"])
    return stats.triang(c=(a["mode"] - a["low"]) / (a["high"] - a["low"]), loc=a["low"], scale=a["high"] - a["low"])


@dataclass(frozen=True)
class Prior:
    """One parameter's prior: a distribution (SHAPES), its arguments, the support and the source."""

    name: str
    dist: str
    args: dict[str, float] = field(hash=False)
    low: float
    high: float
    source: str
    calibrated: bool  # True: uniform on the registry's bounds (calibrate=True); False: from priors.toml

    def rv(self) -> Truncated:
        return Truncated(self.dist, self.args, self.low, self.high)

    def normal_score_rv(self) -> NormalScoreRV:
        """The prior on its normal-score scale, where the fit works (see NormalScoreRV)."""
        return NormalScoreRV(self.rv())

    def sd(self) -> float:
        """Standard deviation of the (truncated) prior: the yardstick of identifiability."""
        x = np.linspace(self.low, self.high, 2001)
        rv = self.rv()
        w = np.array([rv.pdf(v) for v in x])
        w /= w.sum()
        mean = float((w * x).sum())
        return float(np.sqrt((w * (x - mean) ** 2).sum()))

    def describe(self) -> str:
        args = ", ".join(f"{k}={v:g}" for k, v in self.args.items())
        return f"{self.dist}({args}) on [{self.low:g}, {self.high:g}]"


def _number(where: str, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value):
        raise InputError(where, key, value, "a finite number")
    return float(value)


def _check_args(where: str, name: str, dist: str, args: dict[str, float], low: float, high: float) -> None:
    if dist in ("uniform", "triangular"):
        if not low <= args["low"] < args["high"] <= high:
            pair = [args["low"], args["high"]]
            raise InputError(where, f"{name}.low/high", pair, f"low < high within [{low:g}, {high:g}]")
        if dist == "triangular" and not args["low"] <= args["mode"] <= args["high"]:
            raise InputError(where, f"{name}.mode", args["mode"], f"within [{args['low']:g}, {args['high']:g}]")
    for key in ("sd", "sigma"):
        if key in args and args[key] <= 0:
            raise InputError(where, f"{name}.{key}", args[key], "a number > 0")
    if "median" in args and args["median"] <= 0:
        raise InputError(where, f"{name}.median", args["median"], "a number > 0")
    if "mean" in args and not low <= args["mean"] <= high:
        raise InputError(where, f"{name}.mean", args["mean"], f"within the registry's bounds [{low:g}, {high:g}]")


def parse_priors(doc: Mapping[str, Any], where: str = WHERE) -> dict[str, Prior]:
    """Validate a priors document (parameter name -> table) into Priors.

    Each bad entry raises InputError naming the parameter and key: an unknown key, a missing one,
    a distribution not in SHAPES, a parameter the registry does not have (or already calibrates).
    """
    out = {}
    for name, entry in doc.items():
        if name not in REGISTRY:
            raise InputError(where, name, entry, "a parameter in sim/params.py's REGISTRY (see `weightshift params`)")
        p = REGISTRY[name]
        if p.calibrate:
            raise InputError(where, name, "calibrate=True", "a parameter the registry does not already calibrate")
        if p.kind is bool:
            raise InputError(where, name, p.default, "a numeric parameter (switches have no prior)")
        if not isinstance(entry, Mapping):
            raise InputError(
                where, name, entry, 'a table such as {dist = "normal", mean = ..., sd = ..., source = ...}'
            )
        dist = entry.get("dist")
        if dist not in SHAPES:
            raise InputError(where, f"{name}.dist", dist, f"one of {', '.join(SHAPES)}")
        allowed = ("dist", "source", *SHAPES[dist])
        for key in entry:
            if key not in allowed:
                raise InputError(where, f"{name}.{key}", entry[key], f"one of {', '.join(allowed)} for dist {dist!r}")
        for key in allowed:
            if key not in entry:
                raise InputError(where, f"{name}.{key}", None, f"present for dist {dist!r}")
        source = entry["source"]
        if not isinstance(source, str) or not source.strip():
            raise InputError(where, f"{name}.source", source, "a non-empty text naming where the prior comes from")
        args = {k: _number(where, f"{name}.{k}", entry[k]) for k in SHAPES[dist]}
        _check_args(where, name, dist, args, p.low, p.high)
        out[name] = Prior(name, dist, args, p.low, p.high, source, calibrated=False)
    return out


def load_priors(path: Path | None = None) -> dict[str, Prior]:
    """The priors of `priors.toml` (the shipped file unless `path` is given)."""
    where = str(path) if path else WHERE
    try:
        f = path or resources.files("calibration").joinpath(PRIORS_FILE)
        text = f.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileProblem(where, "no such file") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise FileProblem(where, f"not valid TOML: {exc}") from None
    return parse_priors(doc, where)


def registry_priors() -> dict[str, Prior]:
    """Uniform priors on the registry's bounds for every `calibrate=True` parameter."""
    return {
        p.name: Prior(p.name, "uniform", {"low": p.low, "high": p.high}, p.low, p.high, p.source, calibrated=True)
        for p in REGISTRY.values()
        if p.calibrate
    }


def all_priors(free: tuple[str, ...] = (), path: Path | None = None) -> dict[str, Prior]:
    """Every prior the fit draws, registry ones first; only `free` if given (others stay fixed)."""
    priors = registry_priors() | load_priors(path)
    if not free:
        return priors
    for name in free:
        if name not in priors:
            raise InputError(
                "free", name, name, "a calibrated parameter or one with a prior in calibration/priors.toml"
            )
    return {n: priors[n] for n in free}
