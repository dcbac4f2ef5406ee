"""The calibration's commands: `weightshift calibrate` and `weightshift report calibration`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sim.argtypes import number, whole


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add `calibrate` and `report` to the `weightshift` command."""
    cal = sub.add_parser("calibrate", help="fit the calibrated parameters to calibration/targets.toml")
    cal.add_argument("--budget", type=whole(1), default=24_200, help="model runs at most (default 24200)")
    cal.add_argument("--workers", type=whole(1, 256), default=2, help="processes (default 2)")
    cal.add_argument("--resume", action="store_true", help="continue an interrupted calibration (same settings)")
    cal.add_argument(
        "--developers",
        type=whole(200, 2_000_000),
        default=5_000,
        help="agents per calibration run (default 5000)",
    )
    cal.add_argument(
        "--particles", type=whole(20, 100_000), default=200, help="accepted particles per generation (default 200)"
    )
    cal.add_argument("--seed", type=whole(0), default=20251231, help="root seed of the fit (default 20251231)")
    cal.add_argument(
        "--margin",
        type=number(0.0, 0.45),
        default=0.0,
        help="aim at the inner part of each range: narrow it by this fraction of its width on each side",
    )
    cal.add_argument(
        "--start",
        choices=["calibrated", "prior"],
        default="calibrated",
        help="draw the first generation near the calibrated set (a warm start, default) or from the priors; "
        "later generations are weighted against the priors either way",
    )
    cal.add_argument("--out", type=Path, help="folder for the results (default: the calibration package)")
    rep = sub.add_parser("report", help="write a report (calibration: fit table, plots, summary)")
    rep.add_argument(
        "what",
        choices=["calibration", "recovery"],
        help="calibration: the report; recovery: fit synthetic targets made at known values (recovery.csv)",
    )
    rep.add_argument("--out", type=Path, help="folder (default calibration/report; recovery: the calibration package)")
    rep.add_argument(
        "--draws", type=whole(50, 100_000), default=200, help="posterior draws, fresh seed each (default 200)"
    )
    rep.add_argument("--workers", type=whole(1, 256), default=2, help="processes (default 2)")


def cmd_calibrate(args: argparse.Namespace) -> None:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from calibration.abc import AbcSettings
    from calibration.fit import HERE, Settings, fit

    abc = AbcSettings(population=args.particles, budget=args.budget, seed=args.seed)
    settings = Settings(abc=abc, developers=args.developers, margin=args.margin, start=args.start)
    out = args.out or HERE
    columns = (
        TextColumn("generation {task.fields[t]}: model runs"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns) as bar:
        task = bar.add_task("fit", total=settings.abc.budget, t=0)
        try:
            summary = fit(settings, args.workers, args.resume, out, lambda n, t: bar.update(task, advance=n, t=t))
        except KeyboardInterrupt:
            print("weightshift: finished runs are saved; continue with the same flags and --resume", file=sys.stderr)
            raise
    for key, value in summary.items():
        print(f"{key}: {value}")
    print(f"written: {out / 'calibrated.toml'}, {out / 'posterior.csv'}")


def cmd_report(args: argparse.Namespace) -> None:
    if args.what == "recovery":
        from calibration.fit import HERE
        from calibration.recovery import write_recovery

        print(f"recovery table written to {write_recovery(args.out or HERE, args.workers)}")
        return
    from calibration.report import REPORT_DIR, write_report

    path = write_report(args.out or REPORT_DIR, draws=args.draws, workers=args.workers)
    print(f"report written to {path}")


COMMANDS = {"calibrate": cmd_calibrate, "report": cmd_report}
