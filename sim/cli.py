"""The `weightshift` command (also `python -m sim`).

Every user error ends as one line on stderr and exit code 2, before any output file is written.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from calibration import cli as calibration_cli
from sim.argtypes import whole
from sim.batch import cli as sweep_cli
from sim.errors import FileProblem, InputError
from sim.outdir import check_replaceable

EXIT_INPUT = 2


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad flag as one line and exit code 2, like every input error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise FileProblem(self.prog, message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="weightshift", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="run a scenario and write its tables")
    run.add_argument("scenario", help="a shipped scenario name (see `weightshift scenarios`) or a .toml path")
    run.add_argument("--seed", type=whole(0), default=0, help="random seed (default 0)")
    run.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a parameter (repeatable; see `weightshift params`)",
    )
    run.add_argument("--out", type=Path, help="folder for timeseries/families/regions .csv and .parquet")
    run.add_argument("--no-parquet", action="store_true", help="write CSV only")
    run.add_argument(
        "--draws", type=whole(1, 10_000), help="run K posterior draws (own seed each): median, 5-95%% band"
    )
    run.add_argument("--workers", type=whole(1, 10_000), default=1, help="processes for --draws (default 1)")

    bench = sub.add_parser("bench", help="measure developer-months per second")
    bench.add_argument(
        "--sizes", type=whole(50, 2_000_000), nargs="+", default=[20_000, 200_000], help="population sizes"
    )
    bench.add_argument("--months", type=int, default=96, choices=range(1, 241), metavar="MONTHS")
    bench.add_argument(
        "--reference-months",
        type=int,
        default=12,
        choices=range(1, 241),
        metavar="MONTHS",
        help="months the per-agent reference runs (it is slow)",
    )

    sub.add_parser("scenarios", help="list the shipped scenarios")
    params = sub.add_parser(
        "params", help="list every parameter: the value a run uses (calibrated or declared), unit, bounds, source"
    )
    params.add_argument("--group", help="only this group")
    params.add_argument("--markdown", action="store_true", help="as the README's Markdown table")
    columns = sub.add_parser("columns", help="define every output column")
    columns.add_argument("--markdown", action="store_true", help="as the README's Markdown tables")
    docs = sub.add_parser("docs", help="regenerate the README's parameter and output tables")
    docs.add_argument("--readme", type=Path, default=Path("README.md"))
    calibration_cli.add_parsers(sub)
    sweep_cli.add_parsers(sub)  # sweep, sweeps, compare, analyze (sim/batch/cli.py)
    ui = sub.add_parser("ui", help="serve the browser UI (Explore, Compare, Calibration, About)")  # sim/ui/app.py
    ui.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    ui.add_argument("--port", type=int, default=8765, choices=range(1, 65536), metavar="PORT", help="default 8765")
    claims = sub.add_parser("claims", help="check a scenario's claims against the baseline over several seeds")
    claims.add_argument("scenario", help="a shipped scenario name or a .toml path with [[claims]]")
    claims.add_argument("--seeds", type=whole(1, 1000), default=10, help="paired runs (default 10)")
    claims.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a parameter in both runs"
    )
    levers = sub.add_parser("levers", help="each policy kind's effect on an output, with a seed band")
    pairs = levers.add_mutually_exclusive_group()
    pairs.add_argument("--seeds", type=whole(1, 1000), default=10, help="paired seeds per lever (default 10)")
    pairs.add_argument(
        "--draws", type=whole(2, 10_000), default=0, help="paired posterior draws per lever instead of seeds"
    )
    levers.add_argument("--developers", type=whole(50, 2_000_000), default=20000, help="population (default 20000)")
    levers.add_argument("--month", default="2030-12", help="month of the effect (default 2030-12)")
    levers.add_argument("--workers", type=whole(1, 256), default=2, help="processes (default 2)")
    levers.add_argument("--markdown", action="store_true", help="as the README's table")
    check = sub.add_parser("check", help="validate scenario files without running them")
    check.add_argument("files", nargs="+")
    return parser


def cmd_run(args: argparse.Namespace) -> None:
    from sim import scenario as scenarios
    from sim.api import run
    from sim.params import parse_assignment

    sc = scenarios.load(args.scenario)
    overrides = dict(parse_assignment(a) for a in args.set)
    if args.out:
        check_replaceable(args.out)  # before simulating: a bad --out costs one line, not a run
    _warn(scenarios.warnings(sc, overrides))
    if args.draws:
        _run_draws(sc, args, overrides)
        return
    result = run(sc, seed=args.seed, overrides=overrides)
    print(f"{sc.name} (seed {args.seed}, {result.params['n_developers']} developers)")
    print(result.summary().to_string(float_format=lambda x: f"{x:.3g}"))
    if args.out:
        result.save(args.out, parquet=not args.no_parquet, overrides=overrides)
        print(f"tables written to {args.out}/ (with provenance.json)")


def _run_draws(sc, args: argparse.Namespace, overrides: dict) -> None:
    from sim.ensemble import run_draws

    ens = run_draws(sc, args.draws, seed=args.seed, overrides=overrides, workers=args.workers)
    print(f"{sc.name}: {args.draws} posterior draws (seed {args.seed}); median [5%, 95%]")
    print(ens.summary().to_string())
    if args.out:
        info = {"command": "run --draws", "scenario": sc.name, "scenario_file": sc.path, "seed": args.seed}
        ens.save(args.out, parquet=not args.no_parquet, info=info | {"draws": args.draws, "overrides": overrides})
        print(f"tables written to {args.out}/ (draws, timeseries_draws, timeseries_bands)")


def cmd_scenarios(_: argparse.Namespace) -> None:
    from sim import scenario as scenarios

    for name in scenarios.available():
        sc = scenarios.load(name)
        first = sc.description.strip().splitlines()[0] if sc.description.strip() else ""
        print(f"{name:32s} {first}")


def cmd_params(args: argparse.Namespace) -> None:
    from sim.docs import params_markdown
    from sim.params import REGISTRY, defaults

    if args.markdown:
        print(params_markdown(), end="")
        return
    groups = {p.group for p in REGISTRY.values()}
    if args.group and args.group not in groups:
        raise InputError("--group", "group", args.group, f"one of {', '.join(sorted(groups))}")
    used = defaults()  # what a run uses: the declared values, updated by the calibrated set
    print("name = value a run uses (declared value, when the calibration changed it) unit, bounds (group)")
    for p in REGISTRY.values():
        if args.group in (None, p.group):
            value = used[p.name]
            was = f" (calibrated; declared {_num(p.default)})" if value != p.default else ""
            mark = " [calibrated]" if p.calibrate and not was else ""
            print(f"{p.name} = {_num(value)}{was} {p.unit} in [{p.low:g}, {p.high:g}] ({p.group}){mark}")
            print(f"    {p.help} Source: {p.source}")


def _num(value: object) -> str:
    """Four significant digits for floats (a fitted value's 17 digits mean nothing to a reader)."""
    return f"{value:.4g}" if isinstance(value, float) else repr(value)


def cmd_columns(args: argparse.Namespace) -> None:
    from sim.docs import columns_markdown
    from sim.recorder import COLUMNS

    if args.markdown:
        print(columns_markdown(), end="")
        return
    for table, cols in COLUMNS.items():
        print(f"{table}:")
        for name, (unit, meaning) in cols.items():
            print(f"  {name} [{unit}]: {meaning}")


def cmd_check(args: argparse.Namespace) -> int:
    """Check every file (not just up to the first bad one): one line per bad file, exit 2 if any."""
    from sim import scenario as scenarios

    bad = 0
    for f in args.files:
        try:
            sc = scenarios.load(f)
        except InputError as exc:
            print(f"weightshift: {exc}", file=sys.stderr)
            bad += 1
            continue
        print(f"{f}: ok ({sc.name}, {len(sc.policies)} policies, {len(sc.overrides)} overrides)")
        _warn(scenarios.warnings(sc))
    return EXIT_INPUT if bad else 0


def _warn(messages: list[str]) -> None:
    for m in messages:
        print(f"weightshift: warning: {m}", file=sys.stderr)


def cmd_claims(args: argparse.Namespace) -> int:
    from sim import scenario as scenarios
    from sim.api import check_claims
    from sim.params import parse_assignment

    sc = scenarios.load(args.scenario)
    if not sc.claims:
        raise InputError(str(args.scenario), "claims", None, "a scenario file with [[claims]] tables")
    overrides = dict(parse_assignment(a) for a in args.set)
    verdicts = check_claims(sc, seeds=args.seeds, overrides=overrides)
    print(f"{sc.name}: {len(verdicts)} claims over {args.seeds} paired seeds (scenario vs baseline)")
    for v in verdicts:
        c = v.claim
        where = f" [{c.region or c.segment}]" if (c.region or c.segment) else ""
        print(
            f"  {'holds ' if v.holds else 'FAILS '} {c.text}: {c.metric}{where} at {c.month} {c.direction} {c.than}; "
            f"median difference {v.median:+.4g}, {v.agree:.0%} of seeds agree"
        )
    return 0 if all(v.holds for v in verdicts) else 1


def cmd_levers(args: argparse.Namespace) -> None:
    from sim.batch.levers import effects, markdown
    from sim.calendar import month_index, month_label

    month = month_label(month_index(args.month, "--month", "month"))
    rows = effects(args.seeds, args.developers, month, workers=args.workers, draws=args.draws)
    pairs = f"{args.draws} posterior draws" if args.draws else f"{args.seeds} seeds"
    if args.markdown:
        print(markdown(rows, pairs, month, "usage_share_cn_open"), end="")
        return
    print(f"effect on usage_share_cn_open at {month}: median [5%, 95%] over {pairs}; sign holds in")
    for r in rows:
        print(
            f"{r.kind:24s} {r.scenario:38s} {100 * r.median:+7.2f} pp [{100 * r.low:+.2f}, {100 * r.high:+.2f}]"
            f" {r.agree:4.0%}  {r.channel} {r.channel_median:+.3g} (baseline {r.channel_base:.3g})"
        )


def cmd_docs(args: argparse.Namespace) -> None:
    from sim.docs import fill_readme

    if not args.readme.is_file():
        raise InputError("--readme", "readme", str(args.readme), "an existing Markdown file")
    args.readme.write_text(fill_readme(args.readme.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"updated {args.readme}")


def cmd_bench(args: argparse.Namespace) -> None:
    from sim.batch.bench import main as bench

    bench(args.sizes, args.months, args.reference_months)


def cmd_ui(args: argparse.Namespace) -> None:
    from sim.ui.server import serve

    code = serve(args.host, args.port)
    if code not in (0, -signal.SIGINT, 130):
        raise FileProblem("ui", f"the UI server stopped with exit code {code} (is port {args.port} in use?)")


COMMANDS = {
    "run": cmd_run,
    "bench": cmd_bench,
    "scenarios": cmd_scenarios,
    "params": cmd_params,
    "columns": cmd_columns,
    "check": cmd_check,
    "claims": cmd_claims,
    "levers": cmd_levers,
    "docs": cmd_docs,
    "ui": cmd_ui,
    **calibration_cli.COMMANDS,
    **sweep_cli.COMMANDS,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args) or 0  # a command may return an exit code (claims: 1 if one fails)
    except InputError as exc:
        print(f"weightshift: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        print("weightshift: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
