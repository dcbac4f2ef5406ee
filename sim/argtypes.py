"""Validated argparse value types, shared by every `weightshift` subcommand.

A bad value becomes argparse's error, which the CLI reports as one line with exit code 2.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable


def _allowed(kind: str, low: float, high: float | None, open_low: bool = False) -> str:
    if high is None:
        return f"a {kind} >= {low:g}"
    return f"a {kind} in {'(' if open_low else '['}{low:g}, {high:g}]"


def whole(low: int, high: int | None = None) -> Callable[[str], int]:
    """A type for whole numbers in [low, high] (no upper bound if high is None)."""

    def parse(text: str) -> int:
        allowed = _allowed("whole number", low, high)
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {allowed}") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{text!r} is not {allowed}")
        return value

    return parse


def number(low: float, high: float, open_low: bool = False) -> Callable[[str], float]:
    """A type for finite numbers in [low, high] (or (low, high] with open_low)."""

    def parse(text: str) -> float:
        allowed = _allowed("number", low, high, open_low)
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {allowed}") from None
        below = value <= low if open_low else value < low
        if not math.isfinite(value) or below or value > high:
            raise argparse.ArgumentTypeError(f"{text!r} is not {allowed}")
        return value

    return parse
