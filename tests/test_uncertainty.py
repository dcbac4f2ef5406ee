"""Uncertainty from the posterior: `run --draws K` bands and `compare A B --draws K` policy effects."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sim.batch.compare import KEY_OUTPUTS, compare_draws
from sim.cli import main
from sim.ensemble import draw_parameters, run_draws

pytestmark = pytest.mark.usefixtures("stub_posterior")  # the --draws machinery, on a stand-in posterior

SMALL = {"n_developers": 300, "months": 40}  # to 2026-04: past the 2026-01 policies of regulatory_fragmentation


def test_draws_carry_every_posterior_parameter_and_regions_get_bands():
    params = draw_parameters(4, seed=1)
    assert params == draw_parameters(4, seed=1)  # reproducible from the seed
    ens = run_draws("baseline", 3, seed=2, overrides=SMALL)
    assert len(ens.draws) == 3 and ens.draws["seed"].nunique() == 3
    rb = ens.region_bands.dropna()
    assert {"month", "region", "output", "q05", "median", "q95"} <= set(rb.columns)
    assert (rb["q05"] <= rb["median"] + 1e-12).all() and (rb["median"] <= rb["q95"] + 1e-12).all()
    assert set(rb["region"]) == set(ens.regions["region"])


def test_a_scenario_against_itself_has_zero_effect_in_every_draw():
    c = compare_draws(["baseline", "baseline"], draws=3, overrides=SMALL)
    e = c.effects.dropna(subset=["effect_median"])
    assert len(e) and (e["effect_median"] == 0).all() and (e["effect_q05"] == 0).all() and (e["effect_q95"] == 0).all()
    assert (e["sign_share"] == 1).all()


def test_effects_are_paired_per_draw_and_summarised_by_median_band_and_sign():
    c = compare_draws(["baseline", "regulatory_fragmentation"], draws=4, overrides=SMALL, at=["2025-06", "2026-04"])
    e = c.effects
    assert set(e.output) == set(KEY_OUTPUTS) and set(e.month) == {"2025-06", "2026-04"}
    runs = c.runs[c.runs.month == "2026-04"].pivot(index="draw", columns="scenario", values="usage_share_cn_open")
    eff = (runs["regulatory_fragmentation"] - runs["baseline"]).to_numpy()
    row = e[(e.output == "usage_share_cn_open") & (e.month == "2026-04")].iloc[0]
    assert row["effect_median"] == pytest.approx(np.median(eff))
    assert row["effect_q05"] == pytest.approx(np.quantile(eff, 0.05))
    assert row["sign_share"] == pytest.approx(np.mean(np.sign(eff) == np.sign(np.median(eff))))
    # common random numbers: a draw's two runs share parameters and seed, so before any policy differs
    # the runs are identical
    early = c.runs[c.runs.month == "2023-06"].pivot(index="draw", columns="scenario", values="usage_share_closed")
    assert (early["regulatory_fragmentation"] == early["baseline"]).all()


def test_compare_draws_cli_writes_effects(tmp_path, capsys):
    out = tmp_path / "fx"
    argv = ["compare", "baseline", "regulatory_fragmentation", "--draws", "2", "--out", str(out), "--quiet"]
    assert main([*argv, "--set", "n_developers=300", "months=30"]) == 0
    assert "sign holds" in capsys.readouterr().out
    assert {"effects.csv", "runs.parquet"} <= {p.name for p in out.iterdir()}
    assert len(pd.read_csv(out / "effects.csv")) == len(KEY_OUTPUTS)


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["compare", "baseline", "convergence", "--draws", "1"], "--draws"),
        (["compare", "baseline", "convergence", "--draws", "x"], "--draws"),
        (["compare", "baseline", "convergence", "--draws", "3", "--reps", "3"], "--reps"),
        (["compare", "baseline", "--draws", "3"], "at least two"),
        (["run", "baseline", "--draws", "0"], "--draws"),
        (["run", "baseline", "--draws", "2", "--workers", "0"], "--workers"),
    ],
)
def test_bad_draws_flags_are_one_line_and_exit_2(tmp_path, capsys, argv, needle):
    out = tmp_path / "o"
    assert main([*argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and needle in err and "Traceback" not in err
    assert not out.exists()


def _fit_folder(tmp_path, rows: dict) -> str:
    folder = tmp_path / "fit"
    folder.mkdir()
    pd.DataFrame(rows).to_csv(folder / "posterior.csv", index=False)
    return str(folder)


@pytest.mark.parametrize("stub_posterior", [None])  # not the stand-in: the real reading path
def test_draws_come_from_the_fit_folder_that_weightshift_posterior_names(tmp_path, monkeypatch, stub_posterior):
    from sim.ensemble import POSTERIOR_ENV, has_posterior

    folder = _fit_folder(tmp_path, {"bass_p": [0.01, 0.03], "weight": [1e-12, 1.0], "distance": [0.5, 0.4]})
    monkeypatch.setenv(POSTERIOR_ENV, folder)
    assert has_posterior()
    assert {p["bass_p"] for p in draw_parameters(6, seed=3)} == {0.03}  # by weight: the first row is ~never drawn


@pytest.mark.parametrize("stub_posterior", [None])
@pytest.mark.parametrize(
    "rows,needle",
    [
        (None, "posterior.csv"),  # no posterior.csv in the folder
        ({"bass_p": [0.01], "weight": [0.0]}, "weight"),
        ({"bass_p": [0.01], "bogus_knob": [1.0], "weight": [1.0]}, "bogus_knob"),
    ],
)
def test_a_bad_fit_folder_is_a_one_line_error_naming_the_variable(
    tmp_path, monkeypatch, capsys, rows, needle, stub_posterior
):
    from sim.ensemble import POSTERIOR_ENV

    folder = _fit_folder(tmp_path, rows) if rows else str(tmp_path)
    monkeypatch.setenv(POSTERIOR_ENV, folder)
    out = tmp_path / "o"
    assert main(["run", "baseline", "--draws", "2", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and POSTERIOR_ENV in err and needle in err and "Traceback" not in err
    assert not out.exists()
