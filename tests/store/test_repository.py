"""The TinyDB repository: what is its own (one write per save, the file, meta values, retention,
reopening). The queries and the rest of the repository contract run against both stores in
``test_repository_contract.py``."""

from __future__ import annotations

import asyncio
import json
import threading
from datetime import timedelta

import pytest

from cmltui.domain.enums import CMLWorkerStatus
from cmltui.domain.events import (
    CMLWorkerCreatedDomainEvent,
    CMLWorkerTelemetryUpdatedDomainEvent,
    event_from_cloudevent,
)
from cmltui.domain.worker import CMLWorker
from cmltui.store import StoreReadOnlyError, TelemetryRetention, open_store
from cmltui.store.compaction import CHECKPOINT_TYPE
from tests.fixtures.workers import make_worker


def _ids(workers: list[CMLWorker]) -> list[str]:
    return sorted(w.id for w in workers)


@pytest.fixture
def fleet(store, frozen_clock):
    """Five workers in different states, saved in one write."""
    workers = [
        make_worker(frozen_clock, "busy", instance_id="i-busy", idle_minutes=90, active_labs=2),
        make_worker(frozen_clock, "idle-long", instance_id="i-idle", idle_minutes=45),
        make_worker(frozen_clock, "idle-short", instance_id="i-short", idle_minutes=10),
        make_worker(frozen_clock, "stopped", status=CMLWorkerStatus.STOPPED, idle_minutes=500),
        make_worker(frozen_clock, "gone", status=CMLWorkerStatus.TERMINATED),
    ]
    store.save_many(workers)
    return workers


async def test_save_many_is_one_write_and_returns_event_count(store, frozen_clock):
    workers = [make_worker(frozen_clock, f"w{i}") for i in range(30)]
    expected_events = sum(len(w.uncommitted_events) for w in workers)
    before = store.write_count
    assert await store.save_many_async(workers) == expected_events
    assert store.write_count == before + 1
    assert all(w.uncommitted_events == () for w in workers)

    for w in workers:
        w.update_status(CMLWorkerStatus.STOPPING)
    assert store.save_many(workers, meta={"cursor": 7}) == 30
    assert store.write_count == before + 2
    assert store.get_meta("cursor") == 7


async def test_save_many_with_nothing_new_writes_nothing_but_stays_consistent(store, fleet):
    before = store.write_count
    assert store.save_many([]) == 0
    assert store.write_count == before


async def test_reopen_shows_the_same_fleet_and_trail(tmp_path, frozen_clock, fleet, store):
    states = {w.id: w.state for w in fleet}
    trail = store.events()
    store.set_meta("telemetry_cursor", {"us-east-1": "2026-01-01T12:00:00Z"})
    store.close()
    reopened = open_store(tmp_path / "data", clock=frozen_clock)
    try:
        assert {w.id: w.state for w in await reopened.get_all_async()} == states
        assert reopened.events() == trail
        assert reopened.get_meta("telemetry_cursor") == {"us-east-1": "2026-01-01T12:00:00Z"}
        assert reopened.get_meta("absent", "dflt") == "dflt"
        assert reopened.notices == []
        # The idle query works on reloaded workers with the injected clock too.
        assert _ids(await reopened.get_idle_workers_async(30)) == ["idle-long"]
    finally:
        reopened.close()


def test_file_layout_has_the_three_tables(store, fleet):
    document = json.loads(store.path.read_text())
    assert set(document) == {"workers", "events", "meta"}
    worker_docs = list(document["workers"].values())
    assert sorted(d["id"] for d in worker_docs) == _ids(fleet)
    meta = {d["key"]: d["value"] for d in document["meta"].values()}
    assert meta["schema_version"] == 1
    assert meta["last_event_seq"] == len(document["events"])


