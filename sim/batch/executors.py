"""Backends that run tasks in parallel, behind one small interface (`Executor`).

The sweep runner only submits keyed tasks and polls for outcomes; retries, crash isolation and
checkpointing live in the runner, so every backend gets them for free and behaves the same.

- `LocalExecutor`: a process pool. Cheapest per task and no start-up cost (workers are forked).
  A plain `ProcessPoolExecutor` is broken for good when one worker dies; this one reports the
  runs that were in flight as crashed and builds a fresh pool on the next submit.
- `DaskExecutor`: Dask distributed, on a `LocalCluster` or on a running scheduler by address.
  Dask itself reschedules a task whose worker died; a task that keeps killing workers comes back
  as `KilledWorker`. Futures are released as soon as their result is read, otherwise a worker's
  death makes Dask recompute finished runs whose results lived on it.

Why the malloc tuning: Dask's nanny starts workers with `MALLOC_TRIM_THRESHOLD_=65536`. Setting
that turns off glibc's dynamic mmap threshold, so every large numpy array is mmapped and unmapped
afresh; a default model run then takes ~1.9x as long (measured: 0.97 s vs 0.52 s per run, see
docs/sweeps.md). A `LocalCluster` is started without the variable; on any worker that has it
(e.g. workers started by hand on other machines), the first task restores fast allocation with
`mallopt`, which measured as fast as not setting the variable at all.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
import uuid
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from sim.batch.safety import close_inherited_locks
from sim.errors import InputError

BACKENDS = ("local", "dask")
START_METHOD_ENV = "WEIGHTSHIFT_START_METHOD"
MALLOC_ENV = "WEIGHTSHIFT_DASK_MALLOC"


@dataclass
class Outcome:
    """What became of one submitted task: its value, an error, or the death of its worker."""

    key: int
    value: Any = None
    error: str | None = None  # the backend could not deliver a value (retry may help)
    crashed: str | None = None  # the worker died while the task was in flight
    certain: bool = False  # the backend already retried it and knows it kills workers: final


def start_context() -> multiprocessing.context.BaseContext:
    """How worker processes start: fork when safe (fastest: nothing is re-imported), else a fork server.

    Forking is unsafe when other Python threads may hold locks; then the fork server forks
    from a clean process instead (about 1 s to start). Native thread pools (OpenBLAS, Arrow)
    register at-fork handlers. WEIGHTSHIFT_START_METHOD=forkserver|spawn forces a method.
    """
    forced = os.environ.get(START_METHOD_ENV)
    if forced is None and "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    method = forced or ("forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn")
    ctx = multiprocessing.get_context(method)
    if method == "forkserver":
        ctx.set_forkserver_preload(["sim.batch.runner"])
    return ctx


class Executor(ABC):
    """Runs `fn(payload)` for submitted (key, payload) pairs on some workers."""

    name = ""
    capacity = 1  # tasks the runner keeps in flight

    @abstractmethod
    def submit(self, key: int, payload: Any) -> None: ...

    @abstractmethod
    def poll(self, timeout: float) -> list[Outcome]:
        """Outcomes of tasks that finished, waiting at most `timeout` seconds for the first one."""

    @abstractmethod
    def busy(self) -> int:
        """Tasks in flight."""

    @abstractmethod
    def close(self) -> None: ...

    def abort(self) -> None:
        """Stop now: drop the tasks in flight and end the workers without waiting for them."""
        self.close()

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, kind: object, *exc: object) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()


class BackendLost(RuntimeError):
    """The backend itself is gone (e.g. the Dask scheduler died): no task can finish any more."""


def _weightshift_env() -> dict[str, str]:
    """The parent's WEIGHTSHIFT_* environment, to hand to its workers."""
    return {k: v for k, v in os.environ.items() if k.startswith("WEIGHTSHIFT_")}


def _init_worker(parent: int, env: dict[str, str] | None = None) -> None:
    """Set up a pool worker: take the parent's WEIGHTSHIFT_* settings, leave Ctrl-C to the parent,
    and die with it.

    A fork server's children inherit the environment the server started with, not the parent's
    now, so the parent's WEIGHTSHIFT_* variables at the time the pool starts are applied here.

    Ctrl-C (sent by the terminal to the whole process group): the parent stops submitting, lets
    the runs in flight finish and saves them; a second one makes it kill the workers. SIGTERM
    gets its default back (a fork inherits the sweep's stop handler), since the pool itself ends
    a broken pool's workers with it. Dying with the parent: a
    forked worker holds copies of the task queue's pipe, so after a `kill -9` of the parent it
    would wait for tasks forever; on Linux the kernel kills it instead (PR_SET_PDEATHSIG).
    """
    if env is not None:
        for key in [k for k in os.environ if k.startswith("WEIGHTSHIFT_") and k not in env]:
            del os.environ[key]
        os.environ.update(env)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the sweep's stop handler, forked with it
    if parent:
        close_inherited_locks()
    if parent and sys.platform.startswith("linux"):  # parent = 0: not forked by us (fork server)
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if parent and os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


