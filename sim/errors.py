"""The one exception users see: bad input, reported as a single line."""

from __future__ import annotations

from typing import Any


class InputError(ValueError):
    """Bad user input: a file, key, flag or field with a value that is not allowed.

    The CLI prints `str(error)` as one line and exits with code 2.
    """

    def __init__(self, where: str, key: str, value: Any, allowed: str) -> None:
        self.where, self.key, self.value, self.allowed = where, key, value, allowed
        shown = repr(value)
        if len(shown) > 60:
            shown = shown[:57] + "..."
        super().__init__(f"{where}: {key} = {shown} is not allowed; expected {allowed}")


class FileProblem(InputError):
    """A file that cannot be read or parsed at all (missing, not TOML)."""

    def __init__(self, where: str, problem: str) -> None:
        ValueError.__init__(self, f"{where}: {problem}")
        self.where, self.key, self.value, self.allowed = where, "", None, problem
