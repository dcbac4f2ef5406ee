"""Overnight sweeps that cannot lose a study: failed runs, races, signals, output paths, size, notices.

Signal and race tests start real `weightshift sweep` processes and wait for states (a journal
line, a message on stderr), never for a fixed time. Runs sleep (WEIGHTSHIFT_FAULTS) so that a
state lasts long enough to be seen on a busy machine.
"""

from __future__ import annotations

import errno
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from sim.batch import runner
from sim.batch.analysis import analyze
from sim.batch.executors import BackendLost, Executor, Outcome
from sim.batch.runner import JOURNAL, RESULTS, run_sweep
from sim.batch.safety import FolderLock, SweepFailed
from sim.cli import main
from sim.errors import InputError

SWEEP = """name = "safety test"
scenario = "baseline"
[design]
kind = "grid"
replications = 2
seed = 3
[params]
n_developers = 200
months = 6
[vary]
control_effect = { values = [0.3, 0.6, 0.9] }
[outputs]
columns = ["usage_share_cn_open", "adopters"]
at = ["final"]
"""
N_RUNS = 6
SOBOL = """name = "sobol test"
scenario = "baseline"
[design]
kind = "sobol"
samples = 4
seed = 1
[params]
n_developers = 200
months = 6
[vary]
beta_open = { low = -1.0, high = 3.0 }
bass_p = { low = 0.001, high = 0.05 }
[outputs]
columns = ["usage_share_closed", "adopters"]
at = ["final"]
"""


@pytest.fixture(autouse=True)
def forked_workers(monkeypatch):
    """Fork pool workers, so they see the WEIGHTSHIFT_FAULTS set by each test.

    After a Dask test has left threads behind, the pool would otherwise use a fork server
    started earlier, whose environment predates the test's faults.
    """
    monkeypatch.setenv("WEIGHTSHIFT_START_METHOD", "fork")


@pytest.fixture(scope="module")
def sweep_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("safety") / "small.toml"
    path.write_text(SWEEP)
    return path


@pytest.fixture(scope="module")
def reference(sweep_file, tmp_path_factory) -> pd.DataFrame:
    return run_sweep(sweep_file, tmp_path_factory.mktemp("ref") / "out").results


def journal_ids(out: Path) -> list[int]:
    return [json.loads(x)["run_id"] for x in (out / JOURNAL).read_text().splitlines()]


def one_line(err: str, *needles: str) -> None:
    assert err.endswith("\n") and err.count("\n") == 1 and "Traceback" not in err, err
    for n in needles:
        assert n in err, (n, err)


# --- 1. failed runs -----------------------------------------------------------------------------


def test_failed_runs_give_exit_1_a_summary_and_are_retried_on_resume(
    sweep_file, reference, tmp_path, capsys, monkeypatch
):
    out = tmp_path / "out"
    argv = ["sweep", str(sweep_file), "--out", str(out), "--quiet", "--retries", "0"]
    monkeypatch.setenv("WEIGHTSHIFT_FAULTS", json.dumps({"raise": [1, 4]}))
    assert main(argv) == 1
    monkeypatch.delenv("WEIGHTSHIFT_FAULTS")
    o, err = capsys.readouterr()
    assert "; 2 failed" in o
    one_line(err, "2 of 6 runs remain failed", "--resume")
    assert main([*argv, "--resume", "--no-retry-failed"]) == 1  # kept as they are when asked
    o, _ = capsys.readouterr()
    assert "nothing to do" in o
    assert main([*argv, "--resume"]) == 0  # retried by default, and said so
    o, err = capsys.readouterr()
    assert "retried 2 runs that had failed" in o and err == ""
    pd.testing.assert_frame_equal(pd.read_parquet(out / RESULTS), reference)


def test_sobol_analysis_with_missing_points_names_the_runs_to_rerun(tmp_path, monkeypatch, capsys):
    path = tmp_path / "sobol.toml"
    path.write_text(SOBOL)
    out = tmp_path / "out"
    monkeypatch.setenv("WEIGHTSHIFT_FAULTS", json.dumps({"raise": [5]}))
    run_sweep(path, out, retries=0)
    a = analyze(out)
    assert a.indices.empty
    assert any("Rerun runs 5 " in n and "--resume" in n for n in a.notes), a.notes
    assert main(["analyze", str(out)]) == 1  # never silently empty
    assert "Rerun runs 5" in capsys.readouterr().out
    monkeypatch.delenv("WEIGHTSHIFT_FAULTS")
    run_sweep(path, out, resume=True)
    assert not analyze(out).indices.empty