class LocalExecutor(Executor):
    """A crash-proof process pool on this machine."""

    name = "local"

    def __init__(self, fn: Callable[[Any], Any], workers: int = 1) -> None:
        self.fn, self.workers = fn, workers
        self.capacity = 2 * workers
        self._pool: ProcessPoolExecutor | None = None
        self._futures: dict[Future, int] = {}
        self._procs: dict[int, Any] = {}  # pid -> multiprocessing.Process of the current pool
        self.restarts = 0

    def submit(self, key: int, payload: Any) -> None:
        if self._pool is None:
            ctx = start_context()
            parent = os.getpid() if ctx.get_start_method() == "fork" else 0
            with warnings.catch_warnings():
                # CPython counts numpy's own BLAS threads as "multi-threaded" (see start_context).
                warnings.filterwarnings("ignore", "This process .* is multi-threaded", DeprecationWarning)
                self._pool = ProcessPoolExecutor(
                    self.workers, mp_context=ctx, initializer=_init_worker, initargs=(parent, _weightshift_env())
                )
                future = self._pool.submit(self.fn, payload)  # the pool forks its workers here
        else:
            future = self._submit_to_running_pool(payload)
        self._futures[future] = key
        self._note_processes()  # the pool may start a worker on any submit: know it before it can die

    def _submit_to_running_pool(self, payload: Any) -> Future:
        """Submit to the pool; if a worker died since the last poll, the pool refuses new tasks,
        and the refusal becomes a failed future, so `poll` treats this run like the others in
        flight when the pool broke (collected, pool restarted, the killer isolated)."""
        try:
            return self._pool.submit(self.fn, payload)
        except BrokenProcessPool as exc:
            refused: Future = Future()
            refused.set_exception(exc)
            return refused

    def _note_processes(self) -> None:
        """Remember the pool's worker processes (pid -> Process), to say later how one died."""
        if self._pool is not None:
            self._procs |= dict(getattr(self._pool, "_processes", None) or {})

    def busy(self) -> int:
        return len(self._futures)

    def _death(self) -> str:
        """How the pool's dead worker died, e.g. "worker pid 1234 killed by SIGKILL".

        The pool reports the breakage as soon as a worker's sentinel fires, which can be before
        that worker is reaped, and the pool's own thread reaps it (so a join here may see no exit
        code: the reaping is not ours). The pool then terminates the survivors (SIGTERM), which
        can be reaped first. So a SIGTERM is the culprit only if nothing else died, and until
        another death shows, the exit codes are read again for up to two seconds.
        """
        deadline = time.monotonic() + 2.0
        while True:
            codes = {pid: p.exitcode for pid, p in self._procs.items()}
            died = {pid: c for pid, c in codes.items() if c}
            found = {pid: c for pid, c in died.items() if c != -signal.SIGTERM}
            if found or None not in codes.values() or time.monotonic() > deadline:
                break
            time.sleep(0.01)
        found = found or died
        for pid, code in found.items():
            how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
            return f"worker pid {pid} {how}"
        return "a worker process died"

    def poll(self, timeout: float) -> list[Outcome]:
        if not self._futures:
            return []
        self._note_processes()
        done, _ = wait(self._futures, timeout=timeout, return_when=FIRST_COMPLETED)
        death = ""
        if any(isinstance(f.exception(), BrokenProcessPool) for f in done):
            # A worker died: the pool fails every task in flight. Collect them all, then start afresh.
            self._note_processes()
            done, _ = wait(self._futures)
            death = self._death()
            self._discard_pool()
        out = []
        for f in done:
            key = self._futures.pop(f)
            exc = f.exception()
            if exc is None:
                out.append(Outcome(key, f.result()))
            elif isinstance(exc, BrokenProcessPool):
                out.append(Outcome(key, crashed=death))
            else:
                out.append(Outcome(key, error=f"{type(exc).__name__}: {exc}"))
        return out

    def _discard_pool(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
            self._procs = {}
            self.restarts += 1

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self._futures.clear()

    def abort(self) -> None:
        """Kill the workers (SIGKILL: they ignore SIGINT) and return at once."""
        if self._pool is not None:
            for p in list((getattr(self._pool, "_processes", None) or {}).values()):
                if p.is_alive():
                    p.kill()
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        self._futures.clear()


_MALLOC_TUNED = False


def tune_malloc() -> bool:
    """Undo the slow allocation caused by `MALLOC_TRIM_THRESHOLD_` in this process (glibc only).

    Returns whether it changed anything. Once per process; a no-op where the variable is unset.
    """
    global _MALLOC_TUNED
    if _MALLOC_TUNED or "MALLOC_TRIM_THRESHOLD_" not in os.environ or not sys.platform.startswith("linux"):
        return False
    _MALLOC_TUNED = True
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3  # from glibc's malloc.h
        return bool(libc.mallopt(m_mmap_threshold, 32 << 20)) and bool(libc.mallopt(m_trim_threshold, 64 << 20))
    except (OSError, AttributeError):
        return False


def _dask_call(fn: Callable[[Any], Any], payload: Any, tune: bool) -> Any:
    if tune:
        tune_malloc()
    return fn(payload)


class DaskExecutor(Executor):
    """Dask distributed: a `LocalCluster` of `workers` single-threaded processes, or a scheduler address."""

    name = "dask"

    def __init__(
        self, fn: Callable[[Any], Any], workers: int = 1, scheduler: str | None = None, tune: bool | None = None
    ) -> None:
        try:
            import dask
            import distributed
        except ImportError:
            raise InputError(
                "--backend", "backend", "dask", "an installed Dask: pip install 'weightshift[dask]'"
            ) from None
        if tune is None:  # WEIGHTSHIFT_DASK_MALLOC=keep leaves Dask's setting alone (to measure its cost)
            tune = os.environ.get(MALLOC_ENV) != "keep"
        self.fn, self.tune, self.cluster = fn, tune, None
        self._futures: dict[Any, int] = {}
        self._token = uuid.uuid4().hex[:8]
        self._n = 0
        if scheduler:
            try:
                self.client = distributed.Client(scheduler, timeout="15s")
                self.client.wait_for_workers(1, timeout=60)
            except (OSError, TimeoutError, ValueError) as exc:
                allowed = f"the address of a running Dask scheduler with workers, e.g. tcp://host:8786 ({exc})"
                raise InputError("--scheduler", "scheduler", scheduler, allowed) from None
        else:
            env = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None} if tune else {}
            with dask.config.set(env):
                self.cluster = distributed.LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    silence_logs=logging.CRITICAL,  # failed runs are recorded in the results instead
                )
            self.client = distributed.Client(self.cluster)
        self.workers = sum(self.client.nthreads().values()) or workers
        self.capacity = 2 * self.workers

    def submit(self, key: int, payload: Any) -> None:
        self._n += 1
        name = f"weightshift-{self._token}-{key}-{self._n}"
        fut = self.client.submit(_dask_call, self.fn, payload, self.tune, key=name, pure=False)
        self._futures[fut] = key

    def busy(self) -> int:
        return len(self._futures)

    def poll(self, timeout: float) -> list[Outcome]:
        from distributed import wait as dask_wait
        from distributed.scheduler import KilledWorker

        if not self._futures:
            return []
        try:
            done, _ = dask_wait(list(self._futures), timeout=timeout, return_when="FIRST_COMPLETED")
        except TimeoutError:
            self._check_scheduler()
            return []
        except Exception as exc:  # the client lost its scheduler: distributed raises many kinds here
            raise BackendLost(f"the Dask scheduler was lost ({type(exc).__name__})") from None
        if any(f.status == "cancelled" for f in done):
            self._check_scheduler()
        out = []
        for f in done:
            key = self._futures.pop(f)
            if f.status == "finished":
                out.append(Outcome(key, f.result()))
            elif f.status == "error":
                exc = f.exception()
                if isinstance(exc, KilledWorker):
                    dead = (
                        "KilledWorker: every Dask worker that ran it died (see distributed.scheduler.allowed-failures)"
                    )
                    out.append(Outcome(key, crashed=dead, certain=True))
                else:
                    out.append(Outcome(key, error=f"{type(exc).__name__}: {exc}"))
            else:
                out.append(Outcome(key, error=f"Dask future {f.status}"))
            f.release()  # free the result on the worker now, or Dask may recompute it if that worker dies
        return out

    def _check_scheduler(self) -> None:
        """Raise BackendLost if the client has lost its scheduler (its futures are then cancelled)."""
        if self.client.status != "running":
            raise BackendLost(f"the Dask scheduler was lost (client {self.client.status})")

    def close(self) -> None:
        for f in self._futures:
            f.cancel()
        self._futures.clear()
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()

    def abort(self) -> None:
        """Drop the tasks in flight and shut down quickly (bounded waits)."""
        self._futures.clear()
        with contextlib.suppress(Exception):
            self.client.close(timeout=1)
        if self.cluster is not None:
            with contextlib.suppress(Exception):
                self.cluster.close(timeout=1)


def check_backend(backend: str = "local", workers: int = 1, scheduler: str | None = None) -> None:
    """Raise InputError for a bad backend name, worker count or scheduler flag (before anything starts)."""
    if backend not in BACKENDS:
        raise InputError("--backend", "backend", backend, f"one of {', '.join(BACKENDS)}")
    if scheduler and backend != "dask":
        raise InputError("--scheduler", "scheduler", scheduler, "a scheduler only with --backend dask")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise InputError("--workers", "workers", workers, "a whole number >= 1")


def make_executor(
    fn: Callable[[Any], Any], backend: str = "local", workers: int = 1, scheduler: str | None = None
) -> Executor:
    """The executor for `backend` ("local" or "dask"); with a scheduler address, Dask connects to it."""
    check_backend(backend, workers, scheduler)
    if backend == "dask":
        return DaskExecutor(fn, workers, scheduler)
    return LocalExecutor(fn, workers)
