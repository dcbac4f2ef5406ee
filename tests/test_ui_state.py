"""The UI's plain-Python pieces: settings and shared links, the live run, charts, compare, calibration, export."""

from __future__ import annotations

import io
import json
import re
import zipfile
from dataclasses import replace

import numpy as np
import pytest

from calibration.targets import missing_columns
from sim.errors import InputError
from sim.params import REGISTRY
from sim.policies import KINDS
from sim.ui.about import about_markdown
from sim.ui.calibration import load_targets, report, simulated_value
from sim.ui.charts import LIVE_CHARTS, band_option, line_option, main_choice, months_axis, network_option
from sim.ui.compare import CompareJob, compare_entries, run_metrics
from sim.ui.export import bands_png, charts_png, tables_zip
from sim.ui.state import LiveRun, Settings, decode, encode, parse_field, parse_param

SMALL = {"n_developers": 300, "months": 30}
POLICY = {"kind": "pricing", "start": "2026-07", "origins": ["CN"], "regions": ["US", "EU"], "multiplier": 1.5}


def small(**kw) -> Settings:
    return Settings(params=dict(SMALL), **kw)


# --- shared links ---------------------------------------------------------------------------------


def test_a_shared_link_restores_every_changed_control():
    s = Settings(
        scenario="regulatory_fragmentation",
        seed=7,
        params={"beta_open": P.high, "reactive_us_controls": True, "n_developers": 1000},
        policies=(POLICY,),
        off=(1, 3),
        month=30,
        speed=9,
        tab="compare",
        compare=("explore", "baseline", "convergence"),
        seeds=12,
        compare_n=800,
        vary="posterior",
    )
    back, errors = decode(encode(s))
    assert errors == []
    assert back == s


def test_a_fresh_page_link_is_short_and_readable():
    assert encode(Settings()) == "scenario=baseline"
    q = encode(replace(Settings(), policies=(POLICY,)))
    assert "policy=pricing;start=2026-07;origins=CN;regions=US,EU;multiplier=1.5" in q


def test_a_bad_item_in_a_link_is_reported_and_the_rest_restored():
    ok = (REGISTRY["bass_q"].low + REGISTRY["bass_q"].high) / 2
    s, errors = decode(
        f"scenario=baseline&beta_open=99&bogus=1&seed=-3&policy=pricing;start=2026-13&bass_q={ok}&vary=prior"
    )
    assert s.params == {"bass_q": ok} and s.vary == "seeds"
    assert len(errors) == 5
    assert any("vary = 'prior'" in e and "seeds, posterior" in e for e in errors)
    assert any("beta_open = '99'" in e for e in errors)
    assert all("not allowed; expected" in e for e in errors)
    assert any("bogus" in e for e in errors) and any("seed" in e for e in errors) and any("start" in e for e in errors)


def test_parameters_equal_to_the_preset_are_not_changes():
    s = Settings()
    preset = s.preset_params()["beta_open"]
    assert s.with_param("beta_open", preset).params == {}
    assert s.with_param("beta_open", P.low).with_param("beta_open", preset).params == {}


# --- typed values ------------------------------------------------------------------------------------


P = REGISTRY["beta_open"]


@pytest.mark.parametrize("text", ["abc", str(P.high + 1), str(P.low - 1), "", "1e999", "nan"])
def test_a_bad_typed_parameter_names_field_value_and_range(text):
    with pytest.raises(InputError) as err:
        parse_param("beta_open", text)
    msg = str(err.value)
    assert "beta_open" in msg and f"[{P.low:g}, {P.high:g}]" in msg and "not allowed" in msg


def test_typed_values_take_the_registry_type():
    assert parse_param("n_developers", "20,000") == 20000
    assert isinstance(parse_param("n_developers", "1500"), int)
    assert parse_param("reactive_us_controls", "true") is True
    with pytest.raises(InputError):
        parse_param("n_developers", "10.5")


def test_policy_fields_are_checked_by_their_spec():
    assert parse_field("chip_export_controls", "tightness", "0.9", "w") == 0.9
    assert parse_field("pricing", "regions", ["US", "EU"], "w") == ["US", "EU"]
    for kind, name, bad in (("chip_export_controls", "tightness", "2"), ("pricing", "regions", ["Mars"])):
        with pytest.raises(InputError, match=name):
            parse_field(kind, name, bad, "w")
    with pytest.raises(InputError, match="start"):
        parse_field("pricing", "start", "2026-13", "w")


# --- the live run --------------------------------------------------------------------------------------


