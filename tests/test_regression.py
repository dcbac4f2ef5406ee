"""The baseline must not drift unnoticed: compare with the committed table."""

from __future__ import annotations

import pandas as pd
from regression import TABLE, current


def test_baseline_matches_the_committed_regression_table():
    expected = pd.read_csv(TABLE)
    got = current()
    assert list(got.columns) == list(expected.columns)
    pd.testing.assert_frame_equal(got, expected, check_exact=False, check_dtype=False, rtol=1e-9, atol=1e-12)
