"""Policy comparison with common random numbers: B - A differences of key outputs, with confidence intervals.

Every scenario is run with the same R seeds (replication r uses one seed for all scenarios). Because
the model draws from named streams, a policy changes only what it touches and the noise shared by
paired runs cancels in their difference, so intervals are much narrower than with independent
seeds (the `crn_var_reduction` column says by how much: 1 - var(B-A) / (var(A) + var(B))).
"""

from __future__ import annotations

import math
import os
import sys
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim import scenario as scenarios
from sim.batch.executors import make_executor
from sim.batch.runner import ProgressBar, TaskResult, drive, run_task
from sim.batch.sweep import TS_COLUMNS, Outputs, Task, run_seed
from sim.calendar import month_index, month_label
from sim.errors import InputError
from sim.scenario import Scenario

# The default outputs, among the recorder's columns (`--outputs` picks any of `TS_COLUMNS`, which
# come from `sim.recorder.COLUMNS`, so columns added to the model are selectable without a change here).
KEY_OUTPUTS = tuple(
    c
    for c in (
        "usage_share_cn_open",
        "usage_share_west_open",
        "usage_share_closed",
        "download_share_cn_open",
        "startup_share_cn_among_open",
        "best_capability_cn_open",
        "best_capability_closed",
        "welfare",
    )
    if c in TS_COLUMNS
)
DEFAULT_AT = ("2027-12", "2030-12")


@dataclass
class Comparison:
    """Scenarios run with common random numbers, and the differences to the first (the reference)."""

    labels: list[str]
    runs: pd.DataFrame  # scenario, rep, seed, month, one column per output
    table: pd.DataFrame  # scenario, reference, output, month, means, diff and its confidence interval
    bands: pd.DataFrame  # scenario, output, month, diff, ci_low, ci_high (every month: for the plot)
    level: float = 0.95

    def plot(self, path: str | Path) -> Path:
        """A PNG: per output, each scenario's mean difference to the reference over time, with its band."""
        from matplotlib.figure import Figure

        outputs = list(dict.fromkeys(self.bands.output))
        cols = 2 if len(outputs) > 1 else 1
        rows = math.ceil(len(outputs) / cols)
        fig = Figure(figsize=(6.2 * cols, 2.8 * rows), layout="constrained")
        axes = fig.subplots(rows, cols, squeeze=False).ravel()
        for ax, name in zip(axes, outputs, strict=False):
            sub = self.bands[self.bands.output == name]
            for label in self.labels[1:]:
                d = sub[sub.scenario == label]
                x = [month_index(m, "", "") for m in d.month]
                (line,) = ax.plot(x, d["diff"], lw=1.6, label=f"{label} - {self.labels[0]}")
                ax.fill_between(x, d.ci_low, d.ci_high, color=line.get_color(), alpha=0.25, lw=0)
            ax.axhline(0, color="0.4", lw=0.8)
            ticks = [t for t in range(0, int(max(x, default=0)) + 1, 12)]
            ax.set_xticks(ticks, [month_label(t)[:4] for t in ticks])
            ax.set_title(name, fontsize=10)
            ax.tick_params(labelsize=8)
        for ax in axes[len(outputs) :]:
            ax.set_visible(False)
        axes[0].legend(fontsize=8, loc="best")
        reps = self.runs.rep.nunique()
        fig.suptitle(f"Difference to {self.labels[0]}: mean and {self.level:.0%} interval over {reps} paired seeds")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp.png")
        fig.savefig(tmp, dpi=110)
        os.replace(tmp, path)
        return path

    def save(self, out: str | Path) -> Path:
        """Write compare.csv (the table), bands.csv, runs.parquet and compare.png into `out`."""
        from sim.api import write_tables

        out = Path(out)
        write_tables({"compare": self.table, "bands": self.bands}, out, parquet=False)
        tmp = out / ".runs.parquet.tmp"
        self.runs.to_parquet(tmp, index=False)
        os.replace(tmp, out / "runs.parquet")
        self.plot(out / "compare.png")
        return out


def _label(ref: str | Path | Scenario, used: set[str]) -> str:
    label = ref.name if isinstance(ref, Scenario) else Path(str(ref)).stem
    base, i = label, 2
    while label in used:
        label, i = f"{base}-{i}", i + 1
    used.add(label)
    return label


