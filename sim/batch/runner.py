"""Running a sweep: tasks to workers, results to an append-only journal, then one Parquet table.

Checkpointing. The parent process is the only writer. Each finished run is appended to
`DIR/journal.jsonl` as one line, in one `write()` call, as soon as it arrives; its time series (if
kept) goes to `DIR/timeseries.bin` just before. A `kill -9` can therefore lose only runs that were
still in flight, and at worst leave a torn last line or record, which `--resume` cuts off. Resuming
skips every run in the journal, so no finished run is redone and none appears twice. The journal
is compacted into `DIR/results.parquet` (written to a temporary file, then renamed) at the end and
whenever a sweep stops early.

Failures. A run that raises is retried (`retries` times) and then recorded with its error. When a
local worker dies, every run in flight is a suspect; suspects are rerun one at a time, so the run
that kills its worker is found and, after the same retries, recorded as failed, while the
bystanders simply finish.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import traceback
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim import api
from sim.batch.deadline import Deadline, RunTimeout
from sim.batch.executors import BackendLost, Executor, check_backend, make_executor
from sim.batch.safety import LOCK, FolderLock, Interrupts, SweepFailed, SweepStopped
from sim.batch.sweep import TS_COLUMNS, Sweep, Task, load, salib_problem
from sim.errors import FileProblem, InputError
from sim.outdir import check_writable, disk_full

FAULTS_ENV = "WEIGHTSHIFT_FAULTS"  # fault injection for the crash tests (see `inject_faults`)
JOURNAL, TS_FILE, MANIFEST, DESIGN, RESULTS = (
    "journal.jsonl",
    "timeseries.bin",
    "sweep.json",
    "design.parquet",
    "results.parquet",
)
MANIFEST_VERSION = 1


@dataclass
class TaskResult:
    """One run's outcome as sent back by a worker."""

    run_id: int
    ok: bool
    outputs: list[float] | None = None
    error: str | None = None
    elapsed: float = 0.0
    timeseries: np.ndarray | None = None
    final: bool = False  # failed in a way a retry would not mend (a timeout)


