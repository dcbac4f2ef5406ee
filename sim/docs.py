"""Reference tables for the README, generated from the registry and the output definitions.

The README carries these between marker comments; a test keeps them in sync, so the docs can
never describe a parameter or column that the code does not have.
"""

from __future__ import annotations

from sim.params import REGISTRY
from sim.recorder import COLUMNS


def columns_markdown() -> str:
    """Every output column with unit and definition, one table per output table."""
    out = []
    for table, cols in COLUMNS.items():
        out.append(f"**{table}**\n\n| column | unit | definition |\n|---|---|---|\n")
        out.extend(f"| `{name}` | {unit} | {meaning} |\n" for name, (unit, meaning) in cols.items())
        out.append("\n")
    return "".join(out)


def params_markdown() -> str:
    """Every parameter: default, unit, bounds, whether calibrated, meaning and source."""
    rows = ["| parameter | default | unit | bounds | meaning | source |\n|---|---|---|---|---|---|\n"]
    for p in REGISTRY.values():
        fit = " (calibrated)" if p.calibrate else ""
        rows.append(
            f"| `{p.name}` | {p.default!r} | {p.unit} | {p.low:g} – {p.high:g} | {p.help}{fit} | {p.source} |\n"
        )
    return "".join(rows)
