"""The idle policy: idle by the seed's rule, and auto-stop only when every guard allows it."""

from __future__ import annotations

from cmltui.config import IdleConfig
from cmltui.domain.clock import FrozenClock
from cmltui.domain.enums import CMLWorkerStatus
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
