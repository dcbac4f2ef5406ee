"""Output folders: checked before any work, replaced as a whole, and labelled with their provenance.

Why: a path that cannot be written must fail in one line before a run spends minutes, and a
folder written twice must hold one run's files, never a mix (new CSVs beside an earlier run's
Parquet files, or two concurrent runs' tables). So a run's folder is filled beside its target
and swapped in with one atomic rename (Linux `renameat2(RENAME_EXCHANGE)`), and it carries
`provenance.json` saying what produced it.
"""

from __future__ import annotations

import ctypes
import datetime as dt
import errno
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sim.errors import FileProblem

PROVENANCE = "provenance.json"
DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
_TABLE_SUFFIXES = (".csv", ".parquet")


def disk_full(exc: BaseException) -> bool:
    """Whether `exc` (or what caused it) says the disk or quota is full."""
    while exc is not None:
        if isinstance(exc, OSError) and exc.errno in DISK_FULL:
            return True
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return False


def check_writable(out: str | Path, flag: str = "--out") -> Path:
    """Raise FileProblem unless folder `out` exists and can be written, or can be made.

    Writes and removes a probe file in `out` or its nearest existing ancestor, so the answer is
    the file system's own (permissions, read-only mounts, a file in the way), before any work.
    """
    out = Path(out)
    where = f"{flag} {str(out)[:200]}"
    if "\x00" in str(out) or not str(out).strip():
        raise FileProblem(where, "is not a usable folder path")
    try:
        if out.exists() and not out.is_dir():
            raise FileProblem(where, "is a file, not a folder")
        base = out
        while not base.exists():
            base = base.parent
        if not base.is_dir():
            raise FileProblem(where, f"cannot be made: {base} is a file, not a folder")
        fd, probe = tempfile.mkstemp(prefix=".weightshift-probe-", dir=base)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise FileProblem(where, f"cannot be written ({exc.strerror or exc})") from None
    return out


def check_replaceable(out: str | Path, flag: str = "--out") -> Path:
    """`check_writable`, and refuse a folder holding files that a run did not write.

    A run's folder holds `provenance.json` (or, from older versions, only CSV and Parquet tables);
    anything else is the user's, and replacing the folder would delete it.
    """
    out = check_writable(out, flag)
    if out.is_dir() and not (out / PROVENANCE).is_file():
        other = [p.name for p in out.iterdir() if not (p.is_file() and p.suffix in _TABLE_SUFFIXES)]
        if other:
            raise FileProblem(
                f"{flag} {out}",
                f"holds other files (e.g. {other[0]}); use a new or empty folder, or one written by `weightshift run`",
            )
    return out


def provenance(**fields: Any) -> dict[str, Any]:
    """What produced an output folder: the given fields, the package version and the time (UTC)."""
    import sim

    now = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    return {**fields, "version": sim.__version__, "written_utc": now}


def write_folder(out: str | Path, fill: Callable[[Path], None], info: dict[str, Any]) -> Path:
    """Replace folder `out` as a whole by what `fill(folder)` writes, plus `provenance.json` (`info`).

    Readers see the old folder or the new one, never a mix; a crash leaves at most a hidden
    `.NAME.*` folder beside it. Raises FileProblem for a folder that holds other files.
    """
    out = check_replaceable(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    leftover: Path | None = work
    try:
        fill(work)
        (work / PROVENANCE).write_text(json.dumps(info, indent=1, default=str) + "\n", encoding="utf-8")
        os.chmod(work, 0o755)  # mkdtemp makes it private (0o700)
        leftover = _swap_in(work, out)
    finally:
        if leftover is not None:
            shutil.rmtree(leftover, ignore_errors=True)
    return out


def _swap_in(new: Path, out: Path) -> Path | None:
    """Put folder `new` at `out`; return the folder left to delete (the old contents), if any."""
    try:
        os.rename(new, out)  # `out` absent, or an empty folder
        return None
    except OSError as exc:
        if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
            raise
    if _exchange(new, out):
        return new  # now holds the old contents
    old = out.with_name(f".{out.name}.old.{os.getpid()}")
    os.rename(out, old)
    os.rename(new, out)
    return old


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(b))
