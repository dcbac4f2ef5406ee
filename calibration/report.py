"""`weightshift report calibration`: how well the calibrated model reproduces the reported figures.

Writes into the output folder: `fit.csv` (per target: reported value and range, the simulated
median and 90% interval over posterior draws, whether the point estimate and what share of the
draws land inside the range), `parameters.csv` (posterior summaries, and which parameters the
targets do not identify), `history.png` and `targets.png`, and `report.md` tying them together.
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from calibration.fit import fitted_params
from calibration.store import calibration_summary
from calibration.targets import LAST_MONTH_NEEDED, evaluate_all, load_targets, require_columns
from sim.api import write_tables
from sim.ensemble import draw_parameters, draw_seed, posterior
from sim.params import calibrated

POINT_SEEDS = 10
IDENTIFIED_SD_RATIO = 0.6  # posterior sd / prior sd above this: the targets barely inform it


def _history(task: tuple[dict, int]) -> tuple[dict[str, float], pd.DataFrame, pd.DataFrame]:
    import sim

    params, seed = task
    r = sim.run("baseline", seed=seed, overrides=params | {"months": LAST_MONTH_NEEDED})
    return evaluate_all(r), r.timeseries, r.families


def simulate_history(draws: int, workers: int) -> tuple[list, list]:
    """The point estimate over POINT_SEEDS seeds, and `draws` posterior draws (own seed each)."""
    point_tasks = [({}, 10_000 + s) for s in range(POINT_SEEDS)]
    draw_tasks = [(p, draw_seed(1, i)) for i, p in enumerate(draw_parameters(draws, seed=1))]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        point = list(pool.map(_history, point_tasks))
        post = list(pool.map(_history, draw_tasks))
    return point, post


def fit_table(point: list, post: list) -> pd.DataFrame:
    rows = []
    for t in load_targets():
        p = np.array([r[0][t.id] for r in point])
        d = np.array([r[0][t.id] for r in post])
        rows.append(
            {
                "target": t.id,
                "month": t.month,
                "reported": t.value,
                "low": t.low,
                "high": t.high,
                "weight": t.weight,
                "point_median": float(np.median(p)),
                "point_inside": t.inside(float(np.median(p))),
                "point_seeds_inside": float(np.mean([t.inside(x) for x in p])),
                "draws_median": float(np.median(d)),
                "draws_q05": float(np.quantile(d, 0.05)),
                "draws_q95": float(np.quantile(d, 0.95)),
                "draws_inside": float(np.mean([t.inside(x) for x in d])),
                "source": t.source,
            }
        )
    return pd.DataFrame(rows)


def parameter_table() -> pd.DataFrame:
    """Posterior median and 90% interval of each fitted parameter; identified or not."""
    post = posterior()
    w = post["weight"].to_numpy() / post["weight"].sum()
    point = calibrated()
    rows = []
    for p in fitted_params():
        x = post[p.name].to_numpy()
        order = np.argsort(x)
        cum = np.cumsum(w[order])
        q = [float(x[order][np.searchsorted(cum, c)]) for c in (0.05, 0.5, 0.95)]
        sd = float(np.sqrt(np.cov(x, aweights=w)))
        ratio = sd / ((p.high - p.low) / np.sqrt(12))
        rows.append(
            {
                "parameter": p.name,
                "unit": p.unit,
                "prior_low": p.low,
                "prior_high": p.high,
                "declared": p.default,
                "calibrated": point.get(p.name),
                "q05": q[0],
                "median": q[1],
                "q95": q[2],
                "sd_over_prior_sd": ratio,
                "identified": ratio <= IDENTIFIED_SD_RATIO,
            }
        )
    return pd.DataFrame(rows)


PANELS = (
    ("usage_share_cn_open", "CN open usage share", ["cn_usage_late_2024", "cn_usage_late_2025"]),
    ("Qwen:cum_downloads", "Qwen cumulative downloads", ["qwen_cum_downloads_2025"]),
    ("Llama:cum_downloads", "Llama cumulative downloads", ["llama_cum_downloads_2024"]),
    ("Qwen:derivatives", "Qwen derivatives", ["qwen_derivatives_2025"]),
    ("startup_share_cn_among_open", "Startups on CN among open (world)", []),
    ("capability", "Best capability: CN open, West open, closed", []),
)


def _series(run: tuple, key: str) -> pd.Series:
    _, ts, fam = run
    if ":" in key:
        family, col = key.split(":")
        f = fam[fam["family"] == family]
        return pd.Series(f[col].to_numpy(), index=f["month"].to_numpy())
    return pd.Series(ts[key].to_numpy(), index=ts["month"].to_numpy())


def plot_history(post: list, point: list, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    targets = {t.id: t for t in load_targets()}
    fig, axes = plt.subplots(2, 3, figsize=(15, 8), constrained_layout=True)
    for ax, (key, title, ids) in zip(axes.ravel(), PANELS, strict=True):
        keys = (
            ["best_capability_cn_open", "best_capability_west_open", "best_capability_closed"]
            if key == "capability"
            else [key]
        )
        for k in keys:
            band = pd.concat([_series(r, k) for r in post], axis=1)
            x = np.arange(len(band))
            ax.fill_between(x, band.quantile(0.05, axis=1), band.quantile(0.95, axis=1), alpha=0.25)
            ax.plot(
                x,
                pd.concat([_series(r, k) for r in point], axis=1).median(axis=1),
                label=k.replace("best_capability_", ""),
            )
        months = list(band.index)
        for tid in ids:
            t = targets[tid]
            i = months.index(t.month)
            ax.errorbar([i], [t.value], yerr=[[t.value - t.low], [t.high - t.value]], fmt="o", color="black", capsize=4)
        ax.set_xticks(range(0, len(months), 6), months[::6], rotation=45, fontsize=8)
        ax.set_title(title)
        if key == "capability":
            ax.legend(fontsize=8)
    fig.suptitle("History window: point estimate (line), 5-95% of posterior draws (band), reported figures (black)")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_targets(fit: pd.DataFrame, path: Path) -> None:
    """Each target's simulated 90% interval and point median, in units of its accepted range."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def scale(v, row):
        width = row["high"] - row["low"] or 1.0
        return (v - row["low"]) / width

    fig, ax = plt.subplots(figsize=(9, 5), constrained_layout=True)
    for i, row in fit.reset_index(drop=True).iterrows():
        ax.plot([scale(row["draws_q05"], row), scale(row["draws_q95"], row)], [i, i], lw=6, alpha=0.4, color="tab:blue")
        ax.plot(scale(row["point_median"], row), i, "o", color="tab:red")
        ax.plot(scale(row["reported"], row), i, "|", color="black", ms=14)
    ax.axvspan(0, 1, color="green", alpha=0.08)
    ax.set_yticks(range(len(fit)), fit["target"])
    ax.set_xlabel("position within the accepted range (0 = low, 1 = high)")
    ax.set_title("Targets: posterior 90% interval (bar), point estimate (red), reported (black)")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def markdown(fit: pd.DataFrame, params: pd.DataFrame, summary: dict) -> str:
    lines = ["# Calibration report", "", "## Method", ""]
    lines += [f"- {k}: {v}" for k, v in summary.items()]
    n_in = int(fit["point_inside"].sum())
    lines += [
        "",
        "## Fit",
        "",
        f"Point estimate inside the accepted range for {n_in} of {len(fit)} targets "
        f"(median over {POINT_SEEDS} seeds); share of posterior draws inside, per target, below.",
        "",
        "| target | month | reported [range] | point median | draws 90% | draws inside |",
        "|---|---|---|---|---|---|",
    ]
    for _, r in fit.iterrows():
        mark = "" if r["point_inside"] else " **outside**"
        lines.append(
            f"| {r['target']} | {r['month']} | {r['reported']:.3g} [{r['low']:.3g}, {r['high']:.3g}] | "
            f"{r['point_median']:.3g}{mark} | {r['draws_q05']:.3g} – {r['draws_q95']:.3g} | {r['draws_inside']:.0%} |"
        )
    weak = params.loc[~params["identified"], "parameter"].tolist()
    lines += [
        "",
        "![history](history.png)",
        "",
        "![targets](targets.png)",
        "",
        "## Parameters",
        "",
        "| parameter | prior | calibrated | posterior median [90%] | identified |",
        "|---|---|---|---|---|",
    ]
    for _, r in params.iterrows():
        lines.append(
            f"| {r['parameter']} | {r['prior_low']:g} – {r['prior_high']:g} | {r['calibrated']:.3g} | "
            f"{r['median']:.3g} [{r['q05']:.3g}, {r['q95']:.3g}] | {'yes' if r['identified'] else 'no'} |"
        )
    lines += [
        "",
        f"Not identified by the targets (posterior sd > {IDENTIFIED_SD_RATIO} x prior sd): "
        + (", ".join(weak) if weak else "none")
        + ".",
        "",
    ]
    return "\n".join(lines)


def write_report(out: Path, draws: int = 100, workers: int = 2) -> Path:
    """Simulate, tabulate, plot and write the report into `out` (tables atomically)."""
    require_columns(load_targets())
    point, post = simulate_history(draws, workers)
    fit, params = fit_table(point, post), parameter_table()
    write_tables({"fit": fit, "parameters": params}, out, parquet=False)
    plot_history(post, point, out / "history.png")
    plot_targets(fit, out / "targets.png")
    (out / "report.md").write_text(markdown(fit, params, calibration_summary()), encoding="utf-8")
    return out / "report.md"


__all__ = ["write_report"]