def compare(
    refs: Sequence[str | Path | Scenario],
    reps: int = 10,
    seed: int = 0,
    overrides: Mapping[str, Any] | None = None,
    at: Sequence[str] | None = None,
    outputs: Sequence[str] = KEY_OUTPUTS,
    workers: int = 1,
    backend: str = "local",
    scheduler: str | None = None,
    level: float = 0.95,
    progress: bool = False,
) -> Comparison:
    """Run each scenario `reps` times with common seeds and compare each with the first.

    `at` picks the months of the table (default 2027-12 and 2030-12 where reached, else the
    last month); the bands cover every month. Runs that fail even after retries drop their
    replication from every scenario, so the differences stay paired.
    """
    _check_refs(refs)
    if isinstance(reps, bool) or not isinstance(reps, int) or reps < 2:
        raise InputError("--reps", "reps", reps, "a whole number >= 2 (intervals need two paired runs)")
    if not 0 < level < 1:
        raise InputError("--level", "level", level, "a number in (0, 1)")
    scs, labels, overrides, months, at = _prepare(refs, outputs, overrides, at)
    seeds = [run_seed(seed, r) for r in range(reps)]
    per_rep = [overrides] * reps
    data, good = _paired_runs(scs, labels, seeds, per_rep, outputs, months, workers, backend, scheduler, progress)
    return _summarise(labels, data, [seeds[r] for r in good], good, list(outputs), at, level)


def _check_refs(refs: Sequence) -> None:
    if len(refs) < 2:
        raise InputError(
            "compare", "scenarios", list(map(str, refs)), "at least two scenarios (the first is the reference)"
        )


def _prepare(refs: Sequence, outputs: Sequence[str], overrides: Mapping | None, at: Sequence[str] | None) -> tuple:
    """Checked outputs, loaded scenarios with their labels, overrides, the common horizon and table months."""
    for name in outputs:
        if name not in TS_COLUMNS:
            raise InputError("--outputs", "output", name, f"one of {', '.join(TS_COLUMNS)}")
    used: set[str] = set()
    scs = [r if isinstance(r, Scenario) else scenarios.load(r) for r in refs]
    labels = [_label(r, used) for r in refs]
    overrides = dict(overrides or {})
    months = min(sc.params(overrides, "--set")["months"] for sc in scs)
    return scs, labels, overrides, months, _months(at, months)


def _paired_runs(
    scs: list[Scenario],
    labels: list[str],
    seeds: list[int],
    overrides: list[dict[str, Any]],
    outputs: Sequence[str],
    months: int,
    workers: int,
    backend: str,
    scheduler: str | None,
    progress: bool,
) -> tuple[np.ndarray, list[int]]:
    """Run replication r of every scenario with seed r and overrides r (common random numbers).

    Returns data[scenario, rep, month, output] over the replications that ran in every scenario
    (a run that fails even after retries drops its replication everywhere, so pairs stay paired).
    """
    reps = len(seeds)
    spec = Outputs(columns=tuple(outputs), at=("final",))
    tasks = {
        i * reps + r: Task(i * reps + r, seeds[r], sc, overrides[r], spec, True)
        for i, sc in enumerate(scs)
        for r in range(reps)
    }
    results: dict[int, TaskResult] = {}
    bar = ProgressBar(len(tasks), enabled=progress, label="compare")

    def record(res: TaskResult, attempts: int) -> None:
        results[res.run_id] = res
        bar.advance(res.ok)

    with make_executor(run_task, backend, workers, scheduler) as ex:
        try:
            drive(list(tasks), tasks.__getitem__, ex, record, tick=bar.tick)
        finally:
            bar.stop()
    failed = {k: r.error for k, r in results.items() if not r.ok}
    bad_reps = sorted({k % reps for k in failed})
    for k, err in failed.items():
        print(
            f"weightshift: compare: {labels[k // reps]} seed {seeds[k % reps]} failed ({err}); replication dropped",
            file=sys.stderr,
        )
    good = [r for r in range(reps) if r not in bad_reps]
    if len(good) < 2:
        raise InputError("compare", "runs", len(failed), "at least two replications that ran in every scenario")
    cols = [TS_COLUMNS.index(o) for o in outputs]
    data = np.stack([[results[i * reps + r].timeseries[:months, cols] for r in good] for i in range(len(scs))])
    return data, good