def test_a_live_run_follows_its_settings_and_restores_its_month():
    run = LiveRun(small(month=5, off=(0,), policies=(POLICY,)))
    assert run.t == 5 and run.months == 30
    assert len(run.scenario.policies) == len(Settings().preset().policies)  # one off, one added
    assert run.step(3) and run.t == 8
    assert len(run.tables()["timeseries"]) == 8
    s = run.sample
    assert len(s.nodes) == len(s.xy) and s.egos.sum() > 0
    assert max(max(e) for e in s.edges) < len(s.nodes)
    assert np.all((s.xy >= 0) & (s.xy <= 1))


def test_a_live_run_stops_at_its_last_month():
    run = LiveRun(Settings(params={"n_developers": 100, "months": 3}))
    run.step(10)
    assert run.t == 3 and run.done and not run.step()


def test_a_preview_records_the_timeseries_as_a_full_run_does():
    full = LiveRun(small(month=12), network_sample=0).model.recorder.ts
    light = LiveRun(small(month=12), network_sample=0, timeseries_only=True).model.recorder.ts
    per_group = {"multi_model_share", "startup_share_cn_among_open"}  # left NaN: they need the group tallies
    assert all(np.isnan(light[c][:12]).all() for c in per_group)
    assert all(np.array_equal(full[c], light[c], equal_nan=True) for c in full if c not in per_group)
    shown = {c for chart in LIVE_CHARTS for c in chart.columns} | {c for c in full if c.startswith("usage_share_")}
    assert not shown & per_group


# --- charts ----------------------------------------------------------------------------------------------


def test_chart_options_are_json_and_grow_with_the_run():
    run = LiveRun(small(month=4))
    data = {k: v[: run.t] for k, v in run.model.recorder.ts.items()}
    x = months_axis(run.months)
    for chart in LIVE_CHARTS:
        opt = line_option(chart, x, data, reference=data)
        json.dumps(opt, allow_nan=False)  # NaN would break the browser's JSON
        assert all(len(s["data"]) == 4 for s in opt["series"])
        assert len(opt["series"]) == 2 * len(chart.columns)
    m, s = run.model, run.sample
    net = network_option(m.world, s.nodes, s.egos, s.edges, s.xy, main_choice(m.world, m.choice, m.pop.segment))
    assert len(net["series"][0]["data"]) == len(s.nodes)


def test_the_capability_chart_marks_the_reasoning_step_at_its_month():
    x = months_axis(36)
    chart = next(c for c in LIVE_CHARTS if c.key == "capability")
    opt = line_option(chart, x, {c: [1.0] * 36 for c in chart.columns})
    marks = opt["series"][0]["markLine"]["data"]
    assert [m["xAxis"] for m in marks] == ["2024-09"] and "2024-09" in x
    assert all("markLine" not in s for s in opt["series"][1:])
    usage = next(c for c in LIVE_CHARTS if c.key == "usage")
    assert "markLine" not in line_option(usage, x, {c: [0.1] * 36 for c in usage.columns})["series"][0]


def test_bands_stack_to_the_right_values():
    lo, med, hi = np.array([0.1, -0.2]), np.array([0.2, 0.0]), np.array([0.4, 0.1])
    opt = band_option("t", "%", ["2023-01", "2023-02"], {"a": {"lo": lo, "median": med, "hi": hi}}, 100)
    base, width, line = opt["series"]
    assert base["data"] == [10.0, -20.0] and width["data"] == [30.0, 30.0] and line["data"] == [20.0, 0.0]
    assert base["stackStrategy"] == "all"  # negative lower bounds stack correctly


# --- compare ---------------------------------------------------------------------------------------------


def test_compare_bands_and_paired_differences():
    s = small(compare=("explore", "baseline"))
    entries = compare_entries(replace(s, params=dict(SMALL)))
    same = [(entries[0][0], entries[0][1]), ("again", entries[0][1])]  # the same scenario twice
    job = CompareJob(same, seeds=10, n_developers=200, processes=False).start().wait(120)
    assert job.error is None and job.progress == 1.0
    r = job.result
    assert r.runs[r.names[0]].shape[:2] == (10, 30)
    diff = r.differences("usage_share_cn_open")["again − " + r.names[0]]
    assert np.allclose(np.nan_to_num(diff["median"]), 0.0)  # same seed, same scenario: no difference
    b = r.bands("usage_share_cn_open")[r.names[0]]
    assert np.all(np.nan_to_num(b["lo"]) <= np.nan_to_num(b["hi"]) + 1e-12)
    table = r.table()
    assert set(table.columns) == {"scenario", "month", "metric", "p5", "median", "p95"}


