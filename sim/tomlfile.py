"""Reading user TOML files (scenarios, sweeps) safely: the boundary where hostile input stops.

`tomllib` is correct but trusting: arrays or inline tables nested thousands deep exhaust the
recursion limit, integers of any length parse (TOML promises only 64 bits, and a 400-digit one
later overflows a float conversion), and a UTF-8 byte-order mark (as Windows Notepad writes) is a
syntax error at line 1, column 1. Everything the loaders do after `read` can then assume a
document of sane shape: nesting at most `MAX_DEPTH` deep, 64-bit integers, string keys.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from sim.errors import FileProblem, InputError

MAX_DEPTH = 32  # tables and arrays inside each other; real scenario and sweep files use 3
MAX_KEY_PARTS = 200  # dotted parts of one key or table header (tomllib takes 21 s on 20,000)
MAX_BYTES = 4 << 20  # a scenario or sweep file is a few kB
INT64 = (-(2**63), 2**63 - 1)
BOM = "\ufeff"


def read(path: Path, what: str) -> dict[str, Any]:
    """The parsed document of TOML file `path` (`what`: "scenario" or "sweep" for messages).

    Raises FileProblem for a file that cannot be read or parsed, InputError for a value out of
    shape (naming its dotted key).
    """
    where = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise FileProblem(where, f"is {size:,} bytes; a {what} file is at most {MAX_BYTES:,} bytes")
        text = path.read_text(encoding="utf-8")
    except (OSError, ValueError) as exc:  # ValueError: UnicodeDecodeError, or an unusable path
        raise FileProblem(where[:300], f"cannot be read: {exc}") from None
    text = text.removeprefix(BOM)  # a byte-order mark is legal UTF-8 framing, not content
    _check_keys(text, where)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise FileProblem(where, f"not valid TOML: {exc}") from None
    except RecursionError:
        raise FileProblem(where, f"not usable: arrays or tables nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:  # e.g. an integer beyond Python's int-to-string digit limit
        raise FileProblem(where, f"not valid TOML: {exc}") from None
    check_shape(doc, where)
    return doc


def _check_keys(text: str, where: str) -> None:
    """Refuse absurdly dotted keys before parsing: tomllib's time grows with the square of their parts."""
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.lstrip()
        head = stripped.split("]", 1)[0] if stripped.startswith("[") else stripped.split("=", 1)[0]
        if "," not in head and head.count(".") >= MAX_KEY_PARTS:
            too_many = f"a key of more than {MAX_KEY_PARTS} dotted parts (nesting is at most {MAX_DEPTH})"
            raise FileProblem(where, f"line {number}: {too_many}")


def check_shape(doc: dict[str, Any], where: str) -> None:
    """Raise InputError for nesting deeper than MAX_DEPTH or an integer outside 64 bits.

    Iterative, so that it cannot itself run out of stack on the document it is judging.
    """
    stack: list[tuple[str, Any, int]] = [("", doc, 0)]
    while stack:
        key, value, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise InputError(where, _short(key), "...", f"tables and arrays nested at most {MAX_DEPTH} deep")
        if isinstance(value, dict):
            stack.extend((f"{key}.{k}" if key else k, v, depth + 1) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((f"{key}[{i}]", v, depth + 1) for i, v in enumerate(value))
        elif isinstance(value, int) and not isinstance(value, bool) and not INT64[0] <= value <= INT64[1]:
            digits = len(str(abs(value)))
            raise InputError(where, _short(key), f"<{digits}-digit integer>", "an integer within 64 bits")


def _short(key: str) -> str:
    return key if len(key) <= 120 else key[:60] + "..." + key[-40:]
