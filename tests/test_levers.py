"""`weightshift levers`: each policy kind's paired effect, over seeds or over posterior draws."""

from __future__ import annotations

import numpy as np
import pytest

from sim.batch import levers


@pytest.fixture(scope="module")
def small_effects() -> list[levers.Effect]:
    return levers.effects(seeds=2, n_developers=300, month="2026-12", workers=1)


def test_one_row_per_policy_kind_with_an_ordered_band(small_effects):
    assert [r.kind for r in small_effects] == list(levers.LEVERS)
    for r in small_effects:
        assert r.low <= r.median <= r.high
        assert 0.0 <= r.agree <= 1.0
        assert np.isfinite([r.channel_median, r.channel_base]).all()


def test_tighter_chip_controls_cut_chinese_compute_through_their_channel(small_effects):
    chips = next(r for r in small_effects if r.kind == "chip_export_controls")
    assert chips.channel == "cn_compute_index"
    assert chips.channel_median < 0 < chips.channel_base


def test_the_table_names_what_the_band_is_over(small_effects):
    text = levers.markdown(small_effects, "2 seeds", "2026-12", "usage_share_cn_open")
    lines = text.splitlines()
    assert "over 2 seeds" in lines[0] and "sign holds in" in lines[0]
    assert len(lines) == 2 + len(levers.LEVERS)
    assert all(line.count("|") == lines[0].count("|") for line in lines)


@pytest.mark.usefixtures("stub_posterior")
def test_with_draws_each_pair_runs_one_posterior_draw_in_both_scenarios(stub_posterior):
    pairs = levers._pairs(seeds=10, draws=3, n_developers=300)
    assert len(pairs) == 3
    assert len({seed for seed, _ in pairs}) == 3
    for _, over in pairs:
        assert over["n_developers"] == 300
        drawn = {k: v for k, v in over.items() if k in stub_posterior.columns}
        assert drawn and any(
            all(np.isclose(row[k], v) for k, v in drawn.items()) for _, row in stub_posterior.iterrows()
        )
    assert levers._pairs(seeds=4, draws=0, n_developers=300) == [(s, {"n_developers": 300}) for s in range(4)]


def test_draws_without_a_posterior_are_refused_with_what_to_run(monkeypatch):
    import pandas as pd

    from sim import ensemble
    from sim.errors import InputError

    monkeypatch.setattr(ensemble, "posterior", pd.DataFrame)
    with pytest.raises(InputError, match="calibrated posterior"):
        levers._pairs(seeds=10, draws=3, n_developers=300)


@pytest.mark.parametrize(
    "argv", [["--draws", "1"], ["--draws", "x"], ["--seeds", "3", "--draws", "3"], ["--seeds", "0"]]
)
def test_bad_levers_flags_are_one_line_and_exit_2(argv, capsys):
    from sim.cli import main

    assert main(["levers", *argv]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1 and "Traceback" not in captured.err
