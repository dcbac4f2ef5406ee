"""The Python API: `sim.run(scenario, seed=..., overrides={...})` and its result."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from sim import scenario as scenarios
from sim.claims import Verdict, judge
from sim.memory import keep_freed_memory
from sim.model import WeightshiftModel
from sim.outdir import provenance, write_folder
from sim.scenario import Scenario

TABLES = ("timeseries", "families", "regions", "segments")
SUMMARY_MONTHS = ("2024-12", "2025-12", "2027-12", "2030-12")
SUMMARY_COLUMNS = (
    "usage_share_cn_open",
    "usage_share_west_open",
    "usage_share_closed",
    "download_share_cn_open",
    "startup_share_cn_among_open",
    "best_capability_cn_open",
    "best_capability_west_open",
    "best_capability_us_closed",
    "cn_compute_index",
    "price_paid_cn",
    "price_paid_us",
)


@dataclass
class RunResult:
    """One run's tables, and what produced them."""

    scenario: Scenario
    seed: int
    params: dict[str, Any]
    timeseries: pd.DataFrame
    families: pd.DataFrame
    regions: pd.DataFrame
    segments: pd.DataFrame
    model: WeightshiftModel | None = field(default=None, repr=False)

    def summary(self) -> pd.DataFrame:
        """Key outputs at a few months (those the run reached), one row per output."""
        ts = self.timeseries.set_index("month")
        months = [m for m in SUMMARY_MONTHS if m in ts.index] or [ts.index[-1]]
        return ts.loc[months, list(SUMMARY_COLUMNS)].T

    def save(self, out: str | Path, parquet: bool = True, overrides: dict[str, Any] | None = None) -> Path:
        """Replace folder `out` by this run's tables (CSV, and Parquet) and its `provenance.json`.

        The folder is swapped in whole (`sim.outdir.write_folder`), so no file of an earlier run
        stays beside the new ones. `overrides`: the parameters set on top of the scenario.
        """
        tables = {name: getattr(self, name) for name in TABLES}
        sc = self.scenario
        info = provenance(
            command="run",
            scenario=sc.name,
            scenario_file=sc.path,
            seed=self.seed,
            overrides=dict(overrides or {}),
            tables=sorted(tables),
        )
        return write_run_folder(tables, out, parquet, info)


def write_tables(tables: dict[str, pd.DataFrame], out: str | Path, parquet: bool = True) -> Path:
    """Write every table to a temporary folder beside `out`, then move each file into place.

    A crash leaves either the old file or the new one, never a half-written file.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        _write_files(tables, tmp, parquet)
        out.mkdir(exist_ok=True)
        for f in sorted(tmp.iterdir()):
            os.replace(f, out / f.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def write_run_folder(tables: dict[str, pd.DataFrame], out: str | Path, parquet: bool, info: dict[str, Any]) -> Path:
    """Replace folder `out` as a whole by `tables` (CSV, and Parquet) and `provenance.json` (`info`)."""
    return write_folder(out, lambda folder: _write_files(tables, folder, parquet), info)


def _write_files(tables: dict[str, pd.DataFrame], folder: Path, parquet: bool) -> None:
    for name, df in tables.items():
        df.to_csv(folder / f"{name}.csv", index=False, float_format="%.10g")
        if parquet:
            df.to_parquet(folder / f"{name}.parquet", index=False)


def run(
    scenario: str | Path | Scenario = "baseline",
    seed: int = 0,
    overrides: dict[str, Any] | None = None,
    engine: str = "vector",
    keep_model: bool = False,
    lab_seed: int | None = None,
) -> RunResult:
    """Run one scenario (a name, a path or a loaded Scenario) and return its tables.

    `overrides` change parameters on top of the scenario's (checked against the registry).
    `keep_model=True` keeps the model on the result for inspection. `lab_seed` seeds the labs'
    release timing apart from the developers' draws (default: `seed`), to tell the two noises apart.
    """
    keep_freed_memory()
    sc = scenario if isinstance(scenario, Scenario) else scenarios.load(scenario)
    params = sc.params(overrides, where="overrides")
    model = WeightshiftModel(sc, seed=seed, params=params, engine=engine, lab_seed=lab_seed).run()
    tables = model.recorder.tables(model.t)
    return RunResult(sc, seed, params, **tables, model=model if keep_model else None)


def check_claims(
    scenario: str | Path | Scenario, seeds: int = 10, overrides: dict[str, Any] | None = None
) -> list[Verdict]:
    """Run a scenario and its baseline on seeds 0..seeds-1 (common random numbers) and judge its claims.

    The baseline runs with the same `overrides`, so only the scenario's own parameter changes and
    policies separate the paired runs.
    """
    sc = scenario if isinstance(scenario, Scenario) else scenarios.load(scenario)
    base = scenarios.load("baseline")
    runs, refs = [], []
    for seed in range(seeds):
        runs.append(vars(run(sc, seed=seed, overrides=overrides)))
        refs.append(vars(run(base, seed=seed, overrides=overrides)))
    return judge(sc.claims, runs, refs)
