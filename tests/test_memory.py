"""The process memory habits (glibc): fewer arenas, a trim thread that stops when told."""

from __future__ import annotations

import sys
import threading

import pytest

from cmltui.memory import limit_malloc_arenas, start_trimming

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")


@linux_only
def test_glibc_takes_the_arena_limit():
    assert limit_malloc_arenas() is True


@linux_only
def test_the_trim_thread_trims_until_stopped():
    stop = threading.Event()
    thread = start_trimming(stop, every=0.01)
    assert thread is not None and thread.daemon and thread.is_alive()
    stop.set()
    thread.join(timeout=2)
    assert not thread.is_alive()
