"""Analysis of a finished sweep: sensitivity indices (SALib) and a scenario-discovery box (PRIM).

Which indices depends on the design, because each estimator needs its own sample structure:
Sobol' designs give first-order and total Sobol' indices, Morris designs elementary-effect
statistics (mu*, sigma), Latin hypercubes RBD-FAST first-order indices and PAWN, which work on any
sample, and grids the range of each factor's main effect. Outputs are averaged over replications
per design point first, so indices describe the model's expected response, not seed noise.

PRIM (Friedman & Fisher's patient rule induction, from ema-workbench) finds a box in factor space
where a condition such as "usage_share_cn_open@2030-12 > 0.5" mostly holds. Of the boxes on its
peeling trajectory we report the densest one whose coverage is at least `min_coverage`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.batch.runner import DESIGN, MANIFEST, read_results
from sim.batch.sweep import Condition, parse_condition
from sim.errors import FileProblem, InputError

MEASURES = {"sobol": ("S1", "ST"), "morris": ("mu_star", "sigma"), "lhs": ("S1", "pawn"), "grid": ("range",)}
METHOD = {
    "sobol": "Sobol' indices (SALib `sobol.analyze`, Saltelli sampling)",
    "morris": "Morris elementary effects (SALib `morris.analyze`)",
    "lhs": "RBD-FAST first-order indices S1 and the moment-independent PAWN median (SALib, on the Latin hypercube)",
    "grid": "main-effect range: max - min over a factor's levels of the mean output",
}


# The fewest points each estimator is defined for (below them SALib divides by zero or returns NaN):
# RBD-FAST (lhs) corrects its bias by 2M/N with M = 10 harmonics, so it needs N > 20 points;
# Morris' sigma is a standard deviation over trajectories, so it needs 2; Sobol' (Saltelli)
# estimators need 2 base samples. These are minimums, not recommendations (docs/sweeps.md).
MIN_SAMPLES = {"lhs": 21, "morris": 2, "sobol": 2}
SAMPLES_ARE = {"lhs": "points", "morris": "trajectories", "sobol": "base samples"}


def too_few_points(kind: str, points: int, factors: int, samples: int | None = None) -> str | None:
    """Why a design of `points` points cannot give indices, or None if it can."""
    need = MIN_SAMPLES.get(kind)
    if need is None or not factors:
        return None
    per = {"lhs": 1, "morris": factors + 1, "sobol": None}.get(kind)
    have = samples if samples is not None else (points // per if per else None)
    if have is None:  # sobol: points = N x (d + 2) or N x (2d + 2)
        have = points // (factors + 2)
    if have >= need:
        return None
    return (
        f"{METHOD[kind].split(' (')[0]} needs at least {need} {SAMPLES_ARE[kind]} and this {kind} design has "
        f"{have}: no indices; use --samples {need} or more"
    )


@dataclass
class Analysis:
    """Indices per output and factor, and the PRIM box for the condition (if any)."""

    design: str
    indices: pd.DataFrame  # output, factor, measure, value, conf
    main_effects: pd.DataFrame  # grid only: output, factor, level, mean
    condition: str | None = None
    min_coverage: float = 0.5
    box: pd.DataFrame | None = None  # restricted factors: factor, box_low, box_high, full_low, full_high
    box_stats: dict[str, float] = field(default_factory=dict)  # coverage, density, mass, res_dim, cases, runs
    trajectory: pd.DataFrame | None = None  # PRIM peeling trajectory
    notes: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)


def _manifest(out: Path) -> dict[str, Any]:
    path = out / MANIFEST
    if not path.is_file():
        raise FileProblem(
            str(out), "not a sweep folder (no sweep.json); make one with `weightshift sweep FILE --out DIR`"
        )
    return json.loads(path.read_text())


def point_means(results: pd.DataFrame, n_points: int, outputs: list[str]) -> pd.DataFrame:
    """Each output averaged over the ok replications of each design point (NaN where none ran ok)."""
    ok = results[results.status == "ok"]
    return ok.groupby("point")[outputs].mean().reindex(range(n_points))


def indices(
    kind: str, problem: dict[str, Any], x: np.ndarray, y: np.ndarray, identity: dict[str, Any], seed: int = 0
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """measure -> (values, confidence half-widths) per factor, from SALib for the sampling designs."""
    design = identity["design"]
    with _quiet():
        if kind == "sobol":
            from SALib.analyze import sobol

            s = sobol.analyze(problem, y, calc_second_order=design["second_order"], seed=seed)
            return {"S1": (s["S1"], s["S1_conf"]), "ST": (s["ST"], s["ST_conf"])}
        if kind == "morris":
            from SALib.analyze import morris

            s = morris.analyze(problem, x, y, num_levels=design["levels"], seed=seed)
            nan = np.full(problem["num_vars"], np.nan)
            return {
                "mu_star": (np.asarray(s["mu_star"]), np.asarray(s["mu_star_conf"])),
                "sigma": (np.asarray(s["sigma"]), nan),
            }
        # Any-sample estimators. SALib's delta was the first choice but costs ~8 s per output at
        # 200 points (it always bootstraps three variants); these take ~0.1 s.
        from SALib.analyze import pawn, rbd_fast

        r = rbd_fast.analyze(problem, x, y, seed=seed)
        pw = pawn.analyze(problem, x, y, seed=seed)
        nan = np.full(problem["num_vars"], np.nan)
        return {
            "S1": (np.asarray(r["S1"]), np.asarray(r["S1_conf"])),
            "pawn": (np.asarray(pw["median"]), nan),
        }


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence SALib's warnings (some of its modules also reset the global warning filter and format)."""
    fmt = warnings.formatwarning
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warnings.showwarning = lambda *a, **k: None
        try:
            yield
        finally:
            warnings.formatwarning = fmt


