"""Calibration targets (calibration/targets.py): every kind of computation against hand-computed
answers on small tables, NaN and edge cases, the distance, the checks on a targets file, and the
shipped revision-2 targets on a real run."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import sim
from calibration.abc import AbcSettings
from calibration.fit import Settings, fit
from calibration.targets import (
    KINDS,
    LAST_MONTH_NEEDED,
    Target,
    distance,
    evaluate,
    evaluate_all,
    load_targets,
    mean_lag,
    missing_columns,
    read_targets,
    require_columns,
)
from sim.calendar import month_index, month_label
from sim.errors import FileProblem, InputError

SHIPPED_KINDS = {
    "cn_usage_late_2024": "timeseries",
    "cn_usage_late_2025": "timeseries",
    "cn_usage_peak_2025": "timeseries_max",
    "qwen_download_share_2025": "family_share",
    "qwen_cum_downloads_2025": "family",
    "llama_cum_downloads_2024": "family",
    "qwen_passes_llama": "family_ratio",
    "qwen_behind_llama_mid_2025": "family_ratio",
    "us_startups_on_cn": "region_mean",
    "qwen_derivatives_2025": "family",
    "price_ratio_2025": "family_ratio",
    "price_ratio_late_2025": "family_ratio",
    "cn_leads_open_2025": "order",
    "closed_frontier_leads_2025": "order",
    "open_closed_lag_months": "lag",
    "cn_us_lag_months": "lag",
    "cn_compute_growth_2023_2024": "yearly_growth",
}
MODEL_V2_COLUMNS = {"best_capability_us", "best_capability_cn", "best_capability_us_closed"}
NAN = math.nan
MONTHS = ["2024-01", "2024-02", "2024-03", "2024-04", "2024-05", "2024-06"]


def _target(compute: dict, low: float = 0.0, high: float = 1.0, weight: float = 1.0, tid: str = "t") -> Target:
    return Target(tid, "m", "h", "2024-06", low, low, high, weight, "s", compute)


@pytest.fixture
def tables() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    ts = pd.DataFrame(
        {
            "month": MONTHS,
            "usage": [0.1, 0.3, 0.2, NAN, 0.25, 0.15],
            "closed": [10.0, 12.0, 14.0, 16.0, 18.0, 20.0],
            "open_a": [9.0, 10.0, 12.0, 10.0, NAN, 21.0],
            "open_b": [NAN, 8.0, 11.0, 10.0, NAN, 5.0],
            "index": [1.0, 2.0, 4.0, 8.0, 16.0, 0.0],
        }
    )
    fam = pd.DataFrame(
        {
            "month": np.repeat(MONTHS[:2], 3),
            "family": ["Claude", "DeepSeek", "Qwen"] * 2,
            "open": [False, True, True] * 2,
            "price": [15.0, 0.2, 0.5, 12.0, 0.0, NAN],
            "downloads": [0.0, 3.0, 1.0, 0.0, 1.0, 3.0],
            "cum_downloads": [0.0, 3.0, 1.0, 0.0, 4.0, 4.0],
        }
    )
    reg = pd.DataFrame(
        {"month": np.repeat(MONTHS[:3], 2), "region": ["US", "EU"] * 3, "share": [0.6, 0.1, 0.7, 0.1, 0.8, 0.1]}
    )
    return ts, fam, reg


# --- every kind, known answers ---------------------------------------------------------------------

KNOWN = [
    ({"kind": "timeseries", "column": "usage", "month": "2024-02"}, 0.3),
    ({"kind": "timeseries", "column": ["open_a", "open_b"], "month": "2024-02"}, 10.0),
    ({"kind": "timeseries_max", "column": "usage", "from": "2024-01", "to": "2024-06"}, 0.3),
    ({"kind": "timeseries_max", "column": "usage", "from": "2024-03", "to": "2024-06"}, 0.25),  # NaN skipped
    ({"kind": "family", "family": "DeepSeek", "column": "cum_downloads", "month": "2024-02"}, 4.0),
    (
        {"kind": "family_ratio", "family": "Qwen", "over": "DeepSeek", "column": "cum_downloads", "month": "2024-01"},
        1.0 / 3.0,
    ),
    ({"kind": "family_ratio", "family": "Claude", "over": "DeepSeek", "column": "price", "month": "2024-01"}, 75.0),
    ({"kind": "family_share", "family": "Qwen", "column": "downloads", "from": "2024-01", "to": "2024-02"}, 0.5),
    ({"kind": "region_mean", "region": "US", "column": "share", "from": "2024-02", "to": "2024-03"}, 0.75),
    ({"kind": "order", "column": "closed", "op": ">", "other": "open_a", "month": "2024-01"}, 1.0),
    ({"kind": "order", "column": "closed", "op": ">=", "other": "open_a", "month": "2024-06"}, 0.0),
    ({"kind": "order", "column": "open_a", "op": ">=", "other": "open_b", "month": "2024-04"}, 1.0),  # equal
    ({"kind": "order", "column": "open_a", "op": ">", "other": "open_b", "month": "2024-04"}, 0.0),  # strictly
    # lags by month: 0 (reached in Jan), 1 (12 >= 10 first in Jan), 1, 3 (10 first in Jan), NaN not counted,
    # 0 (the follower is ahead in Jun)
    ({"kind": "lag", "leader": "closed", "follower": "open_a", "from": "2024-01", "to": "2024-06"}, 5 / 5),
    ({"kind": "lag", "leader": "closed", "follower": "open_a", "from": "2024-02", "to": "2024-04"}, 5 / 3),
    # the best of two followers: 9, 10, 12, 10, NaN, 21 -> same as open_a
    ({"kind": "lag", "leader": "closed", "follower": ["open_a", "open_b"], "from": "2024-01", "to": "2024-06"}, 1.0),
    ({"kind": "lag", "leader": "closed", "follower": "open_b", "from": "2024-02", "to": "2024-06"}, 10 / 4),
    ({"kind": "yearly_growth", "column": "index", "from": "2024-01", "to": "2024-04"}, 8.0**4),
]


@pytest.mark.parametrize(("compute", "expected"), KNOWN, ids=[f"{c['kind']}-{i}" for i, (c, _) in enumerate(KNOWN)])
def test_each_kind_matches_a_hand_computed_value(tables, compute, expected):
    assert evaluate(_target(compute), *tables) == pytest.approx(expected)


def test_every_kind_has_a_known_answer_test():
    assert {c["kind"] for c, _ in KNOWN} == set(KINDS)


def test_yearly_growth_of_a_steady_index_is_its_rate():
    months = [month_label(i) for i in range(24)]
    ts = pd.DataFrame({"month": months, "cn_compute_index": [3.0 ** (i / 12) for i in range(24)]})
    t = _target({"kind": "yearly_growth", "column": "cn_compute_index", "from": "2023-01", "to": "2024-12"})
    assert month_index("2024-12", "", "") - month_index("2023-01", "", "") == 23
    assert evaluate(t, ts, pd.DataFrame(), pd.DataFrame()) == pytest.approx(3.0)


def test_the_lag_ignores_row_order_and_counts_calendar_months(tables):
    ts, fam, reg = tables
    t = _target({"kind": "lag", "leader": "closed", "follower": "open_a", "from": "2024-01", "to": "2024-06"})
    assert evaluate(t, ts.iloc[::-1], fam, reg) == pytest.approx(1.0)
    steps = np.array([0, 1, 5])  # a gap of four months between the last two rows
    assert mean_lag(steps, np.array([10.0, 11.0, 20.0]), np.array([5.0, 5.0, 11.0]), 5, 5) == 4.0


def test_lag_nan_cases():
    steps = np.arange(4)
    leader = np.array([10.0, NAN, 14.0, 16.0])
    # NaN leader at t: it does not reach, so the lag is 0 even though month 0 had reached the value
    assert mean_lag(steps, leader, np.array([NAN, 10.0, NAN, NAN]), 0, 3) == 0.0
    # a NaN leader month is skipped when looking for the first month that reached
    assert mean_lag(steps, np.array([NAN, 12.0, 14.0, 16.0]), np.array([NAN, NAN, NAN, 11.0]), 0, 3) == 2.0
    assert math.isnan(mean_lag(steps, leader, np.full(4, NAN), 0, 3))  # no follower month: undefined
    assert mean_lag(steps, np.full(4, NAN), np.arange(4.0), 0, 3) == 0.0  # no leader at all: the follower leads


def test_nan_and_degenerate_values(tables):
    ts, fam, reg = tables
    order = {"kind": "order", "column": "usage", "op": ">=", "other": "closed", "month": "2024-04"}
    assert evaluate(_target(order), *tables) == 0.0  # NaN on one side: the order does not hold
    zero_price = {"kind": "family_ratio", "family": "Claude", "over": "DeepSeek", "column": "price", "month": "2024-02"}
    assert evaluate(_target(zero_price), *tables) == math.inf
    nan_price = zero_price | {"over": "Qwen"}
    assert math.isnan(evaluate(_target(nan_price), *tables))
    growth = {"kind": "yearly_growth", "column": "index", "from": "2024-01", "to": "2024-06"}
    assert evaluate(_target(growth), *tables) == 0.0  # 1 -> 0: growth factor 0
    assert math.isnan(evaluate(_target(growth), ts.assign(index=[0.0, 1, 2, 3, 4, 5]), fam, reg))  # from 0: undefined
    all_nan = {"kind": "timeseries_max", "column": "usage", "from": "2024-04", "to": "2024-04"}
    assert math.isnan(evaluate(_target(all_nan), *tables))
    for value in (NAN, math.inf):
        assert _target({}, 0.0, 1.0).miss(value) == 10.0


@pytest.mark.parametrize(
    "compute",
    [
        {"kind": "timeseries", "column": "usage", "month": "2024-07"},  # a month the run has not reached
        {"kind": "timeseries_max", "column": "usage", "from": "2024-01", "to": "2024-07"},
        {"kind": "lag", "leader": "closed", "follower": "open_a", "from": "2023-12", "to": "2024-06"},
        {"kind": "family", "family": "Qwen", "column": "cum_downloads", "month": "2024-03"},
        {"kind": "family", "family": "Gemini", "column": "cum_downloads", "month": "2024-01"},
        {"kind": "region_mean", "region": "CN", "column": "share", "from": "2024-01", "to": "2024-02"},
        {"kind": "order", "column": "best_capability_us_closed", "op": ">", "other": "usage", "month": "2024-01"},
    ],
)
def test_what_the_tables_lack_cannot_be_computed(tables, compute):
    with pytest.raises(KeyError):
        evaluate(_target(compute), *tables)


# --- distance --------------------------------------------------------------------------------------


def test_distance_is_a_weighted_scale_free_root_sum_square_of_misses():
    a = _target({}, low=0.0, high=1.0, weight=1.0, tid="a")
    b = _target({}, low=10.0, high=20.0, weight=4.0, tid="b")
    assert distance({"a": 0.5, "b": 20.0}, (a, b)) == 0.0
    assert distance({"a": 2.0, "b": 5.0}, (a, b)) == pytest.approx(math.sqrt(1.0 * 1.0**2 + 4.0 * 0.5**2))
    scaled = _target({}, low=0.0, high=1000.0, weight=1.0, tid="a")
    assert distance({"a": 2000.0}, (scaled,)) == distance({"a": 2.0}, (a,))  # units do not matter
    assert distance({"a": 0.85}, (a,), margin=0.2) == pytest.approx(0.05)  # aims at [0.2, 0.8]


# --- the targets file ------------------------------------------------------------------------------

GOOD = """
[[target]]
id = "t1"
metric = "usage_share_cn_open"
how = "timeseries value at the month"
month = "2025-12"
value = 0.2
low = 0.1
high = 0.3
weight = 1.0
source = "a report"
compute = { kind = "lag", leader = "a", follower = ["b", "c"], from = "2025-01", to = "2025-12" }
"""


def _file(tmp_path, text: str):
    path = tmp_path / "targets.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_good_file_reads(tmp_path):
    (t,) = read_targets(_file(tmp_path, GOOD))
    assert t.compute["follower"] == ["b", "c"] and t.value == 0.2
    assert t.columns() == [
        ("leader", "timeseries", "a"),
        ("follower", "timeseries", "b"),
        ("follower", "timeseries", "c"),
    ]


LAG = 'compute = { kind = "lag", leader = "a", follower = ["b", "c"], from = "2025-01", to = "2025-12" }'


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ('kind = "lag"', 'kind = "lagg"', "t1.compute.kind"),
        ('kind = "lag"', 'kind = ["lag"]', "t1.compute.kind"),
        ('leader = "a", ', "", "t1.compute.leader"),  # a missing field
        ('leader = "a"', 'leader = "a", over = "x"', "t1.compute.over"),  # a field the kind does not have
        ('from = "2025-01"', 'from = "2025-13"', "t1.compute.from"),
        ('from = "2025-01"', 'from = "2026-01"', "t1.compute.to"),  # before from
        ('to = "2025-12"', 'to = "2025-11"', "t1.compute.to"),  # not the target's month
        ('follower = ["b", "c"]', "follower = []", "t1.compute.follower"),
        ('follower = ["b", "c"]', "follower = 3", "t1.compute.follower"),
        (LAG, 'compute = { kind = "order", column = "a", op = "=>", other = "b", month = "2025-12" }', "t1.compute.op"),
        (
            LAG,
            'compute = { kind = "order", column = "a", op = [">"], other = "b", month = "2025-12" }',
            "t1.compute.op",
        ),
        (LAG, 'compute = { kind = "yearly_growth", column = "a", from = "2025-12", to = "2025-12" }', "t1.compute.to"),
        (LAG, 'compute = "lag"', "t1.compute"),
        (LAG, "", "t1.compute"),
        ('source = "a report"\n', "", "t1.source"),
        ('source = "a report"', 'source = ""', "t1.source"),
        ("weight = 1.0", "weight = 0", "t1.weight"),
        ("weight = 1.0", 'weight = "1"', "t1.weight"),
        ("value = 0.2", "value = 0.5", "t1.value"),  # outside [low, high]
        ('month = "2025-12"', 'month = "Dec 2025"', "t1.month"),
        ('id = "t1"', 'id = "t1"\ncolour = "red"', "t1.colour"),
    ],
)
def test_a_bad_target_file_is_one_line_naming_the_field_and_the_file(tmp_path, old, new, field):
    assert old in GOOD
    path = _file(tmp_path, GOOD.replace(old, new))
    with pytest.raises(InputError) as err:
        read_targets(path)
    text = str(err.value)
    assert text.startswith(f"{path}: {field} = ") and "\n" not in text, text


def test_a_duplicate_id_an_empty_file_and_broken_toml_are_refused(tmp_path):
    with pytest.raises(InputError, match=r"t1\.id = "):
        read_targets(_file(tmp_path, GOOD + GOOD))
    with pytest.raises(InputError, match=r"targets\.toml: target = None"):
        read_targets(_file(tmp_path, "# nothing\n"))
    with pytest.raises(FileProblem, match="not valid TOML"):
        read_targets(_file(tmp_path, "[[target]\n"))
    with pytest.raises(FileProblem, match="cannot be read"):
        read_targets(tmp_path / "absent.toml")


def test_a_fit_on_a_column_the_model_does_not_record_is_refused_before_writing(tmp_path):
    t = _target({"kind": "timeseries", "column": "no_such_column", "month": "2024-06"}, tid="ghost")
    with pytest.raises(InputError, match=r"ghost\.compute\.column = 'no_such_column'"):
        require_columns((t,))
    with pytest.raises(InputError):
        fit(Settings(targets=(t,), abc=AbcSettings(budget=4)), workers=1, resume=False, out=tmp_path)
    assert not any(tmp_path.iterdir())


# --- the shipped targets ---------------------------------------------------------------------------


def test_the_shipped_targets_are_the_seventeen_of_revision_2():
    targets = load_targets()
    assert {t.id: t.compute["kind"] for t in targets} == SHIPPED_KINDS
    assert all(t.source and t.low <= t.value <= t.high and t.weight > 0 for t in targets)
    assert max(month_index(t.month, "", "") for t in targets) == LAST_MONTH_NEEDED - 1  # 2025-12
    lags = {t.id: t.compute for t in targets if t.compute["kind"] == "lag"}
    assert lags["open_closed_lag_months"]["follower"] == ["best_capability_cn_open", "best_capability_west_open"]
    assert (lags["cn_us_lag_months"]["leader"], lags["cn_us_lag_months"]["follower"]) == (
        "best_capability_us",
        "best_capability_cn",
    )


def test_the_shipped_targets_read_only_recorded_columns_or_those_model_v2_adds():
    assert {col for _, _, _, col in missing_columns(load_targets())} <= MODEL_V2_COLUMNS


@pytest.fixture(scope="module")
def history_run():
    return sim.run("baseline", seed=0, overrides={"n_developers": 500, "months": LAST_MONTH_NEEDED})


def test_targets_on_recorded_columns_are_finite_on_a_real_run(history_run):
    missing = {tid for tid, *_ in missing_columns(load_targets())}
    ready = tuple(t for t in load_targets() if t.id not in missing)
    assert len(ready) >= 14
    values = evaluate_all(history_run, ready)
    assert all(np.isfinite(v) for v in values.values()), values
    assert all(values[t.id] in (0.0, 1.0) for t in ready if t.compute["kind"] == "order")
    assert all(values[t.id] >= 0 for t in ready if t.compute["kind"] == "lag")


def test_all_seventeen_targets_are_finite_on_a_real_run(history_run):
    missing = sorted({col for *_, col in missing_columns(load_targets())})
    if missing:
        pytest.skip(f"the model does not record {', '.join(missing)} yet (Model v2 adds them to sim/recorder.py)")
    values = evaluate_all(history_run)
    assert set(values) == set(SHIPPED_KINDS)
    assert all(np.isfinite(v) for v in values.values()), values
