"""Named weekly windows in a time zone: when a class (or any planned use) needs its workers.

Pure: the zone arrives as a tzinfo (the config layer looks the IANA name up with zoneinfo).
Wall times follow PEP 495: a wall time that does not exist (the spring-forward gap) is read
with the offset before the change, which moves it forward by the gap (02:30 -> 03:30); an
ambiguous one (the fall-back hour) takes its first occurrence (fold=0). Windows that overlap
or touch merge into one: a worker cannot tell them apart, and "the window" is when it is needed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

# How far to look for the next opening: a schedule whose every opening day is skipped for
# longer than this has no next window (one year and a bit covers a yearly holiday list).
SEARCH_DAYS = 400
# How far back a merged window may have opened: windows chained day after day (24-hour
# windows every day) merge into one; a week back is enough to name when such a run opened.
_LOOKBACK_DAYS = 8


@dataclass(frozen=True, slots=True)
class WeeklyWindow:
    """One weekly opening: on each of ``days`` at ``start`` until ``end`` (local wall times)."""

    days: frozenset[int]  # 0 = Monday ... 6 = Sunday: the days the window OPENS
    start: time  # local wall time in the schedule's zone
    end: time  # end <= start: the window closes the next day (across midnight)


@dataclass(frozen=True, slots=True)
class Schedule:
    """A named set of weekly windows in one zone, with dates on which no window opens."""

    name: str
    zone: tzinfo
    windows: tuple[WeeklyWindow, ...]
    skip_dates: frozenset[date] = frozenset()  # local dates on which no window opens
    lead_minutes: float | None = None  # None: learned from the worker's boot-to-ready time
    force: bool = False  # stop at the close even while a lab is started
    idle_minutes: int | None = None  # the schedule's idle threshold (None: the global one)
    #: After a close, a worker nobody has used since the close stops once idle this long
    #: (capped by the idle threshold in force); None: only the idle threshold applies.
    close_grace_minutes: int | None = None


def local_instant(day: date, wall: time, zone: tzinfo) -> datetime:
    """The UTC instant of the wall time ``wall`` on ``day`` in ``zone`` (PEP 495 rules above)."""
    return datetime.combine(day, wall.replace(tzinfo=None, fold=0), zone).astimezone(UTC)


def _openings_from(schedule: Schedule, first_day: date) -> Iterator[tuple[datetime, datetime]]:
    """Every window of ``schedule`` opening on ``first_day`` or later, in order of opening."""
    windows = sorted(schedule.windows, key=lambda window: window.start)
    for offset in range(SEARCH_DAYS + _LOOKBACK_DAYS):
        day = first_day + timedelta(days=offset)
        if day in schedule.skip_dates:
            continue
        for window in windows:
            if day.weekday() not in window.days:
                continue
            closing_day = day if window.end > window.start else day + timedelta(days=1)
            opens = local_instant(day, window.start, schedule.zone)
            closes = local_instant(closing_day, window.end, schedule.zone)
            if closes > opens:  # a window lost wholly in a DST gap has no length: skip it
                yield opens, closes


def _merged_from(schedule: Schedule, first_day: date) -> Iterator[tuple[datetime, datetime]]:
    """The openings from ``first_day`` on, overlapping or touching ones merged, in order."""
    current: tuple[datetime, datetime] | None = None
    for opens, closes in _openings_from(schedule, first_day):
        if current is None:
            current = (opens, closes)
        elif opens <= current[1]:
            current = (current[0], max(current[1], closes))
        else:
            yield current
            current = (opens, closes)
    if current is not None:
        yield current


def _lookback_day(schedule: Schedule, at: datetime) -> date:
    return at.astimezone(schedule.zone).date() - timedelta(days=_LOOKBACK_DAYS)


def _require_aware(at: datetime) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("schedule instants must be aware datetimes")


def window_at(schedule: Schedule, at: datetime) -> tuple[datetime, datetime] | None:
    """The open window containing the aware instant ``at`` as (opens, closes) in UTC, else None."""
    _require_aware(at)
    if not schedule.windows:
        return None
    for opens, closes in _merged_from(schedule, _lookback_day(schedule, at)):
        if opens > at:
            return None
        if at < closes:
            return opens, closes
    return None


def next_window(schedule: Schedule, after: datetime) -> tuple[datetime, datetime] | None:
    """The first window opening strictly after ``after`` (UTC pair); None if none in 400 days."""
    _require_aware(after)
    if not schedule.windows:
        return None
    for opens, closes in _merged_from(schedule, _lookback_day(schedule, after)):
        if opens > after:
            return opens, closes
    return None


def previous_window(schedule: Schedule, at: datetime) -> tuple[datetime, datetime] | None:
    """The last window closed at or before ``at`` within the last week (UTC pair), else None."""
    _require_aware(at)
    if not schedule.windows:
        return None
    last = None
    for opens, closes in _merged_from(schedule, _lookback_day(schedule, at)):
        if closes > at:
            break
        last = (opens, closes)
    return last


def close_grace_stop_at(
    schedule: Schedule, idle_since: datetime, now: datetime, grace_minutes: float
) -> datetime | None:
    """When the close grace stops a worker idle since ``idle_since`` (its last activity, or
    its start), seen at ``now``; None when the grace does not apply to it.

    It applies once the schedule's last window has closed (at or before ``now``) and nobody
    has been active on the worker since that close: the planned use is over and nobody stayed.
    The worker then stops at the close if it had been idle for ``grace_minutes`` by then, else
    once it has: ``max(close, idle_since + grace)``. Activity after the close (someone still
    at it, or back for the evening) leaves the worker to the idle threshold alone. Whether a
    lab is started, the snooze and the opt-out are the caller's (``evaluate_idle``)."""
    _require_aware(idle_since)
    closed = previous_window(schedule, now)
    if closed is None or idle_since > closed[1]:
        return None
    return max(closed[1], idle_since + timedelta(minutes=grace_minutes))