def _grid_effects(design: pd.DataFrame, means: pd.DataFrame, factors: list[str], output: str) -> pd.DataFrame:
    frame = design[factors].join(means[output])
    rows = []
    for f in factors:
        for level, value in frame.groupby(f)[output].mean().items():
            rows.append({"output": output, "factor": f, "level": level, "mean": value})
    return pd.DataFrame(rows, columns=["output", "factor", "level", "mean"])


def prim_box(
    x: pd.DataFrame, y: np.ndarray, min_coverage: float, declared: dict[str, tuple[float, float]] | None = None
) -> tuple[pd.DataFrame, dict[str, float], pd.DataFrame]:
    """The PRIM box: densest box on the peeling trajectory with coverage >= min_coverage.

    `declared` gives each factor's range from the sweep file; an edge PRIM did not move is shown
    as the declared bound rather than the smallest or largest sampled value.
    """
    with _quiet():
        logging.getLogger("EMA").setLevel(logging.WARNING)
        from ema_workbench.analysis import prim

        box = prim.Prim(x, y.astype(int)).find_box()
    traj = box.peeling_trajectory.reset_index(drop=True)
    ok = traj[traj.coverage >= min_coverage]
    i = int(ok.sort_values(["density", "coverage"], ascending=False).index[0]) if len(ok) else 0
    lims, full = box.box_lims[i], box.box_lims[0]
    rows = []
    for f in x.columns:
        lo, hi, dlo, dhi = lims[f].iloc[0], lims[f].iloc[1], full[f].iloc[0], full[f].iloc[1]
        if (lo, hi) != (dlo, dhi):
            flo, fhi = (declared or {}).get(f, (dlo, dhi))
            lo, hi = (flo if lo == dlo else lo), (fhi if hi == dhi else hi)
            rows.append({"factor": f, "box_low": lo, "box_high": hi, "full_low": flo, "full_high": fhi})
    r = traj.loc[i]
    stats = {"box": i, "coverage": float(r.coverage), "density": float(r.density), "mass": float(r.mass)}
    stats["res_dim"] = int(r.res_dim)
    return pd.DataFrame(rows, columns=["factor", "box_low", "box_high", "full_low", "full_high"]), stats, traj


def declared_ranges(identity: dict[str, Any]) -> dict[str, tuple[float, float]]:
    """Each factor's range as declared in the sweep file (a list of values: its smallest and largest)."""
    out = {}
    for f in identity["factors"]:
        vals = [float(v) for v in f["values"]] if "values" in f else [f["low"], f["high"]]
        out[f["name"]] = (min(vals), max(vals))
    return out


