"""Weightshift: an agent-based simulator of the race between Chinese and Western open-weight models."""

import sys

# `python -m sim` with an interpreter that cannot run it: one line saying what to do, exit code 2
# (sys.argv[0] is "-m" while `python -m` imports this package), instead of a traceback.
_USE = "use `bash run.sh ARGS` (it sets up .venv) or `.venv/bin/python -m sim ARGS`"
if sys.version_info < (3, 12):  # noqa: UP036 (this check is for the interpreters the target excludes)
    _why = f"weightshift: needs Python >= 3.12 (Mesa 3.5 requires it), not {sys.version.split()[0]}: {_USE}"
    if sys.argv[:1] == ["-m"]:
        print(_why, file=sys.stderr)
        raise SystemExit(2)
    raise ImportError(_why)

try:
    from sim.api import RunResult, run
    from sim.scenario import Scenario, load
except ModuleNotFoundError as _exc:
    if sys.argv[:1] != ["-m"] or _exc.name is None or _exc.name.startswith("sim"):
        raise
    print(f"weightshift: {_exc.name} is not installed for {sys.executable}: {_USE}", file=sys.stderr)
    raise SystemExit(2) from None

__all__ = ["RunResult", "Scenario", "load", "run"]
__version__ = "0.1.0"
