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


def test_the_collector_is_paused_in_a_bulk_load_and_restored_after():
    import gc

    from cmltui.memory import bulk_load, collector_paused

    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():  # nested: still paused, restored by the outer one only
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(ValueError), collector_paused():
        raise ValueError("a failed load")
    assert gc.isenabled()
    frozen_before = gc.get_freeze_count()
    try:
        with bulk_load(keep=True):
            assert not gc.isenabled()
            kept = [{"doc": index} for index in range(1000)]
        assert gc.isenabled()
        assert gc.get_freeze_count() >= frozen_before + len(kept)
    finally:
        gc.unfreeze()


def test_a_paused_collector_stays_off_when_it_was_off():
    import gc

    from cmltui.memory import collector_paused

    gc.disable()
    try:
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()
