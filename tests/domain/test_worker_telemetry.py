"""The CMLWorker aggregate: telemetry, idleness by the seed criteria, connect checks and the
idle policy (opt-out, auto-stop, last start)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cmltui.domain.enums import CMLServiceStatus
from cmltui.domain.errors import ActionRefusedError, InvalidTelemetryError
from cmltui.domain.events import (
    CMLWorkerAutoStoppedDomainEvent,
    CMLWorkerIdlePolicyUpdatedDomainEvent,
    CMLWorkerTelemetryUpdatedDomainEvent,
)
from tests.domain.worker_helpers import S, new_worker, only_event


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
