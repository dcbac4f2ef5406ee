"""Benchmark of the sweep backends: runs per hour with 1 and 2 workers, and per-run overhead.

`python -m sim.batch.sweep_bench [--runs 100] [--n-developers 20000] [--months 96]` runs the same
Latin-hypercube sweep of default-size runs directly in this process (the reference: a loop of
`sim.run`), then on the process pool and on a Dask LocalCluster with 1 and 2 workers, and on
Dask with its default `MALLOC_TRIM_THRESHOLD_=65536` left in place. Results are identical in
every configuration (checked); only the time differs. Keep other work off the machine meanwhile.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from sim.batch.runner import run_sweep, run_task
from sim.batch.sweep import load

BODY = """name = "bench"
scenario = "baseline"
[design]
kind = "lhs"
samples = {runs}
seed = 1
[params]
n_developers = {n}
months = {months}
[vary]
cn_efficiency_premium = {{ low = 3.0, high = 8.0 }}
beta_trust = {{ low = 1.0, high = 1.3 }}
"""


def cpu_seconds() -> float:
    """CPU time of this process and of every descendant that has ended (pool and Dask workers)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def measure(runs: int, n: int, months: int, configs: list[tuple[str, int, bool]]) -> pd.DataFrame:
    """One row per configuration: wall time, runs/hour, mean in-worker run time, overhead."""
    tmp = Path(tempfile.mkdtemp(prefix="weightshift-bench-"))
    path = tmp / "bench.toml"
    path.write_text(BODY.format(runs=runs, n=n, months=months))
    sweep = load(path)
    run_task(sweep.task(0))  # warm up imports and caches, as a worker would be
    t0, c0 = time.perf_counter(), cpu_seconds()
    direct = [run_task(sweep.task(r)) for r in range(runs)]
    wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    ref = [r.outputs for r in direct]
    rows = [{"backend": "direct sim.run loop", "workers": 1, "wall_s": wall, "startup_s": 0.0, "cpu_s": cpu}]
    rows[0]["mean_run_s"] = wall / runs
    for backend, workers, tune in configs:
        os.environ["WEIGHTSHIFT_DASK_MALLOC"] = "tune" if tune else "keep"
        t0, c0 = time.perf_counter(), cpu_seconds()
        res = run_sweep(sweep, tmp / f"{backend}-{workers}-{tune}", workers=workers, backend=backend)
        wall = time.perf_counter() - t0
        time.sleep(1)  # let Dask's nannies reap their workers, so that their CPU time is counted
        cpu = cpu_seconds() - c0
        got = res.results[sweep.outputs.names].to_numpy(dtype=float)
        assert np.array_equal(got, np.array(ref, dtype=float), equal_nan=True), "results differ"
        label = backend if tune or backend == "local" else "dask, MALLOC_TRIM_THRESHOLD_=65536 kept"
        start = res.stats["startup_s"]
        row = {"backend": label, "workers": workers, "wall_s": wall, "startup_s": start, "cpu_s": cpu}
        rows.append(row | {"mean_run_s": res.stats["mean_run_s"]})
    os.environ.pop("WEIGHTSHIFT_DASK_MALLOC", None)
    df = pd.DataFrame(rows)
    df["runs_per_hour"] = runs / df.wall_s * 3600
    base = df.wall_s.iloc[0] / runs
    # worker-seconds per run beyond a direct run: with the start-up, and without it (steady state)
    df["overhead_pct"] = (df.wall_s * df.workers / runs - base) / base * 100
    df["overhead_pct_after_startup"] = ((df.wall_s - df.startup_s) * df.workers / runs - base) / base * 100
    # CPU seconds beyond a direct run's (robust to other load on the machine; start-up included)
    df["cpu_overhead_pct"] = (df.cpu_s / df.cpu_s.iloc[0] - 1) * 100
    return df


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m sim.batch.sweep_bench", description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=100)
    p.add_argument("--n-developers", type=int, default=20000)
    p.add_argument("--months", type=int, default=96)
    p.add_argument("--no-dask", action="store_true")
    p.add_argument("--no-malloc", action="store_true", help="skip the runs with Dask's malloc setting kept")
    args = p.parse_args(argv)
    configs = [("local", 1, True), ("local", 2, True)]
    if not args.no_dask:
        configs += [("dask", 1, True), ("dask", 2, True)]
        configs += [] if args.no_malloc else [("dask", 1, False), ("dask", 2, False)]
    df = measure(args.runs, args.n_developers, args.months, configs)
    print(f"{args.runs} runs of {args.n_developers} developers x {args.months} months; load {os.getloadavg()[0]:.2f}")
    print(df.to_string(index=False, float_format=lambda x: f"{x:,.3f}"))
    for name in df.backend.unique()[1:]:
        d = df[df.backend == name].set_index("workers").runs_per_hour
        if {1, 2} <= set(d.index):
            print(f"{name}: 2 workers give {d[2] / d[1]:.2f}x the runs per hour of 1")


if __name__ == "__main__":
    main()
