"""Billed hours, their cost, and the cost automatic stops avoided, from a worker's events.

Pure: the events, the hourly price, the periods and ``now`` come in; nothing is read. A worker
bills from the event that put it in a billable state (``BILLABLE_STATUSES``: PENDING or RUNNING)
to the event that took it out of one; a worker still billable bills until ``now``. Each
automatic stop saves from the stop until the worker's next start (or its termination, or
``now``): the hours it would have billed had nobody stopped it. A period is half-open
``[start, end)``, its ends in UTC; local days and weeks follow the zone's own rules
(a DST day has 23 or 25 hours).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from cmltui.domain.enums import BILLABLE_STATUSES
from cmltui.domain.events import (
    CMLWorkerAutoStoppedDomainEvent,
    CMLWorkerCreatedDomainEvent,
    CMLWorkerStatusUpdatedDomainEvent,
    CMLWorkerTerminatedDomainEvent,
    DomainEvent,
)

#: The event types that change what a worker bills or saved (the rest never do).
BILLING_EVENT_TYPES = frozenset(
    cls.EVENT_TYPE
    for cls in (
        CMLWorkerCreatedDomainEvent,
        CMLWorkerStatusUpdatedDomainEvent,
        CMLWorkerTerminatedDomainEvent,
        CMLWorkerAutoStoppedDomainEvent,
    )
)
WEEKDAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
#: Closed-interval sums kept per trail (a few periods: today, this week, a report's).
_CACHED_PERIODS = 8


@dataclass(frozen=True, slots=True)
class Period:
    """``[start, end)``, in UTC (see ``local_midnight``)."""

    start: datetime
    end: datetime

    def seconds_of(self, start: datetime, end: datetime) -> float:
        """How many seconds of ``[start, end)`` fall inside the period."""
        overlap = min(end, self.end) - max(start, self.start)
        return max(overlap.total_seconds(), 0.0)

    def until(self, now: datetime) -> Period:
        """The part of the period that has happened by ``now``."""
        return Period(self.start, max(min(self.end, now), self.start))


def local_midnight(day: date, zone: tzinfo) -> datetime:
    """The start of a local date (in ``zone``), in UTC: datetimes sharing one zone subtract
    as wall times, which would give a DST day 24 hours."""
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def dates_period(first: date, last: date, zone: tzinfo) -> Period:
    """From the start of ``first`` to the end of ``last`` (both local dates, both included)."""
    return Period(local_midnight(first, zone), local_midnight(last + timedelta(days=1), zone))


def day_period(now: datetime, zone: tzinfo) -> Period:
    """The local day (in ``zone``) that ``now`` falls in."""
    today = now.astimezone(zone).date()
    return dates_period(today, today, zone)


def week_period(now: datetime, zone: tzinfo, first_weekday: int = 0) -> Period:
    """The local week that ``now`` falls in, starting on ``first_weekday`` (0 = Monday)."""
    today = now.astimezone(zone).date()
    first = today - timedelta(days=(today.weekday() - first_weekday) % 7)
    return dates_period(first, first + timedelta(days=6), zone)


@dataclass(frozen=True, slots=True)
class CostFigures:
    """What a worker (or the fleet) billed and saved in one period."""

    billed_hours: float = 0.0
    cost_usd: float = 0.0
    saved_hours: float = 0.0
    saved_usd: float = 0.0

    def __add__(self, other: CostFigures) -> CostFigures:
        return CostFigures(
            self.billed_hours + other.billed_hours,
            self.cost_usd + other.cost_usd,
            self.saved_hours + other.saved_hours,
            self.saved_usd + other.saved_usd,
        )


#: ``[start, end)``; ``end`` None: still going (counts until ``now``).
Interval = tuple[datetime, datetime | None]


class BillingTrail:
    """One worker's billing history, built event by event (``add``; any order, by time).

    ``intervals`` (billed) and ``savings`` (avoided by automatic stops) are derived once per
    change; the closed intervals' share of a period is kept, so a figure at a later ``now``
    only adds the still-open interval: O(1) per worker once computed.
    """

    def __init__(self, events: Iterable[DomainEvent] = ()) -> None:
        #: (when, order added, billable after it, final): status changes, sorted on use.
        self._changes: list[tuple[datetime, int, bool, bool]] = []
        self._auto_stops: list[datetime] = []
        self._derived: tuple[tuple[Interval, ...], tuple[Interval, ...]] | None = None
        self._closed: dict[tuple[Period, bool], float] = {}
        #: Changes each time an event changes what the worker billed or saved.
        self.version = 0
        for event in events:
            self.add(event)

    def add(self, event: DomainEvent) -> bool:
        """Take one event into account; False when it changes nothing billed or saved."""
        if isinstance(event, CMLWorkerCreatedDomainEvent):
            self._change(event.created_at, event.status in BILLABLE_STATUSES)
        elif isinstance(event, CMLWorkerStatusUpdatedDomainEvent):
            self._change(event.updated_at, event.new_status in BILLABLE_STATUSES)
        elif isinstance(event, CMLWorkerTerminatedDomainEvent):
            self._change(event.terminated_at, False, final=True)
        elif isinstance(event, CMLWorkerAutoStoppedDomainEvent):
            self._auto_stops.append(event.stopped_at)
        else:
            return False
        self._derived = None
        self._closed.clear()
        self.version += 1
        return True

    def _change(self, when: datetime, billable: bool, *, final: bool = False) -> None:
        self._changes.append((when, len(self._changes), billable, final))

    @property
    def billable_now(self) -> bool:
        """Billable after the latest event (what an open interval means)."""
        intervals = self.intervals
        return bool(intervals) and intervals[-1][1] is None

    @property
    def intervals(self) -> tuple[Interval, ...]:
        """The billed intervals, oldest first; the last may be open."""
        return self._derive()[0]

    @property
    def savings(self) -> tuple[Interval, ...]:
        """The intervals automatic stops avoided, oldest first; the last may be open."""
        return self._derive()[1]

    def _derive(self) -> tuple[tuple[Interval, ...], tuple[Interval, ...]]:
        if self._derived is not None:
            return self._derived
        intervals: list[Interval] = []
        starts: list[datetime] = []
        ended: datetime | None = None  # terminated: nothing bills or saves after it
        open_since: datetime | None = None
        for when, _, billable, final in sorted(self._changes):
            if ended is not None:
                break
            if billable and open_since is None:
                open_since = when
                starts.append(when)
            elif not billable and open_since is not None:
                intervals.append((open_since, when))
                open_since = None
            if final:
                ended = when
        if open_since is not None:
            intervals.append((open_since, None))
        savings: list[Interval] = []
        stops = sorted(self._auto_stops)
        for index, stop in enumerate(stops):
            if ended is not None and stop >= ended:
                break
            # Until the next start, the next automatic stop (it takes over: never counted
            # twice) or the termination, whichever comes first.
            candidates = [s for s in starts if s >= stop][:1]
            candidates += stops[index + 1 : index + 2]
            if ended is not None:
                candidates.append(ended)
            savings.append((stop, min(candidates) if candidates else None))
        self._derived = (tuple(intervals), tuple(savings))
        return self._derived

    def _closed_seconds(self, period: Period, saved: bool) -> float:
        key = (period, saved)
        seconds = self._closed.get(key)
        if seconds is None:
            spans = self.savings if saved else self.intervals
            seconds = sum(period.seconds_of(a, b) for a, b in spans if b is not None)
            if len(self._closed) >= _CACHED_PERIODS:
                self._closed.clear()
            self._closed[key] = seconds
        return seconds

    def seconds_in(self, period: Period, now: datetime, *, saved: bool = False) -> float:
        """Billed (or, ``saved``, avoided) seconds inside ``period``, as of ``now``."""
        spans = self.savings if saved else self.intervals
        happened = period.until(now)
        closed_ends = [b for _, b in spans[-2:] if b is not None]
        if closed_ends and max(closed_ends) > now:  # an event dated after now: not cached
            seconds = sum(happened.seconds_of(a, b) for a, b in spans if b is not None)
        else:  # every closed interval ended by now: the whole period's share is the same
            seconds = self._closed_seconds(period, saved)
        if spans and spans[-1][1] is None:
            seconds += happened.seconds_of(spans[-1][0], now)
        return seconds

    def figures(self, period: Period, now: datetime, hourly_usd: float) -> CostFigures:
        """Billed and saved hours in ``period`` as of ``now``, priced at ``hourly_usd``."""
        billed = self.seconds_in(period, now) / 3600.0
        saved = self.seconds_in(period, now, saved=True) / 3600.0
        return CostFigures(billed, billed * hourly_usd, saved, saved * hourly_usd)


def weekday_index(name: str) -> int:
    """0 for "monday" ... 6 for "sunday" (also "mon" ... "sun"); ``ValueError`` otherwise."""
    wanted = name.strip().lower()
    for index, day in enumerate(WEEKDAY_NAMES):
        if wanted in (day, day[:3]):
            return index
    raise ValueError(f"{name!r} is not a day of the week")
