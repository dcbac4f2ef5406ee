"""The size of each policy lever's effect: one shipped experiment per policy kind against the baseline.

Each experiment runs on seeds 0..n-1 next to the baseline on the same seeds (common random numbers),
and the table reports the median difference in an output at a month with its 5-95% band over the
seeds, plus the output that shows the lever's own channel. With `draws`, pair j is posterior draw j
instead (its parameters and seed in both runs), so the band carries parameter uncertainty as well as
noise, and the table adds the share of draws in which the effect's sign holds.
`weightshift levers --markdown` prints the README's table.
"""

from __future__ import annotations

import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim import api
from sim.batch.executors import start_context

# policy kind -> (experiment scenario, the output its channel shows in)
LEVERS: dict[str, tuple[str, str]] = {
    "chip_export_controls": ("policy_tighter_controls", "cn_compute_index"),
    "weight_export_controls": ("policy_us_weight_export_controls", "best_capability_west_open"),
    "licensing_regime": ("policy_us_licensing_regime", "best_capability_west_open"),
    "procurement": ("policy_open_procurement_preference", "usage_share_west_open"),
    "public_investment": ("policy_sovereign_fund_open_models", "best_capability_west_open"),
    "pricing": ("policy_price_war", "price_paid_us"),
    "trust": ("policy_security_warnings", "usage_share_cn_open"),
}


@dataclass(frozen=True)
class Effect:
    kind: str
    scenario: str
    median: float
    low: float
    high: float
    channel: str
    channel_median: float
    channel_base: float
    agree: float  # share of pairs whose effect has the median's sign


def _pair(job: tuple[str, int, dict[str, Any], str, str, str]) -> tuple[float, float, float]:
    scenario, seed, over, month, metric, channel = job
    a = api.run(scenario, seed=seed, overrides=over).timeseries.set_index("month").loc[month]
    b = api.run("baseline", seed=seed, overrides=over).timeseries.set_index("month").loc[month]
    return float(a[metric] - b[metric]), float(a[channel] - b[channel]), float(b[channel])


def effects(
    seeds: int = 10,
    n_developers: int = 20000,
    month: str = "2030-12",
    metric: str = "usage_share_cn_open",
    workers: int = 2,
    draws: int = 0,
) -> list[Effect]:
    """Median effect and 5-95% band of every lever on `metric` at `month`: over `seeds` paired seeds
    at the calibrated point, or, with `draws` > 0, over that many posterior draws."""
    pairs = _pairs(seeds, draws, n_developers)
    jobs = [(sc, s, over, month, metric, ch) for sc, ch in LEVERS.values() for s, over in pairs]
    with warnings.catch_warnings():
        # CPython counts numpy's own BLAS threads as "multi-threaded" (see start_context).
        warnings.filterwarnings("ignore", "This process .* is multi-threaded", DeprecationWarning)
        with ProcessPoolExecutor(workers, mp_context=start_context()) as pool:
            out = list(pool.map(_pair, jobs))
    rows = []
    n = len(pairs)
    for i, (kind, (sc, ch)) in enumerate(LEVERS.items()):
        part = np.array(out[i * n : (i + 1) * n])
        d = part[:, 0]
        mid = float(np.median(d))
        rows.append(
            Effect(
                kind,
                sc,
                mid,
                *np.quantile(d, [0.05, 0.95]),
                ch,
                float(np.median(part[:, 1])),
                float(np.median(part[:, 2])),
                float(np.mean(np.sign(d) == np.sign(mid))),
            )
        )
    return rows


def _pairs(seeds: int, draws: int, n_developers: int) -> list[tuple[int, dict[str, Any]]]:
    """(seed, overrides) of each pair: seeds 0..n-1 at the calibrated point, or posterior draws."""
    size = {"n_developers": n_developers}
    if not draws:
        return [(s, size) for s in range(seeds)]
    from sim.ensemble import draws as posterior_draws

    return [(s, p | size) for s, p in posterior_draws(draws, 0)]


def markdown(rows: list[Effect], pairs: str, month: str, metric: str) -> str:
    """The README's lever table; `pairs` says what the band is over ("10 seeds", "50 posterior draws")."""
    lines = [
        f"| policy kind | experiment | effect on `{metric}` at {month}, pp: median [5%, 95%] over {pairs} "
        "| sign holds in | its channel: median change (baseline) |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| `{r.kind}` | `{r.scenario}` | {100 * r.median:+.2f} [{100 * r.low:+.2f}, {100 * r.high:+.2f}] "
            f"| {r.agree:.0%} | `{r.channel}` {r.channel_median:+.3g} ({r.channel_base:.3g}) |"
        )
    return "\n".join(lines) + "\n"
