"""Scenario files: dated changes keep history, claims are checked, seed scenarios tell their stories."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import sim
from sim import scenario as scenarios
from sim.api import check_claims
from sim.cli import main
from sim.errors import InputError

SMALL = {"n_developers": 1500, "months": 48}
SEED_SCENARIOS = (
    "continued_chinese_dominance",
    "renewed_western_competitiveness",
    "regulatory_fragmentation",
    "convergence",
)


def write(tmp_path: Path, text: str) -> Path:
    f = tmp_path / "s.toml"
    f.write_text('name = "t"\nextends = "baseline"\n' + text, encoding="utf-8")
    return f


def test_a_dated_change_leaves_history_untouched_and_applies_from_its_month(tmp_path):
    f = write(tmp_path, '[[changes]]\nstart = "2025-01"\nparams = { beta_price = 3.0 }\n')
    changed = sim.run(f, seed=4, overrides=SMALL).timeseries.set_index("month")
    base = sim.run("baseline", seed=4, overrides=SMALL).timeseries.set_index("month")
    pd.testing.assert_frame_equal(changed[:"2024-12"], base[:"2024-12"])
    assert not changed["2025-01":].equals(base["2025-01":])


def test_params_at_merges_changes_in_start_order(tmp_path):
    f = write(
        tmp_path,
        '[[changes]]\nstart = "2026-01"\nparams = { beta_open = 2.0 }\n'
        '[[changes]]\nstart = "2024-01"\nparams = { beta_open = 1.0, beta_price = 2.0 }\n',
    )
    sc = scenarios.load(f)
    base = sc.params()
    assert sc.params_at(base, 11) is base
    assert sc.params_at(base, 12)["beta_open"] == 1.0
    later = sc.params_at(base, 36)
    assert (later["beta_open"], later["beta_price"]) == (2.0, 2.0)


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('[[changes]]\nstart = "2026-01"\nparams = { n_developers = 10 }\n', "n_developers"),
        ("[[changes]]\nparams = { beta_open = 1.0 }\n", "start"),
        ('[[changes]]\nstart = "2026-01"\nparams = { nope = 1.0 }\n', "nope"),
        ('[[changes]]\nstart = "2026-01"\nwhen = 1\nparams = { beta_open = 1.0 }\n', "when"),
        ('[[claims]]\ntext = "x"\nmetric = "no_such_column"\nmonth = "2030-12"\nabove = "baseline"\n', "metric"),
        ('[[claims]]\ntext = "x"\nmetric = "welfare"\nmonth = "2030-12"\nabove = 1\nbelow = 2\n', "above"),
        ('[[claims]]\ntext = "x"\nmetric = "welfare"\nregion = "Mars"\nmonth = "2030-12"\nabove = 1\n', "region"),
        ('[[claims]]\ntext = "x"\nmetric = "welfare"\nmonth = "2030-13"\nabove = 1\n', "month"),
        ('[[claims]]\ntext = "x"\nmetric = "welfare"\nmonth = "2030-12"\nabove = "median"\n', "above"),
    ],
)
def test_bad_changes_and_claims_are_one_line_errors_naming_the_field(tmp_path, text, field):
    with pytest.raises(InputError) as err:
        scenarios.load(write(tmp_path, text))
    assert field in str(err.value) and "\n" not in str(err.value)


def test_claims_cli_reports_and_exits_with_the_verdict(tmp_path, capsys):
    f = write(
        tmp_path,
        '[[policies]]\nkind = "chip_export_controls"\nstart = "2025-06"\ntightness = 1.0\n'
        '[[claims]]\ntext = "less CN compute"\nmetric = "cn_compute_index"\nmonth = "2026-12"\nbelow = "baseline"\n'
        '[[claims]]\ntext = "not true"\nmetric = "cn_compute_index"\nmonth = "2026-12"\nabove = "baseline"\n',
    )
    code = main(["claims", str(f), "--seeds", "2", "--set", "n_developers=300", "--set", "months=48"])
    out = capsys.readouterr().out
    assert code == 1
    assert "holds  less CN compute" in out and "FAILS  not true" in out


def test_a_claim_can_compare_two_outputs_of_the_same_run():
    from sim.claims import judge

    sc = scenarios.load("continued_chinese_dominance")
    claim = next(c for c in sc.claims if c.than == "best_capability_us_closed")
    ts = pd.DataFrame(
        {"month": ["2030-12"], "best_capability_cn_open": [1500.0], "best_capability_us_closed": [1450.0]}
    )
    behind = ts.assign(best_capability_us_closed=1600.0)
    runs = [{"timeseries": ts}, {"timeseries": ts}, {"timeseries": behind}]
    (verdict,) = judge([claim], runs, runs)
    assert verdict.median == pytest.approx(50.0) and verdict.agree == pytest.approx(2 / 3)


def test_claims_of_a_scenario_without_claims_is_an_input_error(capsys):
    assert main(["claims", "baseline", "--seeds", "1"]) == 2
    assert "claims" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("name", SEED_SCENARIOS)
def test_each_seed_scenario_tells_its_story_over_ten_seeds(name):
    verdicts = check_claims(name, seeds=10, overrides={"n_developers": 4000})
    assert verdicts, f"{name} declares no claims"
    failed = [f"{v.claim.text} (median {v.median:+.3g}, {v.agree:.0%} agree)" for v in verdicts if not v.holds]
    assert not failed, f"{name}: " + "; ".join(failed)
