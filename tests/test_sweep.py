"""Sweep files: validation (one line, exit 2, nothing written), designs, seeds and output extraction."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.batch import sweep as sweeps
from sim.cli import main
from sim.errors import InputError
from sim.params import REGISTRY

SMALL = "[params]\nn_developers = 300\nmonths = 12\n"


def write(tmp_path: Path, body: str, name: str = "s.toml") -> Path:
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    return path


GRID = (
    'name = "t"\nscenario = "baseline"\n[design]\nkind = "grid"\nreplications = 2\n'
    + SMALL
    + "[vary]\ncontrol_effect = { low = 0.2, high = 0.8, levels = 3 }\n"
    + '[policies.lic]\nkind = "licensing_regime"\nstart = "2023-06"\nenabled = { values = [false, true] }\n'
)


# --- the shipped sweep files --------------------------------------------------------------------------


def test_shipped_sweeps_load_and_cover_grid_lhs_and_sobol():
    loaded = {name: sweeps.load(name) for name in sweeps.available()}
    kinds = {s.design.kind for s in loaded.values()}
    assert {"grid", "lhs", "sobol"} <= kinds
    for s in loaded.values():
        assert s.n_runs == s.n_points * s.design.replications > 0
        assert s.outputs.names and s.factors
        for f in s.factors:  # every range lies inside the registry's bounds
            if f.target[0] == "param" and f.values is None:
                p = REGISTRY[f.name]
                assert p.low <= f.low < f.high <= p.high


def test_the_grid_is_the_full_product_of_levels():
    s = sweeps.load("export_controls_x_licensing")
    levels = [len(f.values) for f in s.factors]
    assert s.n_points == math.prod(levels)
    assert len(s.table.drop(columns="point").drop_duplicates()) == s.n_points


# --- designs and seeds ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind,samples,points", [("lhs", 10, 10), ("sobol", 8, 8 * (3 + 2)), ("morris", 4, 4 * 4)])
def test_sampling_designs_are_deterministic_sized_and_in_bounds(tmp_path, kind, samples, points):
    body = (
        f'name = "t"\nscenario = "baseline"\n[design]\nkind = "{kind}"\nsamples = {samples}\n'
        + SMALL.replace("n_developers = 300\n", "")
        + "[vary]\ncontrol_effect = { low = 0.2, high = 0.8 }\ncontacts = { low = 2, high = 9 }\n"
        + "n_developers = { values = [300, 400] }\n"
    )
    path = write(tmp_path, body)
    a, b = sweeps.load(path), sweeps.load(path)
    assert a.n_points == points
    pd.testing.assert_frame_equal(a.table, b.table)
    t = a.table
    assert t.control_effect.between(0.2, 0.8).all()
    assert t.contacts.dtype.kind == "i" and t.contacts.between(2, 9).all()
    assert set(t.n_developers) <= {300, 400}


def test_lhs_strata_each_hold_one_point(tmp_path):
    p = REGISTRY["diffusion_open"]  # the full registry range, whatever it is today
    head = 'name = "t"\nscenario = "baseline"\n[design]\nkind = "lhs"\nsamples = 20\n'
    body = head + f"[vary]\ndiffusion_open = {{ low = {p.low}, high = {p.high} }}\n"
    t = sweeps.load(write(tmp_path, body)).table
    strata = np.floor((t.diffusion_open.to_numpy() - p.low) / ((p.high - p.low) / 20)).astype(int)
    assert sorted(strata) == list(range(20))


def test_common_seeds_are_shared_across_points_and_differ_across_replications(tmp_path):
    s = sweeps.load(write(tmp_path, GRID))
    reps = s.design.replications
    seeds = [[s.seed_of(p * reps + r) for r in range(reps)] for p in range(s.n_points)]
    assert all(row == seeds[0] for row in seeds)
    assert len(set(seeds[0])) == reps
    distinct = sweeps.load(write(tmp_path, GRID.replace("replications = 2", "replications = 2\ncommon_seeds = false")))
    assert len({distinct.seed_of(r) for r in range(distinct.n_runs)}) == distinct.n_runs


def test_tasks_carry_factor_values_into_parameters_and_policies(tmp_path):
    s = sweeps.load(write(tmp_path, GRID))
    base = len(s.scenario.policies)
    for run_id in range(s.n_runs):
        row = s.table.iloc[run_id // 2]
        task = s.task(run_id)
        assert task.overrides["control_effect"] == row.control_effect
        assert task.overrides["n_developers"] == 300
        assert len(task.scenario.policies) == base + bool(row["lic.enabled"])


def test_flags_override_samples_reps_and_fixed_parameters(tmp_path):
    path = write(tmp_path, GRID)
    s = sweeps.load(path, samples=2, reps=3, sets=["months=6", "bass_p=0.03"])
    assert s.n_points == 2 and s.design.replications == 3
    assert s.params["months"] == 6 and s.params["bass_p"] == 0.03


# --- outputs ------------------------------------------------------------------------------------------


def test_outputs_pick_months_final_and_window_statistics():
    ts = pd.DataFrame({"month": ["2023-01", "2023-02", "2023-03", "2023-04"], "welfare": [np.nan, 1.0, 2.0, 6.0]})
    out = sweeps.Outputs(
        columns=("welfare",),
        at=("2023-02", "final", "2030-12"),
        stats=("mean", "min", "max"),
        start="2023-01",
        end="2023-03",
    )
    assert out.names == [
        "welfare@2023-02",
        "welfare@final",
        "welfare@2030-12",
        "welfare:mean",
        "welfare:min",
        "welfare:max",
    ]
    got = out.extract(ts)
    assert got[:2] == [1.0, 6.0] and math.isnan(got[2])  # a month the run did not reach is NaN
    assert got[3:] == [1.5, 1.0, 2.0]  # the window 2023-01..2023-03, undefined months left out


def test_conditions_parse_and_hold():
    c = sweeps.parse_condition("x@final >= 0.5", ["x@final"], "here")
    assert list(c.holds(np.array([0.4, 0.5, np.nan, 0.9]))) == [False, True, False, True]
    with pytest.raises(InputError, match="one of the outputs"):
        sweeps.parse_condition("y > 1", ["x@final"], "here")


# --- bad sweep files: one line, exit 2, nothing written -----------------------------------------------

BAD = {
    "unknown top-level key": (GRID + "colour = 1\n", "colour"),
    "unknown design key": (GRID.replace("replications = 2", "replications = 2\nsize = 3"), "design.size"),
    "unknown parameter": (GRID + "[vary.not_a_param]\nlow = 0\nhigh = 1\n", "vary.not_a_param"),
    "range beyond the registry": (
        GRID.replace("high = 0.8", f"high = {REGISTRY['control_effect'].high + 1}"),
        "control_effect",
    ),
    "grid range without levels": (GRID.replace(", levels = 3", ""), "vary.control_effect"),
    "levels outside a grid": (GRID.replace('kind = "grid"', 'kind = "lhs"\nsamples = 4'), "levels"),
    "sobol samples not a power of two": (
        GRID.replace('kind = "grid"', 'kind = "sobol"\nsamples = 6').replace(", levels = 3", ""),
        "samples",
    ),
    "unknown factor key": (GRID.replace("levels = 3", "levels = 3, step = 1"), "step"),
    "varied list field of a policy": (
        GRID + '[policies.p]\nkind = "trust"\nstart = "2024-01"\norigins = { values = ["CN"] }\n',
        "origins",
    ),
    "policy field out of its bounds": (
        GRID + '[policies.c]\nkind = "chip_export_controls"\nstart = "2024-01"\ntightness = { values = [0.5, 2.0] }\n',
        "tightness",
    ),
    "unknown policy kind": (GRID + '[policies.p]\nkind = "tariff"\nstart = "2024-01"\n', "kind"),
    "fixed and varied at once": (
        GRID.replace("months = 12\n", "months = 12\ncontrol_effect = 0.5\n"),
        "params.control_effect",
    ),
    "unknown output column": (GRID + '[outputs]\ncolumns = ["nope"]\n', "outputs.columns"),
    "bad output month": (GRID + '[outputs]\nat = ["2030-13"]\n', "outputs.at"),
    "condition on an unknown output": (GRID + '[analysis]\ncondition = "foo > 1"\n', "analysis.condition"),
    "malformed condition": (
        GRID + '[analysis]\ncondition = "usage_share_cn_open@final is big"\n',
        "analysis.condition",
    ),
    "unknown base scenario": (GRID.replace('"baseline"', '"no_such_scenario"'), "no_such_scenario"),
    "not TOML": ("name = \n", "not valid TOML"),
}


def _cli(argv: list[str], capsys) -> tuple[int, str]:
    code = main(argv)
    return code, capsys.readouterr().err


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_sweep_files_fail_in_one_line_with_exit_2_and_write_nothing(tmp_path, capsys, case):
    body, needle = BAD[case]
    path = write(tmp_path, body)
    out = tmp_path / "out"
    code, err = _cli(["sweep", str(path), "--out", str(out), "--quiet"], capsys)
    assert code == 2
    assert err.count("\n") == 1 and needle in err and str(path) in err
    assert not out.exists()


@pytest.mark.parametrize(
    "flags,needle",
    [
        (["--set", "control_effect=0.5"], "--set"),
        (["--set", "no_such=1"], "no_such"),
        (["--samples", "0"], "--samples"),
        (["--reps", "x"], "--reps"),
        (["--workers", "0"], "--workers"),
        (["--backend", "ray"], "--backend"),
        (["--scheduler", "tcp://127.0.0.1:1"], "--scheduler"),
    ],
)
def test_bad_flags_fail_in_one_line_with_exit_2_and_write_nothing(tmp_path, capsys, flags, needle):
    out = tmp_path / "out"
    code, err = _cli(["sweep", str(write(tmp_path, GRID)), "--out", str(out), "--quiet", *flags], capsys)
    assert code == 2 and err.count("\n") == 1 and needle in err
    assert not out.exists()


def test_missing_sweep_file_names_the_shipped_ones(tmp_path, capsys):
    code, err = _cli(["sweep", str(tmp_path / "none.toml"), "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "no such sweep file" in err and "export_controls_x_licensing" in err


def test_dry_run_prints_the_design_and_writes_nothing(tmp_path, capsys):
    code = main(["sweep", str(write(tmp_path, GRID)), "--dry-run"])
    text = capsys.readouterr().out
    assert code == 0 and "6 points x 2 replications = 12 runs" in text and "lic.enabled" in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.toml"]
