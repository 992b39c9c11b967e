"""The CMLWorker aggregate: creation, observed status, service, instance, licence and
endpoint: each behaviour method, the event it records, its return rules. Telemetry and
idleness: ``test_worker_telemetry.py``; operator actions and intents:
``test_worker_intents.py``."""

from __future__ import annotations

import pytest

from cmltui.domain.enums import CMLServiceStatus, LicenseStatus
from cmltui.domain.events import (
    CMLServiceStatusUpdatedDomainEvent,
    CMLWorkerCreatedDomainEvent,
    CMLWorkerEndpointUpdatedDomainEvent,
    CMLWorkerInstanceAssignedDomainEvent,
    CMLWorkerLicenseUpdatedDomainEvent,
    CMLWorkerStatusUpdatedDomainEvent,
    CMLWorkerTerminatedDomainEvent,
)
from cmltui.domain.worker import CMLWorker, mask_secret
from tests.domain.worker_helpers import S, new_worker, only_event


# ---------------------------------------------------------------- creation
def test_creation_records_created_event_with_every_field(frozen_clock):
    worker = CMLWorker(
        "Dev Lab Worker 1",
        "us-east-1",
        "c5.2xlarge",
        "ami-0123456789abcdef0",
        "CML-2.7.0-Ubuntu-22.04",
        "2.7.0",
        "user_123",
        aws_instance_id="i-1",
        worker_id="w-1",
        clock=frozen_clock,
    )
    (event,) = worker.uncommitted_events
    assert isinstance(event, CMLWorkerCreatedDomainEvent)
    assert event.model_dump() == {
        "aggregate_id": "w-1",
        "name": "Dev Lab Worker 1",
        "aws_region": "us-east-1",
        "aws_instance_id": "i-1",
        "instance_type": "c5.2xlarge",
        "ami_id": "ami-0123456789abcdef0",
        "ami_name": "CML-2.7.0-Ubuntu-22.04",
        "status": S.PENDING,
        "cml_version": "2.7.0",
        "created_at": frozen_clock(),
        "created_by": "user_123",
    }
    s = worker.state
    assert (s.id, s.name, s.status, s.service_status, s.license_status) == (
        "w-1",
        "Dev Lab Worker 1",
        S.PENDING,
        CMLServiceStatus.UNAVAILABLE,
        LicenseStatus.UNREGISTERED,
    )
    assert s.created_at == s.updated_at == frozen_clock()
    assert s.version == 1


def test_a_worker_gets_a_uuid_and_needs_a_name(frozen_clock):
    a = CMLWorker("a", "us-east-1", "t3.xlarge", clock=frozen_clock)
    b = CMLWorker("b", "us-east-1", "t3.xlarge", clock=frozen_clock)
    assert a.id and b.id and a.id != b.id and len(a.id) == 36
    with pytest.raises(ValueError):
        CMLWorker("  ", "us-east-1", "t3.xlarge", clock=frozen_clock)


# ---------------------------------------------------------------- lifecycle
def test_update_status_records_event_and_returns_false_when_unchanged(frozen_clock):
    worker = new_worker(frozen_clock)
    frozen_clock.advance(minutes=3)
    assert worker.update_status(S.RUNNING, changed_by="alice") is True
    event = only_event(worker)
    assert isinstance(event, CMLWorkerStatusUpdatedDomainEvent)
    assert (event.aggregate_id, event.old_status, event.new_status, event.changed_by) == (
        "w-1",
        S.PENDING,
        S.RUNNING,
        "alice",
    )
    assert event.updated_at == frozen_clock() == worker.state.updated_at
    assert worker.state.status == S.RUNNING
    assert worker.update_status(S.RUNNING) is False
    assert worker.uncommitted_events == ()


