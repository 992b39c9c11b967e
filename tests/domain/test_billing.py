"""Billed hours, cost and the cost avoided by automatic stops, from a worker's real events
(recorded by the aggregate on a frozen clock), in a chosen zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from cmltui.domain.billing import (
    BillingTrail,
    CostFigures,
    Period,
    dates_period,
    day_period,
    week_period,
    weekday_index,
)
from cmltui.domain.clock import FrozenClock
from cmltui.domain.enums import CMLWorkerStatus
from cmltui.domain.worker import CMLWorker

PARIS = ZoneInfo("Europe/Paris")
PRICE = 4.0  # USD per hour


def _worker(clock: FrozenClock, status: CMLWorkerStatus = CMLWorkerStatus.PENDING) -> CMLWorker:
    return CMLWorker("w", "us-east-1", "m5zn.metal", status=status, clock=clock)


def _run(clock: FrozenClock, worker: CMLWorker) -> None:
    """Observed running now (a start seen by a refresh)."""
    worker.update_status(CMLWorkerStatus.RUNNING)


def _stop(worker: CMLWorker) -> None:
    worker.update_status(CMLWorkerStatus.STOPPING)
    worker.update_status(CMLWorkerStatus.STOPPED)


def _hours(trail: BillingTrail, period: Period, now: datetime) -> float:
    return round(trail.seconds_in(period, now) / 3600, 6)


def test_no_events_bill_and_save_nothing():
    trail = BillingTrail()
    now = datetime(2026, 3, 4, 12, tzinfo=UTC)
    assert trail.figures(week_period(now, UTC), now, PRICE) == CostFigures()
    assert trail.intervals == () and trail.savings == () and not trail.billable_now


def test_a_worker_started_and_never_stopped_bills_until_now():
    clock = FrozenClock(datetime(2026, 3, 4, 9, tzinfo=UTC))
    worker = _worker(clock)  # created PENDING: billed from its creation
    clock.advance(minutes=3)
    _run(clock, worker)
    trail = BillingTrail(worker.uncommitted_events)
    now = clock.advance(hours=2, minutes=57)  # 12:00
    figures = trail.figures(day_period(now, UTC), now, PRICE)
    assert figures.billed_hours == pytest.approx(3.0)
    assert figures.cost_usd == pytest.approx(12.0)
    assert trail.billable_now
    # Later, the same trail (nothing changed) goes on counting.
    later = now + timedelta(minutes=30)
    assert _hours(trail, day_period(later, UTC), later) == pytest.approx(3.5)


def test_an_interval_across_midnight_is_split_between_the_two_local_days():
    # 22:00 to 02:00 Paris time (UTC+1 in January): two hours on each local day.
    clock = FrozenClock(datetime(2026, 1, 14, 21, tzinfo=UTC))
    worker = _worker(clock, CMLWorkerStatus.STOPPED)
    _run(clock, worker)
    clock.advance(hours=4)
    _stop(worker)
    trail = BillingTrail(worker.uncommitted_events)
    now = clock.advance(hours=6)
    wednesday = dates_period(date(2026, 1, 14), date(2026, 1, 14), PARIS)
    thursday = day_period(now, PARIS)
    assert thursday == dates_period(date(2026, 1, 15), date(2026, 1, 15), PARIS)
    assert _hours(trail, wednesday, now) == 2.0
    assert _hours(trail, thursday, now) == 2.0
    # In New York (UTC-5) the same run is all on Wednesday afternoon.
    new_york = ZoneInfo("America/New_York")
    assert day_period(now, new_york) == dates_period(date(2026, 1, 15), date(2026, 1, 15), new_york)
    wednesday_ny = dates_period(date(2026, 1, 14), date(2026, 1, 14), new_york)
    assert _hours(trail, wednesday_ny, now) == 4.0


def test_the_week_boundary_follows_the_configured_first_day():
    # Sunday 2026-03-08 20:00 UTC to Monday 04:00 UTC: 4 h before Monday 00:00, 4 h after.
    clock = FrozenClock(datetime(2026, 3, 8, 20, tzinfo=UTC))
    worker = _worker(clock, CMLWorkerStatus.STOPPED)
    _run(clock, worker)
    clock.advance(hours=8)
    _stop(worker)
    trail = BillingTrail(worker.uncommitted_events)
    now = datetime(2026, 3, 10, 12, tzinfo=UTC)  # Tuesday
    monday_week = week_period(now, UTC, weekday_index("monday"))
    assert monday_week.start == datetime(2026, 3, 9, tzinfo=UTC)
    assert _hours(trail, monday_week, now) == 4.0
    sunday_week = week_period(now, UTC, weekday_index("sun"))
    assert sunday_week.start == datetime(2026, 3, 8, tzinfo=UTC)
    assert _hours(trail, sunday_week, now) == 8.0


def test_a_local_day_with_a_dst_change_has_its_real_length():
    # Paris springs forward on 2026-03-29 (02:00 -> 03:00): that day has 23 hours; a worker
    # running the whole day bills 23, not 24. It falls back on 2026-10-25: 25 hours.
    spring = dates_period(date(2026, 3, 29), date(2026, 3, 29), PARIS)
    autumn = dates_period(date(2026, 10, 25), date(2026, 10, 25), PARIS)
    assert (spring.end - spring.start) == timedelta(hours=23)
    assert (autumn.end - autumn.start) == timedelta(hours=25)
    for period, hours in ((spring, 23.0), (autumn, 25.0)):
        clock = FrozenClock(period.start.astimezone(UTC) - timedelta(hours=1))
        worker = _worker(clock, CMLWorkerStatus.STOPPED)
        _run(clock, worker)
        trail = BillingTrail(worker.uncommitted_events)
        now = period.end.astimezone(UTC) + timedelta(hours=5)
        assert _hours(trail, period, now) == hours
        # The day "now" falls in starts at the local midnight, whatever the offset.
        inside = period.start.astimezone(UTC) + timedelta(hours=12)
        assert day_period(inside, PARIS) == period


def test_a_terminated_worker_bills_until_its_termination_and_saves_nothing_after():
    clock = FrozenClock(datetime(2026, 3, 4, 8, tzinfo=UTC))
    worker = _worker(clock, CMLWorkerStatus.STOPPED)
    _run(clock, worker)
    clock.advance(hours=1)
    worker.record_auto_stop("idle for 60 minutes", 60)
    clock.advance(hours=1)
    worker.update_status(CMLWorkerStatus.STOPPED)
    clock.advance(hours=1)
    worker.update_status(CMLWorkerStatus.PENDING)  # started by someone
    clock.advance(hours=2)
    worker.update_status(CMLWorkerStatus.SHUTTING_DOWN)
    clock.advance(minutes=5)
    worker.update_status(CMLWorkerStatus.TERMINATED)
    trail = BillingTrail(worker.uncommitted_events)
    now = clock.advance(hours=10)
    figures = trail.figures(day_period(now, UTC), now, PRICE)
    # 08:00-09:00 running, 11:00-13:00 pending again; shutting down bills nothing.
    assert figures.billed_hours == pytest.approx(3.0)
    assert figures.saved_hours == pytest.approx(2.0)  # 09:00 auto-stop to the 11:00 start
    assert not trail.billable_now


def test_an_auto_stop_saves_until_a_manual_start_and_again_until_now():
    clock = FrozenClock(datetime(2026, 3, 4, 8, tzinfo=UTC))
    worker = _worker(clock, CMLWorkerStatus.STOPPED)
    _run(clock, worker)
    clock.advance(hours=2)
    worker.record_auto_stop("idle for 60 minutes", 60)  # 10:00, STOPPING at once
    clock.advance(minutes=2)
    worker.update_status(CMLWorkerStatus.STOPPED)
    clock.advance(hours=3, minutes=58)
    worker.mark_starting("alice")  # 14:00, a manual start
    clock.advance(hours=1)
    worker.update_status(CMLWorkerStatus.RUNNING)
    clock.advance(hours=1)
    worker.record_auto_stop("idle for 60 minutes", 60)  # 16:00
    trail = BillingTrail(worker.uncommitted_events)
    now = clock.advance(hours=5)  # 21:00, still stopped
    today = day_period(now, UTC)
    figures = trail.figures(today, now, PRICE)
    assert figures.billed_hours == pytest.approx(4.0)  # 08-10 and 14-16
    assert figures.saved_hours == pytest.approx(4.0 + 5.0)  # 10-14, then 16-21 (now)
    assert figures.saved_usd == pytest.approx(36.0)
    # A period that ended before now caps the open saving at its end.
    morning = Period(today.start, today.start + timedelta(hours=18))
    assert trail.seconds_in(morning, now, saved=True) / 3600 == pytest.approx(4.0 + 2.0)


def test_events_taken_out_of_order_give_the_same_figures_and_a_change_moves_the_version():
    """Another process's events may be merged in later: the figures follow their times."""
    clock = FrozenClock(datetime(2026, 3, 4, 7, tzinfo=UTC))
    worker = _worker(clock, CMLWorkerStatus.STOPPED)
    clock.advance(hours=1)
    _run(clock, worker)
    clock.advance(hours=2)
    worker.update_status(CMLWorkerStatus.STOPPED)
    events = list(worker.uncommitted_events)
    now = clock.advance(hours=1)
    ordered = BillingTrail(events)
    shuffled = BillingTrail(reversed(events))
    period = day_period(now, UTC)
    assert ordered.figures(period, now, PRICE) == shuffled.figures(period, now, PRICE)
    version = ordered.version
    worker.update_telemetry(now, 0, 1.0, 2.0)  # telemetry: bills nothing
    assert not ordered.add(worker.uncommitted_events[-1])
    assert ordered.version == version
    _run(clock, worker)
    assert ordered.add(worker.uncommitted_events[-1])
    assert ordered.version == version + 1
    later = now + timedelta(hours=1)
    assert _hours(ordered, period, later) == 3.0


def test_a_bad_day_name_is_refused():
    with pytest.raises(ValueError):
        weekday_index("someday")
