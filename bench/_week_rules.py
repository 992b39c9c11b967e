"""Pure reckonings on the week's trace, minute by minute: the ideal (billed only while a lab runs
or inside a window: the worker's class windows and its maintenance window), the original web
service's rule (stop after 60 idle minutes, checked every 30 minutes) on the same usage, and how
much of a set of billed intervals falls outside the ideal.

The original rule is given the same needs as cmltui met: a class worker is started by hand just
in time to be ready at the opening (its boot time before it), an evening or maintenance worker
when its user arrives, and a worker the rule stopped is started again just in time for its next
lab (generous: nobody waits). It stops a worker at a check (every 30 minutes on the half hour)
when no lab runs and nothing happened for 60 minutes; it knows no windows or maintenance.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from _week_trace import WEEK_START, WeekTrace

#: The longest span (a week), in minutes; a trace may be shorter (``span_minutes``).
MINUTES = 7 * 24 * 60
ORIGINAL_IDLE_MINUTES = 60
ORIGINAL_CHECK_MINUTES = 30


def span_minutes(trace: WeekTrace) -> int:
    return int((trace.end - WEEK_START) / timedelta(minutes=1))


def minute_of(at: datetime) -> int:
    """Minutes since the week's start (clipped to a week)."""
    return min(max(int((at - WEEK_START) / timedelta(minutes=1)), 0), MINUTES)


def covered_seconds(intervals: Iterable[tuple[datetime, datetime]], minutes: int) -> list[float]:
    """Seconds of each minute of the span that ``intervals`` bill."""
    covered = [0.0] * minutes
    span_end = WEEK_START + timedelta(minutes=minutes)
    for start, end in intervals:
        start, end = max(start, WEEK_START), min(end, span_end)
        at = start
        while at < end:
            minute = minute_of(at)
            edge = min(WEEK_START + timedelta(minutes=minute + 1), end)
            covered[minute] += (edge - at).total_seconds()
            at = edge
    return covered


def _mark(marks: list[bool], start: datetime, end: datetime) -> None:
    for minute in range(minute_of(start), min(minute_of(end), len(marks))):
        marks[minute] = True


@dataclass
class WorkerNeeds:
    """One worker's minute marks: a lab runs, inside a window, in maintenance."""

    lab: list[bool]
    window: list[bool]
    maintenance: list[bool]
    windows: list[tuple[datetime, datetime]]

    @property
    def ideal(self) -> list[bool]:
        return [
            a or b or c for a, b, c in zip(self.lab, self.window, self.maintenance, strict=True)
        ]


def worker_needs(trace: WeekTrace, schedules: dict[str, object]) -> list[WorkerNeeds]:
    """Per worker, its marks; ``schedules``: cmltui's schedules (``schedules_from_config``)."""
    from cmltui.domain.schedule import next_window

    needs = []
    minutes = span_minutes(trace)
    for worker, name in enumerate(trace.worker_schedule):
        lab, window, maint = [False] * minutes, [False] * minutes, [False] * minutes
        windows = []
        schedule = schedules.get(name) if name else None
        after = WEEK_START - timedelta(days=1)
        while schedule is not None:
            found = next_window(schedule, after)  # type: ignore[arg-type]
            if found is None or found[0] >= trace.end:
                break
            windows.append(found)
            _mark(window, *found)
            after = found[0]
        for run in trace.labs:
            if run.worker == worker:
                _mark(lab, run.start, run.end)
        if trace.maintenance and worker in trace.maintenance[0]:
            _mark(maint, trace.maintenance[1], trace.maintenance[2])
        needs.append(WorkerNeeds(lab, window, maint, windows))
    return needs


@dataclass
class RuleOutcome:
    """What a rule billed, minute by minute, and what it did to the users."""

    billed: list[list[bool]]
    stops_in_window: int = 0
    stops_in_maintenance: int = 0


def original_rule(trace: WeekTrace, needs: list[WorkerNeeds]) -> RuleOutcome:
    """The original service's rule on the trace (see the module's doc)."""
    outcome = RuleOutcome([])
    minutes = span_minutes(trace)
    for worker, marks in enumerate(needs):
        boot = int(trace.boot_minutes[worker])
        wanted = [False] * (MINUTES + boot + 1)  # someone starts it at this minute if stopped
        for opens, _ in marks.windows:
            wanted[max(minute_of(opens) - boot, 0)] = True
        for arrival in trace.arrivals:
            if arrival.worker == worker:
                wanted[minute_of(arrival.at)] = True
        for run in trace.labs:
            if run.worker == worker:
                wanted[max(minute_of(run.start) - boot, 0)] = True
        activity = {minute_of(at) for w, at in trace.activity if w == worker}
        billed = [False] * minutes
        running, last_active = False, 0
        for minute in range(minutes):
            lab_ahead = any(marks.lab[minute : minute + boot + 1])
            if not running and (wanted[minute] or (lab_ahead and minute >= 1)):
                running, last_active = True, minute
            if not running:
                continue
            if marks.lab[minute] or minute in activity:
                last_active = minute
            on_check = (minute % ORIGINAL_CHECK_MINUTES) == 0
            if on_check and not marks.lab[minute] and minute - last_active >= ORIGINAL_IDLE_MINUTES:
                running = False
                outcome.stops_in_window += marks.window[minute]
                outcome.stops_in_maintenance += marks.maintenance[minute]
                continue
            billed[minute] = True
        outcome.billed.append(billed)
    return outcome


def minutes_to_hours(count: int) -> float:
    return count / 60.0


def excess_minutes(billed: list[bool], ideal: list[bool]) -> tuple[int, int]:
    """(billed minutes outside the ideal, ideal minutes not billed)."""
    over = sum(1 for b, i in zip(billed, ideal, strict=True) if b and not i)
    short = sum(1 for b, i in zip(billed, ideal, strict=True) if i and not b)
    return over, short


def intervals_outside(
    intervals: Iterable[tuple[datetime, datetime]], ideal: list[bool]
) -> tuple[float, float]:
    """(hours of ``intervals`` outside the ideal, hours of the ideal they miss): the intervals
    to the second, the ideal by the minute (a minute is needed or not)."""
    covered = covered_seconds(intervals, len(ideal))  # seconds of each minute billed
    over = sum(seconds for seconds, need in zip(covered, ideal, strict=True) if not need)
    short = sum(60.0 - seconds for seconds, need in zip(covered, ideal, strict=True) if need)
    return over / 3600.0, max(short, 0.0) / 3600.0