@pytest.mark.usefixtures("stub_posterior")
def test_compare_over_posterior_draws_pairs_each_draw_across_scenarios_and_edits_win(stub_posterior):
    s = small(compare=("explore", "baseline"))
    entries = compare_entries(replace(s, params=dict(SMALL)))
    same = [(entries[0][0], entries[0][1]), ("again", entries[0][1])]
    job = CompareJob(same, seeds=4, n_developers=200, draws=True, processes=False).start().wait(120)
    assert job.error is None and job.result.draws and job.result.over == "4 posterior draws"
    r = job.result
    diff = r.differences("usage_share_cn_open")["again − " + r.names[0]]
    assert np.allclose(np.nan_to_num(diff["median"]), 0.0)  # draw i in both: no difference
    seeds, drawn = job._runs()
    assert len(set(seeds)) == 4 and all(set(d) <= set(stub_posterior.columns) for d in drawn)
    same = np.array_equal
    assert not same(run_metrics(s, seeds[0], 200, drawn[0]), run_metrics(s, seeds[0], 200), equal_nan=True)
    name = "beta_price"
    edited = replace(s, params=dict(SMALL) | {name: REGISTRY[name].low})
    with_edit = run_metrics(edited, seeds[0], 200, drawn[0])
    other = run_metrics(edited, seeds[0], 200, drawn[0] | {name: REGISTRY[name].high})
    assert same(with_edit, other, equal_nan=True), "the visitor's edit wins over a draw"


def test_compare_entries_name_the_explore_settings():
    s = Settings(params={"beta_open": 2.0}, compare=("explore", "baseline"))
    (name, first), (_, second) = compare_entries(s)
    assert "edited" in name and first.params == {"beta_open": 2.0} and second.params == {}


# --- calibration, export, about -----------------------------------------------------------------------


def test_calibration_report_computes_targets_from_a_run():
    targets = load_targets()
    assert len(targets) >= 5
    run = LiveRun(Settings(params={"n_developers": 400, "months": 36}, month=36))
    rep = report(targets, run.tables())
    assert list(rep["target"]) == [t.id for t in targets]
    unrecorded = rep["target"].isin({tid for tid, *_ in missing_columns(targets)})  # columns Model v2 adds
    assert rep.loc[~unrecorded, "model"].notna().all()  # every target lies within the 36 months run
    assert rep.loc[unrecorded, "model"].isna().all()
    short = LiveRun(Settings(params={"n_developers": 400, "months": 12}, month=12))
    assert simulated_value(targets[0], short.tables()) is None  # its month (2024-12) not reached


def test_exports_are_csv_zip_and_png():
    run = LiveRun(small(month=6))
    data = tables_zip(run.tables(), "note")
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert {"timeseries.csv", "families.csv", "regions.csv", "README.txt"} <= set(names)
    x = months_axis(run.months)
    png = charts_png(run.tables()["timeseries"], x, "t")
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    band = {"a": {"lo": np.zeros(30), "median": np.ones(30), "hi": np.full(30, 2.0)}}
    assert bands_png([("m", "u", band, 1.0)], x, "t")[:4] == b"\x89PNG"


def test_about_covers_every_parameter_policy_and_source():
    text = about_markdown()
    for name, p in REGISTRY.items():
        assert f"`{name}`" in text and p.source in text
    for kind in KINDS:
        assert kind in text
    for t in load_targets():
        assert t.source in text
    assert "Things to try" in text and "Assumptions and limits" in text


def test_the_about_pages_links_open_valid_states():
    links = re.findall(r"\]\((\?[^)]+)\)", about_markdown())
    assert len(links) >= 3
    for link in links:
        assert decode(link[1:])[1] == [], link


# --- first use and the classroom ----------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["1,5", "0,25", "1,50", "12,3456"])
def test_a_decimal_comma_is_refused_not_read_as_a_bigger_number(text):
    with pytest.raises(InputError, match="commas only between thousands"):
        parse_param("beta_open", text)
    with pytest.raises(InputError, match="commas only between thousands"):
        parse_field("chip_export_controls", "tightness", text, "w")