def test_events_are_cloudevents_in_sequence_order(store, fleet):
    trail = store.events()
    assert len(trail) == sum(w.state.version for w in fleet)
    seqs = store.event_sequence_numbers()
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    for envelope in trail:
        assert envelope.specversion == "1.0"
        assert envelope.type.startswith("cmltui.worker.")
        assert envelope.subject == envelope.data["aggregate_id"]
    first_of_busy = store.events("busy")[0]
    assert isinstance(event_from_cloudevent(first_of_busy), CMLWorkerCreatedDomainEvent)
    assert store.events("busy", limit=2) == store.events("busy")[-2:]
    assert store.events(limit=0) == []


def test_sequence_numbers_keep_growing_after_reopen(tmp_path, frozen_clock, store, fleet):
    last = store.event_sequence_numbers()[-1]
    store.close()
    reopened = open_store(tmp_path / "data", clock=frozen_clock)
    try:
        worker = reopened.get("busy")
        worker.update_status(CMLWorkerStatus.STOPPING)
        reopened.save_many([worker])
        assert reopened.event_sequence_numbers("busy")[-1] == last + 1
    finally:
        reopened.close()


def _telemetry_seq(store, worker_id):
    return [
        e
        for e in store.events(worker_id)
        if e.type == CMLWorkerTelemetryUpdatedDomainEvent.EVENT_TYPE
    ]


def test_telemetry_retention_keeps_newest_per_worker(tmp_path, frozen_clock):
    store = open_store(tmp_path, clock=frozen_clock, retention=TelemetryRetention(per_worker=3))
    try:
        worker = make_worker(frozen_clock, "w")
        other = make_worker(frozen_clock, "other")
        store.save_many([worker, other])
        lifecycle_before = len(store.events("w"))
        for labs in range(1, 8):
            frozen_clock.advance(minutes=1)
            worker.update_telemetry(frozen_clock(), labs, 5.0, 5.0)
            store.save_many([worker])
        kept = _telemetry_seq(store, "w")
        assert [e.data["active_labs_count"] for e in kept] == [5, 6, 7]
        # Lifecycle events are all kept, the dropped ones are one checkpoint (the four of
        # labs 1-4); the other worker's trail is untouched.
        assert len(store.events("w")) == lifecycle_before + 3 + 1
        [checkpoint] = [e for e in store.events("w") if e.type == CHECKPOINT_TYPE]
        assert checkpoint.data["compacted_events"] == 4
        assert checkpoint.data["active_labs_count"] == 4
        assert len(store.events("other")) == other.state.version
        # The replayed state is the stored one, version included.
        replayed = CMLWorker.from_events(store.domain_events_for("w"), clock=frozen_clock)
        assert replayed.state == store.get("w").state
    finally:
        store.close()


def test_telemetry_retention_drops_events_older_than_max_age(tmp_path, frozen_clock):
    store = open_store(
        tmp_path,
        clock=frozen_clock,
        retention=TelemetryRetention(per_worker=20, max_age=timedelta(hours=24)),
    )
    try:
        old = make_worker(frozen_clock, "old", idle_minutes=5)
        store.save_many([old])
        assert len(_telemetry_seq(store, "old")) == 1
        frozen_clock.advance(hours=23)
        fresh = make_worker(frozen_clock, "fresh", idle_minutes=5)
        store.save_many([fresh])
        assert len(_telemetry_seq(store, "old")) == 1  # 23 h old: still kept
        frozen_clock.advance(hours=2)
        store.set_meta("tick", 1)  # any write applies the rule
        assert _telemetry_seq(store, "old") == []
        assert len(_telemetry_seq(store, "fresh")) == 1
        assert store.events("old")[0].type == "cmltui.worker.created.v1"
    finally:
        store.close()


