"""A per-run time limit (`--run-timeout`) that works in any worker thread, Dask's included.

Signals (`SIGALRM`) only reach a process's main thread, but Dask runs tasks in worker threads.
So a timer thread raises `RunTimeout` in the running thread instead, with CPython's
`PyThreadState_SetAsyncExc`. The exception arrives at the next bytecode boundary: the model's
Python loop over months is interrupted within a step; a single long C call (none in the model
takes more than milliseconds) would finish first.

The race at the deadline (the run finishing just as the timer fires) is closed by a lock: the
timer raises only while the run is unfinished, and `finish` takes back an exception that was
raised but not yet delivered, turning it into an ordinary `RunTimeout` at a known place.
"""

from __future__ import annotations

import ctypes
import threading
from types import TracebackType


class RunTimeout(Exception):
    """A run took longer than its time limit."""


def _raise_in(thread_id: int, exc: type[BaseException] | None) -> None:
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), ctypes.py_object(exc) if exc else None)


class Deadline:
    """`with Deadline(seconds):` raises RunTimeout in this thread once `seconds` have passed.

    `seconds=None` is no limit. Call `finish()` as the last statement inside the guarded block.
    """

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds
        self._lock = threading.Lock()
        self._done = self._fired = False
        self._thread = threading.get_ident()
        self._timer: threading.Timer | None = None

    def _fire(self) -> None:
        with self._lock:
            if not self._done:
                self._fired = True
                _raise_in(self._thread, RunTimeout)

    def __enter__(self) -> Deadline:
        if self.seconds is not None:
            self._timer = threading.Timer(self.seconds, self._fire)
            self._timer.daemon = True
            self._timer.start()
        return self

    def finish(self) -> None:
        """Mark the run done; raise RunTimeout here if the limit passed just before."""
        with self._lock:
            self._done = True
            if self._fired:
                _raise_in(self._thread, None)  # take back an exception not delivered yet
                raise RunTimeout
        if self._timer is not None:
            self._timer.cancel()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        with self._lock:
            self._done = True
            if self._fired:
                _raise_in(self._thread, None)
        if self._timer is not None:
            self._timer.cancel()
