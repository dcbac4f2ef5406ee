"""Benchmark: developer-months per second of the full model, vectorised vs per-agent reference.

The full model is measured (labs, policies, data collection included), on the baseline
scenario. The per-agent reference runs the same decisions agent by agent through Mesa
(`engine="agents"`) for fewer months, since it is slow; its rate is per developer-month too.
"""

from __future__ import annotations

import resource
import time

from sim import scenario as scenarios
from sim.memory import keep_freed_memory
from sim.model import WeightshiftModel


def measure(n: int, months: int, engine: str) -> dict[str, float]:
    """Build and run one model; return set-up time, run time and developer-months per second."""
    sc = scenarios.load("baseline")
    params = sc.params({"n_developers": n, "months": months})
    keep_freed_memory()
    t0 = time.perf_counter()
    model = WeightshiftModel(sc, seed=0, params=params, engine=engine)
    t1 = time.perf_counter()
    model.run()
    model.recorder.tables(model.t)
    t2 = time.perf_counter()
    return {"setup": t1 - t0, "run": t2 - t1, "total": t2 - t0, "rate": n * months / (t2 - t1)}


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(sizes: list[int], months: int, reference_months: int) -> None:
    """Print one line per size and engine."""
    print(
        f"{'developers':>10} {'engine':>8} {'months':>6} {'setup s':>8} {'run s':>8} {'total s':>8} "
        f"{'dev-months/s':>13} {'peak MiB':>9}"
    )
    for n in sorted(sizes):
        results = {}
        for engine, m in (("vector", months), ("agents", reference_months)):
            r = results[engine] = measure(n, m, engine)
            print(
                f"{n:>10} {engine:>8} {m:>6} {r['setup']:>8.2f} {r['run']:>8.2f} {r['total']:>8.2f} "
                f"{r['rate'] / 1e6:>11.2f} M {peak_rss_mib():>9.0f}",
                flush=True,
            )
        speedup = results["vector"]["rate"] / results["agents"]["rate"]
        print(f"{'':>10} speed-up of vectorised over per-agent: {speedup:.0f}x")
