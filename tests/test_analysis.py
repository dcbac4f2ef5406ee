"""Sweep analysis: known-answer sensitivity indices, a PRIM box on planted data, report and bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.batch.analysis import analyze, prim_box
from sim.batch.runner import run_sweep
from sim.cli import main

# `late.tightness` belongs to a policy that starts after the last simulated month: a dummy factor
# whose true importance is exactly zero. cn_efficiency_premium does matter.
BODY = """name = "analysis test"
scenario = "baseline"
[design]
kind = "{kind}"
{design}
[params]
n_developers = 300
months = 24
[vary]
cn_efficiency_premium = {{ low = 1.0, high = 4.0{levels} }}
beta_trust = {{ low = 0.5, high = 2.5{levels} }}
[policies.late]
kind = "chip_export_controls"
start = "2029-01"
tightness = {{ low = 0.0, high = 1.0{levels} }}
[outputs]
columns = ["usage_share_cn_open", "best_capability_cn_open"]
at = ["final"]
[analysis]
condition = "usage_share_cn_open@final > {threshold}"
"""
DESIGNS = {
    "sobol": ("samples = 8\nseed = 1", ""),
    "morris": ("samples = 4\nseed = 1", ""),
    "lhs": ("samples = 24\nseed = 1", ""),
    "grid": ("", ", levels = 2"),
}


def make_sweep(tmp_path: Path, kind: str, threshold: float | None = None) -> Path:
    design, levels = DESIGNS[kind]
    path = tmp_path / f"{kind}.toml"
    path.write_text(BODY.format(kind=kind, design=design, levels=levels, threshold=threshold or 0.0))
    out = tmp_path / kind
    run_sweep(path, out, workers=2)
    if threshold is None:  # put the condition's threshold at the median outcome, whatever the defaults
        median = pd.read_parquet(out / "results.parquet")["usage_share_cn_open@final"].median()
        text = (
            (out / "sweep.json")
            .read_text()
            .replace("usage_share_cn_open@final > 0", f"usage_share_cn_open@final > {median}")
        )
        (out / "sweep.json").write_text(text)
    return out


@pytest.fixture(scope="module")
def sobol_dir(tmp_path_factory) -> Path:
    return make_sweep(tmp_path_factory.mktemp("analysis"), "sobol")


def measure(a, output: str, factor: str, name: str) -> float:
    i = a.indices
    return float(i[(i.output == output) & (i.factor == factor) & (i.measure == name)].value.iloc[0])


def test_sobol_indices_are_zero_for_a_factor_without_effect(sobol_dir):
    a = analyze(sobol_dir, write=False)
    assert set(a.indices.measure) == {"S1", "ST"}
    for output in ("usage_share_cn_open@final", "best_capability_cn_open@final"):
        assert measure(a, output, "late.tightness", "ST") == pytest.approx(0, abs=1e-12)
        assert measure(a, output, "late.tightness", "S1") == pytest.approx(0, abs=1e-12)
    assert measure(a, "best_capability_cn_open@final", "cn_efficiency_premium", "ST") > 0.05


@pytest.mark.parametrize("kind,name", [("morris", "mu_star"), ("grid", "range")])
def test_morris_and_grid_give_zero_to_a_factor_without_effect(tmp_path, kind, name):
    a = analyze(make_sweep(tmp_path, kind), write=False)
    assert measure(a, "best_capability_cn_open@final", "late.tightness", name) == pytest.approx(0, abs=1e-12)
    assert measure(a, "best_capability_cn_open@final", "cn_efficiency_premium", name) > 0
    if kind == "grid":
        assert set(a.main_effects.factor) == {"cn_efficiency_premium", "beta_trust", "late.tightness"}


def test_lhs_gives_s1_and_pawn_for_every_factor(tmp_path):
    a = analyze(make_sweep(tmp_path, "lhs"), write=False)
    assert set(a.indices.measure) == {"S1", "pawn"}
    assert len(a.indices) == 2 * 3 * 2  # outputs x factors x measures


def test_prim_finds_a_planted_box():
    rng = np.random.default_rng(0)
    x = pd.DataFrame({"a": rng.uniform(0, 1, 600), "b": rng.uniform(0, 1, 600), "c": rng.uniform(0, 1, 600)})
    y = ((x.a > 0.6) & (x.b < 0.5)).to_numpy()
    box, stats, trajectory = prim_box(x, y, min_coverage=0.8, declared={k: (0.0, 1.0) for k in "abc"})
    lims = box.set_index("factor")
    assert set(lims.index) == {"a", "b"}  # c is irrelevant and left unrestricted
    assert lims.loc["a", "box_low"] == pytest.approx(0.6, abs=0.05) and lims.loc["a", "box_high"] == 1.0
    assert lims.loc["b", "box_high"] == pytest.approx(0.5, abs=0.05) and lims.loc["b", "box_low"] == 0.0
    assert stats["coverage"] >= 0.8 and stats["density"] >= 0.9
    assert len(trajectory) > 1


def test_analyze_writes_a_report_plots_and_tables(sobol_dir):
    a = analyze(sobol_dir)
    folder = sobol_dir / "analysis"
    names = {p.name for p in a.files}
    assert {"report.md", "sensitivity.png", "indices.csv"} <= names
    for png in folder.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = (folder / "report.md").read_text()
    assert "## Sensitivity" in report and "Sobol'" in report and "## Scenario discovery (PRIM)" in report
    assert a.condition and 0 < a.box_stats["cases"] < a.box_stats["runs"]
    assert a.box is not None and {"coverage", "density", "mass"} <= set(a.box_stats)


def test_cli_analyze_prints_a_summary(sobol_dir, capsys):
    assert main(["analyze", str(sobol_dir), "--condition", "usage_share_cn_open@final > 0.0001"]) == 0
    out = capsys.readouterr().out
    assert "S1" in out and "PRIM" in out and "report:" in out


@pytest.mark.parametrize(
    "extra,needle",
    [
        (["--condition", "nope > 1"], "one of the outputs"),
        (["--condition", "usage_share_cn_open@final about 3"], "OUTPUT OP NUMBER"),
        (["--outputs", "welfare@final"], "--outputs"),
        (["--min-coverage", "0"], "--min-coverage"),
    ],
)
def test_bad_analysis_input_fails_in_one_line_with_exit_2_and_writes_nothing(
    tmp_path, sobol_dir, capsys, extra, needle
):
    folder = sobol_dir / "analysis"
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} if folder.exists() else {}
    assert main(["analyze", str(sobol_dir), *extra]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and needle in err
    after = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} if folder.exists() else {}
    assert after == before


def test_analyze_refuses_a_folder_that_is_not_a_sweep(tmp_path, capsys):
    assert main(["analyze", str(tmp_path)]) == 2
    assert "not a sweep folder" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