def _months(at: Sequence[str] | None, months: int) -> list[str]:
    last = month_label(months - 1)
    if at is None:
        return [m for m in DEFAULT_AT if month_index(m, "", "") < months] or [last]
    for m in at:
        if month_index(m, "--at", "at") >= months or month_index(m, "--at", "at") < 0:
            raise InputError("--at", "at", m, f"a month the runs reach (2023-01 to {last})")
    return list(at)


def _summarise(
    labels: list[str],
    data: np.ndarray,
    seeds: list[int],
    reps: list[int],
    outputs: list[str],
    at: list[str],
    level: float,
) -> Comparison:
    """data[scenario, rep, month, output] -> runs, table and bands."""
    from scipy import stats

    ns, nr, nt, _ = data.shape
    month_labels = [month_label(t) for t in range(nt)]
    runs = pd.DataFrame(
        {
            "scenario": np.repeat(labels, nr * nt),
            "rep": np.tile(np.repeat(reps, nt), ns),
            "seed": np.tile(np.repeat(np.array(seeds, dtype=np.int64), nt), ns),
            "month": np.tile(month_labels, ns * nr),
        }
        | {o: data[..., k].ravel() for k, o in enumerate(outputs)}
    )
    tq = stats.t.ppf((1 + level) / 2, nr - 1)
    diff = data[1:] - data[:1]  # scenario-1, rep, month, output
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN months (e.g. shares before any adopter)
        mean, sd = np.nanmean(diff, axis=1), np.nanstd(diff, axis=1, ddof=1)
        n = np.sum(~np.isnan(diff), axis=1)
        half = tq * sd / np.sqrt(n)
        var_sum = np.nanvar(data[1:], axis=1, ddof=1) + np.nanvar(data[:1], axis=1, ddof=1)
        reduction = np.where(var_sum > 0, 1 - sd**2 / var_sum, np.nan)
        means = np.nanmean(data, axis=1)  # scenario, month, output
    idx = pd.MultiIndex.from_product([labels[1:], outputs, month_labels], names=["scenario", "output", "month"])
    by_output = {k: v.transpose(0, 2, 1).ravel() for k, v in (("diff", mean), ("lo", mean - half), ("hi", mean + half))}
    bands = pd.DataFrame({"diff": by_output["diff"], "ci_low": by_output["lo"], "ci_high": by_output["hi"]}, index=idx)
    bands = bands.reset_index()
    rows = []
    for s, label in enumerate(labels[1:]):
        for o, name in enumerate(outputs):
            for m in at:
                t = month_index(m, "", "")
                rows.append(
                    {
                        "scenario": label,
                        "reference": labels[0],
                        "output": name,
                        "month": m,
                        "reference_mean": means[0, t, o],
                        "scenario_mean": means[s + 1, t, o],
                        "diff": mean[s, t, o],
                        "ci_low": mean[s, t, o] - half[s, t, o],
                        "ci_high": mean[s, t, o] + half[s, t, o],
                        "n": int(n[s, t, o]),
                        "crn_var_reduction": reduction[s, t, o],
                    }
                )
    return Comparison(labels, runs, pd.DataFrame(rows), bands, level)


def format_table(table: pd.DataFrame) -> str:
    """The comparison table as aligned text for the terminal."""
    lines = [
        f"{'scenario':24s} {'output':28s} {'month':7s} {'reference':>10s} {'scenario':>10s} "
        f"{'diff':>10s} {'interval':>23s} {'CRN var-red':>11s}"
    ]
    for r in table.itertuples():
        interval = f"[{r.ci_low:+.4g}, {r.ci_high:+.4g}]"
        lines.append(
            f"{r.scenario[:24]:24s} {r.output[:28]:28s} {r.month:7s} {r.reference_mean:10.4g} {r.scenario_mean:10.4g} "
            f"{r.diff:+10.4g} {interval:>23s} {r.crn_var_reduction:11.0%}"
        )
    return "\n".join(lines)


# --- policy effects over the calibration's posterior -------------------------------------------------


