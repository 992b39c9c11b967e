"""``domain.rebase``: which of a writer's events still say something on another's newer copy."""

from __future__ import annotations

from cmltui.domain.enums import CMLWorkerStatus
from cmltui.domain.rebase import adds_to, lay_over
from tests.fixtures.workers import make_worker


def test_a_second_creation_adds_nothing(frozen_clock):
    stored = make_worker(frozen_clock, "w1", instance_id="i-1")
    again = make_worker(frozen_clock, "w1", instance_id="i-1")
    created = again.uncommitted_events[0]
    assert not adds_to(stored.state, created)
    assert adds_to(type(stored.state)(), created)  # on nothing, it is the creation


def test_an_answered_action_is_not_answered_again(frozen_clock):
    worker = make_worker(frozen_clock, "w1", instance_id="i-1")
    worker.request_action("stop", "ops@host", "token-1")
    open_copy = worker.state.model_copy(deep=True)
    worker.complete_action("token-1", "accepted")
    completion = worker.uncommitted_events[-1]
    assert adds_to(open_copy, completion)
    assert not adds_to(worker.state, completion)


def test_lay_over_keeps_history_and_news_in_order(frozen_clock):
    theirs = make_worker(frozen_clock, "w1", instance_id="i-1")
    theirs.update_status(CMLWorkerStatus.STOPPING)
    mine = make_worker(frozen_clock, "w1", instance_id="i-1")
    mine.pull_uncommitted_events()  # its copy as stored before both changed it
    mine.update_status(CMLWorkerStatus.STOPPING)  # the same observation
    mine.record_lab_action("stop", "lab-1", "Lab", "ops@host", "accepted")  # history
    mine.update_telemetry(frozen_clock(), 3, 10.0, 20.0)  # news
    events = list(mine.uncommitted_events)
    state, kept = lay_over(theirs.state, events)
    assert kept == [1, 2]
    assert state.active_labs_count == 3
    assert state.status == CMLWorkerStatus.STOPPING
    assert theirs.state.active_labs_count != 3  # the given state is not changed
    assert state.version == theirs.state.version + 2
