"""Lab actions in the worker's audit trail: the intent names its lab, the record says who did
what to which lab and how CML answered, and neither changes the worker's own state."""

from __future__ import annotations

from datetime import timedelta

from cmltui.domain.enums import CMLWorkerStatus
from cmltui.domain.events import (
    CMLWorkerLabActionDomainEvent,
    event_from_cloudevent,
    to_cloudevent,
)
from cmltui.domain.worker import CMLWorker
from tests.fixtures.workers import make_worker

TARGET = 'lab 1a2b3c4d "BGP Peering"'


def _running(clock) -> CMLWorker:
    return make_worker(clock, "w-lab", name="w", instance_id="i-1", fresh=True)


def test_a_lab_intent_names_its_lab_and_survives_a_replay(frozen_clock):
    worker = _running(frozen_clock)
    worker.request_action("lab-stop", "alice", "tok", target=TARGET)
    assert worker.state.pending_action is not None
    assert worker.state.pending_action.target == TARGET
    (requested,) = worker.uncommitted_events
    assert requested.target == TARGET
    replayed = event_from_cloudevent(to_cloudevent(requested).model_dump(mode="json"))
    assert replayed == requested


def test_an_interrupted_lab_action_is_never_confirmed_by_ec2(frozen_clock):
    """A lab stop is not a worker stop: only its own answer (or the expiry) completes it."""
    worker = _running(frozen_clock)
    worker.request_action("lab-stop", "alice", "tok", target=TARGET)
    worker.update_status(CMLWorkerStatus.STOPPING)
    assert worker.state.pending_action is not None
    assert worker.uncommitted_events[-1].changed_by is None
    frozen_clock.advance(minutes=16)
    assert worker.expire_pending_action(timedelta(minutes=15)) is not None
    assert worker.uncommitted_events[-1].outcome == "not-observed"


def test_the_lab_record_keeps_actor_lab_and_outcome_and_changes_no_state(frozen_clock):
    worker = _running(frozen_clock)
    before = worker.state.model_copy()
    frozen_clock.advance(seconds=5)
    worker.record_lab_action(
        "wipe", "1a2b3c4d-0000", "BGP Peering", "alice", "failed", "The lab must be stopped"
    )
    (event,) = worker.uncommitted_events
    assert isinstance(event, CMLWorkerLabActionDomainEvent)
    assert (event.action, event.lab_id, event.lab_title, event.requested_by) == (
        "wipe",
        "1a2b3c4d-0000",
        "BGP Peering",
        "alice",
    )
    assert (event.outcome, event.detail) == ("failed", "The lab must be stopped")
    assert event.occurred_at == frozen_clock()
    envelope = to_cloudevent(event)
    assert envelope.type == "cmltui.worker.lab-action.v1" and envelope.subject == "w-lab"
    # Only the version and the time moved: labs are CML's state, not the worker's.
    after = worker.state
    assert after.version == before.version + 1
    assert after.model_copy(update={"version": 0, "updated_at": None}) == before.model_copy(
        update={"version": 0, "updated_at": None}
    )
