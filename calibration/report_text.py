"""The calibration report's Markdown (report.md): every figure says which table or file it is from."""

from __future__ import annotations

import pandas as pd

from calibration.report import MIN_DRIVER_DRAWS, NARROW, STRONG_CORR


def _fit(fit: pd.DataFrame, draws: int, point_seeds: int) -> list[str]:
    low = fit.loc[fit["coverage"] < 0.8, "target"].tolist()
    lines = [
        "## Fit",
        "",
        f"Coverage = share of {draws} posterior draws, each run with a fresh seed, that land inside the "
        f"target's range (posterior-predictive; goal >= 80%). Point = the point estimate "
        f"(calibrated.toml), median over {point_seeds} seeds. Source: fit.csv.",
        "",
        "| target | month | reported [range] | point median | draws 90% | coverage |",
        "|---|---|---|---|---|---|",
    ]
    for _, r in fit.iterrows():
        mark = "" if r["point_inside"] else " **outside**"
        lines.append(
            f"| {r['target']} | {r['month']} | {r['reported']:.3g} [{r['low']:.3g}, {r['high']:.3g}] | "
            f"{r['point_median']:.3g}{mark} | {r['draws_q05']:.3g} – {r['draws_q95']:.3g} | {r['coverage']:.0%} |"
        )
    lines += ["", f"Below 80% coverage: {', '.join(low) if low else 'none'}.", "", "![targets](targets.png)", ""]
    return lines


def _generations(gens: pd.DataFrame) -> list[str]:
    if gens.empty:
        return ["## Generations", "", "No generations.csv: the shipped posterior predates the pyabc fit.", ""]
    lines = [
        "## Generations",
        "",
        "Tolerance, model runs, accepted particles and effective sample size (Kish) of the importance "
        "weights per ABC-SMC generation, and how many faces of the next proposal's box the population "
        "still pressed against (0: the box no longer cuts the posterior; calibration/truncated.py). "
        "Source: generations.csv (written by `weightshift calibrate`).",
        "",
        "| t | tolerance | model runs | accepted | ESS | pressed faces |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {int(r.t)} | {r.epsilon:.4g} | {int(r.model_runs)} | {int(r.accepted)} | {r.ess:.0f} | "
        f"{int(r.pressed_faces)} |"
        for r in gens.itertuples()
    ]
    return [*lines, ""]


def _parameters(params: pd.DataFrame, pairs: list[tuple[str, str, float]]) -> list[str]:
    lines = [
        "## Parameters and identifiability",
        "",
        f"Marginal = posterior sd / prior sd; conditional = sd given all other parameters (Gaussian "
        f"approximation of the posterior) / prior sd. Verdict: identified (marginal < {NARROW}), ridge "
        f"(marginal >= {NARROW} but conditional < {NARROW}: the targets pin a combination, see the "
        "correlate), weak (wide either way). Recovery: from calibration/recovery.csv (synthetic targets "
        "made by the model at known values), blank if not tested. Source: parameters.csv, posterior.csv.",
        "",
        "| parameter | prior (from) | median [90%] | marginal | conditional | correlate | verdict | recovery |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for _, r in params.iterrows():
        lines.append(
            f"| {r['parameter']} | {r['prior']} ({r['from']}) | {r['median']:.3g} [{r['q05']:.3g}, {r['q95']:.3g}] | "
            f"{r['marginal_sd_ratio']:.2f} | {r['conditional_sd_ratio']:.2f} | "
            f"{r['strongest_correlate']} ({r['correlation']:+.2f}) | {r['verdict']} | {r['recovery']} |"
        )
    strong = [p for p in pairs if abs(p[2]) > STRONG_CORR]
    lines += ["", f"Posterior correlations beyond ±{STRONG_CORR}: {len(strong)} pairs; the strongest"]
    lines += ["(all in correlations.csv):", ""]
    strong = strong[:12]
    lines += [f"- {a} ~ {b}: {r:+.2f}" for a, b, r in strong] or ["- none"]
    return [*lines, "", "![pairs](pairs.png)", ""]


def _projection(proj: pd.DataFrame, draws: int) -> list[str]:
    if proj.empty:
        return []
    month = proj["month"].iloc[0]
    lines = [
        f"## Baseline projection to {month}",
        "",
        f"Usage shares at {month}: median and 5-95% over {draws} posterior draws with fresh seeds; point = "
        "the point estimate's median. By group where the model's output tables have one (found in "
        "sim.recorder.COLUMNS at run time). Source: projection.csv.",
        "",
        "| by | group | output | point | median [5%, 95%] |",
        "|---|---|---|---|---|",
    ]
    for r in proj.itertuples():
        point = "" if pd.isna(r.point_median) else f"{r.point_median:.3g}"
        lines.append(f"| {r.by} | {r.group} | {r.output} | {point} | {r.median:.3g} [{r.q05:.3g}, {r.q95:.3g}] |")
    return [*lines, "", "![projection](projection.png)", ""]


def _drivers(drive: pd.DataFrame) -> list[str]:
    lines = [
        "## What drives the projection",
        "",
        "First-order sensitivity indices (SALib RBD-FAST on the posterior draws) of each output at the "
        "last month (2030-12 at the default horizon): the share of its variance across the posterior "
        "explained by each parameter alone. "
        "Parameters are correlated under the posterior, so a parameter is credited with what its "
        "correlates move too; run noise is part of the remainder. Top five per output; all in drivers.csv.",
        "",
    ]
    if drive.empty:
        return [*lines, f"Too few draws for RBD-FAST (needs at least {MIN_DRIVER_DRAWS}).", ""]
    for o, sub in drive.groupby("output", sort=False):
        top = sub.sort_values("S1", ascending=False).head(5)
        lines.append(f"- {o}: " + ", ".join(f"{r.parameter} {r.S1:.2f}" for r in top.itertuples()))
    return [*lines, ""]


def markdown(
    fit: pd.DataFrame,
    gens: pd.DataFrame,
    params: pd.DataFrame,
    pairs: list[tuple[str, str, float]],
    proj: pd.DataFrame,
    drive: pd.DataFrame,
    summary: dict,
    draws: int,
    point_seeds: int,
) -> str:
    lines = ["# Calibration report", "", "## Method", "", "From calibration/calibrated.toml [summary]:", ""]
    lines += [f"- {k}: {v}" for k, v in summary.items()] + [""]
    lines += _fit(fit, draws, point_seeds) + _generations(gens) + _parameters(params, pairs)
    lines += _projection(proj, draws) + _drivers(drive)
    return "\n".join(lines)
