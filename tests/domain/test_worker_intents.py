"""The CMLWorker aggregate: which operator action each status allows, and the intents of
issue 12 (a pending action completed, attributed, expired, rebased)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cmltui.domain.enums import CMLServiceStatus, CMLWorkerStatus, LicenseStatus
from cmltui.domain.errors import ActionRefusedError
from cmltui.domain.worker import CMLWorker
from tests.domain.worker_helpers import S, new_worker, only_event

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
