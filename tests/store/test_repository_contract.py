"""The repository contract, run against BOTH stores: the TinyDB data file and the DynamoDB table
(on moto's server). Everything here is what the services rely on, whatever the backend."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cmltui.domain.enums import CMLWorkerStatus
from cmltui.domain.events import CMLWorkerCreatedDomainEvent, event_from_cloudevent
from cmltui.domain.worker import CMLWorker
from cmltui.store import StoreReadOnlyError
from tests.fixtures.workers import make_worker


def _ids(workers: list[CMLWorker]) -> list[str]:
    return sorted(w.id for w in workers)


@pytest.fixture
def fleet(any_store, frozen_clock):
    """Five workers in different states, saved in one call."""
    workers = [
        make_worker(frozen_clock, "busy", instance_id="i-busy", idle_minutes=90, active_labs=2),
        make_worker(frozen_clock, "idle-long", instance_id="i-idle", idle_minutes=45),
        make_worker(frozen_clock, "idle-short", instance_id="i-short", idle_minutes=10),
        make_worker(frozen_clock, "stopped", status=CMLWorkerStatus.STOPPED, idle_minutes=500),
        make_worker(frozen_clock, "gone", status=CMLWorkerStatus.TERMINATED),
    ]
    expected = sum(len(w.uncommitted_events) for w in workers)
    assert any_store.save_many(workers) == expected
    assert all(w.uncommitted_events == () for w in workers)
    return workers


async def test_get_all_and_by_id_return_the_saved_state(any_store, fleet):
    loaded = await any_store.get_all_async()
    assert _ids(loaded) == _ids(fleet)
    for worker in fleet:
        again = await any_store.get_by_id_async(worker.id)
        assert again is not None
        assert again.state == worker.state
        assert again.uncommitted_events == ()
    assert await any_store.get_by_id_async("nope") is None


async def test_get_by_aws_instance_id(any_store, fleet):
    found = await any_store.get_by_aws_instance_id_async("i-idle")
    assert found is not None and found.id == "idle-long"
    assert await any_store.get_by_aws_instance_id_async("i-missing") is None


async def test_get_by_status_and_active(any_store, fleet):
    running = await any_store.get_by_status_async(CMLWorkerStatus.RUNNING)
    assert _ids(running) == ["busy", "idle-long", "idle-short"]
    assert _ids(await any_store.get_by_status_async(CMLWorkerStatus.STOPPED)) == ["stopped"]
    assert await any_store.get_by_status_async(CMLWorkerStatus.PENDING) == []
    active = await any_store.get_active_workers_async()
    assert _ids(active) == ["busy", "idle-long", "idle-short", "stopped"]


async def test_get_idle_workers_follows_the_injected_clock(any_store, fleet, frozen_clock):
    assert _ids(await any_store.get_idle_workers_async(30)) == ["idle-long"]
    assert _ids(await any_store.get_idle_workers_async(5)) == ["idle-long", "idle-short"]
    assert await any_store.get_idle_workers_async(60) == []
    frozen_clock.advance(minutes=20)
    assert _ids(await any_store.get_idle_workers_async(30)) == ["idle-long", "idle-short"]


async def test_loaded_workers_are_copies(any_store, fleet):
    first = await any_store.get_by_id_async("idle-long")
    first.update_status(CMLWorkerStatus.STOPPED)
    again = await any_store.get_by_id_async("idle-long")
    assert again.state.status == CMLWorkerStatus.RUNNING  # unchanged until saved


async def test_add_update_delete(any_store, frozen_clock):
    worker = make_worker(frozen_clock, "w1")
    assert await any_store.add_async(worker) is worker
    assert worker.uncommitted_events == ()
    worker.update_status(CMLWorkerStatus.STOPPING)
    await any_store.update_async(worker)
    assert (await any_store.get_by_id_async("w1")).state.status == CMLWorkerStatus.STOPPING
    worker.update_status(CMLWorkerStatus.STOPPED)
    assert await any_store.delete_async("w1", worker) is True
    assert await any_store.get_by_id_async("w1") is None
    assert await any_store.delete_async("w1") is False
    # The trail outlives the worker, including the event saved with the delete.
    trail = any_store.events("w1")
    assert trail[-1].type == "cmltui.worker.status-updated.v1"
    assert trail[-1].data["new_status"] == "stopped"
    assert len(trail) == worker.state.version


def test_delete_of_an_unknown_worker_returns_false(any_store):
    assert any_store.delete("nobody") is False


async def test_save_many_async_returns_the_event_count(any_store, frozen_clock):
    workers = [make_worker(frozen_clock, f"w{i}") for i in range(30)]
    expected = sum(len(w.uncommitted_events) for w in workers)
    assert await any_store.save_many_async(workers) == expected
    for w in workers:
        w.update_status(CMLWorkerStatus.STOPPING)
    assert await any_store.save_many_async(workers) == 30
    assert {w.id: w.state.status for w in await any_store.get_all_async()} == {
        w.id: CMLWorkerStatus.STOPPING for w in workers
    }
    assert not any_store.pending_write
    assert await any_store.save_many_async([]) == 0


def test_events_are_cloudevents_in_order(any_store, fleet):
    trail = any_store.events()
    assert len(trail) == sum(w.state.version for w in fleet)
    for envelope in trail:
        assert envelope.specversion == "1.0"
        assert envelope.type.startswith("cmltui.worker.")
        assert envelope.subject == envelope.data["aggregate_id"]
    busy = any_store.events("busy")
    assert isinstance(event_from_cloudevent(busy[0]), CMLWorkerCreatedDomainEvent)
    assert any_store.events("busy", limit=2) == busy[-2:]
    assert any_store.events(limit=0) == []
    assert len(any_store.events(limit=3)) == 3
    assert {e.id for e in trail} == {e.id for w in fleet for e in any_store.events(w.id)}


def test_cached_events_of_types_are_the_trail_filtered(any_store, fleet):
    from cmltui.domain.billing import BILLING_EVENT_TYPES

    any_store.load_trails([w.id for w in fleet])
    left_out = 0
    for worker in fleet:
        whole = any_store.cached_events(worker.id)
        picked = any_store.cached_events_of_types(worker.id, BILLING_EVENT_TYPES)
        assert picked and picked == [e for e in whole if e.type in BILLING_EVENT_TYPES]
        left_out += len(whole) - len(picked)
    assert left_out > 0
    assert any_store.cached_events_of_types("busy", ()) == []


def test_domain_events_replay_to_the_saved_state(any_store, fleet, frozen_clock):
    for worker in fleet:
        replayed = CMLWorker.from_events(any_store.domain_events_for(worker.id), clock=frozen_clock)
        assert replayed.state == worker.state


def test_a_second_instance_sees_the_same_fleet_and_trail(open_any, any_store, fleet):
    other = open_any()
    assert {w.id: w.state for w in other.all_workers()} == {w.id: w.state for w in fleet}
    assert [e.id for e in other.events()] == [e.id for e in any_store.events()]


def test_read_only_refuses_every_write(open_any, any_store, fleet):
    viewer = open_any(read_only=True)
    assert viewer.read_only
    assert _ids(viewer.all_workers()) == _ids(fleet)
    worker = viewer.get("busy")
    worker.update_status(CMLWorkerStatus.STOPPING)
    with pytest.raises(StoreReadOnlyError):
        viewer.save_many([worker])
    with pytest.raises(StoreReadOnlyError):
        viewer.delete("busy")
    assert len(worker.uncommitted_events) == 1  # still the worker's to save


async def test_sync_brings_another_instances_changes(open_any, any_store, fleet):
    other = open_any()
    worker = other.get("idle-long")
    worker.update_status(CMLWorkerStatus.STOPPING)
    other.save_many([worker])
    other.delete("gone", other.get("gone"))

    await any_store.sync_async()
    states, removed = any_store.take_refreshed()
    assert [(s.id, s.status, s.version) for s in states] == [
        ("idle-long", CMLWorkerStatus.STOPPING, worker.state.version)
    ]
    assert removed == {"gone"}
    assert any_store.take_refreshed() == ([], set())
    assert any_store.get("gone") is None


async def test_both_instances_change_one_worker_and_nothing_is_lost(
    open_any, any_store, fleet, frozen_clock
):
    """Two processes saved the same version: the second's events go on top of the first's."""
    other = open_any()
    mine, theirs = any_store.get("busy"), other.get("busy")
    base = mine.state.version
    theirs.update_status(CMLWorkerStatus.STOPPING)
    other.save_many([theirs])
    frozen_clock.advance(seconds=1)
    mine.update_telemetry(frozen_clock(), 5, 10.0, 20.0)
    any_store.save_many([mine])

    third = open_any()
    stored = third.get("busy")
    assert stored.state.version == base + 2
    assert stored.state.status == CMLWorkerStatus.STOPPING  # theirs kept
    assert stored.state.active_labs_count == 5  # mine applied on top
    types = [e.type for e in third.events("busy")][-2:]
    assert types == ["cmltui.worker.status-updated.v1", "cmltui.worker.telemetry-updated.v1"]
    replayed = CMLWorker.from_events(third.domain_events_for("busy"), clock=frozen_clock)
    assert replayed.state == stored.state
    states, _ = any_store.take_refreshed()
    assert [s.version for s in states if s.id == "busy"] == [base + 2]


async def test_a_lab_action_laid_over_another_change_stays_in_the_trail(
    open_any, any_store, fleet, frozen_clock
):
    """A lab action changes no state (history only): laid over another process's change it
    still says what happened (the data file's merge left it out as "changes nothing")."""
    other = open_any()
    mine, theirs = any_store.get("busy"), other.get("busy")
    theirs.update_status(CMLWorkerStatus.STOPPING)
    other.save_many([theirs])
    mine.record_lab_action("stop", "lab-1", "Lab one", "ops@host", "accepted")
    any_store.save_many([mine])
    trail = [e.type.split(".")[2] for e in open_any().events("busy")]
    assert trail[-2:] == ["status-updated", "lab-action"]


async def test_one_observation_made_by_both_is_recorded_once(open_any, any_store, fleet):
    """Both processes saw the instance stopping: the second's record adds nothing."""
    other = open_any()
    mine, theirs = any_store.get("busy"), other.get("busy")
    before = len(other.events("busy"))
    theirs.update_status(CMLWorkerStatus.STOPPING)
    other.save_many([theirs])
    mine.update_status(CMLWorkerStatus.STOPPING)
    any_store.save_many([mine])
    reader = open_any()
    assert len(reader.events("busy")) == before + 1
    assert reader.get("busy").state.version == mine.state.version  # the same state, once


def test_a_stale_copy_never_brings_a_forgotten_worker_back(open_any, any_store, fleet):
    other = open_any()
    stale = any_store.get("stopped")
    other.delete("stopped")
    stale.update_status(CMLWorkerStatus.PENDING)  # an observation of the stale copy
    assert stale.uncommitted_events
    any_store.save_many([stale])
    assert open_any().get("stopped") is None
    # Its events still reach the trail, after the ones it had.
    trail = open_any().events("stopped")
    assert trail[-1].data["new_status"] == "pending"
    assert len(trail) == stale.state.version


async def test_one_instance_at_a_time_holds_the_policy_lease(open_any, any_store, frozen_clock):
    other = open_any()
    ttl = timedelta(minutes=3)
    first = await any_store.claim_lease_async("alice@a:1", ttl)
    assert first.ours and first.holder == "alice@a:1"
    second = await other.claim_lease_async("bob@b:2", ttl)
    assert not second.ours and second.holder == "alice@a:1"
    any_store.release_lease("alice@a:1")
    third = await other.claim_lease_async("bob@b:2", ttl)
    assert third.ours and third.holder == "bob@b:2"
    frozen_clock.advance(minutes=4)  # bob stopped renewing: it expired
    fourth = await any_store.claim_lease_async("alice@a:1", ttl)
    assert fourth.ours
