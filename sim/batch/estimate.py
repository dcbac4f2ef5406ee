"""A sweep's size before anything is sampled or run: runs, disk, memory and time, with a cap.

A typo in `--samples` (1e8 instead of 1e3) once sampled for minutes and took 23.6 GB of a
24 GiB machine. Everything here is arithmetic on the design's formula (`Sweep.n_points` never
samples), so a design of a billion points is refused in milliseconds.

Figures and their sources:
- time: 0.43 s per default run (20,000 developers x 96 months), docs/sweeps.md "Measured speed",
  of which ~0.05 s is a fixed cost per run, the rest scaled by developer-months; on `--resume`,
  the mean run time measured in the journal instead. On a busy machine runs take 2-4x as long.
- worker memory: ~160 MB for the interpreter and model code plus ~0.8 kB per developer (peak
  RSS of one run: 173 MB at 20,000 developers, 294 MB at 200,000; measured for this module).
- disk and parent memory: bytes per value of the journal, the Parquet tables and the design.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from sim.batch.sweep import TS_COLUMNS, Sweep
from sim.errors import InputError

RUN_OVERHEAD_S = 0.05  # building a model of a few hundred developers (measured: 0.04-0.06 s)
SECONDS_PER_DEVELOPER_MONTH = (0.43 - RUN_OVERHEAD_S) / (20_000 * 96)
WORKER_BASE_BYTES = 160e6
WORKER_BYTES_PER_DEVELOPER = 800.0
MAX_RUNS = 1_000_000  # beyond this, --yes is required
MAX_HOURS = 7 * 24
MAX_MEMORY_SHARE = 0.5  # of physical memory


@dataclass(frozen=True)
class Estimate:
    runs: int
    points: int
    disk_bytes: float
    memory_bytes: float  # the sweep process plus its workers, at peak
    seconds: float  # wall time on the given workers
    run_seconds: float
    rate_source: str

    def describe(self, workers: int) -> str:
        return (
            f"estimate: {self.runs:,} runs, ~{_size(self.disk_bytes)} on disk, ~{_size(self.memory_bytes)} of memory, "
            f"~{_duration(self.seconds)} on {workers} worker{'s' if workers != 1 else ''} at "
            f"{self.run_seconds:.3g} s per run ({self.rate_source})"
        )


def _largest(sweep: Sweep, name: str) -> float:
    """The largest value parameter `name` takes in any run (its fixed value, or its factor's top)."""
    value = float(sweep.scenario.params(sweep.params, sweep.path)[name])
    for f in sweep.factors:
        if f.target == ("param", name):
            value = float(max(f.values)) if f.values is not None else float(f.high)  # type: ignore[arg-type]
    return value


def estimate(sweep: Sweep, workers: int = 1, measured_run_s: float | None = None) -> Estimate:
    """The size of `sweep` on `workers` workers; `measured_run_s` replaces the declared run time."""
    runs, points = sweep.n_runs, sweep.n_points
    developers, months = _largest(sweep, "n_developers"), _largest(sweep, "months")
    if measured_run_s:
        run_s, source = measured_run_s, "measured in this folder's journal"
    else:
        run_s = RUN_OVERHEAD_S + SECONDS_PER_DEVELOPER_MONTH * developers * months
        source = f"declared: 0.43 s per 20,000 x 96 developer-months, scaled to {developers:,.0f} x {months:.0f}"
    factors, outputs = len(sweep.factors), len(sweep.outputs.names)
    per_run = 100 + 25 * outputs + 8 * (5 + factors + outputs)  # journal line + results row
    kept = months * len(TS_COLUMNS) * 8 * 2 if sweep.outputs.timeseries else 0  # timeseries.bin + parquet
    disk = runs * (per_run + kept) + points * (2 * factors + 1) * 8
    parent = points * factors * 8 * 4 + runs * ((5 + factors + outputs) * 8 * 3 + 200) + runs * kept
    memory = parent + workers * (WORKER_BASE_BYTES + WORKER_BYTES_PER_DEVELOPER * developers)
    return Estimate(runs, points, disk, memory, runs * run_s / max(workers, 1), run_s, source)


def physical_memory() -> float:
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return float("inf")


def free_disk(out: Path) -> float:
    base = out
    while not base.exists() and base != base.parent:
        base = base.parent
    try:
        return float(shutil.disk_usage(base).free)
    except OSError:
        return float("inf")


def check(est: Estimate, out: Path | None, yes: bool) -> None:
    """Raise InputError for a design too large for this machine, or above the caps without `yes`.

    Memory beyond the machine's physical memory is refused even with `yes`: it cannot work.
    """
    ram = physical_memory()
    if est.memory_bytes > ram:
        need = f"needs ~{_size(est.memory_bytes)}, this machine has {_size(ram)}"
        raise InputError("--samples", "design", f"{est.runs:,} runs", f"a design that fits in memory ({need})")
    if yes:
        return
    over = []
    if est.runs > MAX_RUNS:
        over.append(f"{est.runs:,} runs > {MAX_RUNS:,}")
    if est.seconds > MAX_HOURS * 3600:
        over.append(f"~{_duration(est.seconds)} > {MAX_HOURS} h")
    if est.memory_bytes > MAX_MEMORY_SHARE * ram:
        over.append(f"~{_size(est.memory_bytes)} of memory > half of {_size(ram)}")
    if out is not None and est.disk_bytes > free_disk(out):
        over.append(f"~{_size(est.disk_bytes)} on disk > {_size(free_disk(out))} free")
    if over:
        allowed = f"a smaller design ({'; '.join(over)}), or --yes to run it anyway"
        raise InputError("--samples", "design", f"{est.runs:,} runs", allowed)


def _size(n: float) -> str:
    units = ("B", "kB", "MB", "GB", "TB", "PB", "EB")
    i = 0
    while n >= 1000 and i < len(units) - 1:
        n, i = n / 1000, i + 1
    return f"{n:.3g} {units[i]}"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 3 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:,.0f} days"