def analyze(
    out: str | Path,
    condition: str | None = None,
    outputs: list[str] | None = None,
    min_coverage: float | None = None,
    write: bool = True,
) -> Analysis:
    """Compute indices (and a PRIM box if a condition is given here or in the sweep file).

    With `write`, saves PNG plots, CSV tables and `report.md` into `out/analysis/`.
    """
    out = Path(out)
    man = _manifest(out)
    results = read_results(out)
    design = pd.read_parquet(out / DESIGN)
    names, factors, kind = man["outputs"], man["factors"], man["design"]
    outputs = outputs or names
    for o in outputs:
        if o not in names:
            raise InputError("--outputs", "output", o, f"one of the sweep's outputs: {', '.join(names)}")
    cond: Condition | None = None
    text = condition if condition is not None else man["analysis"]["condition"]
    if text:
        cond = parse_condition(text, names, "--condition" if condition is not None else str(out / MANIFEST))
    cover = min_coverage if min_coverage is not None else man["analysis"]["min_coverage"]
    if not 0 < cover <= 1:
        raise InputError("--min-coverage", "min_coverage", cover, "a number in (0, 1]")
    res = Analysis(kind, pd.DataFrame(columns=["output", "factor", "measure", "value", "conf"]), pd.DataFrame())
    n_ok, n_failed = int((results.status == "ok").sum()), int((results.status != "ok").sum())
    if len(results) < man["n_runs"]:
        res.notes.append(
            f"The sweep is incomplete: {len(results)} of {man['n_runs']} runs; resume it for exact indices."
        )
    if n_failed:
        res.notes.append(f"{n_failed} runs failed and are left out (see the error column of results.parquet).")
    _sensitivity(res, man, design, results, outputs, factors)
    if cond is not None:
        _discovery(res, cond, results, factors, cover, declared_ranges(man["identity"]))
    if write:
        res.files = _write(out / "analysis", res, man, n_ok, n_failed)
    return res


def _unfinished_points(results: pd.DataFrame, n_points: int, reps: int) -> tuple[list[int], list[int]]:
    """Design points without an ok run, and the runs to rerun for them (failed or never run)."""
    ok = set(results.point[results.status == "ok"])
    points = [p for p in range(n_points) if p not in ok]
    have_ok = set(results.run_id[results.status == "ok"])
    runs = [p * reps + r for p in points for r in range(reps) if p * reps + r not in have_ok]
    return points, runs


def _sensitivity(
    res: Analysis, man: dict, design: pd.DataFrame, results: pd.DataFrame, outputs: list[str], factors: list[str]
) -> None:
    if not factors:
        res.notes.append("The sweep varies no factor, so there are no sensitivity indices.")
        return
    short = too_few_points(res.design, man["n_points"], len(factors), man["identity"]["design"].get("samples"))
    if short:
        res.notes.append(f"No {res.design} indices: {short} (weightshift sweep ... --samples N).")
        return
    means = point_means(results, man["n_points"], outputs)
    x = design[[f"raw:{f}" for f in factors]].to_numpy(dtype=float)
    points, runs = _unfinished_points(results, man["n_points"], man["replications"])
    keep = np.ones(len(x), dtype=bool)
    if points and res.design in ("sobol", "morris"):
        res.notes.append(
            f"No {res.design} indices: {len(points)} of {man['n_points']} design points have no ok run, and the "
            f"{res.design} estimator needs every point. Rerun runs {_id_list(runs)} with the sweep's command plus "
            "--resume (it retries failed runs and runs missing ones)."
        )
        return
    if points:
        keep[points] = False
        res.notes.append(
            f"{len(points)} design points have no ok run and are left out (runs {_id_list(runs)}; "
            "rerun them with the sweep's command plus --resume)."
        )
    rows, effects = [], []
    for o in outputs:
        y = means[o].to_numpy(dtype=float)
        if res.design == "grid":
            eff = _grid_effects(design, means, factors, o)
            effects.append(eff)
            spread = eff.groupby("factor", sort=False)["mean"].agg(lambda v: v.max() - v.min())
            rows += [
                {"output": o, "factor": f, "measure": "range", "value": spread[f], "conf": np.nan} for f in factors
            ]
            continue
        yk = y[keep]
        if np.isnan(yk).any() or np.nanstd(yk) == 0:
            why = "runs without a value (a month the runs do not reach?)" if np.isnan(yk).any() else "a constant output"
            res.notes.append(f"No {res.design} indices for {o}: {why}.")
            continue
        short = too_few_points(res.design, int(keep.sum()), len(factors))
        if short:
            res.notes.append(f"No {res.design} indices for {o}: {short}.")
            continue
        try:
            got = indices(res.design, man["problem"], x[keep], yk, man["identity"])
        except (ValueError, ZeroDivisionError, np.linalg.LinAlgError, IndexError) as exc:
            res.notes.append(f"No {res.design} indices for {o}: SALib could not compute them ({exc}).")
            continue
        for measure, (vals, conf) in got.items():
            rows += [
                {"output": o, "factor": f, "measure": measure, "value": float(v), "conf": float(c)}
                for f, v, c in zip(factors, vals, conf, strict=True)
            ]
    res.indices = pd.DataFrame(rows, columns=["output", "factor", "measure", "value", "conf"])
    res.main_effects = pd.concat(effects, ignore_index=True) if effects else pd.DataFrame()


