"""Process memory habits of a long-running dashboard (glibc only; elsewhere nothing happens).

A dashboard with an engine thread and a pool of boto3 threads gets one malloc arena per
thread, and freed memory stays in the arenas: measured at 1,000 workers, two arenas and a
periodic trim keep the resident size ~20 MB lower (bench/soak.py).

Loading a big data file creates millions of container objects at once: the cyclic garbage
collector would walk the whole growing heap several times while it is parsed (at 5,000 workers,
four full collections, 450 ms in all, bench/startup.py). ``bulk_load`` pauses it during the load
and takes what was loaded out of its sight afterwards.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger("cmltui.memory")

#: glibc's mallopt parameter for the number of arenas.
_M_ARENA_MAX = -8
#: Arenas for the whole process: the UI thread and the engine share them with the pools.
ARENAS = 2
#: Seconds between two trims (each returns free heap pages to the system).
TRIM_SECONDS = 30.0


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


def limit_malloc_arenas() -> bool:
    """Fewer malloc arenas; call before threads start. True when glibc took the setting."""
    libc = _libc()
    if libc is None or not hasattr(libc, "mallopt"):
        return False
    return bool(libc.mallopt(_M_ARENA_MAX, ARENAS))


def start_trimming(stop: threading.Event, every: float = TRIM_SECONDS) -> threading.Thread | None:
    """A daemon thread that returns free heap pages to the system every ``every`` seconds
    until ``stop`` is set. ctypes releases the GIL during the call: the UI loop never waits
    on it."""
    libc = _libc()
    if libc is None or not hasattr(libc, "malloc_trim"):
        return None
    trim = libc.malloc_trim

    def run() -> None:
        while not stop.wait(every):
            try:
                trim(0)
            except Exception:  # never let housekeeping take the dashboard down
                log.exception("malloc_trim failed")
                return

    thread = threading.Thread(target=run, name="cmltui-memory-trim", daemon=True)
    thread.start()
    return thread


_pause_lock = threading.Lock()
_pauses = 0
_was_enabled = False


@contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while the block runs (in any thread: the collector is the
    process's). Nested and concurrent blocks are counted: the last one out restores it."""
    global _pauses, _was_enabled
    with _pause_lock:
        if _pauses == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _pauses += 1
    try:
        yield
    finally:
        with _pause_lock:
            _pauses -= 1
            if _pauses == 0 and _was_enabled:
                gc.enable()


@contextmanager
def bulk_load(*, keep: bool) -> Iterator[None]:
    """Load long-lived, acyclic data (a parsed JSON document) with the collector paused.

    ``keep``: the data stays for the process's life: what exists once the block ends is frozen
    (``gc.freeze``), so that no later collection walks it again. The garbage of before is
    collected first (the heap is small then), so that none of it is frozen with it. Frozen
    objects are still freed when nothing refers to them any more (reference counting), only
    never searched for cycles, which a parsed document does not have.
    """
    if keep:
        gc.collect()
    with collector_paused():
        yield
        if keep:
            gc.freeze()
