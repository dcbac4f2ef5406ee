"""Running sweeps: identical results for any worker count and backend, checkpoints, resume, crashes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sim
from sim.batch.runner import JOURNAL, TS_FILE, run_sweep
from sim.batch.sweep import TS_COLUMNS, load

SWEEP = """name = "run test"
scenario = "baseline"
[design]
kind = "grid"
replications = 2
seed = 5
[params]
n_developers = 300
months = 14
[vary]
control_effect = { values = [0.3, 0.9] }
beta_trust = { low = 0.5, high = 2.0, levels = 2 }
[policies.lic]
kind = "licensing_regime"
start = "2023-06"
enabled = { values = [false, true] }
[outputs]
columns = ["usage_share_cn_open", "adopters"]
at = ["2023-12", "final"]
stats = ["mean"]
"""
N_RUNS = 2 * 2 * 2 * 2
RESULT_COLUMNS = ["run_id", "point", "rep", "seed", "control_effect", "beta_trust", "lic.enabled"]


@pytest.fixture(scope="module")
def sweep_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sweep") / "small.toml"
    path.write_text(SWEEP)
    return path


@pytest.fixture(scope="module")
def reference(sweep_file, tmp_path_factory) -> pd.DataFrame:
    """The sweep run with one local worker: what every other way of running it must reproduce."""
    return run_sweep(sweep_file, tmp_path_factory.mktemp("ref") / "out", workers=1).results


def deterministic(df: pd.DataFrame) -> pd.DataFrame:
    return df.drop(columns=["error"]).reset_index(drop=True)


def test_results_have_one_row_per_run_with_factors_seed_and_outputs(reference):
    assert list(reference.run_id) == list(range(N_RUNS))
    assert list(reference.columns[: len(RESULT_COLUMNS)]) == RESULT_COLUMNS
    assert (reference.status == "ok").all()
    outputs = ["usage_share_cn_open@2023-12", "usage_share_cn_open@final", "adopters@2023-12", "adopters@final"]
    assert list(reference.columns[len(RESULT_COLUMNS) :]) == [
        *outputs,
        "usage_share_cn_open:mean",
        "adopters:mean",
        "status",
        "error",
    ]
    assert reference.seed.nunique() == 2  # common random numbers: one seed per replication


def test_each_result_equals_a_direct_run_with_the_same_inputs(sweep_file, reference):
    s = load(sweep_file)
    for run_id in (0, 5, N_RUNS - 1):
        task = s.task(run_id)
        direct = sim.run(task.scenario, seed=task.seed, overrides=task.overrides)
        assert reference.loc[run_id, s.outputs.names].tolist() == s.outputs.extract(direct.timeseries)
        assert reference.loc[run_id, "seed"] == task.seed


def test_two_local_workers_give_identical_results(sweep_file, reference, tmp_path):
    res = run_sweep(sweep_file, tmp_path / "out", workers=2)
    pd.testing.assert_frame_equal(res.results, reference)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "out" / "results.parquet"), reference)


def test_kept_timeseries_match_the_outputs(sweep_file, reference, tmp_path):
    res = run_sweep(sweep_file, tmp_path / "out", workers=2, sets={"months": 14})
    assert not (tmp_path / "out" / "timeseries.parquet").exists()  # not asked for
    body = SWEEP.replace("[outputs]\n", "[outputs]\ntimeseries = true\n")
    path = tmp_path / "ts.toml"
    path.write_text(body)
    res = run_sweep(path, tmp_path / "ts", workers=2)
    ts = res.timeseries
    assert len(ts) == N_RUNS * 14 and list(ts.columns) == ["run_id", "month", *TS_COLUMNS]
    final = ts[ts.month == "2024-02"].set_index("run_id")
    np.testing.assert_array_equal(final.adopters.to_numpy(), res.results["adopters@final"].to_numpy())


def test_resume_after_a_torn_journal_redoes_only_missing_runs(sweep_file, reference, tmp_path):
    out = tmp_path / "out"
    run_sweep(sweep_file, out, workers=1)
    lines = (out / JOURNAL).read_bytes().splitlines(keepends=True)
    kept = lines[:5]
    (out / JOURNAL).write_bytes(b"".join(kept) + lines[5][:17])  # as if killed mid-write
    (out / "results.parquet").unlink()
    res = run_sweep(sweep_file, out, workers=2, resume=True)
    assert res.stats["ran_now"] == N_RUNS - 5
    ids = [json.loads(x)["run_id"] for x in (out / JOURNAL).read_bytes().splitlines()]
    assert sorted(ids) == list(range(N_RUNS))  # every run once: none lost, none duplicated
    pd.testing.assert_frame_equal(res.results, reference)
    again = run_sweep(sweep_file, out, resume=True)
    assert again.stats["ran_now"] == 0


def test_resume_refuses_a_different_sweep_and_new_runs_refuse_a_used_folder(sweep_file, tmp_path, capsys):
    from sim.cli import main

    out = tmp_path / "out"
    run_sweep(sweep_file, out, workers=1, samples=2)
    before = sorted(p.name for p in out.iterdir())
    assert main(["sweep", str(sweep_file), "--out", str(out), "--resume", "--quiet"]) == 2  # no --samples 2
    assert main(["sweep", str(sweep_file), "--out", str(out), "--samples", "2", "--quiet"]) == 2  # no --resume
    err = capsys.readouterr().err.splitlines()
    assert "different sweep" in err[0] and "--resume" in err[1]
    assert sorted(p.name for p in out.iterdir()) == before


def test_a_failing_run_is_retried_then_recorded_with_its_error(sweep_file, reference, tmp_path, monkeypatch):
    monkeypatch.setenv("WEIGHTSHIFT_FAULTS", json.dumps({"raise": [3]}))
    res = run_sweep(sweep_file, tmp_path / "out", workers=2, retries=1)
    bad = res.results.set_index("run_id").loc[3]
    assert bad.status == "failed" and "injected failure of run 3" in bad.error
    assert np.isnan(bad["adopters@final"])
    journal = [json.loads(x) for x in (tmp_path / "out" / JOURNAL).read_text().splitlines()]
    assert [r["attempts"] for r in journal if r["run_id"] == 3] == [2]
    ok = res.results.status == "ok"
    assert ok.sum() == N_RUNS - 1
    pd.testing.assert_frame_equal(deterministic(res.results[ok]), deterministic(reference[ok]))


def _crash_faults(tmp_path: Path, always: list[int]) -> str:
    marks = tmp_path / "marks"
    marks.mkdir()
    return json.dumps({"kill_once": [2, 9], "kill": always, "dir": str(marks)})


def test_local_pool_survives_killed_workers_and_isolates_the_killer(sweep_file, reference, tmp_path, monkeypatch):
    monkeypatch.setenv("WEIGHTSHIFT_FAULTS", _crash_faults(tmp_path, always=[6]))
    res = run_sweep(sweep_file, tmp_path / "out", workers=2, retries=1)
    assert sorted(p.name for p in (tmp_path / "marks").iterdir()) == ["killed-2", "killed-9"]  # they did die
    r = res.results.set_index("run_id")
    assert list(r.index) == list(range(N_RUNS))
    assert r.loc[6, "status"] == "failed" and "WorkerDied" in r.loc[6, "error"]
    ok = res.results.status == "ok"
    assert ok.sum() == N_RUNS - 1  # only the run that always kills its worker is lost
    pd.testing.assert_frame_equal(deterministic(res.results[ok]), deterministic(reference[ok]))


def _exit_hard(x: int) -> int:
    os._exit(3)


def test_a_run_submitted_after_a_worker_died_is_collected_like_those_in_flight():
    """A worker can die between two polls; the pool then refuses the next submit. That refusal must
    come back from `poll` as a crashed run (the pool restarted), not escape from `submit`: the race
    behind an intermittent failure of the killed-workers test above."""
    from sim.batch.executors import LocalExecutor

    ex = LocalExecutor(_exit_hard, workers=1)
    try:
        ex.submit(0, 1)
        deadline = time.monotonic() + 60
        while not ex._pool._broken and time.monotonic() < deadline:  # wait for the state, not a duration
            time.sleep(0.01)
        assert ex._pool._broken  # the worker died and the pool's own thread marked it
        ex.submit(1, 2)  # refused by the broken pool: no exception here
        outcomes = []
        while len(outcomes) < 2:
            outcomes += ex.poll(5.0)
        assert sorted(o.key for o in outcomes) == [0, 1]
        assert all(o.crashed for o in outcomes) and ex.restarts == 1
    finally:
        ex.close()


def test_dask_local_cluster_gives_identical_results_and_survives_a_killed_worker(
    sweep_file, reference, tmp_path, monkeypatch
):
    pytest.importorskip("distributed")
    monkeypatch.setenv("WEIGHTSHIFT_FAULTS", _crash_faults(tmp_path, always=[]))
    res = run_sweep(sweep_file, tmp_path / "out", workers=2, backend="dask")
    assert sorted(p.name for p in (tmp_path / "marks").iterdir()) == ["killed-2", "killed-9"]
    pd.testing.assert_frame_equal(res.results, reference)
    ids = [json.loads(x)["run_id"] for x in (tmp_path / "out" / JOURNAL).read_text().splitlines()]
    assert sorted(ids) == list(range(N_RUNS))


def test_dask_workers_run_without_the_slow_malloc_setting(tmp_path):
    distributed = pytest.importorskip("distributed")
    from sim.batch.executors import DaskExecutor

    with DaskExecutor(os.getpid, workers=1) as ex:
        env = ex.client.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_"))
        assert list(env.values()) == [None]
    assert distributed  # the import is the point


def test_kill_9_then_resume_loses_and_duplicates_nothing(sweep_file, reference, tmp_path):
    out = tmp_path / "out"
    env = os.environ | {"WEIGHTSHIFT_FAULTS": json.dumps({"sleep": 0.15})}
    cmd = [sys.executable, "-m", "sim", "sweep", str(sweep_file), "--out", str(out), "--workers", "2", "--quiet"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    journal = out / JOURNAL
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not journal.exists() or journal.read_bytes().count(b"\n") < 4):
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    done = journal.read_bytes().count(b"\n")
    assert 4 <= done < N_RUNS, "the sweep was not killed mid-way"
    assert not (out / "results.parquet").exists()
    res = run_sweep(sweep_file, out, workers=2, resume=True)
    assert res.stats["ran_now"] == N_RUNS - done
    ids = [json.loads(x)["run_id"] for x in journal.read_text().splitlines()]
    assert sorted(ids) == list(range(N_RUNS))
    pd.testing.assert_frame_equal(res.results, reference)


def test_kill_9_leaves_no_orphan_workers(sweep_file, tmp_path):
    out = tmp_path / "out"
    env = os.environ | {"WEIGHTSHIFT_FAULTS": json.dumps({"sleep": 0.3})}
    cmd = [sys.executable, "-m", "sim", "sweep", str(sweep_file), "--out", str(out), "--workers", "2", "--quiet"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    journal = out / JOURNAL
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not journal.exists() or journal.read_bytes().count(b"\n") < 1):
        time.sleep(0.02)
    children = _children(proc.pid)
    assert len(children) == 2
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(Path(f"/proc/{c}").exists() for c in children):
        time.sleep(0.05)
    alive = [c for c in children if Path(f"/proc/{c}").exists() and "Z" not in _state(c)]
    assert not alive


def _children(pid: int) -> list[int]:
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat.parent.name))
    return kids


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0]
    except (FileNotFoundError, IndexError):
        return "X"


def test_timeseries_file_keeps_whole_records_only(sweep_file, tmp_path):
    body = SWEEP.replace("[outputs]\n", "[outputs]\ntimeseries = true\n")
    path = tmp_path / "ts.toml"
    path.write_text(body)
    out = tmp_path / "out"
    run_sweep(path, out, workers=1)
    data = (out / TS_FILE).read_bytes()
    (out / TS_FILE).write_bytes(data[: len(data) - 100])  # a record torn by a kill
    lines = (out / JOURNAL).read_bytes().splitlines(keepends=True)
    (out / JOURNAL).write_bytes(b"".join(lines[:-1]))  # ... before its journal line was written
    res = run_sweep(path, out, resume=True)
    assert res.stats["ran_now"] == 1
    assert res.timeseries.groupby("run_id").size().tolist() == [14] * N_RUNS