def test_a_run_over_its_timeout_is_stopped_and_recorded_without_retries(sweep_file, tmp_path, monkeypatch):
    monkeypatch.setenv("WEIGHTSHIFT_FAULTS", json.dumps({"hang": [2]}))
    notices: list[str] = []
    res = run_sweep(sweep_file, tmp_path / "out", workers=2, run_timeout=1.0, notify=notices.append)
    bad = res.results.set_index("run_id").loc[2]
    assert bad.status == "failed" and bad.error.startswith("RunTimeout")
    assert [
        json.loads(x)["attempts"] for x in (tmp_path / "out" / JOURNAL).read_text().splitlines() if '"run_id": 2,' in x
    ] == [1]
    assert (res.results.status == "ok").sum() == N_RUNS - 1
    assert any("run 2 failed: RunTimeout" in n for n in notices)


# --- 2. the folder lock and the manifest ---------------------------------------------------------


def test_a_locked_folder_is_refused_in_one_line_and_left_alone(sweep_file, tmp_path, capsys):
    out = tmp_path / "out"
    with FolderLock(out):
        assert main(["sweep", str(sweep_file), "--out", str(out), "--quiet"]) == 2
        _, err = capsys.readouterr()
        one_line(err, "another sweep", str(out))
        assert [p.name for p in out.iterdir()] == [".lock"]


def test_a_refused_start_leaves_no_folder(sweep_file, tmp_path, monkeypatch):
    def unreachable(*args, **kwargs):
        raise InputError("--scheduler", "scheduler", "tcp://nowhere:1", "the address of a running Dask scheduler")

    monkeypatch.setattr(runner, "make_executor", unreachable)  # as a bad --scheduler does, after 15 s
    out = tmp_path / "new"
    with pytest.raises(InputError):
        run_sweep(sweep_file, out)
    assert not out.exists()


