"""Per-worker policy (issue 16 #2): the event, its replay, precedence and every explanation."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from cmltui.domain.enums import CMLWorkerStatus
from cmltui.domain.events import (
    CMLWorkerPolicyChangedDomainEvent,
    event_from_cloudevent,
    to_cloudevent,
)
from cmltui.domain.policy import (
    EffectivePolicy,
    NextStart,
    effective_policy,
    explain_next_action,
    when_text,
)
from cmltui.domain.schedule import Schedule, WeeklyWindow
from cmltui.domain.worker import CMLWorker
from cmltui.domain.worker_policy import PolicyChange, PolicyRefusedError

NOW = datetime(2026, 3, 10, 17, 0, tzinfo=UTC)  # a Tuesday
PARIS = ZoneInfo("Europe/Paris")
CLASS = Schedule(
    "emea-class",
    PARIS,
    (WeeklyWindow(frozenset(range(5)), time(9), time(17)),),
    idle_minutes=20,
)
PLAIN = Schedule("plain", PARIS, (WeeklyWindow(frozenset({0}), time(9), time(17)),))
SCHEDULES = {"emea-class": CLASS, "plain": PLAIN}


def _worker(frozen_clock) -> CMLWorker:
    worker = CMLWorker("w", "us-east-1", "c5.xlarge", worker_id="w-1", clock=frozen_clock)
    worker.update_status(CMLWorkerStatus.RUNNING)
    return worker


def _resolve(worker: CMLWorker, *, tag: str | None = None, auto_stop: bool = True, now=NOW):
    return effective_policy(
        worker.state,
        global_idle_minutes=30,
        global_auto_stop=auto_stop,
        schedules=SCHEDULES,
        schedule_tag=tag,
        now=now,
    )


# ---------------------------------------------------------------- the aggregate
def test_set_policy_records_one_event_with_the_actor_and_replay_rebuilds_it(frozen_clock):
    worker = _worker(frozen_clock)
    worker.pull_uncommitted_events()
    window = (NOW, NOW + timedelta(hours=3))
    assert worker.set_policy(
        PolicyChange(idle_minutes=90, schedule=" emea-class ", maintenance=window),
        updated_by="alice",
    )
    (event,) = worker.uncommitted_events
    assert isinstance(event, CMLWorkerPolicyChangedDomainEvent)
    assert (event.idle_minutes, event.schedule, event.updated_by) == (90, "emea-class", "alice")
    assert (event.maintenance_from, event.maintenance_until) == window
    # Through the stored envelope and back, as the data file replays it.
    stored = [to_cloudevent(e).model_dump(mode="json") for e in worker.pull_uncommitted_events()]
    replayed = CMLWorker.from_events(
        [*_worker(frozen_clock).pull_uncommitted_events(), *map(event_from_cloudevent, stored)],
        clock=frozen_clock,
    )
    s = replayed.state
    assert (s.policy_idle_minutes, s.policy_schedule) == (90, "emea-class")
    assert (s.policy_maintenance_from, s.policy_maintenance_until) == window


def test_unchanged_fields_are_kept_none_clears_and_a_no_op_records_nothing(frozen_clock):
    worker = _worker(frozen_clock)
    worker.set_policy(PolicyChange(idle_minutes=90, schedule="plain"))
    worker.pull_uncommitted_events()
    assert not worker.set_policy(PolicyChange(idle_minutes=90))
    assert worker.uncommitted_events == ()
    assert worker.set_policy(PolicyChange(idle_minutes=None))
    assert worker.state.policy_idle_minutes is None
    assert worker.state.policy_schedule == "plain"  # left as it was


def test_auto_stop_in_a_change_uses_the_opt_out_event(frozen_clock):
    worker = _worker(frozen_clock)
    worker.pull_uncommitted_events()
    assert worker.set_policy(PolicyChange(auto_stop=False), updated_by="bob")
    (event,) = worker.uncommitted_events
    assert type(event).__name__ == "CMLWorkerIdlePolicyUpdatedDomainEvent"
    assert worker.state.auto_stop_opt_out


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (PolicyChange(idle_minutes=0), "from 1 to"),
        (PolicyChange(idle_minutes=10_081), "from 1 to"),
        (PolicyChange(schedule="  "), "printable"),
        (PolicyChange(maintenance=(NOW, NOW)), "end after it starts"),
        (PolicyChange(maintenance=(NOW.replace(tzinfo=None), NOW)), "with a zone"),
    ],
)
def test_out_of_range_values_are_refused_with_a_reason(frozen_clock, change, words):
    worker = _worker(frozen_clock)
    with pytest.raises(PolicyRefusedError, match=words):
        worker.set_policy(change)


# ---------------------------------------------------------------- precedence
def test_global_applies_when_nothing_else_does(frozen_clock):
    policy = _resolve(_worker(frozen_clock))
    assert (policy.idle_minutes, policy.source, policy.schedule) == (30, "global", None)
    assert policy.auto_stop and policy.maintenance_until is None


def test_the_tagged_schedule_overrides_the_global_threshold(frozen_clock):
    policy = _resolve(_worker(frozen_clock), tag="emea-class")
    assert (policy.idle_minutes, policy.source) == (20, "schedule")
    assert (policy.schedule, policy.schedule_source, policy.schedule_known) == (
        "emea-class",
        "tag",
        True,
    )


def test_a_schedule_without_its_own_threshold_leaves_the_global_one(frozen_clock):
    policy = _resolve(_worker(frozen_clock), tag="plain")
    assert (policy.idle_minutes, policy.source, policy.schedule) == (30, "global", "plain")


def test_the_worker_setting_overrides_schedule_and_tag(frozen_clock):
    worker = _worker(frozen_clock)
    worker.set_policy(PolicyChange(idle_minutes=90, schedule="plain"))
    policy = _resolve(worker, tag="emea-class")
    assert (policy.idle_minutes, policy.source) == (90, "worker")
    assert (policy.schedule, policy.schedule_source) == ("plain", "worker")


def test_the_worker_schedule_brings_its_threshold_over_the_tag(frozen_clock):
    worker = _worker(frozen_clock)
    worker.set_policy(PolicyChange(schedule="emea-class"))
    policy = _resolve(worker, tag="plain")
    assert (policy.idle_minutes, policy.source, policy.schedule) == (20, "schedule", "emea-class")


def test_an_explicit_schedule_threshold_map_wins_over_the_schedule_field(frozen_clock):
    policy = effective_policy(
        _worker(frozen_clock).state,
        global_idle_minutes=30,
        global_auto_stop=True,
        schedules=SCHEDULES,
        schedule_tag="emea-class",
        schedule_idle_minutes={"emea-class": 50},
        now=NOW,
    )
    assert (policy.idle_minutes, policy.source) == (50, "schedule")


def test_an_unknown_schedule_applies_nothing_but_is_named(frozen_clock):
    policy = _resolve(_worker(frozen_clock), tag="nope")
    assert (policy.schedule, policy.schedule_known, policy.source) == ("nope", False, "global")


def test_auto_stop_is_off_by_the_worker_or_globally(frozen_clock):
    worker = _worker(frozen_clock)
    assert _resolve(worker, auto_stop=False).auto_stop_off_by == "global"
    worker.set_auto_stop_opt_out(True)
    policy = _resolve(worker)
    assert (policy.auto_stop, policy.auto_stop_off_by) == (False, "worker")


def test_maintenance_is_in_force_only_inside_its_window(frozen_clock):
    worker = _worker(frozen_clock)
    starts, ends = NOW + timedelta(hours=1), NOW + timedelta(hours=3)
    worker.set_policy(PolicyChange(maintenance=(starts, ends)))
    before = _resolve(worker)
    assert before.maintenance_until is None and before.maintenance_ahead == (starts, ends)
    assert _resolve(worker, now=starts).maintenance_until == ends
    after = _resolve(worker, now=ends)
    assert after.maintenance_until is None and after.maintenance_ahead is None


# ---------------------------------------------------------------- explanations
def _policy(**fields) -> EffectivePolicy:
    base = {
        "idle_minutes": 45,
        "schedule": None,
        "auto_stop": True,
        "maintenance_until": None,
        "source": "worker",
    }
    return EffectivePolicy(**(base | fields))


def _explain(policy, status=CMLWorkerStatus.RUNNING, **kwargs):
    return explain_next_action(policy, status=status, now=NOW, zone=UTC, **kwargs)


def test_explains_the_idle_stop_time_and_where_the_threshold_comes_from():
    assert _explain(_policy(), stop_in_minutes=72) == (
        "stops at 18:12 UTC if still idle (threshold 45 min, from worker)",
    )


def test_explains_a_stop_set_by_the_close_grace():
    policy = _policy(schedule="emea-class", schedule_known=True, source="schedule", idle_minutes=10)
    assert _explain(policy, stop_in_minutes=3, close_grace_minutes=5) == (
        "stops at 17:03 UTC if still idle (close grace 5 min: nobody active since emea-class "
        "closed)",
    )


def test_explains_an_idle_stop_before_any_activity():
    assert _explain(_policy(source="global")) == (
        "stops once idle (threshold 45 min, from global)",
    )


def test_explains_maintenance_blocking_the_stop():
    policy = _policy(maintenance_until=datetime(2026, 3, 11, 6, 0, tzinfo=UTC))
    assert _explain(policy, stop_in_minutes=0) == (
        "auto-stop blocked by maintenance until Wed 06:00 UTC",
    )


def test_explains_a_maintenance_window_ahead():
    ahead = (NOW + timedelta(hours=1), NOW + timedelta(days=1))
    lines = _explain(_policy(maintenance_ahead=ahead), stop_in_minutes=5)
    assert lines[1] == "maintenance from 18:00 UTC until Wed 17:00 UTC blocks auto-stop"


def test_explains_an_opt_out_and_a_global_switch_off():
    assert _explain(_policy(auto_stop=False, auto_stop_off_by="worker")) == (
        "no idle auto-stop (opted out)",
    )
    assert _explain(_policy(auto_stop=False, auto_stop_off_by="global")) == (
        "no idle auto-stop ([idle] auto_stop is off)",
    )


def test_explains_a_running_lab_and_an_open_window():
    assert _explain(_policy(), lab_running=True) == (
        "not stopped while a lab runs (threshold 45 min, from worker)",
    )
    policy = _policy(schedule="emea-class", schedule_known=True, source="schedule")
    closes = datetime(2026, 3, 10, 16, 0, tzinfo=UTC) + timedelta(hours=2)
    assert _explain(policy, window_closes=closes) == (
        "kept up by emea-class until 18:00 UTC, then stops once idle "
        "(threshold 45 min, from schedule)",
    )


def test_explains_a_scheduled_start_in_the_schedule_zone():
    start = NextStart(datetime(2026, 3, 16, 7, 35, tzinfo=UTC), "emea-class", PARIS)
    assert _explain(_policy(), CMLWorkerStatus.STOPPED, next_start=start) == (
        "starts Mon 08:35 CET for emea-class",
    )
    assert _explain(_policy(), CMLWorkerStatus.STOPPED) == ()


def test_explains_an_unknown_schedule():
    lines = _explain(_policy(schedule="nope"), CMLWorkerStatus.STOPPED)
    assert lines == ("schedule nope is not in the config: no schedule applies",)


def test_when_text_beyond_a_week_gives_the_date():
    assert when_text(NOW + timedelta(days=9), NOW, UTC) == "2026-03-19 17:00 UTC"