def inject_faults(run_id: int) -> None:
    """Test hook: `WEIGHTSHIFT_FAULTS` (JSON) makes chosen runs raise, or kill their worker.

    {"raise": [ids]}: the run raises; {"kill": [ids]}: its worker is killed every time;
    {"kill_once": [ids], "dir": path}: killed the first time only (a marker file records it);
    {"sleep": seconds}: every run sleeps first (to give a test time to kill a sweep);
    {"hang": [ids]}: the run never ends (for --run-timeout).
    """
    spec = os.environ.get(FAULTS_ENV)
    if not spec:
        return
    faults = json.loads(spec)
    time.sleep(faults.get("sleep", 0))
    if run_id in faults.get("raise", ()):
        raise RuntimeError(f"injected failure of run {run_id}")
    if run_id in faults.get("kill_once", ()):
        try:
            os.close(os.open(Path(faults["dir"]) / f"killed-{run_id}", os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            return
        os.kill(os.getpid(), signal.SIGKILL)
    if run_id in faults.get("kill", ()):
        os.kill(os.getpid(), signal.SIGKILL)
    while run_id in faults.get("hang", ()):
        time.sleep(0.01)


def run_task(task: Task) -> TaskResult:
    """Run one task in a worker. Model errors come back as a failed result, never as an exception.

    A run that exceeds `task.timeout` seconds comes back failed with a `RunTimeout` error and
    `final` set: retrying a run that hangs would only hold the worker longer.
    """
    t0 = time.perf_counter()
    try:
        with Deadline(task.timeout) as limit:
            inject_faults(task.run_id)
            res = api.run(task.scenario, seed=task.seed, overrides=task.overrides)
            limit.finish()
        outputs = task.outputs.extract(res.timeseries)
        ts = res.timeseries[list(TS_COLUMNS)].to_numpy(dtype=float) if task.keep_timeseries else None
        return TaskResult(task.run_id, True, outputs, None, time.perf_counter() - t0, ts)
    except RunTimeout:
        error = f"RunTimeout: the run took longer than --run-timeout {task.timeout:g} s and was stopped"
        return TaskResult(task.run_id, False, error=error, elapsed=time.perf_counter() - t0, final=True)
    except Exception as exc:
        where = traceback.extract_tb(exc.__traceback__)[-1]
        error = f"{type(exc).__name__}: {exc} (at {Path(where.filename).name}:{where.lineno})"
        return TaskResult(task.run_id, False, error=error.replace("\n", " ")[:500], elapsed=time.perf_counter() - t0)


def _ids(keys: Iterable[int]) -> str:
    keys = sorted(keys)
    return ", ".join(map(str, keys[:10])) + (f" and {len(keys) - 10} more" if len(keys) > 10 else "")


def drive(
    keys: Iterable[int],
    make_task: Callable[[int], Any],
    executor: Executor,
    record: Callable[[TaskResult, int], None],
    retries: int = 2,
    tick: Callable[[], None] | None = None,
    stop: Callable[[], bool] = lambda: False,
    notify: Callable[[str], None] = lambda message: None,
) -> None:
    """Run every key's task on `executor`, calling `record(result, attempts)` once per key.

    Keeps `executor.capacity` tasks in flight; retries failures; isolates worker crashes and
    reports them through `notify`. Once `stop()` is true, no task is handed out any more and
    `drive` returns when the tasks in flight have finished (and been recorded).
    """
    pending, suspects = deque(keys), deque()
    attempts: Counter[int] = Counter()
    alone: int | None = None  # the suspect running by itself, if any

    def give_up_or_retry(key: int, error: str, queue: deque, final: bool = False) -> None:
        attempts[key] += 1
        if final or attempts[key] > retries:
            record(TaskResult(key, False, error=error), attempts[key])
        else:
            queue.appendleft(key)

    while ((pending or suspects) and not stop()) or executor.busy():
        if not stop():
            if suspects or alone is not None:
                if suspects and not executor.busy():
                    alone = suspects.popleft()
                    executor.submit(alone, make_task(alone))
            else:
                while pending and executor.busy() < executor.capacity:
                    key = pending.popleft()
                    executor.submit(key, make_task(key))
        crashed = []
        for o in executor.poll(0.2):
            was_alone, alone = o.key == alone, None if o.key == alone else alone
            if o.crashed is not None:
                if o.certain:
                    notify(f"run {o.key} killed every worker that ran it; recorded as failed")
                    record(TaskResult(o.key, False, error=f"WorkerDied: {o.crashed}"), attempts[o.key] + 1)
                elif was_alone:
                    final = attempts[o.key] + 1 > retries
                    then = "recorded as failed" if final else "retrying it"
                    notify(f"run {o.key} crashed its worker when run alone ({o.crashed}); {then}")
                    give_up_or_retry(o.key, f"WorkerDied: {o.crashed}", suspects)
                else:
                    crashed.append(o)
                    suspects.append(o.key)
            elif o.error is not None:
                give_up_or_retry(o.key, o.error, pending)
            elif not o.value.ok:
                if o.value.final:
                    notify(f"run {o.key} failed: {o.value.error}")
                give_up_or_retry(o.key, o.value.error, pending, o.value.final)
            else:
                record(o.value, attempts[o.key] + 1)
        if crashed:
            notify(
                f"a worker process died ({crashed[0].crashed}) while runs {_ids(o.key for o in crashed)} were in "
                "flight; rerunning them one at a time to find the run that crashed it"
            )
        if tick:
            tick()


class Journal:
    """The append-only checkpoint of a sweep folder (see the module docstring)."""

    def __init__(self, out: Path) -> None:
        self.path, self.ts_path = out / JOURNAL, out / TS_FILE
        self.records = self._recover()
        self._fd: int | None = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._ts_fd: int | None = None

    @staticmethod
    def read(path: Path) -> dict[int, dict[str, Any]]:
        """The finished runs in a journal file (ignoring a torn last line); reads only."""
        records: dict[int, dict[str, Any]] = {}
        data = path.read_bytes() if path.exists() else b""
        for line in data[: data.rfind(b"\n") + 1].splitlines():
            rec = json.loads(line)
            old = records.get(rec["run_id"])
            if old is None or not old["ok"]:  # the latest attempt, unless an earlier one was ok
                records[rec["run_id"]] = rec
        return records

    def _recover(self) -> dict[int, dict[str, Any]]:
        """Finished runs so far; a torn last line or record (from a kill mid-write) is cut off."""
        if self.path.exists():
            os.truncate(self.path, self.path.read_bytes().rfind(b"\n") + 1)
        if self.ts_path.exists():
            os.truncate(self.ts_path, _ts_complete_length(self.ts_path))
        return self.read(self.path)

    def append(self, result: TaskResult, attempts: int) -> None:
        """Checkpoint one finished run (its time series first, then its journal line)."""
        if result.timeseries is not None:
            if self._ts_fd is None:
                self._ts_fd = os.open(self.ts_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            ts = np.ascontiguousarray(result.timeseries, dtype="<f8")
            head = np.array([result.run_id, ts.shape[0], ts.shape[1]], dtype="<i8")
            _write_all(self._ts_fd, head.tobytes() + ts.tobytes())
        rec = {
            "run_id": result.run_id,
            "ok": result.ok,
            "outputs": result.outputs,
            "error": result.error,
            "attempts": attempts,
            "elapsed": round(result.elapsed, 6),
        }
        _write_all(self._fd, (json.dumps(rec) + "\n").encode())  # type: ignore[arg-type]
        self.records[result.run_id] = rec

    def close(self) -> None:
        """Close the files (again: a no-op)."""
        for fd in (self._fd, self._ts_fd):
            if fd is not None:
                os.close(fd)
        self._fd = self._ts_fd = None


def _write_all(fd: int, data: bytes) -> None:
    """Append `data`: one write() for a journal line in practice; loops if the OS writes less."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _ts_records(path: Path) -> Iterable[tuple[int, int, int, int]]:
    """(run_id, rows, cols, byte offset of the data) of each complete record in a timeseries.bin."""
    size, pos = path.stat().st_size, 0
    with open(path, "rb") as f:
        while pos + 24 <= size:
            f.seek(pos)
            run_id, rows, cols = np.frombuffer(f.read(24), dtype="<i8")
            end = pos + 24 + 8 * int(rows) * int(cols)
            if end > size:
                return
            yield int(run_id), int(rows), int(cols), pos + 24
            pos = end


def _ts_complete_length(path: Path) -> int:
    end = 0
    for _, rows, cols, offset in _ts_records(path):
        end = offset + 8 * rows * cols
    return end


def _atomic_parquet(df: pd.DataFrame, path: Path) -> None:
    """Write `path` whole or not at all; the temporary file never outlives a failure (a full disk)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        df.to_parquet(tmp, index=False)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def results_table(sweep: Sweep, records: Mapping[int, Mapping[str, Any]]) -> pd.DataFrame:
    """The results table: run_id, point, rep, seed, the factors, the outputs, status and error."""
    ids = np.array(sorted(records), dtype=np.int64)
    reps = sweep.design.replications
    points = ids // reps
    df = pd.DataFrame({"run_id": ids, "point": points, "rep": ids % reps})
    df["seed"] = np.array([sweep.seed_of(int(r)) for r in ids], dtype=np.int64)
    design = sweep.table.drop(columns="point").iloc[points].reset_index(drop=True)
    df = pd.concat([df, design], axis=1)
    names = sweep.outputs.names
    nan = [np.nan] * len(names)
    outs = np.array([records[int(r)]["outputs"] or nan for r in ids], dtype=float).reshape(len(ids), len(names))
    df = pd.concat([df, pd.DataFrame(outs, columns=names)], axis=1)
    df["status"] = ["ok" if records[int(r)]["ok"] else "failed" for r in ids]
    df["error"] = pd.Series([records[int(r)]["error"] for r in ids], dtype=object)
    return df


def timeseries_table(out: Path, ok: set[int]) -> pd.DataFrame:
    """The kept time series of the ok runs, long format: run_id, month, then every timeseries column."""
    from sim.calendar import month_label

    path, parts, seen = out / TS_FILE, [], set()
    if not path.exists():
        return pd.DataFrame(columns=["run_id", "month", *TS_COLUMNS])
    with open(path, "rb") as f:
        for run_id, rows, cols, offset in _ts_records(path):
            if run_id in ok and run_id not in seen:
                seen.add(run_id)
                f.seek(offset)
                arr = np.frombuffer(f.read(8 * rows * cols), dtype="<f8").reshape(rows, cols)
                part = pd.DataFrame(arr, columns=list(TS_COLUMNS))
                part.insert(0, "month", [month_label(t) for t in range(rows)])
                part.insert(0, "run_id", run_id)
                parts.append(part)
    if not parts:
        return pd.DataFrame(columns=["run_id", "month", *TS_COLUMNS])
    return pd.concat(parts, ignore_index=True).sort_values(["run_id", "month"], kind="stable", ignore_index=True)


def compact(out: Path, sweep: Sweep, records: Mapping[int, Mapping[str, Any]]) -> pd.DataFrame:
    """Write results.parquet (and timeseries.parquet if kept) from the journal records, atomically."""
    df = results_table(sweep, records)
    _atomic_parquet(df, out / RESULTS)
    if sweep.outputs.timeseries:
        ok = {int(r) for r, s in zip(df.run_id, df.status, strict=True) if s == "ok"}
        _atomic_parquet(timeseries_table(out, ok), out / "timeseries.parquet")
    return df


@dataclass
class SweepResult:
    """What `run_sweep` returns: the results table and how the sweep went."""

    results: pd.DataFrame
    out: Path
    sweep: Sweep
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def timeseries(self) -> pd.DataFrame:
        """The kept time series (sweeps with `outputs.timeseries = true`), read from disk."""
        return pd.read_parquet(self.out / "timeseries.parquet")


def _jsonable(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=lambda o: o.item() if hasattr(o, "item") else list(o)))


def _prepare(out: Path, sweep: Sweep, resume: bool) -> dict[str, Any]:
    """Check the (locked) output folder against `resume` before anything is written; return the manifest."""
    manifest = {
        "version": MANIFEST_VERSION,
        "name": sweep.name,
        "file": sweep.path,
        "identity": _jsonable(sweep.manifest()),
        "n_points": sweep.n_points,
        "n_runs": sweep.n_runs,
        "replications": sweep.design.replications,
        "design": sweep.design.kind,
        "factors": [f.name for f in sweep.factors],
        "outputs": sweep.outputs.names,
        "problem": salib_problem(sweep),
        "analysis": {
            "condition": str(sweep.condition) if sweep.condition else None,
            "min_coverage": sweep.min_coverage,
        },
    }
    existing = out / MANIFEST
    if resume:
        if not existing.exists():
            raise FileProblem(str(out), "--resume needs a folder holding a sweep started earlier (no sweep.json here)")
        try:
            old = json.loads(existing.read_text())
        except (OSError, ValueError) as exc:
            raise FileProblem(str(existing), f"cannot be read ({exc}); start the sweep in a new folder") from None
        for key, value in manifest["identity"].items():
            if old.get("identity", {}).get(key) != value:
                same = "resume with the same file, --samples, --reps and --set"
                raise FileProblem(str(existing), f"was made by a different sweep (its {key} section differs); {same}")
    elif any(p.name != LOCK for p in out.iterdir()):
        what = "holds a sweep already; add --resume to continue it" if existing.exists() else "is not empty"
        raise FileProblem(str(out), f"{what} (--out needs a new or empty folder)")
    return manifest


def _write_start(out: Path, sweep: Sweep, manifest: dict[str, Any]) -> None:
    """The design and the manifest, each written atomically, before any run starts."""
    design = sweep.table.copy()
    for j, f in enumerate(sweep.factors):
        design[f"raw:{f.name}"] = sweep.raw_design[:, j]
    _atomic_parquet(design, out / DESIGN)
    tmp = out / f".{MANIFEST}.{os.getpid()}.tmp"
    try:
        tmp.write_text(json.dumps(manifest, indent=1))
        os.replace(tmp, out / MANIFEST)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class ProgressBar:
    """A rich progress bar with ETA, refreshed from the main loop (no thread, so forking stays safe)."""

    def __init__(self, total: int, done: int = 0, failed: int = 0, enabled: bool = True, label: str = "sweep") -> None:
        self.bar = None
        self.failed, self.last = failed, 0.0
        if not enabled:
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.bar = Progress(
            TextColumn(label),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[failed]} failed"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            auto_refresh=False,
        )
        self.task = self.bar.add_task(label, total=total, completed=done, failed=failed)
        self.bar.start()

    def advance(self, ok: bool) -> None:
        self.failed += not ok
        if self.bar is not None:
            self.bar.update(self.task, advance=1, failed=self.failed)

    def tick(self) -> None:
        if self.bar is not None and time.monotonic() - self.last > 0.25:
            self.last = time.monotonic()
            self.bar.refresh()

    def say(self, message: str) -> None:
        """Tell the user something (above the bar when there is one), on stderr."""
        if self.bar is not None:
            self.bar.console.print(f"weightshift: {message}", markup=False, highlight=False)
            self.bar.refresh()
        else:
            print(f"weightshift: {message}", file=sys.stderr, flush=True)

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.refresh()
            self.bar.stop()


def run_sweep(
    sweep: str | Path | Sweep,
    out: str | Path,
    *,
    workers: int = 1,
    backend: str = "local",
    scheduler: str | None = None,
    resume: bool = False,
    samples: int | None = None,
    reps: int | None = None,
    sets: Mapping[str, Any] | Iterable[str] | None = None,
    retries: int = 2,
    progress: bool = False,
    retry_failed: bool = True,
    run_timeout: float | None = None,
    notify: Callable[[str], None] | None = None,
) -> SweepResult:
    """Run (or, with `resume=True`, continue) a sweep into folder `out` and return its results.

    `samples`, `reps` and `sets` override the file's sample count, replications and fixed
    parameters (only when `sweep` is a file or name). Results: `out/results.parquet`.
    `retry_failed`: a resume reruns the runs recorded as failed. `run_timeout`: seconds after
    which a run is stopped and recorded as failed. `notify` receives one-line notices (a worker
    crash, a stop request); by default they go to stderr.

    Raises FileProblem (one line) for an unusable or busy folder or a full disk, SweepFailed if
    the backend is lost, SweepStopped after a first Ctrl-C or SIGTERM (finished runs saved), and
    SweepAborted after a second one (see `sim.batch.safety`).
    """
    if not isinstance(sweep, Sweep):
        sweep = load(sweep, samples=samples, reps=reps, sets=sets)
    elif samples is not None or reps is not None or sets:
        raise ValueError(
            "samples, reps and sets apply when the sweep is given as a file; pass sim.batch.sweep.load(...)"
        )
    check_backend(backend, workers, scheduler)
    if run_timeout is not None and not (isinstance(run_timeout, int | float) and run_timeout > 0):
        raise InputError("--run-timeout", "run_timeout", run_timeout, "a number of seconds > 0")
    out = check_writable(out)
    with FolderLock(out) as lock:
        manifest = _prepare(out, sweep, resume)
        t0 = time.perf_counter()
        done = Journal.read(out / JOURNAL) if resume else {}
        todo = [r for r in range(sweep.n_runs) if r not in done or (retry_failed and not done[r]["ok"])]
        executor = make_executor(run_task, backend, workers, scheduler) if todo else None  # may fail: nothing written
        startup = time.perf_counter() - t0
        try:
            if not resume or not (out / DESIGN).exists():
                _write_start(out, sweep, manifest)
            lock.keep()
            journal, df = _execute(out, sweep, todo, executor, retries, progress, run_timeout, notify)
        except SweepStopped:
            # Nothing is in flight after an orderly stop. Close the pool and join its manager
            # thread: abandoning it to the interpreter's exit races CPython's own teardown
            # (`concurrent.futures.process._python_exit` writing to a pipe the thread is closing).
            if executor is not None:
                executor.close()
            raise
        except BaseException:
            if executor is not None:
                executor.abort()
            raise
        if executor is not None:
            executor.close()
    wall = time.perf_counter() - t0
    elapsed = [r["elapsed"] for r in journal.records.values() if r["ok"]]
    stats = {
        "runs": sweep.n_runs,
        "ran_now": len(todo),
        "retried_failed": sum(1 for r in todo if r in done),
        "failed": int((df.status == "failed").sum()),
        "wall_s": wall,
        "startup_s": startup,  # starting the backend (a Dask cluster; a process pool forks lazily)
        "runs_per_hour": len(todo) / wall * 3600 if todo else float("nan"),
        "mean_run_s": float(np.mean(elapsed)) if elapsed else float("nan"),
        "backend": backend,
        "workers": getattr(executor, "workers", workers),
    }
    return SweepResult(df, out, sweep, stats)


def _execute(
    out: Path,
    sweep: Sweep,
    todo: list[int],
    executor: Executor | None,
    retries: int,
    progress: bool,
    timeout: float | None,
    notify: Callable[[str], None] | None,
) -> tuple[Journal, pd.DataFrame]:
    """Run `todo` into the journal, then compact it; turn a full disk or a lost backend into one line."""
    journal = Journal(out)
    again = set(todo)
    failed = sum(not r["ok"] for k, r in journal.records.items() if k not in again)
    bar = ProgressBar(sweep.n_runs, sweep.n_runs - len(todo), failed, progress and bool(todo))
    say = notify or bar.say

    def record(result: TaskResult, attempts: int) -> None:
        journal.append(result, attempts)
        bar.advance(result.ok)

    def make_task(run_id: int) -> Task:
        task = sweep.task(run_id)
        return replace(task, timeout=timeout) if timeout else task

    try:
        with Interrupts(say) as stop:
            if executor is not None:
                drive(todo, make_task, executor, record, retries, bar.tick, lambda: stop.stopping, say)
        bar.stop()
        journal.close()
        df = compact(out, sweep, journal.records)
    except BackendLost as exc:
        journal.close()
        compact(out, sweep, journal.records)
        ok = sum(r["ok"] for r in journal.records.values())
        raise SweepFailed(
            f"{exc}: the {ok} finished runs are safe in {out}; when the scheduler is back, "
            "continue with the same command plus --resume"
        ) from None
    except OSError as exc:
        if not disk_full(exc):
            raise
        raise FileProblem(
            str(out),
            f"the disk is full ({exc.strerror}); the {len(journal.records)} finished runs are kept in {JOURNAL}: "
            "free some space and continue with the same command plus --resume",
        ) from None
    finally:
        bar.stop()
        journal.close()
    if stop.stopping:
        left = sweep.n_runs - len(journal.records)
        raise SweepStopped(f"stopped: {len(journal.records)} runs saved, {left} to go")
    return journal, df


def read_results(out: str | Path) -> pd.DataFrame:
    """The results table of a sweep folder."""
    path = Path(out) / RESULTS
    if not path.exists():
        raise FileProblem(str(out), "no results.parquet here; run `weightshift sweep FILE --out DIR` first")
    return pd.read_parquet(path)