def test_two_sweeps_launched_together_into_one_folder_one_is_refused(sweep_file, reference, tmp_path):
    out = tmp_path / "out"
    env = os.environ | {"WEIGHTSHIFT_FAULTS": json.dumps({"sleep": 0.2})}
    base = [sys.executable, "-m", "sim", "sweep", str(sweep_file), "--out", str(out), "--quiet"]
    cmds = [base, [*base, "--set", "n_developers=300"]]
    procs = [subprocess.Popen(c, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for c in cmds]
    results = [(p.wait(300), *p.communicate()) for p in procs]
    codes = sorted(r[0] for r in results)
    assert codes == [0, 2], results
    loser = next(r for r in results if r[0] == 2)
    assert "Traceback" not in loser[2] and loser[2].count("\n") == 1
    assert "another sweep" in loser[2] or "holds a sweep already" in loser[2]
    winner = cmds[[r[0] for r in results].index(0)]
    assert sorted(journal_ids(out)) == list(range(N_RUNS))  # one sweep's runs, each once
    got = pd.read_parquet(out / RESULTS)
    if winner is base:
        pd.testing.assert_frame_equal(got, reference)
    assert json.loads((out / "sweep.json").read_text())["identity"]["params"]["n_developers"] == (
        200 if winner is base else 300
    )


def test_the_manifest_is_written_before_any_run(sweep_file, tmp_path, monkeypatch):
    seen, real = [], runner.make_executor

    def spy(*args, **kwargs):
        ex = real(*args, **kwargs)
        submit = ex.submit

        def watched(key, payload):
            seen.append((tmp_path / "out" / "sweep.json").exists())
            submit(key, payload)

        ex.submit = watched
        return ex

    monkeypatch.setattr(runner, "make_executor", spy)
    run_sweep(sweep_file, tmp_path / "out", workers=1)
    assert len(seen) == N_RUNS and all(seen)


def test_run_out_replaces_the_whole_folder_and_writes_provenance(tmp_path, capsys):
    out = tmp_path / "run"
    base = ["run", "baseline", "--set", "n_developers=100", "--set", "months=3", "--out", str(out)]
    assert main([*base, "--seed", "4"]) == 0
    assert (out / "timeseries.parquet").exists()
    assert main([*base, "--seed", "5", "--no-parquet"]) == 0
    capsys.readouterr()
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "families.csv",
        "provenance.json",
        "regions.csv",
        "segments.csv",
        "timeseries.csv",
    ]  # no stale Parquet
    info = json.loads((out / "provenance.json").read_text())
    assert (
        info["seed"] == 5
        and info["scenario_file"].endswith("baseline.toml")
        and info["overrides"]
        == {
            "n_developers": 100,
            "months": 3,
        }
    )
    assert info["version"] and info["written_utc"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left


def test_run_out_refuses_a_folder_with_other_files_before_simulating(tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    assert main(["run", "baseline", "--out", str(out)]) == 2
    o, err = capsys.readouterr()
    assert o == ""  # nothing simulated
    one_line(err, "notes.txt")
    assert (out / "notes.txt").read_text() == "keep me"


# --- 3. signals ----------------------------------------------------------------------------------


class Sweep:
    """A `weightshift sweep` subprocess whose stderr is read line by line as it comes."""

    def __init__(self, args: list[str], faults: dict) -> None:
        env = os.environ | {"WEIGHTSHIFT_FAULTS": json.dumps(faults)}
        cmd = [sys.executable, "-m", "sim", "sweep", *args, "--quiet"]
        self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.err: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stderr:  # type: ignore[union-attr]
            self.lines.put(line)

    def wait_for_line(self, needle: str, limit: float = 120) -> str:
        end = time.monotonic() + limit
        while time.monotonic() < end:
            try:
                line = self.lines.get(timeout=0.1)
            except queue.Empty:
                continue
            self.err.append(line)
            if needle in line:
                return line
        raise AssertionError(f"no {needle!r} on stderr: {self.err}")

    def finish(self, limit: float) -> tuple[int, str]:
        rc = self.proc.wait(limit)
        time.sleep(0)  # let the reader thread drain
        while True:
            try:
                self.err.append(self.lines.get(timeout=1))
            except queue.Empty:
                return rc, "".join(self.err)


def wait_for_journal(out: Path, lines: int, limit: float = 120) -> None:
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if (out / JOURNAL).exists() and (out / JOURNAL).read_bytes().count(b"\n") >= lines:
            return
        time.sleep(0.02)
    raise AssertionError("the sweep did not get going")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl_c", "sigterm"])
def test_first_signal_stops_handing_out_runs_and_keeps_finished_ones(sweep_file, tmp_path, sig):
    out = tmp_path / "out"
    s = Sweep([str(sweep_file), "--out", str(out), "--workers", "2", "--reps", "10"], {"sleep": 0.5})
    wait_for_journal(out, 1)
    s.proc.send_signal(sig)
    s.wait_for_line("Press Ctrl-C again to abort now")
    rc, err = s.finish(120)
    assert rc == 130 and "Traceback" not in err
    assert "every finished run is saved" in err and "--reps 10 --workers 2 --resume" in err
    done = journal_ids(out)
    assert 1 <= len(done) < 30  # the pool holds at most 4 runs; the rest were never handed out
    assert sorted(pd.read_parquet(out / RESULTS).run_id) == sorted(done)  # results written, nothing lost
    res = run_sweep(sweep_file, out, resume=True, reps=10)
    assert res.stats["ran_now"] == 30 - len(done)
    assert sorted(journal_ids(out)) == list(range(30)) and (res.results.status == "ok").all()


def test_second_ctrl_c_kills_the_workers_and_exits_130_at_once(sweep_file, reference, tmp_path):
    out = tmp_path / "out"
    s = Sweep([str(sweep_file), "--out", str(out), "--workers", "2"], {"sleep": 0.3, "hang": [3, 4, 5]})
    wait_for_journal(out, 3)  # runs 0-2 done; 3 and 4 hang in the workers
    s.proc.send_signal(signal.SIGINT)
    s.wait_for_line("Press Ctrl-C again")
    s.proc.send_signal(signal.SIGINT)
    rc, err = s.finish(30)  # the hanging runs would hold it forever
    assert rc == 130 and "Traceback" not in err and "aborted" in err
    assert sorted(journal_ids(out)) == [0, 1, 2]  # the journal is intact
    res = run_sweep(sweep_file, out, resume=True)
    pd.testing.assert_frame_equal(res.results, reference)


# --- 4. output paths and a full disk -------------------------------------------------------------


@pytest.mark.parametrize("command", ["sweep", "run", "compare"])
@pytest.mark.parametrize("where", ["under_a_file", "a_file"])
def test_unusable_out_is_one_line_before_any_work(sweep_file, tmp_path, capsys, command, where):
    f = tmp_path / "file"
    f.write_text("x")
    out = f / "x" if where == "under_a_file" else f
    argv = {
        "sweep": ["sweep", str(sweep_file)],
        "run": ["run", "baseline"],
        "compare": ["compare", "baseline", "convergence", "--reps", "2"],
    }[command]
    assert (
        main(
            [*argv, "--out", str(out), "--set", "n_developers=100"]
            if command != "sweep"
            else [*argv, "--out", str(out)]
        )
        == 2
    )
    o, err = capsys.readouterr()
    one_line(err, str(out))
    assert "runs/hour" not in o and "developers)" not in o  # nothing ran
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def _disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_while_compacting_is_one_line_and_keeps_the_journal(
    sweep_file, reference, tmp_path, capsys, monkeypatch
):
    out = tmp_path / "out"
    real = pd.DataFrame.to_parquet

    def full_on_results(self, path, *a, **k):
        if RESULTS in str(path):
            Path(path).write_bytes(b"PAR1 half")  # a partly written temporary file
            _disk_full()
        return real(self, path, *a, **k)

    monkeypatch.setattr(pd.DataFrame, "to_parquet", full_on_results)
    assert main(["sweep", str(sweep_file), "--out", str(out), "--quiet"]) == 2
    _, err = capsys.readouterr()
    one_line(err, "disk is full", "journal.jsonl", "--resume")
    assert sorted(journal_ids(out)) == list(range(N_RUNS))
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
    monkeypatch.setattr(pd.DataFrame, "to_parquet", real)
    res = run_sweep(sweep_file, out, resume=True)
    assert res.stats["ran_now"] == 0
    pd.testing.assert_frame_equal(res.results, reference)


def test_a_full_disk_while_journalling_stops_the_sweep_in_one_line(
    sweep_file, reference, tmp_path, capsys, monkeypatch
):
    out = tmp_path / "out"
    real, calls = runner._write_all, []

    def fill_up(fd, data):
        calls.append(1)
        if len(calls) > 2:
            _disk_full()
        real(fd, data)

    monkeypatch.setattr(runner, "_write_all", fill_up)
    assert main(["sweep", str(sweep_file), "--out", str(out), "--quiet", "--workers", "2"]) == 2
    _, err = capsys.readouterr()
    one_line(err, "disk is full", "2 finished runs are kept")
    assert len(journal_ids(out)) == 2 and not [p for p in out.iterdir() if p.name.endswith(".tmp")]
    monkeypatch.setattr(runner, "_write_all", real)
    pd.testing.assert_frame_equal(run_sweep(sweep_file, out, resume=True).results, reference)


# --- 5. the size of a design ---------------------------------------------------------------------


@pytest.mark.parametrize("extra", [[], ["--dry-run"], ["--yes"]])
def test_a_huge_design_fails_fast_in_one_line(tmp_path, capsys, extra):
    t0 = time.process_time()
    rc = main(["sweep", "uncertainty_lhs", "--samples", "1000000000", "--out", str(tmp_path / "o"), *extra])
    assert time.process_time() - t0 < 5  # nothing was sampled (CPU time, not wall time)
    o, err = capsys.readouterr()
    assert rc == 2 and "estimate: 2,000,000,000 runs" in o
    one_line(err, "--samples", "2,000,000,000 runs")
    assert not (tmp_path / "o").exists()


def test_the_estimate_is_always_printed_and_a_big_design_needs_yes(sweep_file, tmp_path, capsys):
    assert main(["sweep", str(sweep_file), "--dry-run"]) == 0
    assert "estimate: 6 runs" in capsys.readouterr().out
    rc = main(["sweep", "uncertainty_lhs", "--samples", "600000", "--dry-run"])
    o, err = capsys.readouterr()
    assert rc == 2 and "--yes" in err and "1,200,000 runs" in o
    assert main(["sweep", "uncertainty_lhs", "--samples", "600000", "--dry-run", "--yes"]) == 0


# --- 7. failures you can see ---------------------------------------------------------------------


def test_a_crashed_local_worker_is_reported_with_its_run(sweep_file, tmp_path, monkeypatch):
    marks = tmp_path / "marks"
    marks.mkdir()
    monkeypatch.setenv("WEIGHTSHIFT_FAULTS", json.dumps({"kill_once": [3], "dir": str(marks)}))
    notices: list[str] = []
    res = run_sweep(sweep_file, tmp_path / "out", workers=2, notify=notices.append)
    assert (res.results.status == "ok").all()
    died = [n for n in notices if "worker process died" in n or "worker pid" in n]
    assert died and "3" in died[0] and "SIGKILL" in died[0], notices


class LostScheduler(Executor):
    """An executor whose scheduler disappears after two runs."""

    capacity = 1

    def __init__(self) -> None:
        self.n, self.key = 0, None

    def submit(self, key, payload):
        self.key, self.payload = key, payload

    def poll(self, timeout):
        if self.n == 2:
            raise BackendLost("the Dask scheduler was lost (CommClosedError)")
        self.n += 1
        key, self.key = self.key, None
        return [Outcome(key, runner.run_task(self.payload))]

    def busy(self):
        return int(self.key is not None)

    def close(self):
        pass


def test_a_lost_dask_scheduler_is_one_line_and_the_runs_so_far_are_safe(sweep_file, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(runner, "make_executor", lambda *a, **k: LostScheduler())
    out = tmp_path / "out"
    with pytest.raises(SweepFailed, match="2 finished runs are safe"):
        run_sweep(sweep_file, out)
    assert len(pd.read_parquet(out / RESULTS)) == 2
    rc = main(["sweep", str(sweep_file), "--out", str(out), "--resume", "--quiet", "--backend", "dask"])
    _, err = capsys.readouterr()
    assert rc == 1
    one_line(err, "scheduler was lost", "--resume")