def test_the_browser_caps_the_population_and_points_to_the_command_line():
    from sim.ui.state import UI_MAX_DEVELOPERS

    assert parse_param("n_developers", f"{UI_MAX_DEVELOPERS:,}") == UI_MAX_DEVELOPERS
    with pytest.raises(InputError, match="weightshift run") as err:
        parse_param("n_developers", "2,000,000")
    assert "'2,000,000'" in str(err.value)
    _, errors = decode(f"scenario=baseline&n_developers={UI_MAX_DEVELOPERS + 1}")
    assert errors and "command line" in errors[0]


def test_a_fresh_page_opens_on_the_history_and_a_link_can_ask_for_the_start():
    from sim.ui.state import HISTORY_MONTHS

    assert Settings().month == HISTORY_MONTHS and decode("")[0].month == HISTORY_MONTHS
    back, errors = decode(encode(replace(Settings(), month=0)))
    assert errors == [] and back.month == 0 and "month=start" in encode(replace(Settings(), month=0))
    assert decode("month=2027-03")[0].month == 51


def test_titles_and_file_names_name_the_scenario_and_every_edit():
    from sim.ui.state import describe_edits, file_stem

    s = Settings(params={"beta_open": P.low}, policies=(POLICY,), off=(1,))
    text = describe_edits(s)
    assert f"beta_open={P.low:g}" in text and "+pricing from 2026-07" in text and "1 preset policy off" in text
    stem = file_stem(s, 48)
    assert stem.startswith("weightshift-baseline-seed0-") and stem.endswith("-2026-12") and "beta_open" in stem
    assert re.fullmatch(r"[A-Za-z0-9._=+-]+", stem)
    assert describe_edits(Settings()) == "" and file_stem(Settings(), 0).endswith("seed0-start")


def test_policies_are_described_without_python_tuples():
    from sim.ui.state import check_policy

    text = check_policy(POLICY, "w")
    assert "origins CN" in text and "regions US, EU" in text and "(" not in text and "'" not in text


def test_the_header_follows_the_runs_length():
    from sim.ui.app import subtitle

    assert subtitle(96).endswith("2023–2030") and subtitle(240).endswith("2023–2042")


def test_compare_draws_compute_on_a_log_axis_and_keeps_origin_colours_for_origins():
    from sim.ui.charts import GROUP_COLOURS, SCENARIO_COLOURS, is_log

    assert is_log("cn_compute_index") and is_log("price_index_cn") and not is_log("usage_share_cn_open")
    band = {"lo": np.ones(12), "median": np.full(12, 2.0), "hi": np.full(12, 3.0)}
    opt = band_option("t", "x", months_axis(12), {"a": band, "b": band}, log=True)
    assert opt["yAxis"][0]["type"] == "log"
    assert not set(SCENARIO_COLOURS) & set(GROUP_COLOURS[:3])
    json.dumps(opt)


def test_the_png_draws_the_preset_dashed_beside_an_edited_run():
    run = LiveRun(small(month=12))
    ts = run.tables()["timeseries"]
    png = charts_png(ts, months_axis(run.months), "Weightshift: baseline; edited: beta_open=-1", reference=ts)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_run_on_compare_is_idempotent_while_a_comparison_is_queued_or_running(monkeypatch):
    from sim.ui import pages, session

    started = []

    class Job:
        def __init__(self, entries, seeds, n, draws=False):
            self.entries, self.seeds, self.n_developers, self.draws = entries, seeds, n, draws
            self.running, self.result, self.cancelled = True, None, False

        def start(self):
            started.append(self)
            return self

        def cancel(self):
            self.cancelled, self.running = True, False

    monkeypatch.setattr(pages, "CompareJob", Job)
    session.job.value = None
    entries = compare_entries(Settings())
    jobs = {id(pages.start_comparison(entries, 10, 500)) for _ in range(20)}
    assert len(started) == 1 and len(jobs) == 1 and not started[0].cancelled
    pages.start_comparison(entries, 12, 500)  # other choices: the running one makes way
    assert len(started) == 2 and started[0].cancelled and session.job.value is started[1]
    pages.start_comparison(entries, 12, 500, True)  # the same runs as posterior draws: a new comparison
    assert len(started) == 3 and started[1].cancelled and started[2].draws
    session.job.value = None


def test_the_about_text_names_only_parameters_the_model_has():
    from sim.ui.about import INTRO, LIMITS, MECHANISMS, TRY
    from sim.ui.state import scenario_names

    named = set(re.findall(r"[`*]([a-z][a-z0-9_]*_[a-z0-9_]+)[`*]", INTRO + MECHANISMS + TRY + LIMITS))
    assert named and named <= set(REGISTRY) | set(scenario_names()), named - set(REGISTRY)
