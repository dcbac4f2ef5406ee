"""The `weightshift sweep`, `sweeps`, `compare` and `analyze` commands.

Kept apart from `sim/cli.py` and importing only argparse at start, so the main command stays
quick to start; the heavy modules load when a command runs. Every bad input is an InputError
raised before any output file exists (one line on stderr, exit code 2).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from sim.argtypes import number, whole


def _backend_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workers", type=whole(1), default=1, help="worker processes (default 1)")
    p.add_argument("--backend", choices=("local", "dask"), default="local", help="process pool or Dask (default local)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="a running Dask scheduler, e.g. tcp://host:8786 (Dask only)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _set_flag(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument(
        "--set", action="extend", nargs="+", default=[], metavar="KEY=VALUE", help=f"override a parameter {what}"
    )


def add_parsers(sub: Any) -> None:
    """Add the sweep, sweeps, compare and analyze subcommands to the main parser."""
    sw = sub.add_parser("sweep", help="run a sweep file (many runs) into a results folder")
    sw.add_argument("file", help="a sweep file (.toml) or the name of a shipped one (see `weightshift sweeps`)")
    sw.add_argument("--out", type=Path, help="results folder (required unless --dry-run)")
    _backend_flags(sw)
    sw.add_argument("--resume", action="store_true", help="continue a stopped sweep in --out")
    sw.add_argument("--samples", type=whole(1), help="override the file's sample count")
    sw.add_argument("--reps", type=whole(1), help="override the file's replications (seeds per point)")
    _set_flag(sw, "in every run (overrides the file's [params])")
    sw.add_argument("--retries", type=whole(0), default=2, help="retries of a failing run before it is recorded (2)")
    sw.add_argument(
        "--retry-failed",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="with --resume, rerun the runs recorded as failed (default: yes)",
    )
    sw.add_argument(
        "--run-timeout", type=number(0.0, 1e7, open_low=True), metavar="SECONDS", help="stop a run after this long"
    )
    sw.add_argument("--yes", action="store_true", help="run a design above the size caps (see the estimate)")
    sw.add_argument("--dry-run", action="store_true", help="validate and print the design; run nothing")

    sub.add_parser("sweeps", help="list the shipped sweep files")

    cp = sub.add_parser("compare", help="compare scenarios with common random numbers")
    cp.add_argument("scenarios", nargs="+", help="two or more scenarios (names or .toml); the first is the reference")
    how = cp.add_mutually_exclusive_group()
    how.add_argument("--reps", type=whole(1), default=10, help="paired seeds per scenario (default 10)")
    how.add_argument(
        "--draws",
        type=whole(2, 10_000),
        help="run K posterior draws in each scenario (same parameters and seed per draw): effect median, "
        "90%% band and the share of draws with its sign",
    )
    cp.add_argument("--seed", type=whole(0), default=0, help="seed the paired seeds derive from (default 0)")
    _set_flag(cp, "in every run")
    cp.add_argument("--at", action="extend", nargs="+", metavar="YYYY-MM", help="months of the table")
    cp.add_argument("--out", type=Path, default=Path("results/compare"), help="folder for table and plot")
    cp.add_argument(
        "--outputs", nargs="+", metavar="COLUMN", help="timeseries columns to compare (see `weightshift columns`)"
    )
    _backend_flags(cp)

    an = sub.add_parser("analyze", help="sensitivity indices and a PRIM box for a finished sweep")
    an.add_argument("dir", type=Path, help="a sweep results folder")
    an.add_argument("--condition", help='e.g. "usage_share_cn_open@2030-12 > 0.5" (default: the sweep file\'s)')
    coverage = number(0.0, 1.0, open_low=True)
    an.add_argument("--min-coverage", type=coverage, help="smallest coverage of the reported PRIM box")
    an.add_argument("--outputs", nargs="+", help="only these outputs")


def cmd_sweep(args: argparse.Namespace) -> int:
    from sim.batch import estimate
    from sim.batch.analysis import too_few_points
    from sim.batch.runner import JOURNAL, Journal
    from sim.batch.sweep import load
    from sim.errors import InputError
    from sim.outdir import check_writable

    sweep = load(args.file, samples=args.samples, reps=args.reps, sets=args.set)
    d = sweep.design
    print(
        f"{sweep.name}: {d.kind} design, {sweep.n_points:,} points x {d.replications} replications = "
        f"{sweep.n_runs:,} runs; {len(sweep.factors)} factors, {len(sweep.outputs.names)} outputs"
    )
    if args.out is not None:
        check_writable(args.out)
    measured = None
    if args.resume and args.out is not None and (args.out / JOURNAL).is_file():
        times = [r["elapsed"] for r in Journal.read(args.out / JOURNAL).values() if r["ok"]]
        measured = sum(times) / len(times) if times else None
    workers = args.workers if not args.scheduler else 1
    est = estimate.estimate(sweep, workers, measured)
    print(est.describe(workers) + (" (--scheduler: per cluster worker thread)" if args.scheduler else ""))
    estimate.check(est, args.out, args.yes)
    short = too_few_points(d.kind, sweep.n_points, len(sweep.factors), d.samples)
    if short:
        print(f"weightshift: warning: {short}", file=sys.stderr)
    if args.dry_run:
        for f in sweep.factors:
            what = f"values {list(f.values)}" if f.values is not None else f"range [{f.low:g}, {f.high:g}]"
            print(f"  {f.name}: {what}" + (f", {f.levels} levels" if f.levels else ""))
        print(f"  outputs: {', '.join(sweep.outputs.names)}")
        return 0
    if args.out is None:
        raise InputError("sweep", "--out", None, "a results folder (--out DIR)")
    return _run(args, sweep)


def _resume_command(args: argparse.Namespace) -> str:
    flags = [f"--{k} {v}" for k, v in (("samples", args.samples), ("reps", args.reps)) if v is not None]
    flags += [f"--set {' '.join(args.set)}"] if args.set else []
    flags += [f"--workers {args.workers}"] if args.workers != 1 else []
    return " ".join(["weightshift sweep", str(args.file), "--out", str(args.out), *flags, "--resume"])


def _run(args: argparse.Namespace, sweep: Any) -> int:
    """Run the sweep; exit 0 if every run is ok, 1 if some remain failed, 130 when stopped by the user."""
    import signal

    from sim.batch.runner import run_sweep
    from sim.batch.safety import SweepAborted, SweepFailed, SweepStopped

    again = _resume_command(args)
    try:
        res = run_sweep(
            sweep,
            args.out,
            workers=args.workers,
            backend=args.backend,
            scheduler=args.scheduler,
            resume=args.resume,
            retries=args.retries,
            progress=not args.quiet,
            retry_failed=args.retry_failed,
            run_timeout=args.run_timeout,
        )
    except (SweepStopped, SweepAborted) as exc:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a third Ctrl-C must not interrupt the exit
        what = str(exc) if isinstance(exc, SweepStopped) else "aborted: runs in flight are lost"
        saved = f"every finished run is saved in {args.out}"
        print(f"weightshift: {what}; {saved}. Continue with: {again}", file=sys.stderr)
        return 130
    except SweepFailed as exc:
        print(f"weightshift: {exc}: {again}", file=sys.stderr)
        return 1
    s = res.stats
    if s["retried_failed"]:
        print(f"retried {s['retried_failed']} runs that had failed (--no-retry-failed keeps them as they are)")
    if not s["ran_now"]:
        print(f"nothing to do: all {s['runs']} runs are in {args.out}")
    else:
        print(
            f"{s['ran_now']} runs in {s['wall_s']:.1f} s on {s['workers']} {s['backend']} workers: "
            f"{s['runs_per_hour']:,.0f} runs/hour (mean run {s['mean_run_s']:.3f} s); {s['failed']} failed"
        )
    print(f"results: {args.out / 'results.parquet'}")
    if s["failed"]:
        print(
            f"weightshift: {s['failed']} of {s['runs']} runs remain failed (see the error column of results.parquet);"
            f" retry them with: {again}",
            file=sys.stderr,
        )
        return 1
    return 0


def cmd_sweeps(_: argparse.Namespace) -> None:
    from sim.batch.sweep import available, load

    for name in available():
        sw = load(name)
        first = sw.description.strip().splitlines()[0] if sw.description.strip() else sw.name
        print(f"{name:32s} {sw.design.kind:6s} {sw.n_runs:6d} runs  {first}")


def cmd_compare(args: argparse.Namespace) -> None:
    from sim.batch.compare import KEY_OUTPUTS, compare, format_table
    from sim.outdir import check_writable
    from sim.params import parse_assignment

    overrides = dict(parse_assignment(a) for a in args.set)
    check_writable(args.out)
    if args.draws:
        _compare_draws(args, overrides)
        return
    c = compare(
        args.scenarios,
        reps=args.reps,
        seed=args.seed,
        overrides=overrides,
        at=args.at,
        outputs=args.outputs or KEY_OUTPUTS,
        workers=args.workers,
        backend=args.backend,
        scheduler=args.scheduler,
        progress=not args.quiet,
    )
    print(f"differences to {c.labels[0]} over {c.runs.rep.nunique()} paired seeds ({c.level:.0%} intervals):")
    print(format_table(c.table))
    c.save(args.out)
    print(f"table, bands, runs and plot written to {args.out}/ (compare.csv, compare.png)")


def _compare_draws(args: argparse.Namespace, overrides: dict) -> None:
    from sim.batch.compare import compare_draws, format_effects

    c = compare_draws(
        args.scenarios,
        args.draws,
        seed=args.seed,
        overrides=overrides,
        at=args.at,
        workers=args.workers,
        backend=args.backend,
        scheduler=args.scheduler,
        progress=not args.quiet,
    )
    n = c.runs.draw.nunique()
    print(f"effects against {c.labels[0]} over {n} posterior draws (same parameters and seed per draw):")
    print(format_effects(c.effects))
    c.save(args.out)
    print(f"effects and runs written to {args.out}/ (effects.csv, runs.parquet)")


def cmd_analyze(args: argparse.Namespace) -> int:
    from sim.batch.analysis import MEASURES, analyze

    a = analyze(args.dir, condition=args.condition, outputs=args.outputs, min_coverage=args.min_coverage)
    first = MEASURES[a.design][0]
    for o in dict.fromkeys(a.indices.output):
        top = a.indices[(a.indices.output == o) & (a.indices.measure == first)].sort_values("value", ascending=False)
        shown = ", ".join(f"{r.factor} {r.value:.2f}" for r in top.head(3).itertuples())
        print(f"{o}: {first} {shown}")
    if a.condition:
        s = a.box_stats
        print(f"PRIM: {a.condition} holds in {s['cases']} of {s['runs']} runs", end="")
        if a.box is not None:
            dims = "; ".join(f"{r.factor} in [{r.box_low:.3g}, {r.box_high:.3g}]" for r in a.box.itertuples())
            print(f"; box coverage {s['coverage']:.2f}, density {s['density']:.2f}: {dims or 'no restriction'}")
        else:
            print()
    for note in a.notes:
        print(f"note: {note}")
    print(f"report: {args.dir / 'analysis' / 'report.md'}")
    if a.indices.empty and a.design != "grid":
        print("weightshift: no sensitivity indices could be computed (see the notes above)", file=sys.stderr)
        return 1
    return 0


COMMANDS = {"sweep": cmd_sweep, "sweeps": cmd_sweeps, "compare": cmd_compare, "analyze": cmd_analyze}
