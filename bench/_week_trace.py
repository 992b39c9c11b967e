"""The week's usage, drawn from a seed: who runs which lab when (pure, no servers).

Shape (the same for every seed; the seed draws the times): 20 workers. Ten follow
``emea-class`` (Europe/Berlin, Mon-Fri 09:00-17:00), eight ``amer-class`` (America/New_York,
Mon-Fri 09:00-16:00, one weekday a holiday), two are ad-hoc. In class, each worker's students
run a morning lab and an afternoon lab (a short break between two morning labs sometimes, lunch
12:00-13:00 without labs, the last lab ending near the close, now and then running past it); a
student is absent on a few worker-days. Evenings (and the weekend, on the ad-hoc workers)
someone starts a worker by hand, waits for CML, runs a lab or two and leaves. One maintenance
window: an operator puts three workers in maintenance for a few hours (set through cmltui's
policy, in advance), starts them, logs in once and leaves them idle until it ends.

Times are whole minutes in UTC; windows come from cmltui's own schedule code.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from cmltui.domain.schedule import Schedule

#: The simulated week: Monday 00:00 UTC to the next Monday (no DST change inside it).
WEEK_START = datetime(2025, 6, 2, tzinfo=UTC)
WEEK_END = WEEK_START + timedelta(days=7)
BERLIN = "Europe/Berlin"
NEW_YORK = "America/New_York"
EMEA_WORKERS = 10
AMER_WORKERS = 8
ADHOC_WORKERS = 2


@dataclass(frozen=True)
class LabRun:
    """One lab of one worker, planned from ``start`` to ``end`` (its owner's intent)."""

    worker: int
    lab: int  # which of the worker's labs
    start: datetime
    end: datetime
    in_class: bool


@dataclass(frozen=True)
class Arrival:
    """Someone needs the worker from ``at`` (starts it by hand if it is stopped)."""

    worker: int
    at: datetime
    why: str  # "evening", "adhoc", "maintenance"


@dataclass
class WeekTrace:
    seed: int
    end: datetime  # the span simulated: WEEK_START to this (a week, or fewer days)
    schedules: dict[str, dict[str, object]]
    worker_schedule: list[str | None]
    boot_minutes: list[float]
    regions: list[str]
    labs: list[LabRun] = field(default_factory=list)
    arrivals: list[Arrival] = field(default_factory=list)
    activity: list[tuple[int, datetime]] = field(default_factory=list)
    #: (worker indexes, from, until): the one maintenance window.
    maintenance: tuple[tuple[int, ...], datetime, datetime] | None = None

    @property
    def workers(self) -> int:
        return len(self.worker_schedule)


def _minute(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)


def _local(day: date, hour: int, minute: int, zone: str) -> datetime:
    return datetime.combine(day, time(hour, minute), ZoneInfo(zone)).astimezone(UTC)


def _class_day(
    rng: random.Random, trace: WeekTrace, worker: int, opens: datetime, closes: datetime, zone: str
) -> None:
    """One worker's labs in one class day (opens/closes in UTC)."""
    if rng.random() < 0.08:
        return  # the student is absent: nothing runs, the window still keeps the worker up
    day = opens.astimezone(ZoneInfo(zone)).date()
    lunch, after_lunch = _local(day, 12, 0, zone), _local(day, 13, 0, zone)
    start = opens + timedelta(minutes=rng.randint(3, 40))
    morning_end = lunch - timedelta(minutes=rng.randint(0, 15))
    if rng.random() < 0.4:  # two morning labs with a short break between them
        middle = start + (morning_end - start) * rng.uniform(0.35, 0.65)
        trace.labs.append(LabRun(worker, 0, _minute(start), _minute(middle), True))
        start = middle + timedelta(minutes=rng.randint(5, 25))
    trace.labs.append(LabRun(worker, 1, _minute(start), _minute(morning_end), True))
    start = after_lunch + timedelta(minutes=rng.randint(0, 30))
    if rng.random() < 0.12:
        end = closes + timedelta(minutes=rng.randint(5, 45))  # runs past the close
    else:
        end = closes - timedelta(minutes=rng.randint(0, 25))
    trace.labs.append(LabRun(worker, 0, _minute(start), _minute(end), True))


def _session(rng: random.Random, trace: WeekTrace, worker: int, arrive: datetime, why: str) -> None:
    """Someone starts the worker by hand at ``arrive``, waits for CML, runs one or two labs."""
    arrive = _minute(arrive)
    trace.arrivals.append(Arrival(worker, arrive, why))
    start = arrive + timedelta(minutes=trace.boot_minutes[worker] + 1 + rng.randint(1, 8))
    end = start + timedelta(minutes=rng.randint(30, 120))
    trace.labs.append(LabRun(worker, 1, _minute(start), _minute(end), False))
    if rng.random() < 0.35:  # a second lab after a pause
        start = end + timedelta(minutes=rng.randint(8, 40))
        end = start + timedelta(minutes=rng.randint(20, 60))
        trace.labs.append(LabRun(worker, 0, _minute(start), _minute(end), False))


def _busy(trace: WeekTrace, worker: int, start: datetime, end: datetime) -> bool:
    """Whether a planned lab of the worker overlaps [start, end) (with a half-hour margin)."""
    margin = timedelta(minutes=30)
    return any(
        lab.worker == worker and lab.start < end + margin and start < lab.end + margin
        for lab in trace.labs
    )


def draw_week(
    seed: int,
    *,
    days: int = 7,
    emea: int = EMEA_WORKERS,
    amer: int = AMER_WORKERS,
    adhoc: int = ADHOC_WORKERS,
) -> WeekTrace:
    """The week for ``seed``: schedules, workers, labs, arrivals, the maintenance window.
    ``days`` and the worker counts shorten it (the test runs one day on a few workers)."""
    if not (1 <= days <= 7 and emea >= 1 and amer >= 1 and adhoc >= 1):
        raise ValueError("days must be 1..7 and every group must have a worker")
    from cmltui.domain.schedule import next_window

    rng = random.Random(seed)
    holiday = (WEEK_START.date() + timedelta(days=rng.randint(0, 4))).isoformat()
    schedules: dict[str, dict[str, object]] = {
        "emea-class": {
            "zone": BERLIN,
            "windows": [{"days": "mon-fri", "start": "09:00", "end": "17:00"}],
            "idle_minutes": 10,
        },
        "amer-class": {
            "zone": NEW_YORK,
            "windows": [{"days": "mon-fri", "start": "09:00", "end": "16:00"}],
            "skip_dates": [holiday],
            "idle_minutes": 10,
        },
    }
    names: list[str | None] = ["emea-class"] * emea + ["amer-class"] * amer
    names += [None] * adhoc
    end = WEEK_START + timedelta(days=days)
    regions = ["eu-central-1" if n == "emea-class" else "us-east-1" for n in names]
    boots = [float(rng.randint(5, 10)) for _ in names]
    trace = WeekTrace(seed, end, schedules, names, boots, regions)
    domain = domain_schedules(schedules)
    for name, schedule in domain.items():
        zone = str(schedule.zone)
        after = WEEK_START
        while (window := next_window(schedule, after)) is not None and window[1] <= end:
            for worker, worker_schedule in enumerate(names):
                if worker_schedule == name:
                    _class_day(rng, trace, worker, window[0], window[1], zone)
            after = window[0]
    # Evenings: a few class workers are started by hand after class (local 18:30-22:00).
    for offset in range(min(days, 5)):
        day = WEEK_START.date() + timedelta(days=offset)
        for worker, name in enumerate(names):
            if name is None or rng.random() >= 0.1:
                continue
            zone = BERLIN if name == "emea-class" else NEW_YORK
            arrive = _local(day, 18, 30, zone) + timedelta(minutes=rng.randint(0, 210))
            if not _busy(trace, worker, arrive, arrive + timedelta(hours=3)):
                _session(rng, trace, worker, arrive, "evening")
    # The ad-hoc workers: a session on most days, weekends included, any time 08:00-22:00 UTC.
    for worker in range(emea + amer, len(names)):
        for offset in range(days):
            if rng.random() < 0.55:
                day = WEEK_START.date() + timedelta(days=offset)
                arrive = datetime.combine(day, time(8), UTC) + timedelta(
                    minutes=rng.randint(0, 14 * 60)
                )
                if not _busy(trace, worker, arrive, arrive + timedelta(hours=3)):
                    _session(rng, trace, worker, arrive, "adhoc")
    _maintenance(rng, trace, emea, amer, adhoc)
    trace.labs = [lab for lab in trace.labs if lab.end <= end]
    trace.arrivals = [a for a in trace.arrivals if a.at < end - timedelta(hours=3)]
    trace.labs.sort(key=lambda lab: (lab.start, lab.worker))
    trace.arrivals.sort(key=lambda arrival: (arrival.at, arrival.worker))
    trace.activity.sort()
    return trace


def domain_schedules(tables: dict[str, dict[str, object]]) -> dict[str, Schedule]:
    """The schedule tables as cmltui reads them from a config (``schedules_from_config``)."""
    from cmltui.config import Config, SchedulesConfig
    from cmltui.services.schedules import schedules_from_config

    return schedules_from_config(Config(schedules=SchedulesConfig.model_validate(tables)))


def _maintenance(rng: random.Random, trace: WeekTrace, emea: int, amer: int, adhoc: int) -> None:
    """One window, Tue-Thu, starting 15:00-19:00 UTC, 2-4 h: an emea, an amer, an ad-hoc
    worker. The operator logs in once after the boot and leaves them idle."""
    last = (trace.end - WEEK_START).days - 1
    day = WEEK_START.date() + timedelta(days=rng.randint(min(1, last), min(3, last)))
    begins = datetime.combine(day, time(15), UTC) + timedelta(minutes=15 * rng.randint(0, 16))
    ends = begins + timedelta(minutes=30 * rng.randint(4, 8))
    chosen = (
        rng.randrange(emea),
        emea + rng.randrange(amer),
        emea + amer + rng.randrange(adhoc),
    )
    trace.maintenance = (chosen, begins, ends)
    for worker in chosen:
        trace.arrivals.append(Arrival(worker, begins, "maintenance"))
        login = begins + timedelta(minutes=trace.boot_minutes[worker] + 2)
        trace.activity.append((worker, login))