@dataclass
class DrawComparison:
    """Scenarios run on K posterior draws, draw k with the same parameters and seed in each (common
    random numbers), and the effect (scenario - reference) of each scenario per draw.

    The band is over draws, so it carries parameter uncertainty as well as run noise; `sign_share`
    is the share of draws whose effect has the sign of the median effect (how robust its direction is).
    """

    labels: list[str]
    runs: pd.DataFrame  # scenario, draw, seed, month, one column per output
    effects: pd.DataFrame  # scenario, reference, output, month, medians, effect median, q05, q95, sign_share, draws

    def save(self, out: str | Path) -> Path:
        """Write effects.csv and runs.parquet into `out` (atomically)."""
        from sim.api import write_tables

        out = Path(out)
        write_tables({"effects": self.effects}, out, parquet=False)
        tmp = out / ".runs.parquet.tmp"
        self.runs.to_parquet(tmp, index=False)
        os.replace(tmp, out / "runs.parquet")
        return out


def compare_draws(
    refs: Sequence[str | Path | Scenario],
    draws: int,
    seed: int = 0,
    overrides: Mapping[str, Any] | None = None,
    at: Sequence[str] | None = None,
    outputs: Sequence[str] = KEY_OUTPUTS,
    workers: int = 1,
    backend: str = "local",
    scheduler: str | None = None,
    progress: bool = False,
) -> DrawComparison:
    """Each scenario on `draws` posterior draws (`sim.ensemble`), paired by draw; effects vs the first.

    The public entry point for policy effects with uncertainty (`weightshift compare A B --draws K`,
    and the UI's Compare tab). User `overrides` win over the drawn parameters.
    """
    from sim.ensemble import draws as posterior_draws

    _check_refs(refs)
    if isinstance(draws, bool) or not isinstance(draws, int) or draws < 2:
        raise InputError("--draws", "draws", draws, "a whole number >= 2 (a band needs several draws)")
    scs, labels, overrides, months, at = _prepare(refs, outputs, overrides, at)
    pairs = posterior_draws(draws, seed)
    seeds = [s for s, _ in pairs]
    per_draw = [p | overrides for _, p in pairs]
    data, good = _paired_runs(scs, labels, seeds, per_draw, outputs, months, workers, backend, scheduler, progress)
    return _effects(labels, data, [seeds[r] for r in good], good, list(outputs), at)


def _effects(
    labels: list[str], data: np.ndarray, seeds: list[int], draws: list[int], outputs: list[str], at: list[str]
) -> DrawComparison:
    """data[scenario, draw, month, output] -> runs and the effects table at the months `at`."""
    ns, nd, nt, _ = data.shape
    runs = pd.DataFrame(
        {
            "scenario": np.repeat(labels, nd * nt),
            "draw": np.tile(np.repeat(draws, nt), ns),
            "seed": np.tile(np.repeat(np.array(seeds, dtype=np.int64), nt), ns),
            "month": np.tile([month_label(t) for t in range(nt)], ns * nd),
        }
        | {o: data[..., k].ravel() for k, o in enumerate(outputs)}
    )
    rows = []
    for s, label in enumerate(labels[1:], start=1):
        for o, name in enumerate(outputs):
            for m in at:
                t = month_index(m, "", "")
                ref, alt = data[0, :, t, o], data[s, :, t, o]
                ok = ~(np.isnan(ref) | np.isnan(alt))
                eff = alt[ok] - ref[ok]
                row = {"scenario": label, "reference": labels[0], "output": name, "month": m, "draws": int(ok.sum())}
                if ok.any():
                    med = float(np.median(eff))
                    row |= {
                        "reference_median": float(np.median(ref[ok])),
                        "scenario_median": float(np.median(alt[ok])),
                        "effect_median": med,
                        "effect_q05": float(np.quantile(eff, 0.05)),
                        "effect_q95": float(np.quantile(eff, 0.95)),
                        "sign_share": float(np.mean(np.sign(eff) == np.sign(med))),
                    }
                rows.append(row)
    return DrawComparison(labels, runs, pd.DataFrame(rows))


def format_effects(effects: pd.DataFrame) -> str:
    """The effects table as aligned text: median effect, 90% band over draws, share with its sign."""
    lines = [f"{'scenario':24s} {'output':28s} {'month':7s} {'effect':>10s} {'90% band':>23s} {'sign holds':>10s}"]
    for r in effects.dropna(subset=["effect_median"]).itertuples():
        band = f"[{r.effect_q05:+.4g}, {r.effect_q95:+.4g}]"
        lines.append(
            f"{r.scenario[:24]:24s} {r.output[:28]:28s} {r.month:7s} {r.effect_median:+10.4g} {band:>23s} "
            f"{r.sign_share:10.0%}"
        )
    return "\n".join(lines)
