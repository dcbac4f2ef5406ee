"""The one exception users see: bad input, reported as a single line."""

from __future__ import annotations

from typing import Any


def _one_line(text: str) -> str:
    """Messages are one line whatever the user typed (a key may contain a line break)."""
    return text.replace("\r", "\\r").replace("\n", "\\n")


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


class FileProblem(InputError):
    """Input that cannot be used at all: a missing or unparsable file (or a malformed command line)."""

    def __init__(self, where: str, problem: str) -> None:
        ValueError.__init__(self, _one_line(f"{where}: {problem}"))
        self.where, self.key, self.value, self.allowed = where, "", None, problem
