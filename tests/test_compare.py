"""Policy comparison with common random numbers: known answers, the table and plot, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sim.batch.compare import KEY_OUTPUTS, compare
from sim.cli import main
from sim.scenario import load

SMALL = {"n_developers": 300, "months": 40}  # to 2026-04: past the 2026-01 policies of regulatory_fragmentation


def test_a_scenario_against_itself_differs_by_exactly_zero():
    c = compare(["baseline", "baseline"], reps=3, overrides=SMALL, workers=2)
    assert c.labels == ["baseline", "baseline-2"]
    table = c.table.dropna(subset=["diff"])
    assert (table["diff"] == 0).all() and (table.ci_low == 0).all() and (table.ci_high == 0).all()


def test_common_random_numbers_make_runs_identical_until_a_policy_starts():
    frag = load("regulatory_fragmentation")
    start = min(p.start for p in frag.policies if p not in load("baseline").policies)  # first step of its own policies
    c = compare(["baseline", frag], reps=3, overrides=SMALL, workers=2)
    bands = c.bands.assign(t=lambda d: pd.to_datetime(d.month).dt.year * 12 + pd.to_datetime(d.month).dt.month - 1)
    t0 = 2023 * 12
    before = bands[bands.t - t0 < start].dropna(subset=["diff", "ci_low"])  # defined where >= 2 reps are
    after = bands[bands.t - t0 >= start].dropna(subset=["diff"])
    assert len(before) and (before["diff"] == 0).all() and (before.ci_high - before.ci_low == 0).all()
    assert (after["diff"] != 0).any()  # and the policies do change something afterwards


def test_table_has_paired_intervals_for_each_output_and_month():
    c = compare(["baseline", "regulatory_fragmentation"], reps=4, overrides=SMALL, at=["2025-06", "2026-04"])
    t = c.table
    assert set(t.output) == set(KEY_OUTPUTS) and set(t.month) == {"2025-06", "2026-04"}
    assert (t.n == 4).all()
    finite = t.dropna(subset=["diff"])
    assert (finite.ci_low <= finite["diff"]).all() and (finite["diff"] <= finite.ci_high).all()
    runs = c.runs[(c.runs.month == "2026-04")].pivot(index="rep", columns="scenario", values="welfare")
    diff = runs["regulatory_fragmentation"] - runs["baseline"]
    row = t[(t.output == "welfare") & (t.month == "2026-04")].iloc[0]
    assert row["diff"] == pytest.approx(diff.mean())
    assert np.isclose(row.ci_high - row.ci_low, 2 * 3.182446305284263 * diff.std(ddof=1) / 2)  # t(0.975, 3)


def test_cli_writes_table_bands_runs_and_a_png(tmp_path, capsys):
    out = tmp_path / "cmp"
    argv = ["compare", "baseline", "regulatory_fragmentation", "--reps", "2", "--out", str(out), "--quiet"]
    assert main([*argv, "--set", "n_developers=300", "months=30", "--workers", "2"]) == 0
    text = capsys.readouterr().out
    assert "regulatory_fragmentation" in text and "usage_share_cn_open" in text
    assert {"compare.csv", "bands.csv", "runs.parquet", "compare.png"} <= {p.name for p in out.iterdir()}
    assert (out / "compare.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(pd.read_csv(out / "compare.csv")) == len(KEY_OUTPUTS)  # one month (the last) x outputs


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["baseline", "no_such_scenario"], "no_such_scenario"),
        (["baseline"], "at least two"),
        (["baseline", "convergence", "--reps", "1"], "--reps"),
        (["baseline", "convergence", "--at", "2099-01"], "--at"),
        (["baseline", "convergence", "--set", "months=0"], "months"),
    ],
)
def test_bad_input_fails_in_one_line_with_exit_2_and_writes_nothing(tmp_path, capsys, argv, needle):
    out = tmp_path / "cmp"
    assert main(["compare", *argv, "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and needle in err
    assert not out.exists()