def test_retention_survives_reopen(tmp_path, frozen_clock):
    rule = TelemetryRetention(per_worker=2)
    store = open_store(tmp_path, clock=frozen_clock, retention=rule)
    worker = make_worker(frozen_clock, "w")
    for labs in (1, 2):
        frozen_clock.advance(minutes=1)
        worker.update_telemetry(frozen_clock(), labs, 1.0, 1.0)
    store.save_many([worker])
    store.close()
    store = open_store(tmp_path, clock=frozen_clock, retention=rule)
    try:
        worker = store.get("w")
        frozen_clock.advance(minutes=1)
        worker.update_telemetry(frozen_clock(), 3, 1.0, 1.0)
        store.save_many([worker])
        assert [e.data["active_labs_count"] for e in _telemetry_seq(store, "w")] == [2, 3]
    finally:
        store.close()


def test_invalid_worker_document_is_skipped_with_a_warning(tmp_path, frozen_clock):
    store = open_store(tmp_path, clock=frozen_clock)
    store.save_many([make_worker(frozen_clock, "good"), make_worker(frozen_clock, "bad")])
    store.close()
    document = json.loads((tmp_path / "cmltui.json").read_text())
    for doc in document["workers"].values():
        if doc["id"] == "bad":
            doc["status"] = "exploded"
            doc["active_labs_count"] = "many"
    (tmp_path / "cmltui.json").write_text(json.dumps(document))

    reopened = open_store(tmp_path, clock=frozen_clock)
    try:
        assert [w.id for w in reopened.all_workers()] == ["good"]
        assert reopened.skipped_worker_ids == ["bad"]
        assert any("bad" in n and "skipped" in n for n in reopened.notices)
        # A later write keeps the unreadable document in the file (nothing silently lost).
        reopened.set_meta("x", 1)
        after = json.loads((tmp_path / "cmltui.json").read_text())
        assert any(d["id"] == "bad" for d in after["workers"].values())
    finally:
        reopened.close()


def test_explicit_read_only_refuses_every_write(tmp_path, frozen_clock, store, fleet):
    viewer = open_store(tmp_path / "data", clock=frozen_clock, read_only=True)
    try:
        assert viewer.read_only
        assert _ids(viewer.all_workers()) == _ids(fleet)
        worker = viewer.get("busy")
        worker.update_status(CMLWorkerStatus.STOPPING)
        with pytest.raises(StoreReadOnlyError):
            viewer.save_many([worker])
        with pytest.raises(StoreReadOnlyError):
            viewer.set_meta("k", 1)
        with pytest.raises(StoreReadOnlyError):
            viewer.delete("busy")
        # The refused save handed over nothing: the events are still the worker's to save.
        assert len(worker.uncommitted_events) == 1
    finally:
        viewer.close()


def test_newer_schema_opens_read_only(tmp_path, frozen_clock):
    store = open_store(tmp_path, clock=frozen_clock)
    store.set_meta("schema_version", 99)
    store.close()
    reopened = open_store(tmp_path, clock=frozen_clock)
    try:
        assert reopened.read_only
        assert any("newer cmltui" in n for n in reopened.notices)
        with pytest.raises(StoreReadOnlyError):
            reopened.set_meta("k", 1)
    finally:
        reopened.close()


async def test_concurrent_async_saves_end_with_the_newest_state(store, frozen_clock):
    workers = [make_worker(frozen_clock, f"w{i}") for i in range(20)]
    store.save_many(workers)
    before = store.write_count
    first, second = workers[:10], workers[10:]
    for w in first:
        w.update_status(CMLWorkerStatus.STOPPING)
    for w in second:
        w.update_status(CMLWorkerStatus.STOPPED)
    saved = await asyncio.gather(store.save_many_async(first), store.save_many_async(second))
    assert saved == [10, 10]
    assert before + 1 <= store.write_count <= before + 2
    on_disk = {d["id"]: d["status"] for d in json.loads(store.path.read_text())["workers"].values()}
    assert on_disk == {w.id: w.state.status.value for w in workers}
    assert not store.pending_write