def _id_list(ids: list[int]) -> str:
    shown = ", ".join(map(str, ids[:20]))
    return shown + (f" and {len(ids) - 20} more (see results.parquet)" if len(ids) > 20 else "")


def _discovery(
    res: Analysis, cond: Condition, results: pd.DataFrame, factors: list[str], cover: float, declared: dict
) -> None:
    res.condition, res.min_coverage = str(cond), cover
    ok = results[results.status == "ok"]
    y = cond.holds(ok[cond.output].to_numpy(dtype=float))
    res.box_stats = {"cases": int(y.sum()), "runs": len(y)}
    if not factors:
        res.notes.append("PRIM needs varied factors; this sweep has none.")
        return
    if y.all() or not y.any():
        res.notes.append(f"The condition {cond} holds in {'every' if y.any() else 'no'} run: no box to find.")
        return
    x = ok[factors].reset_index(drop=True)
    for c in x.columns:
        if x[c].dtype == bool:
            x[c] = x[c].astype(int)
    res.box, stats, res.trajectory = prim_box(x, y, cover, declared)
    res.box_stats |= stats


# --- report -----------------------------------------------------------------------------------------


def _md_table(df: pd.DataFrame, fmt: str = "{:.3g}") -> str:
    def cell(v: Any) -> str:
        return fmt.format(v) if isinstance(v, float | np.floating) else str(v)

    head = "| " + " | ".join(map(str, df.columns)) + " |"
    rule = "|" + "---|" * len(df.columns)
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, rule, *body])


def _save_fig(fig: Any, path: Path) -> Path:
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=110)
    os.replace(tmp, path)
    return path


def _plot_indices(res: Analysis, path: Path) -> Path | None:
    from matplotlib.figure import Figure

    if res.indices.empty:
        return None
    outputs = list(dict.fromkeys(res.indices.output))
    measures = list(dict.fromkeys(res.indices.measure))
    n_f = res.indices.factor.nunique()
    fig = Figure(figsize=(6.5, 0.6 + (0.28 * n_f + 0.9) * len(outputs)), layout="constrained")
    axes = fig.subplots(len(outputs), 1, squeeze=False).ravel()
    for ax, o in zip(axes, outputs, strict=True):
        sub = res.indices[res.indices.output == o]
        first = sub[sub.measure == measures[0]].sort_values("value")
        ypos = np.arange(len(first))
        h = 0.8 / len(measures)
        for k, m in enumerate(measures):
            d = sub[sub.measure == m].set_index("factor").loc[first.factor]
            err = d.conf.to_numpy(dtype=float)
            ax.barh(ypos + k * h, d.value, h, xerr=np.where(np.isnan(err), 0, err), label=m, capsize=2)
        ax.set_yticks(ypos + h * (len(measures) - 1) / 2, first.factor, fontsize=8)
        ax.set_title(o, fontsize=10)
        ax.tick_params(axis="x", labelsize=8)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"Sensitivity: {METHOD[res.design].split(' (')[0]}", fontsize=11)
    return _save_fig(fig, path)


