"""Runs over the calibration's posterior: uncertainty carried into every projection.

`run_draws` runs K parameter sets drawn from `calibration/posterior.csv` by importance weight
(every parameter column: the calibrated ones and those with a prior in calibration/priors.toml),
each with its own seed, and summarises every timeseries and regions output by month (and region)
as a median and a 5-95% band.
"""

from __future__ import annotations

import functools
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim import api
from sim.errors import InputError
from sim.outdir import provenance
from sim.params import REGISTRY
from sim.scenario import Scenario, load

QUANTILES = (0.05, 0.5, 0.95)


POSTERIOR_ENV = "WEIGHTSHIFT_POSTERIOR"


def fit_folder() -> Path | None:
    """The folder of a fit that `--draws` should use instead of the shipped one: the folder that
    WEIGHTSHIFT_POSTERIOR names (as written by `weightshift calibrate --out`, e.g. one under
    calibration/fits/), or None for the shipped calibration package.

    Why an opt-in: a fit that is kept for inspection but is not the default (its posterior does not
    yet reproduce the history well enough to carry every projection) can still be run through the
    same surfaces by whoever chooses to. Worker processes inherit the variable."""
    value = os.environ.get(POSTERIOR_ENV)
    if not value:
        return None
    folder = Path(value)
    if not (folder / "posterior.csv").is_file():
        raise InputError(
            POSTERIOR_ENV, "folder", value, "a fit folder holding posterior.csv (weightshift calibrate --out)"
        )
    return folder


def posterior() -> pd.DataFrame:
    """The accepted parameter sets (with a `weight` column): the shipped `calibration/posterior.csv`,
    or the one in `fit_folder()`.

    Read once per process (the UI asks on every render of its Compare tab); callers get a copy."""
    return _read_posterior(fit_folder()).copy()


def has_posterior() -> bool:
    """Whether there is a posterior to draw from (the UI's Compare tab asks on every render)."""
    return not posterior().empty


@functools.cache
def _read_posterior(folder: Path | None) -> pd.DataFrame:
    if folder is not None:
        return _checked(pd.read_csv(folder / "posterior.csv"), folder / "posterior.csv")
    try:
        f = resources.files("calibration").joinpath("posterior.csv")
    except ModuleNotFoundError:
        return pd.DataFrame()
    if not f.is_file():
        return pd.DataFrame()
    with resources.as_file(f) as path:
        return pd.read_csv(path)


def _checked(post: pd.DataFrame, path: Path) -> pd.DataFrame:
    """A user-named posterior must have positive weights and only registry parameters besides them."""
    if "weight" not in post or post.empty or not (post["weight"] > 0).all():
        raise InputError(POSTERIOR_ENV, "weight", str(path), "a posterior.csv with a positive weight on every row")
    unknown = [
        c for c in post.columns if c not in REGISTRY and c not in ("weight", "distance") and not c.startswith("sim_")
    ]
    if unknown:
        raise InputError(POSTERIOR_ENV, "column", unknown[0], f"a parameter of the registry (in {path})")
    return post


def draw_parameters(k: int, seed: int) -> list[dict[str, Any]]:
    """K posterior draws (by importance weight, with replacement), reproducible from `seed`."""
    post = posterior()
    if post.empty:
        raise InputError("--draws", "draws", k, "a calibrated posterior (run `weightshift calibrate` first)")
    names = [c for c in post.columns if c in REGISTRY]
    weights = post["weight"].to_numpy() / post["weight"].sum()
    rows = np.random.default_rng([seed, 7]).choice(len(post), size=k, p=weights)
    return [{n: REGISTRY[n].typed(post.iloc[r][n]) for n in names} for r in rows]


def draw_seed(seed: int, i: int) -> int:
    """The run seed of draw i: independent of K, so draw i is the same whatever K is."""
    return int(np.random.SeedSequence([seed, i]).generate_state(1)[0])


def draws(k: int, seed: int) -> list[tuple[int, dict[str, Any]]]:
    """(run seed, parameters) of K posterior draws: what every `--draws` surface pairs its
    scenarios on, so draw i of a policy and of its baseline share both (common random numbers)."""
    return [(draw_seed(seed, i), p) for i, p in enumerate(draw_parameters(k, seed))]


@dataclass
class Ensemble:
    """K runs over posterior draws: their parameters, all timeseries and regions, and the bands."""

    draws: pd.DataFrame  # one row per draw: draw, seed, parameters
    timeseries: pd.DataFrame  # every draw's timeseries, with a `draw` column
    bands: pd.DataFrame  # month x output: q05, median, q95
    regions: pd.DataFrame  # every draw's regions table, with a `draw` column
    region_bands: pd.DataFrame  # month x region x output: q05, median, q95

    def summary(self) -> pd.DataFrame:
        """Median [5%, 95%] of the key outputs at the summary months."""
        b = self.bands[self.bands["month"].isin(api.SUMMARY_MONTHS) & self.bands["output"].isin(api.SUMMARY_COLUMNS)]
        text = b.apply(lambda r: f"{r['median']:.3g} [{r['q05']:.3g}, {r['q95']:.3g}]", axis=1)
        return (
            b.assign(value=text)
            .pivot(index="output", columns="month", values="value")
            .loc[[c for c in api.SUMMARY_COLUMNS if c in set(b["output"])]]
        )

    def save(self, out: str | Path, parquet: bool = True, info: dict[str, Any] | None = None) -> Path:
        """Replace folder `out` by the tables and `provenance.json` (`info` and the version and time)."""
        tables = {
            "draws": self.draws,
            "timeseries_draws": self.timeseries,
            "timeseries_bands": self.bands,
            "regions_draws": self.regions,
            "regions_bands": self.region_bands,
        }
        return api.write_run_folder(tables, out, parquet, provenance(**(info or {}), tables=sorted(tables)))


def _one(task: tuple[Scenario, int, dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    scenario, seed, overrides = task
    r = api.run(scenario, seed=seed, overrides=overrides)
    return r.timeseries, r.regions


def bands(table: pd.DataFrame, keys: tuple[str, ...] = ("month",)) -> pd.DataFrame:
    """Median and 5-95% band of every numeric output by `keys` (month; or month and region), long."""
    long = table.drop(columns="draw").melt(id_vars=list(keys), var_name="output")
    long["value"] = pd.to_numeric(long["value"])
    q = long.groupby([*keys, "output"], sort=False)["value"].quantile(list(QUANTILES)).unstack()
    q.columns = ["q05", "median", "q95"]
    return q.reset_index()


def run_draws(
    scenario: str | Path | Scenario,
    k: int,
    seed: int = 0,
    overrides: dict[str, Any] | None = None,
    workers: int = 1,
) -> Ensemble:
    """Run `scenario` for K posterior draws (user `overrides` win over the draws)."""
    sc = scenario if isinstance(scenario, Scenario) else load(scenario)
    pairs = draws(k, seed)
    tasks = [(sc, s, p | (overrides or {})) for s, p in pairs]
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(_one, tasks))
    else:
        results = [_one(t) for t in tasks]
    ts = pd.concat([r[0].assign(draw=i) for i, r in enumerate(results)], ignore_index=True)
    reg = pd.concat([r[1].assign(draw=i) for i, r in enumerate(results)], ignore_index=True)
    table = pd.DataFrame([{"draw": i, "seed": s} | p for i, (s, p) in enumerate(pairs)])
    return Ensemble(table, ts, bands(ts), reg, bands(reg, ("month", "region")))