async def test_async_saves_write_the_file_off_the_event_loop_thread(
    store, frozen_clock, monkeypatch
):
    writer_threads: list[int] = []
    replace_file = store.storage._replace_file

    def recording_replace(payload: bytes) -> None:
        writer_threads.append(threading.get_ident())
        replace_file(payload)

    monkeypatch.setattr(store.storage, "_replace_file", recording_replace)
    store.save_many([make_worker(frozen_clock, "sync")])
    await store.save_many_async([make_worker(frozen_clock, "async")])
    await store.set_meta_async("cursor", 3)
    loop_thread = threading.get_ident()
    assert writer_threads[0] == loop_thread  # the sync API writes in the caller's thread
    assert all(thread != loop_thread for thread in writer_threads[1:])
    assert len(writer_threads) == 3
    assert store.get_meta("cursor") == 3


def test_read_only_view_reloads_what_the_writer_commits(tmp_path, frozen_clock, store):
    viewer = open_store(tmp_path / "data", clock=frozen_clock, read_only=True)
    try:
        assert viewer.all_workers() == []
        store.save_many([make_worker(frozen_clock, "later")])
        assert viewer.all_workers() == []  # a snapshot until reloaded
        viewer.reload()
        assert [w.id for w in viewer.all_workers()] == ["later"]
        assert len(viewer.events("later")) == len(store.events("later")) > 0
    finally:
        viewer.close()
    with pytest.raises(RuntimeError):
        store.reload()


def test_a_big_data_file_is_loaded_as_the_long_lived_heap(tmp_path, frozen_clock, monkeypatch):
    """Past BULK_LOAD_BYTES the document is parsed with the collector paused, then frozen out of
    its sight; the collector runs again afterwards and the fleet is read whole."""
    import gc

    from cmltui.store import repository

    first = open_store(tmp_path / "data", clock=frozen_clock)
    first.save_many([make_worker(frozen_clock, f"w{i}") for i in range(20)])
    first.close()
    size = (tmp_path / "data" / "cmltui.json").stat().st_size
    monkeypatch.setattr(repository, "BULK_LOAD_BYTES", size + 1)  # just too small: not frozen
    frozen_before = gc.get_freeze_count()
    open_store(tmp_path / "data", clock=frozen_clock, read_only=True)
    assert gc.get_freeze_count() == frozen_before
    monkeypatch.setattr(repository, "BULK_LOAD_BYTES", size)
    try:
        again = open_store(tmp_path / "data", clock=frozen_clock, read_only=True)
        assert gc.isenabled()
        assert gc.get_freeze_count() > frozen_before
        assert len(again.all_workers()) == 20
    finally:
        gc.unfreeze()


def test_billing_reads_never_validate_the_other_events(store, frozen_clock, tmp_path, caplog):
    """A broken telemetry envelope is reported by the whole trail, and not even looked at when
    only the billing events are asked for (the first publish asks that for every worker)."""
    from cmltui.domain.billing import BILLING_EVENT_TYPES

    worker = make_worker(frozen_clock, "w1", instance_id="i-w1", idle_minutes=5)
    worker.update_telemetry(frozen_clock(), 1, 10.0, 20.0)
    store.save_many([worker])
    store.close()
    path = tmp_path / "data" / "cmltui.json"
    document = json.loads(path.read_text())
    for doc in document["events"].values():
        if doc["telemetry"]:
            doc["envelope"]["time"] = "not a time"
    path.write_text(json.dumps(document))
    reopened = open_store(tmp_path / "data", clock=frozen_clock)
    caplog.clear()
    billing = reopened.cached_events_of_types("w1", BILLING_EVENT_TYPES)
    assert billing and {e.type for e in billing} <= BILLING_EVENT_TYPES
    assert "unreadable" not in caplog.text
    whole = reopened.cached_events("w1")
    assert "unreadable" in caplog.text
    assert [e.id for e in whole if e.type in BILLING_EVENT_TYPES] == [e.id for e in billing]