def test_ec2_is_the_source_of_truth_for_observed_states(frozen_clock):
    worker = new_worker(frozen_clock, S.RUNNING)
    # Any observed transition applies, even ones an operator could not ask for.
    for status in (S.STOPPED, S.UNKNOWN, S.RUNNING, S.SHUTTING_DOWN, S.RUNNING):
        assert worker.update_status(status) is True
        assert worker.state.status == status


def test_reaching_terminated_records_the_termination(frozen_clock):
    worker = new_worker(frozen_clock, S.RUNNING)
    worker.mark_shutting_down("bob")
    worker.pull_uncommitted_events()
    assert worker.state.termination_requested_by == "bob"
    frozen_clock.advance(minutes=2)
    assert worker.update_status(S.TERMINATED) is True
    status_event, terminated = worker.pull_uncommitted_events()
    assert isinstance(status_event, CMLWorkerStatusUpdatedDomainEvent)
    assert isinstance(terminated, CMLWorkerTerminatedDomainEvent)
    assert terminated.model_dump() == {
        "aggregate_id": "w-1",
        "name": "Dev Lab Worker 1",
        "terminated_at": frozen_clock(),
        "terminated_by": "bob",
    }
    s = worker.state
    assert (s.status, s.terminated_at, s.terminated_by, s.termination_requested_by) == (
        S.TERMINATED,
        frozen_clock(),
        "bob",
        None,
    )


def test_terminated_is_final(frozen_clock):
    worker = new_worker(frozen_clock, S.RUNNING)
    worker.terminate("carol")
    worker.pull_uncommitted_events()
    before = worker.state.model_copy()
    assert worker.update_status(S.RUNNING) is False
    assert worker.update_service_status(CMLServiceStatus.AVAILABLE, "https://x") is False
    assert worker.assign_instance("i-2", "1.2.3.4", None) is False
    assert worker.update_license(LicenseStatus.REGISTERED, "token-1234") is False
    assert worker.update_telemetry(frozen_clock(), 1, 5.0, 5.0) is False
    assert worker.update_endpoint("https://y", "1.2.3.4") is False
    assert worker.set_auto_stop_opt_out(True) is False
    worker.terminate("dave")  # a second terminate changes nothing
    assert worker.uncommitted_events == ()
    assert worker.state == before
    assert worker.state.terminated_by == "carol"


def test_terminate_records_who(frozen_clock):
    worker = new_worker(frozen_clock, S.STOPPED)
    assert worker.terminate("carol") is None
    events = worker.pull_uncommitted_events()
    assert [type(e) for e in events] == [
        CMLWorkerStatusUpdatedDomainEvent,
        CMLWorkerTerminatedDomainEvent,
    ]
    assert events[0].changed_by == "carol" and events[1].terminated_by == "carol"
    assert worker.is_terminated


def test_update_service_status(frozen_clock):
    worker = new_worker(frozen_clock, S.RUNNING)
    assert worker.update_service_status(CMLServiceStatus.STARTING) is True
    event = only_event(worker)
    assert isinstance(event, CMLServiceStatusUpdatedDomainEvent)
    assert (event.old_service_status, event.new_service_status, event.https_endpoint) == (
        CMLServiceStatus.UNAVAILABLE,
        CMLServiceStatus.STARTING,
        None,
    )
    assert (
        worker.update_service_status(
            CMLServiceStatus.AVAILABLE, "https://54.1.2.3", cml_version="2.7.2"
        )
        is True
    )
    event = only_event(worker)
    assert (event.new_service_status, event.https_endpoint, event.cml_version) == (
        CMLServiceStatus.AVAILABLE,
        "https://54.1.2.3",
        "2.7.2",
    )
    assert event.updated_at == frozen_clock()
    s = worker.state
    assert (s.service_status, s.https_endpoint, s.cml_version) == (
        CMLServiceStatus.AVAILABLE,
        "https://54.1.2.3",
        "2.7.2",
    )
    # Unchanged, or with the endpoint/version omitted: nothing recorded.
    assert worker.update_service_status(CMLServiceStatus.AVAILABLE, "https://54.1.2.3") is False
    assert worker.update_service_status(CMLServiceStatus.AVAILABLE) is False
    # A new endpoint alone is a change.
    assert worker.update_service_status(CMLServiceStatus.AVAILABLE, "https://54.9.9.9") is True


