"""Reading and writing the calibration's results: the posterior sample and the point estimate.

`calibrated.toml` holds the point estimate that every scenario starts from; `posterior.csv` the
importance-weighted posterior sample (and `generations.csv` the fit's
generations), which `weightshift run --draws K` samples (`sim.ensemble` reads it).
Both are written atomically (temporary file, then rename).
"""

from __future__ import annotations

import os
import tempfile
import tomllib
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import pandas as pd

CALIBRATED = "calibrated.toml"
POSTERIOR = "posterior.csv"
GENERATIONS = "generations.csv"


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def save_table(out: Path, name: str, table: pd.DataFrame) -> Path:
    """Write one CSV table into `out` atomically; returns its path."""
    out.mkdir(parents=True, exist_ok=True)
    _atomic_write(out / name, table.to_csv(index=False, float_format="%.10g"))
    return out / name


def _toml_value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(float(v)) if isinstance(v, float) else str(v)
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


def save_results(
    out: Path, posterior: pd.DataFrame, point: dict, summary: dict, tables: dict[str, pd.DataFrame] | None = None
) -> None:
    """Write posterior.csv, calibrated.toml and any further `tables` (name.csv) into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    _atomic_write(out / POSTERIOR, posterior.to_csv(index=False, float_format="%.10g"))
    for name, table in (tables or {}).items():
        _atomic_write(out / f"{name}.csv", table.to_csv(index=False, float_format="%.10g"))
    lines = [
        "# The calibrated parameter set: the default that every scenario starts from.",
        f"# Written by `weightshift calibrate` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; do not edit by hand.",
        "",
        "[summary]",
        *(f"{k} = {_toml_value(v)}" for k, v in summary.items()),
        "",
        "[params]",
        *(f"{k} = {_toml_value(v)}" for k, v in point.items()),
        "",
    ]
    _atomic_write(out / CALIBRATED, "\n".join(lines))


def _package_file(name: str):
    """A file of the fit in use: the shipped calibration package's, or that of the folder
    WEIGHTSHIFT_POSTERIOR names (sim.ensemble.fit_folder)."""
    from sim.ensemble import fit_folder

    folder = fit_folder()
    return folder / name if folder is not None else resources.files("calibration").joinpath(name)


def generations() -> pd.DataFrame:
    """The shipped fit's generations (t, epsilon, model runs, accepted, ESS); empty if none."""
    f = _package_file(GENERATIONS)
    if not f.is_file():
        return pd.DataFrame()
    with resources.as_file(f) as path:
        return pd.read_csv(path)


def calibration_summary() -> dict:
    f = _package_file(CALIBRATED)
    return dict(tomllib.loads(f.read_text(encoding="utf-8"))["summary"]) if f.is_file() else {}
