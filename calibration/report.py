"""`weightshift report calibration`: how well the posterior reproduces the reported figures, how
well it pins the parameters down, and what it says about 2030.

Writes into the output folder (default calibration/report/): `fit.csv` (per target: reported value
and range, posterior-predictive median and 90% interval, coverage = share of draws, each run with a
fresh seed, inside the range), `generations.csv` (tolerance and ESS per generation),
`parameters.csv` (the identifiability table), `correlations.csv`, `projection.csv` (the
baseline's last month: median and 5-95% over draws, overall and by group), `drivers.csv`
(first-order sensitivity of the last month's outputs to each parameter across the posterior,
SALib RBD-FAST), the figures `targets.png`, `projection.png`, `pairs.png`, and `report.md`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from calibration.fit import HERE
from calibration.plots import plot_pairs, plot_projection, plot_targets
from calibration.predictive import POINT_SEEDS, Predictive, group_tables, simulate
from calibration.priors import Prior, all_priors
from calibration.store import calibration_summary, generations
from calibration.summaries import conditional_sd, weighted_corr, weighted_quantile, weighted_sd, weights
from calibration.targets import load_targets, require_columns
from sim.api import SUMMARY_COLUMNS, write_tables
from sim.ensemble import posterior

REPORT_DIR = HERE / "report"
NARROW = 0.5  # posterior sd / prior sd below this: the targets inform the parameter
STRONG_CORR = 0.5  # |r| above this: listed as a ridge
PAIRS = 8  # parameters in the pairs plot
SHARES = "usage_share_"
HARMONICS = 4  # RBD-FAST's M: its bias grows as 2M / draws
MIN_DRIVER_DRAWS = 50


def fit_table(pred: Predictive) -> pd.DataFrame:
    """Per target: reported range, point estimate, posterior-predictive band and coverage."""
    draws = pred.targets()
    rows = []
    for t in load_targets():
        p = np.array([r["targets"][t.id] for r in pred.point])
        d = draws[t.id].to_numpy(dtype=float)
        rows.append(
            {"target": t.id, "month": t.month, "reported": t.value, "low": t.low, "high": t.high, "weight": t.weight}
            | {"point_median": float(np.median(p)), "point_inside": t.inside(float(np.median(p)))}
            | {"draws_median": float(np.nanmedian(d)), "draws_q05": float(np.nanquantile(d, 0.05))}
            | {"draws_q95": float(np.nanquantile(d, 0.95)), "coverage": float(np.mean([t.inside(x) for x in d]))}
            | {"source": t.source}
        )
    return pd.DataFrame(rows)


def _recovery() -> dict[str, bool]:
    f = HERE / "recovery.csv"
    if not f.is_file():
        return {}
    table = pd.read_csv(f)
    return dict(zip(table["parameter"], table["recovered"].astype(bool), strict=True))


def identifiability(post: pd.DataFrame, priors: dict[str, Prior]) -> pd.DataFrame:
    """Per parameter: posterior summaries, marginal and conditional sd against the prior's, the
    strongest correlate, and a verdict judged from the posterior (not from marginal spread alone):
    identified (marginal sd < NARROW x prior sd), ridge (marginal wide, but narrow given the
    others: the targets pin a combination), or weak (wide either way). Recovery status comes from
    calibration/recovery.csv when a recovery run wrote it."""
    names = [n for n in priors if n in post.columns]
    w = weights(post)
    corr = weighted_corr(post, names) if len(names) > 1 else pd.DataFrame()
    cond = conditional_sd(post, names) if len(names) > 1 else {}
    recovered = _recovery()
    rows = []
    for n in names:
        p, x = priors[n], post[n].to_numpy(dtype=float)
        q05, q50, q95 = weighted_quantile(x, w, (0.05, 0.5, 0.95))
        prior_sd = p.sd()
        marginal = weighted_sd(x, w) / prior_sd
        conditional = cond.get(n, np.nan) / prior_sd
        partner, r = "", 0.0
        if not corr.empty:
            others = corr[n].drop(n).abs()
            if others.notna().any():
                partner = str(others.idxmax())
                r = float(corr.loc[n, partner])
        verdict = "identified" if marginal < NARROW else ("ridge" if conditional < NARROW else "weak")
        rows.append(
            {"parameter": n, "prior": p.describe(), "from": "registry" if p.calibrated else "priors.toml"}
            | {"median": q50, "q05": q05, "q95": q95, "marginal_sd_ratio": marginal}
            | {"conditional_sd_ratio": conditional, "strongest_correlate": partner, "correlation": r}
            | {"verdict": verdict, "recovery": {True: "recovered", False: "not recovered"}.get(recovered.get(n), "")}
        )
    return pd.DataFrame(rows)


def projection(pred: Predictive) -> pd.DataFrame:
    """The last month's usage shares: point median and 5-95% over draws, overall, by task type
    (timeseries columns `<share>_<task>`) and by group (grouped tables, e.g. region or segment)."""
    final = pred.final()
    point = pd.DataFrame([r["timeseries"].iloc[-1] for r in pred.point])
    month = str(final["month"].iloc[0])
    shares = [c for c in final.columns if c.startswith(SHARES)]
    base = [c for c in shares if not any(c.startswith(f"{b}_") for b in shares if b != c)]
    rows = []
    for c in shares:
        stem = next((b for b in base if c.startswith(f"{b}_")), None)
        by, group, output = ("task", c[len(stem) + 1 :], stem) if stem else ("all", "all", c)
        rows.append(_band(by, group, output, month, final[c].to_numpy(dtype=float), float(point[c].median())))
    for table, keys in group_tables().items():
        df = pred.final_groups(table)
        for c in [c for c in df.columns if c.startswith(SHARES)]:
            for key in keys:
                for group, sub in df.groupby(key, sort=True):
                    rows.append(_band(key, str(group), c, month, sub[c].to_numpy(dtype=float), np.nan))
    return pd.DataFrame(rows)


def _band(by: str, group: str, output: str, month: str, d: np.ndarray, point: float) -> dict:
    q = np.nanquantile(d, [0.05, 0.5, 0.95]) if np.isfinite(d).any() else [np.nan] * 3
    return {"by": by, "group": group, "output": output, "month": month, "point_median": point} | dict(
        zip(("q05", "median", "q95"), map(float, q), strict=True)
    )


def drivers(pred: Predictive, outputs: list[str], seed: int = 0) -> pd.DataFrame:
    """First-order sensitivity (SALib RBD-FAST, which accepts any sample) of each last-month output to
    each drawn parameter across the posterior draws. Parameters are correlated under the posterior,
    so an index credits a parameter with what its correlates move too; run noise is the remainder."""
    from SALib.analyze import rbd_fast

    x = pred.params.astype(float)
    x = x.loc[:, x.std() > 0]
    if len(x) < MIN_DRIVER_DRAWS or x.shape[1] == 0:
        return pd.DataFrame(columns=["output", "parameter", "S1"])
    problem = {"num_vars": x.shape[1], "names": list(x.columns), "bounds": [[x[c].min(), x[c].max()] for c in x]}
    final = pred.final()
    rows = []
    for o in outputs:
        y = final[o].to_numpy(dtype=float)
        if not np.isfinite(y).all() or np.std(y) == 0:
            continue
        s1 = rbd_fast.analyze(problem, x.to_numpy(), y, M=HARMONICS, seed=seed)["S1"]
        rows += [{"output": o, "parameter": n, "S1": float(v)} for n, v in zip(x.columns, s1, strict=True)]
    return pd.DataFrame(rows)


def _top_pairs(corr: pd.DataFrame) -> list[tuple[str, str, float]]:
    names = list(corr.columns)
    pairs = [(a, b, float(corr.loc[a, b])) for i, a in enumerate(names) for b in names[i + 1 :]]
    return sorted([p for p in pairs if np.isfinite(p[2])], key=lambda p: -abs(p[2]))


def _pairs_names(pairs: list[tuple[str, str, float]], names: list[str]) -> list[str]:
    chosen: list[str] = []
    for a, b, _ in pairs:
        for n in (a, b):
            if n not in chosen and len(chosen) < PAIRS:
                chosen.append(n)
    return chosen or names[:PAIRS]


def write_report(out: Path = REPORT_DIR, draws: int = 200, workers: int = 2, overrides: dict | None = None) -> Path:
    """Simulate, tabulate, plot and write the report into `out` (tables atomically).

    `overrides` (e.g. a smaller population or horizon, for tests) apply to every run."""
    from calibration.report_text import markdown

    require_columns(load_targets())
    post, priors = posterior(), all_priors()
    pred = simulate(draws, workers, overrides)
    fit, params = fit_table(pred), identifiability(post, priors)
    names = list(params["parameter"])
    corr = weighted_corr(post, names)
    pairs = _top_pairs(corr)
    proj = projection(pred)
    outputs = [c for c in SUMMARY_COLUMNS if c.startswith(SHARES) and c in pred.final().columns]
    drive = drivers(pred, outputs)
    gens = generations()
    tables = {"fit": fit, "parameters": params, "correlations": corr.reset_index(names="parameter")}
    write_tables(tables | {"projection": proj, "drivers": drive, "generations": gens}, out, parquet=False)
    plot_targets(fit, out / "targets.png")
    plot_pairs(post, _pairs_names(pairs, names), out / "pairs.png")
    months = pred.draws[0]["timeseries"]["month"]
    series = {
        c: (
            pd.DataFrame({i: d["timeseries"][c].to_numpy() for i, d in enumerate(pred.draws)}, index=months),
            pd.concat([r["timeseries"][c] for r in pred.point], axis=1).median(axis=1),
        )
        for c in outputs
    }
    plot_projection(series, out / "projection.png")
    text = markdown(fit, gens, params, pairs, proj, drive, calibration_summary(), draws, POINT_SEEDS)
    (out / "report.md").write_text(text, encoding="utf-8")
    return out / "report.md"


__all__ = ["write_report"]
