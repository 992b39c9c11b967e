"""Issue 12: many cmltui processes on one data file. Two stores open on one real file stand in
for two processes (the lock is an flock per open file, so they exclude each other the same way);
the real multi-process runs are in tests/reliability and scripts/many_writers.py."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest

from cmltui.domain.enums import CMLWorkerStatus
from cmltui.domain.worker import CMLWorker
from cmltui.store import StoreWriteError, open_store
from cmltui.store.errors import StoreBusyError
from cmltui.store.lock import DataFileLock
from tests.fixtures.workers import make_worker


@pytest.fixture
def two(tmp_path, frozen_clock):
    first = open_store(tmp_path / "data", clock=frozen_clock)
    second = open_store(tmp_path / "data", clock=frozen_clock)
    yield first, second
    first.close()
    second.close()


def _replay_equals_state(store, worker_id):
    replayed = CMLWorker.from_events(store.domain_events_for(worker_id))
    stored = store.get(worker_id).state
    return replayed.state.model_dump(exclude={"updated_at"}) == stored.model_dump(
        exclude={"updated_at"}
    )


def test_both_open_writable_and_keep_each_others_workers(two, frozen_clock, tmp_path):
    first, second = two
    assert not first.read_only and not second.read_only
    first.save_many([make_worker(frozen_clock, "a")])
    second.save_many([make_worker(frozen_clock, "b")])
    first.save_many([make_worker(frozen_clock, "c")])
    with open_store(tmp_path / "data", read_only=True) as check:
        assert sorted(w.id for w in check.all_workers()) == ["a", "b", "c"]
        seqs = check.event_sequence_numbers()
        assert seqs == list(range(1, len(seqs) + 1)), "renumbered, no gap, no clash"
        for worker_id in "abc":
            assert _replay_equals_state(check, worker_id)
    # The first process learns of the worker the second one added.
    states, removed = first.take_refreshed()
    assert [s.id for s in states] == ["b"] and not removed


def test_one_worker_changed_by_both_keeps_both_changes(two, frozen_clock, tmp_path):
    first, second = two
    worker = make_worker(frozen_clock, "w", instance_id="i-1")
    first.save_many([worker])
    second.sync()
    theirs = second.get("w")
    theirs.set_auto_stop_opt_out(True, updated_by="bob")
    second.save_many([theirs])
    worker.request_action("stop", "alice", "tok")
    worker.mark_stopping("alice")
    worker.complete_action("tok", "accepted")
    first.save_many([worker])
    with open_store(tmp_path / "data", read_only=True) as check:
        state = check.get("w").state
        assert state.auto_stop_opt_out is True and state.status == CMLWorkerStatus.STOPPING
        assert _replay_equals_state(check, "w")
    states, _ = first.take_refreshed()
    assert [s.id for s in states] == ["w"] and states[0].auto_stop_opt_out


def test_the_same_observation_by_two_processes_is_recorded_once(two, frozen_clock, tmp_path):
    first, second = two
    first.save_many([make_worker(frozen_clock, "w", instance_id="i-1")])
    second.sync()
    mine, theirs = first.get("w"), second.get("w")
    frozen_clock.advance(seconds=5)
    theirs.update_status(CMLWorkerStatus.STOPPED)
    second.save_many([theirs])
    mine.update_status(CMLWorkerStatus.STOPPED)
    first.save_many([mine])
    with open_store(tmp_path / "data", read_only=True) as check:
        stops = [
            e
            for e in check.events("w")
            if e.type == "cmltui.worker.status-updated.v1" and e.data["new_status"] == "stopped"
        ]
        assert len(stops) == 1
        assert _replay_equals_state(check, "w")


def test_a_forgotten_worker_is_reported_removed(two, frozen_clock):
    first, second = two
    first.save_many([make_worker(frozen_clock, "gone"), make_worker(frozen_clock, "kept")])
    second.sync()
    second.take_refreshed()
    second.delete("gone")
    first.sync()
    _, removed = first.take_refreshed()
    assert removed == {"gone"} and first.get("gone") is None and first.get("kept")


def test_a_read_only_store_follows_and_never_writes(tmp_path, frozen_clock):
    writer = open_store(tmp_path / "data", clock=frozen_clock)
    writer.save_many([make_worker(frozen_clock, "a")])
    viewer = open_store(tmp_path / "data", clock=frozen_clock, read_only=True)
    before = (tmp_path / "data" / "cmltui.json").stat()
    viewer.sync()
    writer.save_many([make_worker(frozen_clock, "b")])
    viewer.sync()
    assert sorted(w.id for w in viewer.all_workers()) == ["a", "b"]
    lease = viewer.claim_lease("viewer", timedelta(minutes=1))
    assert not lease.ours
    assert viewer.write_count == 0
    after = (tmp_path / "data" / "cmltui.json").stat()
    assert after.st_ino != before.st_ino  # the writer wrote; the viewer only read
    viewer.close()
    writer.close()


def test_a_write_waits_for_the_lock_then_goes_through(store, frozen_clock):
    holder = DataFileLock(store.path.with_name(store.path.name + ".lock"))
    assert holder.try_acquire()
    releaser = threading.Timer(0.3, holder.release)
    releaser.start()
    started = time.monotonic()
    store.save_many([make_worker(frozen_clock, "patient")])
    assert time.monotonic() - started >= 0.2
    assert not store.pending_write


def test_a_lock_held_too_long_fails_the_write_and_keeps_it(tmp_path, frozen_clock):
    store = open_store(tmp_path / "data", clock=frozen_clock)
    store._lock_wait_seconds = 0.2
    holder = DataFileLock(store.path.with_name(store.path.name + ".lock"))
    assert holder.try_acquire()
    try:
        with pytest.raises(StoreBusyError, match="nothing was written"):
            store.save_many([make_worker(frozen_clock, "later")])
        assert isinstance(StoreBusyError("x"), StoreWriteError)
        assert store.pending_write and store.get("later") is not None
    finally:
        holder.release()
    store.save_many([])
    assert not store.pending_write
    store.close()


def test_the_policy_lease_has_one_holder_and_passes_on_expiry(two, frozen_clock):
    first, second = two
    ttl = timedelta(minutes=1)
    assert first.claim_lease("first", ttl).ours
    taken = second.claim_lease("second", ttl)
    assert not taken.ours and taken.holder == "first"
    frozen_clock.advance(seconds=30)
    assert first.claim_lease("first", ttl).ours  # renewed
    frozen_clock.advance(seconds=50)
    assert not second.claim_lease("second", ttl).ours, "renewed at 30 s: still the first's"
    frozen_clock.advance(seconds=61)  # the first stopped renewing (killed)
    assert second.claim_lease("second", ttl).ours
    assert not first.claim_lease("first", ttl).ours
    second.release_lease("second")
    assert first.claim_lease("first", ttl).ours
