"""Calendar months <-> step indices. Step 0 is 2023-01; one step is one month."""

from __future__ import annotations

import re

from sim.errors import InputError

START_YEAR = 2023
_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")  # ASCII digits only, nothing after (fullmatch)


def month_index(text: object, where: str, key: str) -> int:
    """Step index of a "YYYY-MM" month (may be negative for months before 2023-01)."""
    allowed = 'a month "YYYY-MM" between 2000-01 and 2100-12'
    if not isinstance(text, str):
        raise InputError(where, key, text, allowed)
    m = _MONTH.fullmatch(text)
    if not m:
        raise InputError(where, key, text, allowed)
    year, month = int(m.group(1)), int(m.group(2))
    if not (1 <= month <= 12 and 2000 <= year <= 2100):
        raise InputError(where, key, text, allowed)
    return (year - START_YEAR) * 12 + month - 1


def month_label(step: int) -> str:
    """The "YYYY-MM" label of a step index."""
    year, month = divmod(step, 12)
    return f"{START_YEAR + year:04d}-{month + 1:02d}"
