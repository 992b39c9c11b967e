"""The idle policy: idle by the seed's rule, and auto-stop only when every guard allows it."""

from __future__ import annotations

from datetime import UTC, timedelta

from cmltui.config import IdleConfig
from cmltui.domain.clock import FrozenClock
from cmltui.domain.enums import CMLWorkerStatus
from cmltui.domain.schedule import Schedule, WeeklyWindow
from cmltui.services.history import TelemetryHistory, history_capacity
from cmltui.services.idle_policy import evaluate_idle
from tests.fixtures.workers import make_worker


def _running_worker(clock: FrozenClock):
    worker = make_worker(clock, "w1", status=CMLWorkerStatus.STOPPED, observed=False)
    worker.update_status(CMLWorkerStatus.RUNNING)  # started now
    worker.update_telemetry(clock(), 0, 1.0, 20.0)  # activity now
    return worker


def test_idle_worker_past_threshold_and_snooze_is_stopped():
    clock = FrozenClock()
    worker = _running_worker(clock)
    policy = IdleConfig(threshold_minutes=30, auto_stop=True, snooze_minutes=20)
    clock.advance(minutes=29)
    early = evaluate_idle(worker, policy, clock())
    assert not early.should_stop_now
    assert early.stop_in_minutes == 1.0
    clock.advance(minutes=2)
    verdict = evaluate_idle(worker, policy, clock())
    assert verdict.is_idle and verdict.should_stop_now
    assert "idle for 31 min" in verdict.reason


def test_never_while_a_lab_runs():
    clock = FrozenClock()
    worker = _running_worker(clock)
    start = clock()
    worker.update_telemetry(start, 1, 1.0, 20.0)
    clock.advance(minutes=120)
    verdict = evaluate_idle(worker, IdleConfig(threshold_minutes=30, auto_stop=True), clock())
    assert not verdict.should_stop_now
    assert verdict.reason == "a lab is running"


def test_snooze_after_a_start_holds_the_stop_back():
    clock = FrozenClock()
    worker = make_worker(clock, "w1", status=CMLWorkerStatus.RUNNING, observed=False)
    worker.update_telemetry(clock(), 0, 1.0, 20.0)
    clock.advance(minutes=40)
    worker.update_status(CMLWorkerStatus.STOPPED)
    worker.update_status(CMLWorkerStatus.RUNNING)  # a start seen in EC2, e.g. from the console
    policy = IdleConfig(threshold_minutes=30, auto_stop=True, snooze_minutes=60)
    verdict = evaluate_idle(worker, policy, clock())
    # Idleness counts from the start, not from the activity 40 min before it.
    assert (verdict.idle_minutes, verdict.is_idle) == (0.0, False)
    assert not verdict.should_stop_now
    assert verdict.stop_in_minutes == 60.0
    clock.advance(minutes=31)
    snoozed = evaluate_idle(worker, policy, clock())
    assert snoozed.is_idle  # idle by the seed's rule...
    assert not snoozed.should_stop_now  # ...but inside the snooze window
    assert snoozed.reason == "idle, but started less than 60 min ago"
    clock.advance(minutes=30)
    assert evaluate_idle(worker, policy, clock()).should_stop_now


def test_opt_out_and_auto_stop_off_never_stop():
    clock = FrozenClock()
    worker = _running_worker(clock)
    clock.advance(minutes=90)
    off = evaluate_idle(
        worker, IdleConfig(threshold_minutes=30, auto_stop=False, snooze_minutes=0), clock()
    )
    assert off.is_idle and not off.should_stop_now
    worker.set_auto_stop_opt_out(True)
    opted_out = evaluate_idle(
        worker, IdleConfig(threshold_minutes=30, auto_stop=True, snooze_minutes=0), clock()
    )
    assert not opted_out.should_stop_now
    assert opted_out.reason == "opted out of auto-stop"


def test_stopped_worker_is_not_idle():
    clock = FrozenClock()
    worker = _running_worker(clock)
    worker.update_status(CMLWorkerStatus.STOPPED)
    clock.advance(minutes=90)
    verdict = evaluate_idle(worker, IdleConfig(auto_stop=True, snooze_minutes=0), clock())
    assert not verdict.is_idle and not verdict.should_stop_now


def test_history_rings_stay_bounded():
    history = TelemetryHistory(history_capacity(3600, 30))
    for sample in range(10_000):
        history.add(float(sample % 100), None, sample % 3)
    assert len(history.cpu) == len(history.memory) == len(history.labs) == 120
    assert history.cpu[-1] == 99.0
    assert history.memory[-1] == 0.0  # a missing value repeats the last one (none yet: 0)


def _closing_in(clock: FrozenClock, minutes: int, *, grace: int | None = 5) -> Schedule:
    """A daily window that closes ``minutes`` from the clock's now (UTC, whole minutes)."""
    closes = (clock() + timedelta(minutes=minutes)).astimezone(UTC)
    opens = closes - timedelta(hours=2)
    window = WeeklyWindow(frozenset(range(7)), opens.time(), closes.time())
    return Schedule("class", UTC, (window,), close_grace_minutes=grace)


def test_the_close_grace_stops_a_worker_nobody_used_since_the_close_but_waits_for_the_snooze():
    clock = FrozenClock()
    clock.set(clock().replace(second=0, microsecond=0))
    worker = _running_worker(clock)  # started and active now; the window closes in 2 min
    schedule = _closing_in(clock, 2)
    policy = IdleConfig(threshold_minutes=30, auto_stop=True, snooze_minutes=10)
    clock.advance(minutes=6)  # idle 6 min, 4 after the close: grace met, snooze not over
    verdict = evaluate_idle(worker, policy, clock(), schedule=schedule)
    assert not verdict.should_stop_now
    assert verdict.reason == "idle, but started less than 10 min ago"
    assert verdict.stop_in_minutes == 4.0  # the snooze's end, not the 30-min threshold's
    clock.advance(minutes=4)
    verdict = evaluate_idle(worker, policy, clock(), schedule=schedule)
    assert verdict.should_stop_now and not verdict.is_idle  # the threshold is still 20 min off
    assert "nobody active since class closed (close grace 5 min" in verdict.reason
    # Without the schedule (or with no grace) only the threshold applies.
    assert not evaluate_idle(worker, policy, clock()).should_stop_now
    no_grace = _closing_in(clock, -8, grace=None)
    assert not evaluate_idle(worker, policy, clock(), schedule=no_grace).should_stop_now


def test_the_close_grace_is_capped_by_a_shorter_threshold():
    clock = FrozenClock()
    clock.set(clock().replace(second=0, microsecond=0))
    worker = _running_worker(clock)
    schedule = _closing_in(clock, 1, grace=30)
    policy = IdleConfig(threshold_minutes=3, auto_stop=True, snooze_minutes=0)
    clock.advance(minutes=2)
    verdict = evaluate_idle(worker, policy, clock(), schedule=schedule)
    assert verdict.stop_in_minutes == 1.0  # the 3-min threshold, not the 30-min grace
