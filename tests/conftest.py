"""Make the tests folder importable (the regression helper lives here)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))


def pytest_configure(config):
    """The `slow` marker (long fits): `pytest -m "not slow"` leaves them out."""
    config.addinivalue_line("markers", "slow: a long test (a fit of the real model); deselect with -m 'not slow'")
