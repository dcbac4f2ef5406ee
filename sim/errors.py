"""The one exception users see: bad input, reported as a single line."""

from __future__ import annotations

from typing import Any


def _one_line(text: str) -> str:
    """Messages are one line whatever the user typed: control and separator characters are escaped.

    Not only \\n and \\r break a line: terminals and `str.splitlines` also break at \\x0b, \\x0c,
    \\x1c-\\x1e, U+0085, U+2028 and U+2029, and other control characters can rewrite the screen.
    """
    return "".join(ch if ch.isprintable() or ch == " " else _escape(ch) for ch in text)


def _escape(ch: str) -> str:
    code = ord(ch)
    return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(ch) or _hex(code)


def _hex(code: int) -> str:
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


class InputError(ValueError):
    """Bad user input: a file, key, flag or field with a value that is not allowed.

    The CLI prints `str(error)` as one line and exits with code 2.
    """

    def __init__(self, where: str, key: str, value: Any, allowed: str) -> None:
        self.where, self.key, self.value, self.allowed = where, key, value, allowed
        shown = repr(value)
        if len(shown) > 60:
            shown = shown[:57] + "..."
        super().__init__(_one_line(f"{where}: {key} = {shown} is not allowed; expected {allowed}"))

    def __reduce__(self) -> tuple:
        """Rebuilt from its fields when it crosses to another process (a pool worker's error reaches
        the parent pickled; the default would call __init__ with the message alone and fail there)."""
        return (type(self), (self.where, self.key, self.value, self.allowed))


class FileProblem(InputError):
    """Input that cannot be used at all: a missing or unparsable file (or a malformed command line)."""

    def __init__(self, where: str, problem: str) -> None:
        ValueError.__init__(self, _one_line(f"{where}: {problem}"))
        self.where, self.key, self.value, self.allowed = where, "", None, problem

    def __reduce__(self) -> tuple:
        return (type(self), (self.where, self.allowed))