def test_assign_instance(frozen_clock):
    worker = new_worker(frozen_clock)
    assert worker.assign_instance("i-1234567890abcdef0", "54.123.45.67", "10.0.1.100") is True
    event = only_event(worker)
    assert isinstance(event, CMLWorkerInstanceAssignedDomainEvent)
    assert event.model_dump() == {
        "aggregate_id": "w-1",
        "aws_instance_id": "i-1234567890abcdef0",
        "public_ip": "54.123.45.67",
        "private_ip": "10.0.1.100",
        "assigned_at": frozen_clock(),
    }
    assert (worker.state.aws_instance_id, worker.state.public_ip, worker.state.private_ip) == (
        "i-1234567890abcdef0",
        "54.123.45.67",
        "10.0.1.100",
    )
    assert worker.assign_instance("i-1234567890abcdef0", "54.123.45.67", "10.0.1.100") is False
    assert worker.assign_instance("", None, None) is False
    assert worker.assign_instance("i-1234567890abcdef0", None, "10.0.1.100") is True  # IP lost
    assert worker.state.public_ip is None


# ---------------------------------------------------------------- licence
def test_update_license_masks_the_token(frozen_clock):
    worker = new_worker(frozen_clock, S.RUNNING)
    assert worker.update_license(LicenseStatus.REGISTERED, "SECRET-TOKEN-ab12") is True
    event = only_event(worker)
    assert isinstance(event, CMLWorkerLicenseUpdatedDomainEvent)
    assert (event.license_status, event.license_token) == (LicenseStatus.REGISTERED, "…ab12")
    assert (
        "SECRET" not in event.model_dump_json() and "SECRET" not in worker.state.model_dump_json()
    )
    assert worker.state.license_token == "…ab12"
    assert worker.update_license(LicenseStatus.REGISTERED, "SECRET-TOKEN-ab12") is False
    assert worker.update_license(LicenseStatus.REGISTERED) is False
    assert worker.update_license(LicenseStatus.EXPIRED) is True
    assert worker.state.license_token == "…ab12"  # kept when no new token is given


@pytest.mark.parametrize(
    ("secret", "masked"),
    [
        ("ABCDEFGH12345678", "…5678"),
        ("abc", "…***"),
        ("abcd", "…****"),
        ("", ""),
        (None, None),
        ("…5678", "…5678"),
    ],
)
def test_mask_secret(secret, masked):
    assert mask_secret(secret) == masked


# ---------------------------------------------------------------- connectivity
def test_update_endpoint(frozen_clock):
    worker = new_worker(frozen_clock, S.RUNNING)
    assert worker.update_endpoint("https://54.1.2.3", "54.1.2.3") is True
    event = only_event(worker)
    assert isinstance(event, CMLWorkerEndpointUpdatedDomainEvent)
    assert event.model_dump() == {
        "aggregate_id": "w-1",
        "https_endpoint": "https://54.1.2.3",
        "public_ip": "54.1.2.3",
        "updated_at": frozen_clock(),
    }
    assert worker.update_endpoint("https://54.1.2.3", "54.1.2.3") is False
    assert worker.update_endpoint("https://54.1.2.3") is True  # public IP gone
    assert worker.state.public_ip is None


def test_uncommitted_events_are_handed_over_once(frozen_clock):
    worker = new_worker(frozen_clock, S.RUNNING)
    worker.update_status(S.STOPPING)
    worker.update_status(S.STOPPED)
    assert len(worker.uncommitted_events) == 2
    assert len(worker.pull_uncommitted_events()) == 2
    assert worker.pull_uncommitted_events() == []
    assert worker.state.version == 3
