"""The size of each policy lever's effect: one shipped experiment per policy kind against the baseline.

Each experiment runs on seeds 0..n-1 next to the baseline on the same seeds (common random numbers),
and the table reports the median difference in an output at a month with its 5-95% band over the
seeds, plus the output that shows the lever's own channel. `weightshift levers --markdown` prints
the README's table.
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np

from sim import api

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


def _pair(job: tuple[str, int, int, str, str, str]) -> tuple[float, float, float]:
    scenario, seed, n, month, metric, channel = job
    over = {"n_developers": n}
    a = api.run(scenario, seed=seed, overrides=over).timeseries.set_index("month").loc[month]
    b = api.run("baseline", seed=seed, overrides=over).timeseries.set_index("month").loc[month]
    return float(a[metric] - b[metric]), float(a[channel] - b[channel]), float(b[channel])


def effects(
    seeds: int = 10,
    n_developers: int = 20000,
    month: str = "2030-12",
    metric: str = "usage_share_cn_open",
    workers: int = 2,
) -> list[Effect]:
    """Median effect and 5-95% seed band of every lever on `metric` at `month`."""
    jobs = [(sc, s, n_developers, month, metric, ch) for sc, ch in LEVERS.values() for s in range(seeds)]
    with ProcessPoolExecutor(workers) as pool:
        out = list(pool.map(_pair, jobs))
    rows = []
    for i, (kind, (sc, ch)) in enumerate(LEVERS.items()):
        part = np.array(out[i * seeds : (i + 1) * seeds])
        d = part[:, 0]
        rows.append(
            Effect(
                kind,
                sc,
                *np.quantile(d, [0.5, 0.05, 0.95]),
                ch,
                float(np.median(part[:, 1])),
                float(np.median(part[:, 2])),
            )
        )
    return rows


def markdown(rows: list[Effect], seeds: int, month: str, metric: str) -> str:
    """The README's lever table."""
    lines = [
        f"| policy kind | experiment | effect on `{metric}` at {month}, pp: median [5%, 95%] over {seeds} seeds "
        "| its channel: median change (baseline) |",
        "|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| `{r.kind}` | `{r.scenario}` | {100 * r.median:+.2f} [{100 * r.low:+.2f}, {100 * r.high:+.2f}] "
            f"| `{r.channel}` {r.channel_median:+.3g} ({r.channel_base:.3g}) |"
        )
    return "\n".join(lines) + "\n"
