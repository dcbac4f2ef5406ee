"""Reference tables for the README, generated from the registry and the output definitions.

The README carries these between marker comments; a test keeps them in sync, so the docs can
never describe a parameter or column that the code does not have.
"""

from __future__ import annotations

from sim.params import REGISTRY, calibrated
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
    """Every parameter: declared and calibrated value, unit, bounds, meaning and source."""
    fitted = calibrated()
    rows = ["| parameter | declared | calibrated | unit | bounds | meaning | source |\n|---|---|---|---|---|---|---|\n"]
    for p in REGISTRY.values():
        fit = f"{fitted[p.name]:.4g}" if p.name in fitted else ""
        rows.append(
            f"| `{p.name}` | {p.default!r} | {fit} | {p.unit} | {p.low:g} – {p.high:g} | {p.help} | {p.source} |\n"
        )
    return "".join(rows)


BLOCKS = {"columns": columns_markdown, "params": params_markdown}


def fill_readme(text: str) -> str:
    """README text with every generated block between its markers replaced by the current one."""
    for name, make in BLOCKS.items():
        start, end = f"<!-- {name}:start -->\n", f"<!-- {name}:end -->"
        head, _, rest = text.partition(start)
        _, _, tail = rest.partition(end)
        text = f"{head}{start}{make()}{end}{tail}"
    return text
