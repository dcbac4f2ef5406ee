"""What keeps a long sweep's folder whole: an exclusive lock, and orderly stops on Ctrl-C or SIGTERM.

The lock. Two sweeps started at the same moment into one `--out` would both find it empty and
interleave their runs in one journal. So a sweep holds `fcntl.flock` on `DIR/.lock` for its whole
life, taken before the folder is inspected: the second one is refused in one line. The kernel
drops the lock when the holder exits, even on `kill -9`, so a stale lock cannot block a resume.

Stopping. The first Ctrl-C (or SIGTERM, as sent by a batch system or `kill`) stops handing out
runs: the runs in flight finish and are saved, the results table is written, and the command
exits with 130. A second one aborts at once: the workers are killed and the runs still in
flight are lost (the journal keeps every finished run, so `--resume` goes on from there).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType, TracebackType

from sim.errors import FileProblem

LOCK = ".lock"
_HELD: set[int] = set()  # descriptors of the locks this process holds


def close_inherited_locks() -> None:
    """In a forked worker: close the parent's lock descriptors, so only the parent holds the lock.

    A flock belongs to the open file, which a fork shares; a worker that outlives an aborted
    sweep by a few milliseconds would otherwise still hold it and refuse a prompt `--resume`.
    """
    for fd in list(_HELD):
        with contextlib.suppress(OSError):
            os.close(fd)
    _HELD.clear()


class SweepStopped(KeyboardInterrupt):
    """The sweep stopped early on request; every finished run is saved."""


class SweepAborted(KeyboardInterrupt):
    """The sweep was aborted (second Ctrl-C); runs in flight are lost, finished runs are saved."""


class FolderLock:
    """Exclusive ownership of a sweep folder, made if need be (see the module docstring).

    If this sweep made the folder and stops before `keep()` (e.g. a bad Dask address), the folder
    is removed again, so a refused command leaves nothing behind.
    """

    def __init__(self, out: Path) -> None:
        self.out = out
        self._fd: int | None = None
        self._made = False

    def __enter__(self) -> FolderLock:
        self._made = not self.out.exists()
        self.out.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.out / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise
            holder = (self.out / LOCK).read_text(errors="replace").strip() or "another process"
            raise FileProblem(
                str(self.out), f"another sweep ({holder}) is writing into this folder; wait for it or use another --out"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()}".encode())
        self._fd = fd
        _HELD.add(fd)
        return self

    def keep(self) -> None:
        """The sweep has started writing: the folder stays whatever happens next."""
        self._made = False

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._made and [p.name for p in self.out.iterdir()] == [LOCK]:
            (self.out / LOCK).unlink()
            self.out.rmdir()
        if self._fd is not None:
            _HELD.discard(self._fd)
            os.close(self._fd)  # releases the lock
            self._fd = None


class Interrupts:
    """Handle SIGINT and SIGTERM during a sweep: the first stops handing out runs, the second aborts.

    Only in the main thread (Python delivers signals there); elsewhere it does nothing, and the
    caller's own handling applies. `say` tells the user what happens next.
    """

    def __init__(self, say: Callable[[str], None]) -> None:
        self.say = say
        self.count = 0
        self._old: dict[int, object] = {}

    @property
    def stopping(self) -> bool:
        return self.count > 0

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1
        if self.count == 1:
            name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
            self.say(
                f"{name}: stopping. No new runs start; the runs in flight finish and are saved. "
                "Press Ctrl-C again to abort now (in-flight runs are lost)."
            )
            return
        raise SweepAborted

    def __enter__(self) -> Interrupts:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)  # type: ignore[arg-type]


class SweepFailed(RuntimeError):
    """The sweep could not go on (e.g. its Dask scheduler was lost); finished runs are saved."""
