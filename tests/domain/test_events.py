"""Domain events as CloudEvents 1.0 envelopes, and replay through their JSON form."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from cmltui.domain.enums import CMLServiceStatus, CMLWorkerStatus, LicenseStatus
from cmltui.domain.events import (
    EVENT_CLASSES,
    CloudEvent,
    CMLWorkerTelemetryCompactedDomainEvent,
    UnknownEventTypeError,
    event_from_cloudevent,
    to_cloudevent,
)
from cmltui.domain.worker import CMLWorker
from cmltui.domain.worker_policy import PolicyChange


def _busy_life(clock) -> CMLWorker:
    """A worker taken through every kind of event the aggregate records."""
    worker = CMLWorker(
        "Dev Lab Worker 1",
        "us-east-1",
        "c5.2xlarge",
        "ami-0123456789abcdef0",
        "CML-2.7.0-Ubuntu-22.04",
        "2.7.0",
        "user_123",
        worker_id="w-1",
        clock=clock,
    )
    clock.advance(minutes=1)
    worker.assign_instance("i-1234567890abcdef0", "54.123.45.67", "10.0.1.100")
    worker.update_status(CMLWorkerStatus.RUNNING)
    clock.advance(minutes=2)
    worker.update_service_status(
        CMLServiceStatus.AVAILABLE, "https://54.123.45.67", cml_version="2.7.2"
    )
    worker.update_license(LicenseStatus.REGISTERED, "ABCDEFGH12345678")
    worker.update_telemetry(clock() - timedelta(minutes=40), 0, 4.5, 33.0)
    worker.update_endpoint("https://cml.example.net", "54.123.45.68")
    worker.set_auto_stop_opt_out(True, updated_by="ops")
    worker.set_auto_stop_opt_out(False, updated_by="ops")
    worker.set_policy(PolicyChange(idle_minutes=90, schedule="emea"), updated_by="ops")
    clock.advance(minutes=30)
    worker.record_auto_stop("idle 70 min", 70.04)
    worker.update_status(CMLWorkerStatus.STOPPED)
    worker.record_auto_start("schedule emea opens 09:00", window_key="emea@2026-01-05T08:00Z")
    worker.update_status(CMLWorkerStatus.STOPPED)
    worker.request_action("start", "alice", "tok-1")
    worker.mark_starting("alice")
    worker.complete_action("tok-1", "accepted")
    worker.update_status(CMLWorkerStatus.RUNNING)
    worker.request_action("lab-stop", "carol", "tok-lab", target='lab 1a2b3c4d "BGP Peering"')
    worker.complete_action("tok-lab", "accepted", 'lab "BGP Peering" (1a2b3c4d)')
    worker.record_lab_action("stop", "1a2b3c4d-0000", "BGP Peering", "carol", "accepted")
    worker.request_action("terminate", "bob", "tok-2")
    worker.mark_shutting_down("bob")
    clock.advance(minutes=1)
    worker.update_status(CMLWorkerStatus.TERMINATED)
    return worker


def test_every_event_type_is_covered_and_named_v1(frozen_clock):
    worker = _busy_life(frozen_clock)
    recorded_types = {type(e).EVENT_TYPE for e in worker.uncommitted_events}
    # The telemetry checkpoint is the store's (retention), tested in tests/store/test_compaction.
    made_by_the_store = {CMLWorkerTelemetryCompactedDomainEvent.EVENT_TYPE}
    assert recorded_types == set(EVENT_CLASSES) - made_by_the_store
    for event_type in EVENT_CLASSES:
        assert event_type.startswith("cmltui.worker.") and event_type.endswith(".v1")


def test_cloudevent_envelope_fields(frozen_clock):
    worker = _busy_life(frozen_clock)
    for event in worker.uncommitted_events:
        envelope = to_cloudevent(event)
        assert envelope.specversion == "1.0"
        assert envelope.source == "urn:cmltui:worker"
        assert envelope.type == event.EVENT_TYPE
        assert envelope.subject == "w-1"
        assert envelope.time == event.occurred_at
        assert envelope.datacontenttype == "application/json"
        assert envelope.data == event.model_dump(mode="json")
        assert envelope.id  # unique per envelope
    ids = {to_cloudevent(e).id for e in worker.uncommitted_events}
    assert len(ids) == len(worker.uncommitted_events)
    assert to_cloudevent(worker.uncommitted_events[0], event_id="fixed").id == "fixed"


def test_replay_through_json_gives_an_equal_state(frozen_clock):
    worker = _busy_life(frozen_clock)
    wire = json.dumps([to_cloudevent(e).model_dump(mode="json") for e in worker.uncommitted_events])
    events = [event_from_cloudevent(doc) for doc in json.loads(wire)]
    assert events == list(worker.uncommitted_events)
    replayed = CMLWorker.from_events(events, clock=frozen_clock)
    assert replayed.state == worker.state
    assert replayed.state.version == len(events)
    assert replayed.uncommitted_events == ()


def test_replay_needs_a_created_event_first(frozen_clock):
    worker = _busy_life(frozen_clock)
    with pytest.raises(ValueError, match="CMLWorkerCreatedDomainEvent"):
        CMLWorker.from_events(worker.uncommitted_events[1:2], clock=frozen_clock)


def test_unknown_event_type_is_refused():
    envelope = CloudEvent(
        type="cmltui.worker.teleported.v1", time="2026-01-01T00:00:00Z", subject="w", data={}
    )
    with pytest.raises(UnknownEventTypeError):
        event_from_cloudevent(envelope)


def test_events_are_frozen(frozen_clock):
    event = _busy_life(frozen_clock).uncommitted_events[0]
    with pytest.raises(ValueError):
        event.name = "other"  # type: ignore[misc]
