"""Issue 15 item 16: telemetry retention keeps what a replay needs (a checkpoint), so replaying
a worker's trail rebuilds its stored state, version included, also after days of telemetry and
with two processes writing the same file."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cmltui.domain.enums import CMLServiceStatus, CMLWorkerStatus
from cmltui.domain.events import CMLWorkerTelemetryUpdatedDomainEvent
from cmltui.domain.worker import CMLWorker
from cmltui.store import TelemetryRetention, open_store
from cmltui.store.compaction import CHECKPOINT_TYPE
from tests.fixtures.workers import make_worker

TELEMETRY_TYPE = CMLWorkerTelemetryUpdatedDomainEvent.EVENT_TYPE


def _replayed(store, worker_id: str) -> CMLWorker:
    return CMLWorker.from_events(store.domain_events_for(worker_id))


def _of_type(store, worker_id: str, event_type: str):
    return [e for e in store.events(worker_id) if e.type == event_type]


def _telemetry_tick(worker: CMLWorker, clock, step: int) -> None:
    """One poll: CPU and labs change every time, activity every other time."""
    activity = clock() - timedelta(minutes=step % 2)
    worker.update_telemetry(activity, step % 3, float(step % 97), float(50 + step % 40))


def test_replay_equals_the_stored_state_after_25_hours_of_retention(tmp_path, frozen_clock):
    store = open_store(tmp_path, clock=frozen_clock)  # the default rule: 10 per worker, 24 h
    worker = make_worker(frozen_clock, "w", instance_id="i-1")
    store.save_many([worker])
    # 30 hours of telemetry every 10 minutes, with a stop and a start in between.
    for step in range(180):
        frozen_clock.advance(minutes=10)
        _telemetry_tick(worker, frozen_clock, step)
        if step == 60:
            worker.update_status(CMLWorkerStatus.STOPPED)
            worker.update_service_status(CMLServiceStatus.UNAVAILABLE)
        if step == 70:
            worker.update_status(CMLWorkerStatus.RUNNING)
            worker.update_service_status(CMLServiceStatus.AVAILABLE, cml_version="2.8.1+build.6")
        store.save_many([worker])
    assert len(_of_type(store, "w", TELEMETRY_TYPE)) == 10
    assert _replayed(store, "w").state == store.get("w").state == worker.state

    # No telemetry for 25 hours (the worker stopped): retention drops every telemetry event.
    worker.update_status(CMLWorkerStatus.STOPPED)
    store.save_many([worker])
    frozen_clock.advance(hours=25)
    store.set_meta("tick", 1)  # any write applies the rule
    assert _of_type(store, "w", TELEMETRY_TYPE) == []
    [checkpoint] = _of_type(store, "w", CHECKPOINT_TYPE)
    assert checkpoint.data["compacted_events"] == 180
    stored = store.get("w").state
    replayed = _replayed(store, "w").state
    assert replayed == stored
    assert replayed.last_activity_at == worker.state.last_activity_at is not None
    assert replayed.cpu_utilization == worker.state.cpu_utilization is not None
    assert replayed.cml_version == "2.8.1+build.6"
    assert replayed.version == worker.state.version
    store.close()

    # Reopened, more telemetry and more retention: still one checkpoint, still the same state.
    store = open_store(tmp_path, clock=frozen_clock, retention=TelemetryRetention(per_worker=2))
    try:
        worker = store.get("w")
        worker.update_status(CMLWorkerStatus.RUNNING)
        for step in range(5):
            frozen_clock.advance(minutes=10)
            _telemetry_tick(worker, frozen_clock, 1000 + step)
            store.save_many([worker])
        [checkpoint] = _of_type(store, "w", CHECKPOINT_TYPE)
        assert checkpoint.data["compacted_events"] == 183
        assert len(_of_type(store, "w", TELEMETRY_TYPE)) == 2
        assert _replayed(store, "w").state == store.get("w").state == worker.state
    finally:
        store.close()
    with open_store(tmp_path, read_only=True) as check:
        assert _replayed(check, "w").state == check.get("w").state == worker.state


def test_a_checkpoint_stands_where_the_newest_dropped_event_stood(tmp_path, frozen_clock):
    store = open_store(tmp_path, clock=frozen_clock, retention=TelemetryRetention(per_worker=1))
    try:
        worker = make_worker(frozen_clock, "w")
        store.save_many([worker])
        frozen_clock.advance(minutes=1)
        worker.update_telemetry(frozen_clock(), 1, 10.0, 10.0)
        store.save_many([worker])
        dropped_seq = store.event_sequence_numbers("w")[-1]
        frozen_clock.advance(minutes=1)
        worker.update_status(CMLWorkerStatus.STOPPED)  # a lifecycle event after it
        frozen_clock.advance(minutes=1)
        worker.update_telemetry(frozen_clock(), 0, 1.0, 10.0)
        store.save_many([worker])
        types = [e.type for e in store.events("w")]
        assert types[-3:] == [CHECKPOINT_TYPE, "cmltui.worker.status-updated.v1", TELEMETRY_TYPE]
        assert store.event_sequence_numbers("w")[-3] == dropped_seq
        assert _replayed(store, "w").state == worker.state
    finally:
        store.close()


@pytest.mark.parametrize(("first_keeps", "second_keeps"), [(10, 10), (3, 7)])
def test_two_processes_compacting_one_file_keep_replay_exact(
    tmp_path, frozen_clock, first_keeps, second_keeps
):
    """Two stores on one file (two processes) record telemetry for a shared worker and their
    own, over 30 hours, each compacting by its own rule; a stale one merges the other's."""
    first = open_store(
        tmp_path / "data", clock=frozen_clock, retention=TelemetryRetention(per_worker=first_keeps)
    )
    second = open_store(
        tmp_path / "data",
        clock=frozen_clock,
        retention=TelemetryRetention(per_worker=second_keeps),
    )
    try:
        first.save_many([make_worker(frozen_clock, "shared"), make_worker(frozen_clock, "a")])
        second.sync()
        second.save_many([make_worker(frozen_clock, "b")])
        for step in range(180):
            frozen_clock.advance(minutes=10)
            store, own = (first, "a") if step % 2 else (second, "b")
            # What a controller does: the worker as this process holds it, changed, saved.
            for worker_id in ("shared", own):
                worker = store.get(worker_id)
                _telemetry_tick(worker, frozen_clock, step + len(worker_id))
                store.save_many([worker])
        # Both compact the same old events without seeing each other's write first.
        frozen_clock.advance(hours=25)
        first.set_meta("tick", 1)
        second.set_meta("tock", 1)
        first.sync()
        with open_store(tmp_path / "data", read_only=True) as check:
            seqs = check.event_sequence_numbers()
            assert len(seqs) == len(set(seqs))
            for worker_id in ("shared", "a", "b"):
                assert _of_type(check, worker_id, TELEMETRY_TYPE) == []
                assert len(_of_type(check, worker_id, CHECKPOINT_TYPE)) == 1
                stored = check.get(worker_id).state
                assert _replayed(check, worker_id).state == stored
                assert stored == first.get(worker_id).state == second.get(worker_id).state
            # 180 ticks on the shared worker, 90 on each own one, all counted.
            [checkpoint] = _of_type(check, "shared", CHECKPOINT_TYPE)
            assert checkpoint.data["compacted_events"] == 180
    finally:
        first.close()
        second.close()
