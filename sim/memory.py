"""Keep freed array memory in the process, so a month's scratch arrays do not page-fault afresh.

Each month the choice step allocates dozens of (family, developer) arrays of about a megabyte
and frees them. glibc serves blocks that large with fresh `mmap`s, or trims the heap back to the
system when they are freed, so every month touches new pages and pays a page fault per 4 KiB:
measured on the 20k-developer baseline, that was 45% of the run time. Raising the mmap and trim
thresholds lets the heap keep and reuse those pages. Memory in use is unchanged; the process
only holds on to what it has already needed once.

This is a choice for a batch process, so the batch entry points make it (`sim.api.run`, the
benchmark), not the model: a long-lived server such as the UI's runs many sessions on many
threads, each with its own heap arena, and each arena would keep up to `KEEP` of freed memory
(measured: +80 MiB after 20 closed classroom sessions), so the UI server leaves glibc's defaults.

Only glibc has `mallopt`; elsewhere (macOS, musl) this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter numbers (malloc.h)
M_TOP_PAD = -2
M_MMAP_THRESHOLD = -3
KEEP = 64 * 2**20  # blocks below this come from the heap, and up to this much free heap is kept


@functools.cache
def keep_freed_memory() -> bool:
    """Tune glibc's allocator for this process; False where there is no glibc to tune.

    Cached: finding libc runs `ldconfig`, and the setting holds for the process's life anyway.
    """
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return all(mallopt(param, KEEP) == 1 for param in (M_MMAP_THRESHOLD, M_TRIM_THRESHOLD, M_TOP_PAD))
