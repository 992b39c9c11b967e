"""Schedules from the config, and what each one asks of a worker now (pure: no I/O).

``schedule_decision`` is the rule the schedule runner applies (``schedule_runner``); the bench
and the tests call it too. A worker's schedule comes from its own policy or its
``cmltui:schedule`` tag; windows are ``cmltui.domain.schedule``'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from cmltui.config import Config, IdleConfig
from cmltui.domain.enums import CMLWorkerStatus
from cmltui.domain.schedule import (
    Schedule,
    WeeklyWindow,
    next_window,
    previous_window,
    window_at,
)
from cmltui.domain.worker import CMLWorker
from cmltui.services.idle_policy import evaluate_idle

#: A learned boot-to-ready time is stretched by this factor (boots vary) for the lead time.
LEARNED_LEAD_FACTOR = 1.2


def schedules_from_config(config: Config) -> dict[str, Schedule]:
    """The ``[schedules.NAME]`` tables as domain schedules (zones checked at load)."""
    return {
        name: Schedule(
            name=name,
            zone=table.tzinfo,
            windows=tuple(
                WeeklyWindow(frozenset(window.days), window.start, window.end)
                for window in table.windows
            ),
            skip_dates=frozenset(table.skip_dates),
            lead_minutes=table.lead_minutes,
            force=table.force,
            idle_minutes=table.idle_minutes,
            close_grace_minutes=table.close_grace_minutes,
        )
        for name, table in config.schedules.named.items()
    }


def window_key(schedule: Schedule, opens: datetime) -> str:
    """Names one opening of a schedule: a worker is started at most once for it."""
    return f"{schedule.name}@{opens.isoformat()}"


def lead_minutes(worker: CMLWorker, schedule: Schedule, config: Config) -> float:
    """How long before an opening the worker is started: the schedule's lead time, else the
    worker's last boot-to-ready time (plus a fifth, plus one runner cycle: the start goes
    out at the runner's next pass), else ``[schedules] default_lead_minutes``."""
    if schedule.lead_minutes is not None:
        return schedule.lead_minutes
    learned = worker.state.last_boot_to_ready_seconds
    if learned is not None:
        return learned / 60.0 * LEARNED_LEAD_FACTOR + config.refresh.cml_seconds / 60.0
    return config.schedules.default_lead_minutes


def _local_hhmm(schedule: Schedule, at: datetime) -> str:
    local = at.astimezone(schedule.zone)
    return f"{local:%a} {local:%H:%M}"


@dataclass(frozen=True, slots=True)
class ScheduleDecision:
    """What a schedule asks of one worker now."""

    action: Literal["start", "stop"] | None
    reason: str
    #: A start's window opening (``window_key``), remembered so it is never started twice.
    window_key: str | None = None
    #: A stop's rule: "idle" (idle after the close) or "schedule" (a forced close).
    kind: str = "idle"
    idle_minutes: float = 0.0


_NOTHING = ScheduleDecision(None, "")


def schedule_decision(
    worker: CMLWorker,
    schedule: Schedule,
    config: Config,
    now: datetime,
    *,
    idle_threshold_minutes: int | None = None,
    auto_stop_allowed: bool = True,
) -> ScheduleDecision:
    """Start a stopped worker from its lead time before an opening until the close (once per
    opening); outside that span, stop a running one once idle (the threshold given, else the
    schedule's, else the global one; the snooze after any start applies; nobody active since
    the close: the schedule's shorter close grace, ``evaluate_idle``), or at once after a
    ``force`` close it ran through. Never a stop while a lab runs (unless forced), for an
    opted-out worker, or when ``auto_stop_allowed`` is False (e.g. in maintenance)."""
    state = worker.state
    current = window_at(schedule, now)
    upcoming = next_window(schedule, now)
    lead = timedelta(minutes=lead_minutes(worker, schedule, config))
    # The opening the worker is needed for: the open window, else the next one once its lead
    # time has begun (a worker started early is kept up until the opening).
    target = current
    if target is None and upcoming is not None and now >= upcoming[0] - lead:
        target = upcoming
    if state.status == CMLWorkerStatus.STOPPED:
        if target is None:
            return _NOTHING
        key = window_key(schedule, target[0])
        if state.last_auto_start_window == key:
            return _NOTHING  # started once for this opening (and stopped since): not again
        if current is not None:
            why = f"schedule {schedule.name} open until {_local_hhmm(schedule, target[1])}"
        else:
            why = f"schedule {schedule.name} opens {_local_hhmm(schedule, target[0])}"
        return ScheduleDecision("start", why, window_key=key)
    if state.status != CMLWorkerStatus.RUNNING or target is not None:
        return _NOTHING
    if not auto_stop_allowed or state.auto_stop_opt_out:
        return _NOTHING
    closed = previous_window(schedule, now)
    started = state.last_started_at
    if schedule.force and closed is not None and started is not None and started < closed[1]:
        return ScheduleDecision(
            "stop",
            f"schedule {schedule.name} closed {_local_hhmm(schedule, closed[1])} (force)",
            kind="schedule",
            idle_minutes=worker.idle_minutes(now) or 0.0,
        )
    threshold = idle_threshold_minutes or schedule.idle_minutes or config.idle.threshold_minutes
    rule = IdleConfig(
        threshold_minutes=threshold,
        auto_stop=True,
        cpu_activity_threshold_percent=config.idle.cpu_activity_threshold_percent,
        snooze_minutes=config.idle.snooze_minutes,
    )
    verdict = evaluate_idle(worker, rule, now, schedule=schedule)
    if not verdict.should_stop_now:
        return _NOTHING
    return ScheduleDecision(
        "stop",
        f"schedule {schedule.name} closed; {verdict.reason}",
        kind="idle",
        idle_minutes=verdict.idle_minutes or 0.0,
    )
