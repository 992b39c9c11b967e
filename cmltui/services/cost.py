"""Cost from the configured hourly prices: the current run's, and (``CostLedger``) what each
worker and the fleet billed today and this week, and what automatic stops saved."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cmltui.config import CostConfig
from cmltui.domain.billing import (
    BillingTrail,
    CostFigures,
    Period,
    day_period,
    week_period,
    weekday_index,
)
from cmltui.domain.enums import BILLABLE_STATUSES
from cmltui.domain.events import DomainEvent
from cmltui.domain.worker import CMLWorkerState


def uptime_seconds(state: CMLWorkerState, now: datetime) -> float | None:
    """Seconds since the worker last started, while it is pending or running."""
    if state.status not in BILLABLE_STATUSES or state.last_started_at is None:
        return None
    return max((now - state.last_started_at) / timedelta(seconds=1), 0.0)


def hourly_cost(state: CMLWorkerState, prices: CostConfig) -> float:
    """What the worker costs per hour right now (0 unless pending or running)."""
    if state.status not in BILLABLE_STATUSES:
        return 0.0
    return prices.hourly_for(state.instance_type)


def cost_since_start(state: CMLWorkerState, prices: CostConfig, now: datetime) -> float:
    """Compute cost of the current run (since the last start)."""
    seconds = uptime_seconds(state, now)
    if seconds is None:
        return 0.0
    return prices.hourly_for(state.instance_type) * seconds / 3600.0


def local_time_zone() -> tzinfo:
    """This machine's zone, with its DST rules: $TZ, else /etc/localtime; UTC when unknown.

    (``datetime.now().astimezone()`` gives only today's fixed offset: a week across a DST
    change would be an hour off.)"""
    name = os.environ.get("TZ", "").lstrip(":")
    if name:
        with contextlib.suppress(ZoneInfoNotFoundError, ValueError, OSError):
            return ZoneInfo(name)
    localtime = Path("/etc/localtime")
    with contextlib.suppress(OSError, ZoneInfoNotFoundError, ValueError):
        target = str(localtime.resolve())
        if "zoneinfo/" in target:
            return ZoneInfo(target.split("zoneinfo/", 1)[1])
    with contextlib.suppress(OSError, ValueError), localtime.open("rb") as file:
        return ZoneInfo.from_file(file, key="localtime")
    return UTC


def cost_zone(prices: CostConfig) -> tzinfo:
    """The zone whose days and weeks the cost figures count in."""
    return ZoneInfo(prices.time_zone) if prices.time_zone else local_time_zone()


@dataclass(frozen=True, slots=True)
class CostPeriods:
    """Today and this week in the cost zone."""

    today: Period
    week: Period


def periods_at(now: datetime, zone: tzinfo, week_starts: str) -> CostPeriods:
    return CostPeriods(day_period(now, zone), week_period(now, zone, weekday_index(week_starts)))


def lifecycle_fingerprint(state: CMLWorkerState) -> tuple[object, ...]:
    """What changes whenever an event that bills or saves was applied: a trail built for an
    older fingerprint is built again (a status that left and came back moves the start)."""
    return (
        state.status,
        state.created_at,
        state.last_started_at,
        state.last_auto_stop_at,
        state.terminated_at,
    )


@dataclass
class _Entry:
    trail: BillingTrail
    fingerprint: tuple[object, ...] | None


class CostLedger:
    """Per worker, its billing trail, rebuilt from its events only when its lifecycle changed
    (``lifecycle_fingerprint``); the fleet's totals recomputed once per second at most.

    ``events_of(worker_id)``: the worker's billing events so far (stored and unsaved); None
    while its stored ones are not at hand (they are asked for; the figures count none till then).
    """

    def __init__(
        self,
        prices: CostConfig,
        events_of: Callable[[str], Iterable[DomainEvent] | None],
        *,
        zone: tzinfo | None = None,
    ) -> None:
        self._prices = prices
        self._events_of = events_of
        self.zone = zone or cost_zone(prices)
        self._entries: dict[str, _Entry] = {}
        self._periods: CostPeriods | None = None
        self._totals: tuple[datetime, tuple[CostFigures, CostFigures]] | None = None

    def periods(self, now: datetime) -> CostPeriods:
        """Today and this week at ``now`` (computed again only when the day changed)."""
        current = self._periods
        if current is None or not current.today.start <= now < current.today.end:
            current = periods_at(now, self.zone, self._prices.week_starts)
            self._periods = current
        return current

    def trail(self, state: CMLWorkerState) -> BillingTrail:
        fingerprint = lifecycle_fingerprint(state)
        entry = self._entries.get(state.id)
        if entry is None or entry.fingerprint != fingerprint:
            events = self._events_of(state.id)
            trail = BillingTrail(events or ())
            # A trail that does not end in the state's status was read while another
            # process's write was merged in: used now, read again next time. So is one not
            # read yet (None: a shared store reads it in the background).
            ends_right = trail.billable_now == (state.status in BILLABLE_STATUSES)
            entry = _Entry(trail, fingerprint if ends_right and events is not None else None)
            self._entries[state.id] = entry
        return entry.trail

    def figures(self, state: CMLWorkerState, now: datetime) -> tuple[CostFigures, CostFigures]:
        """The worker's (today, this week) figures at ``now``."""
        periods = self.periods(now)
        trail = self.trail(state)
        hourly = self._prices.hourly_for(state.instance_type)
        return (
            trail.figures(periods.today, now, hourly),
            trail.figures(periods.week, now, hourly),
        )

    def fleet(
        self, states: Iterable[CMLWorkerState], now: datetime
    ) -> tuple[CostFigures, CostFigures]:
        """The fleet's (today, this week) figures, recomputed once per second at most."""
        cached = self._totals
        if cached is not None and timedelta(0) <= now - cached[0] < timedelta(seconds=1):
            return cached[1]
        today, week = CostFigures(), CostFigures()
        for state in states:
            worker_today, worker_week = self.figures(state, now)
            today += worker_today
            week += worker_week
        self._totals = (now, (today, week))
        return today, week

    def forget(self, worker_id: str) -> None:
        self._entries.pop(worker_id, None)

    def shown_step(self, state: CMLWorkerState, now: datetime) -> tuple[object, ...]:
        """Changes when the worker's shown figures may have moved with the clock alone: a new
        cost day, or a minute more saved by an automatic stop (billing runs with the uptime,
        which moves the row every minute already)."""
        entry = self._entries.get(state.id)
        savings = entry.trail.savings if entry is not None else ()
        saving_now = bool(savings) and savings[-1][1] is None
        minute = int(now.timestamp() // 60) if saving_now else None
        return (self.periods(now).today.start, minute)