def _plot_prim(res: Analysis, folder: Path) -> list[Path]:
    from matplotlib.figure import Figure

    if res.trajectory is None or res.box is None:
        return []
    t, i = res.trajectory, res.box_stats["box"]
    fig = Figure(figsize=(5.5, 4.2), layout="constrained")
    ax = fig.subplots()
    sc = ax.scatter(t.coverage, t.density, c=t.res_dim, cmap="viridis", s=18)
    ax.scatter([t.coverage[i]], [t.density[i]], s=120, facecolors="none", edgecolors="red", label="reported box")
    fig.colorbar(sc, ax=ax, label="restricted dimensions")
    ax.set(xlabel="coverage", ylabel="density", title=f"PRIM peeling trajectory: {res.condition}")
    ax.title.set_fontsize(9)
    ax.legend(fontsize=8)
    files = [_save_fig(fig, folder / "prim_tradeoff.png")]
    if len(res.box):
        b = res.box
        fig = Figure(figsize=(6, 0.8 + 0.45 * len(b)), layout="constrained")
        ax = fig.subplots()
        span = (b.full_high - b.full_low).replace(0, 1)
        lo, hi = (b.box_low - b.full_low) / span, (b.box_high - b.full_low) / span
        ax.barh(range(len(b)), [1] * len(b), color="0.88")
        ax.barh(range(len(b)), hi - lo, left=lo, color="tab:red", alpha=0.7)
        for k, r in enumerate(b.itertuples()):
            ax.text(1.01, k, f"{r.box_low:.3g} to {r.box_high:.3g}", va="center", fontsize=8)
        ax.set_yticks(range(len(b)), b.factor, fontsize=8)
        ax.set(xlim=(0, 1.35), xlabel="share of the sampled range")
        ax.set_title(
            f"PRIM box (coverage {res.box_stats['coverage']:.2f}, density {res.box_stats['density']:.2f})", fontsize=9
        )
        files.append(_save_fig(fig, folder / "prim_box.png"))
    return files


def _write(folder: Path, res: Analysis, man: dict, n_ok: int, n_failed: int) -> list[Path]:
    from sim.api import write_tables

    folder.mkdir(parents=True, exist_ok=True)
    tables = {"indices": res.indices}
    if not res.main_effects.empty:
        tables["main_effects"] = res.main_effects
    if res.box is not None:
        tables |= {"prim_box": res.box, "prim_trajectory": res.trajectory}
    write_tables(tables, folder, parquet=False)
    files = [folder / f"{k}.csv" for k in tables]
    plot = _plot_indices(res, folder / "sensitivity.png")
    files += [plot] if plot else []
    files += _plot_prim(res, folder)
    lines = [
        f"# Sweep analysis: {man['name']}",
        "",
        f"Sweep file `{man['file']}`: {man['design']} design, {man['n_points']} points x {man['replications']} "
        f"replications = {man['n_runs']} runs; {n_ok} ok, {n_failed} failed.",
        f"Factors: {', '.join(f'`{f}`' for f in man['factors']) or 'none'}.",
        "",
        "## Sensitivity",
        "",
        f"Method: {METHOD[res.design]}. Outputs are averaged over replications per design point"
        + ("." if res.design == "grid" else "; `conf` is the half-width of SALib's 95% bootstrap interval."),
    ]
    for o in dict.fromkeys(res.indices.output):
        wide = res.indices[res.indices.output == o].pivot(index="factor", columns="measure", values=["value", "conf"])
        first = MEASURES[res.design][0]
        wide = wide.sort_values(("value", first), ascending=False)
        table = pd.DataFrame({"factor": wide.index})
        for m in MEASURES[res.design]:
            table[m] = wide[("value", m)].to_numpy()
            if wide[("conf", m)].notna().any():
                table[f"{m} conf"] = wide[("conf", m)].to_numpy()
        lines += ["", f"### `{o}`", "", _md_table(table)]
    if plot:
        lines += ["", "![Sensitivity indices](sensitivity.png)"]
    if res.condition:
        lines += ["", "## Scenario discovery (PRIM)", ""]
        s = res.box_stats
        lines.append(f"Condition `{res.condition}` holds in {s['cases']} of {s['runs']} ok runs.")
        if res.box is not None:
            lines += [
                "",
                f"Reported box (the densest with coverage >= {res.min_coverage:g}; "
                f"peeling step {s['box']}): coverage {s['coverage']:.3f} (share of all cases inside the box), "
                f"density {s['density']:.3f} (share of runs in the box where the condition holds), "
                f"mass {s['mass']:.3f} (share of runs in the box), {s['res_dim']} restricted factors.",
                "",
                _md_table(res.box) if len(res.box) else "The box restricts no factor.",
                "",
                "![PRIM trade-off](prim_tradeoff.png)",
            ]
            if len(res.box):
                lines.append("![PRIM box](prim_box.png)")
    if res.notes:
        lines += ["", "## Notes", "", *[f"- {n}" for n in res.notes]]
    report = folder / "report.md"
    tmp = folder / ".report.md.tmp"
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(tmp, report)
    return [*files, report]
