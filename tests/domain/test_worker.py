"""The CMLWorker aggregate: each behaviour method, the event it records, its return rules."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cmltui.domain.enums import CMLServiceStatus, CMLWorkerStatus, LicenseStatus
from cmltui.domain.errors import ActionRefusedError, InvalidTelemetryError
from cmltui.domain.events import (
    CMLServiceStatusUpdatedDomainEvent,
    CMLWorkerAutoStoppedDomainEvent,
    CMLWorkerCreatedDomainEvent,
    CMLWorkerEndpointUpdatedDomainEvent,
    CMLWorkerIdlePolicyUpdatedDomainEvent,
    CMLWorkerInstanceAssignedDomainEvent,
    CMLWorkerLicenseUpdatedDomainEvent,
    CMLWorkerStatusUpdatedDomainEvent,
    CMLWorkerTelemetryUpdatedDomainEvent,
    CMLWorkerTerminatedDomainEvent,
)
from cmltui.domain.worker import CMLWorker, mask_secret
from tests.fixtures.workers import make_worker

S = CMLWorkerStatus


def new_worker(clock, status: CMLWorkerStatus = S.PENDING) -> CMLWorker:
    """The worker these tests start from: created in ``status``, its creation event taken."""
    return make_worker(
        clock,
        "w-1",
        name="Dev Lab Worker 1",
        created_by="user_123",
        status=status,
        observed=False,
        fresh=True,
    )


def only_event(worker: CMLWorker):
    events = worker.pull_uncommitted_events()
    assert len(events) == 1, events
    return events[0]


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


# ---------------------------------------------------------------- telemetry and idleness
def test_update_telemetry(frozen_clock):
    worker = new_worker(frozen_clock, S.RUNNING)
    seen = frozen_clock() - timedelta(minutes=5)
    assert worker.update_telemetry(seen, 2, 45.5, 62.3) is True
    event = only_event(worker)
    assert isinstance(event, CMLWorkerTelemetryUpdatedDomainEvent)
    assert event.model_dump() == {
        "aggregate_id": "w-1",
        "last_activity_at": seen,
        "active_labs_count": 2,
        "cpu_utilization": 45.5,
        "memory_utilization": 62.3,
        "updated_at": frozen_clock(),
    }
    s = worker.state
    assert (s.last_activity_at, s.active_labs_count, s.cpu_utilization, s.memory_utilization) == (
        seen,
        2,
        45.5,
        62.3,
    )
    assert worker.update_telemetry(seen, 2, 45.5, 62.3) is False
    assert worker.update_telemetry(seen, 2, 45.6, 62.3) is True
    assert worker.update_telemetry(seen, 2, None, None) is True
    assert worker.state.cpu_utilization is None


@pytest.mark.parametrize(
    ("labs", "cpu", "memory"),
    [
        (-1, 5.0, 5.0),
        (0, -0.1, 5.0),
        (0, 100.1, 5.0),
        (0, 5.0, -1.0),
        (0, 5.0, 250.0),
        (0, float("nan"), 5.0),
        (1.5, 5.0, 5.0),
        (True, 5.0, 5.0),
    ],
)
def test_out_of_range_telemetry_is_refused(frozen_clock, labs, cpu, memory):
    worker = new_worker(frozen_clock, S.RUNNING)
    before = worker.state.model_copy()
    with pytest.raises(InvalidTelemetryError):
        worker.update_telemetry(frozen_clock(), labs, cpu, memory)
    assert worker.state == before and worker.uncommitted_events == ()


def test_telemetry_bounds_are_inclusive(frozen_clock):
    worker = new_worker(frozen_clock, S.RUNNING)
    assert worker.update_telemetry(None, 0, 0.0, 100.0) is True
    assert worker.update_telemetry(None, 0, 100, 0) is True


def test_is_idle_by_the_seed_criteria(frozen_clock):
    worker = new_worker(frozen_clock, S.RUNNING)
    assert worker.is_idle(30) is False  # no last activity: never idle
    assert worker.idle_minutes() is None
    frozen_clock.advance(minutes=60)  # running for an hour (idleness never counts from before)
    worker.update_telemetry(frozen_clock() - timedelta(minutes=29), 0, 1.0, 1.0)
    assert worker.is_idle(30) is False
    assert worker.idle_minutes() == pytest.approx(29)
    frozen_clock.advance(minutes=1)
    assert worker.is_idle(30) is True  # the threshold itself counts as idle
    frozen_clock.advance(minutes=60)
    assert worker.is_idle(30) is True
    worker.update_telemetry(worker.state.last_activity_at, 1, 1.0, 1.0)
    assert worker.is_idle(30) is False  # an active lab means not idle
    # ``now`` can be given instead of the clock.
    worker.update_telemetry(worker.state.last_activity_at, 0, 1.0, 1.0)
    assert worker.is_idle(30, now=worker.state.last_activity_at + timedelta(minutes=10)) is False


def test_idleness_counts_from_the_last_start_not_from_activity_before_the_stop(frozen_clock):
    worker = new_worker(frozen_clock, S.RUNNING)
    worker.update_telemetry(frozen_clock() - timedelta(minutes=5), 0, 1.0, 1.0)
    worker.update_status(S.STOPPING)
    worker.update_status(S.STOPPED)
    frozen_clock.advance(hours=3)
    worker.update_status(S.PENDING)
    worker.update_status(S.RUNNING)
    # Just started: the activity from before the stop (3 h ago) does not make it idle.
    assert worker.idle_since() == worker.state.last_started_at == frozen_clock()
    assert worker.idle_minutes() == pytest.approx(0)
    assert worker.is_idle(30) is False
    frozen_clock.advance(minutes=31)
    assert worker.is_idle(30) is True
    # Activity after the start counts as usual.
    worker.update_telemetry(frozen_clock(), 0, 1.0, 1.0)
    assert worker.idle_since() == frozen_clock()


def test_can_connect_by_the_seed_criteria(frozen_clock):
    worker = new_worker(frozen_clock, S.PENDING)
    assert worker.can_connect() is False
    worker.update_service_status(CMLServiceStatus.AVAILABLE, "https://54.1.2.3")
    assert worker.can_connect() is False  # not RUNNING yet
    worker.update_status(S.RUNNING)
    assert worker.can_connect() is True
    worker.update_endpoint(None, None)
    assert worker.can_connect() is False  # no endpoint
    worker.update_endpoint("https://54.1.2.3", "54.1.2.3")
    worker.update_service_status(CMLServiceStatus.STARTING)
    assert worker.can_connect() is False  # service not available


def test_connect_refusal_says_which_seed_criterion_fails(frozen_clock):
    """One rule (``domain.worker_queries``) gives both the yes/no and the reason (issue 15 #14)."""
    worker = new_worker(frozen_clock, S.PENDING)
    assert worker.connect_refusal() == "it is pending"
    worker.update_service_status(CMLServiceStatus.AVAILABLE, "https://54.1.2.3")
    worker.update_status(S.RUNNING)
    assert worker.connect_refusal() is None and worker.can_connect() is True
    worker.update_endpoint(None, None)
    assert worker.connect_refusal() == "it has no endpoint yet"
    worker.update_endpoint("https://54.1.2.3", "54.1.2.3")
    worker.update_service_status(CMLServiceStatus.STARTING)
    assert worker.connect_refusal() == "CML is starting, not available"
    worker.update_status(S.STOPPED)
    assert worker.connect_refusal() == "it is stopped"
    worker.update_status(S.UNKNOWN)
    assert worker.connect_refusal() == "its EC2 state is unknown"
    worker.terminate("alice")
    assert worker.connect_refusal() == "it is terminated" and not worker.can_connect()


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


# ---------------------------------------------------------------- operator intents
ALL = list(S)


@pytest.mark.parametrize("status", ALL)
def test_start_only_from_stopped(frozen_clock, status):
    worker = new_worker(frozen_clock, status)
    if status == S.STOPPED:
        worker.check_can_start()
        assert worker.mark_starting("alice") is True
        event = only_event(worker)
        assert (event.new_status, event.changed_by) == (S.PENDING, "alice")
        assert worker.state.last_started_at == frozen_clock()
    else:
        with pytest.raises(ActionRefusedError, match="cannot start Dev Lab Worker 1") as info:
            worker.mark_starting("alice")
        assert info.value.action == "start" and status.value in info.value.reason
        assert worker.state.status == status and worker.uncommitted_events == ()


@pytest.mark.parametrize("status", ALL)
def test_stop_only_from_pending_or_running(frozen_clock, status):
    worker = new_worker(frozen_clock, status)
    if status in (S.PENDING, S.RUNNING):
        worker.check_can_stop()
        assert worker.mark_stopping("alice") is True
        assert only_event(worker).new_status == S.STOPPING
    else:
        with pytest.raises(ActionRefusedError, match="cannot stop"):
            worker.mark_stopping("alice")
        assert worker.state.status == status and worker.uncommitted_events == ()


@pytest.mark.parametrize("status", ALL)
def test_terminate_anything_not_yet_terminated(frozen_clock, status):
    worker = new_worker(frozen_clock, status)
    if status == S.TERMINATED:
        with pytest.raises(ActionRefusedError, match="already terminated"):
            worker.mark_shutting_down("bob")
        return
    worker.check_can_terminate()
    expected_change = status != S.SHUTTING_DOWN
    assert worker.mark_shutting_down("bob") is expected_change
    assert worker.state.status == S.SHUTTING_DOWN


def test_licence_actions_need_a_reachable_cml(frozen_clock):
    worker = new_worker(frozen_clock, S.RUNNING)
    with pytest.raises(ActionRefusedError, match="CML is not reachable"):
        worker.check_can_manage_license()
    worker.update_service_status(CMLServiceStatus.AVAILABLE, "https://54.1.2.3")
    worker.check_can_manage_license()


# ---------------------------------------------------------------- idle policy
def test_auto_stop_opt_out(frozen_clock):
    worker = new_worker(frozen_clock, S.RUNNING)
    assert worker.set_auto_stop_opt_out(True, updated_by="ops") is True
    event = only_event(worker)
    assert isinstance(event, CMLWorkerIdlePolicyUpdatedDomainEvent)
    assert (event.auto_stop_opt_out, event.updated_by, event.updated_at) == (
        True,
        "ops",
        frozen_clock(),
    )
    assert worker.state.auto_stop_opt_out is True
    assert worker.set_auto_stop_opt_out(True) is False
    assert worker.set_auto_stop_opt_out(False) is True


def test_record_auto_stop(frozen_clock):
    worker = new_worker(frozen_clock, S.RUNNING)
    worker.record_auto_stop("idle for 45 min", 45.06)
    auto, status = worker.pull_uncommitted_events()
    assert isinstance(auto, CMLWorkerAutoStoppedDomainEvent)
    assert (auto.reason, auto.idle_minutes, auto.stopped_at) == (
        "idle for 45 min",
        45.1,
        frozen_clock(),
    )
    assert (status.new_status, status.changed_by) == (S.STOPPING, "cmltui:idle-policy")
    assert worker.state.last_auto_stop_reason == "idle for 45 min"
    with pytest.raises(ActionRefusedError):
        worker.record_auto_stop("again", 50)  # already stopping


def test_last_started_at_follows_starts_by_anyone(frozen_clock):
    worker = new_worker(frozen_clock, S.STOPPED)
    assert worker.state.last_started_at is None
    frozen_clock.advance(minutes=10)
    worker.update_status(S.RUNNING)  # started outside cmltui, seen in EC2
    assert worker.state.last_started_at == frozen_clock()
    frozen_clock.advance(minutes=10)
    worker.update_status(S.PENDING)  # running -> pending is not a fresh start
    assert worker.state.last_started_at == frozen_clock() - timedelta(minutes=10)


def test_uncommitted_events_are_handed_over_once(frozen_clock):
    worker = new_worker(frozen_clock, S.RUNNING)
    worker.update_status(S.STOPPING)
    worker.update_status(S.STOPPED)
    assert len(worker.uncommitted_events) == 2
    assert len(worker.pull_uncommitted_events()) == 2
    assert worker.pull_uncommitted_events() == []
    assert worker.state.version == 3


# ---------------------------------------------------------------- intents (issue 12)
def _running(clock) -> CMLWorker:
    worker = CMLWorker("w", "us-east-1", "c5.xlarge", worker_id="w-9", clock=clock)
    worker.assign_instance("i-1", None, None)
    worker.update_status(CMLWorkerStatus.RUNNING)
    return worker


def test_an_interrupted_stop_is_completed_with_its_actor_when_ec2_shows_it(frozen_clock):
    worker = _running(frozen_clock)
    worker.request_action("stop", "alice", "tok")
    assert worker.state.pending_action and worker.state.pending_action.requested_by == "alice"
    # The process died after StopInstances; a later refresh observes the stop.
    replayed = CMLWorker.from_events(worker.pull_uncommitted_events(), clock=frozen_clock)
    replayed.update_status(CMLWorkerStatus.STOPPED)
    status, completed = replayed.uncommitted_events
    assert status.changed_by == "alice"
    assert completed.outcome == "confirmed" and completed.request_token == "tok"
    assert replayed.state.pending_action is None


def test_an_observed_change_that_was_not_asked_for_stays_unattributed(frozen_clock):
    worker = _running(frozen_clock)
    worker.request_action("stop", "alice", "tok")
    worker.update_status(CMLWorkerStatus.SHUTTING_DOWN)  # someone terminated it in the console
    assert worker.uncommitted_events[-1].changed_by is None
    assert worker.state.pending_action is not None


def test_a_pending_action_nothing_confirms_expires_as_not_observed(frozen_clock):
    worker = _running(frozen_clock)
    worker.request_action("stop", "alice", "tok")
    assert worker.expire_pending_action(timedelta(minutes=15)) is None
    frozen_clock.advance(minutes=16)
    assert worker.expire_pending_action(timedelta(minutes=15)) is not None
    assert worker.uncommitted_events[-1].outcome == "not-observed"
    assert worker.state.pending_action is None


def test_an_interrupted_create_is_confirmed_by_its_instance(frozen_clock):
    worker = CMLWorker("new", "us-east-1", "c5.xlarge", created_by="bob", clock=frozen_clock)
    worker.request_action("create", "bob", "tok-create")
    worker.assign_instance("i-9", None, None)
    assert worker.uncommitted_events[-1].outcome == "confirmed"
    assert worker.state.created_by == "bob"


def test_a_completed_outcome_needs_the_pending_token(frozen_clock):
    worker = _running(frozen_clock)
    worker.request_action("start", "alice", "tok")
    assert not worker.complete_action("other", "accepted")
    assert worker.complete_action("tok", "accepted")
    assert not worker.complete_action("tok", "accepted")


def test_rebase_keeps_unsaved_changes_and_drops_what_the_other_process_recorded(frozen_clock):
    worker = _running(frozen_clock)
    worker.pull_uncommitted_events()
    stored = worker.state.model_copy(deep=True)
    other = CMLWorker.from_state(stored.model_copy(deep=True), clock=frozen_clock)
    other.update_status(CMLWorkerStatus.STOPPED)  # the other process saw the stop first
    other.set_auto_stop_opt_out(True, updated_by="bob")
    worker.update_status(CMLWorkerStatus.STOPPED)  # the same observation, here
    worker.update_license(LicenseStatus.REGISTERED)  # and one only this process made
    worker.rebase(other.state)
    kinds = [type(e).__name__ for e in worker.uncommitted_events]
    assert kinds == ["CMLWorkerLicenseUpdatedDomainEvent"]
    assert worker.state.status == CMLWorkerStatus.STOPPED
    assert (
        worker.state.auto_stop_opt_out and worker.state.license_status == LicenseStatus.REGISTERED
    )


def test_every_open_action_expires_but_one_still_awaited(frozen_clock):
    worker = _running(frozen_clock)
    worker.request_action("stop", "alice", "old")
    worker.request_action("terminate", "bob", "new")  # alice's stays open
    assert [a.request_token for a in worker.state.open_actions()] == ["new", "old"]
    frozen_clock.advance(minutes=16)
    worker.expire_pending_action(timedelta(minutes=15), keep={"new"})
    assert [a.request_token for a in worker.state.open_actions()] == ["new"]
    worker.expire_pending_action(timedelta(minutes=15))
    assert worker.state.open_actions() == []


def test_an_older_open_action_is_confirmed_by_what_it_asked_for(frozen_clock):
    worker = _running(frozen_clock)
    worker.request_action("terminate", "alice", "t")  # her call went out; she died
    worker.update_status(CMLWorkerStatus.STOPPED)  # bob started... no: EC2 shows nothing yet
    worker.request_action("start", "bob", "s")
    worker.update_status(CMLWorkerStatus.TERMINATED)
    terminated = [
        e for e in worker.uncommitted_events if type(e).__name__.endswith("TerminatedDomainEvent")
    ]
    assert terminated[-1].terminated_by == "alice"
    assert [a.request_token for a in worker.state.open_actions()] == ["s"]
