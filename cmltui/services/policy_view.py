"""A worker's policy as the controller applies and shows it: resolved from the config and the
worker's own settings (``cmltui.domain.policy``), with its next automatic action in words."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from cmltui.config import Config
from cmltui.domain.enums import CMLWorkerStatus
from cmltui.domain.policy import EffectivePolicy, NextStart, effective_policy, explain_next_action
from cmltui.domain.schedule import Schedule, next_window, window_at
from cmltui.domain.worker import CMLWorker
from cmltui.services.idle_policy import IdleVerdict
from cmltui.services.schedules import lead_minutes


@dataclass(frozen=True, slots=True)
class PolicyView:
    """The worker's own settings, what is in force, and its next automatic action."""

    #: The worker's own settings (None: not set).
    idle_minutes: int | None
    schedule: str | None
    maintenance_from: datetime | None
    maintenance_until: datetime | None
    auto_stop_opt_out: bool
    #: The schedule its ``cmltui:schedule`` tag names (None: no tag).
    schedule_tag: str | None
    effective: EffectivePolicy
    #: The next automatic action, one line each (``explain_next_action``).
    lines: tuple[str, ...]


def resolve_policy(
    worker: CMLWorker,
    config: Config,
    schedules: Mapping[str, Schedule],
    schedule_tag: str | None,
    now: datetime,
) -> EffectivePolicy:
    """The worker's effective policy under this config (worker > schedule > global)."""
    return effective_policy(
        worker.state,
        global_idle_minutes=config.idle.threshold_minutes,
        global_auto_stop=config.idle.auto_stop,
        schedules=schedules,
        schedule_tag=schedule_tag,
        now=now,
    )


def policy_view(
    worker: CMLWorker,
    config: Config,
    schedules: Mapping[str, Schedule],
    schedule_tag: str | None,
    verdict: IdleVerdict,
    now: datetime,
    *,
    zone: tzinfo = UTC,
) -> PolicyView:
    """Everything the detail pane and ``cmltui policy`` say about the worker's policy."""
    state = worker.state
    effective = resolve_policy(worker, config, schedules, schedule_tag, now)
    schedule = schedules.get(effective.schedule) if effective.schedule else None
    window_closes = None
    next_start = None
    if schedule is not None:
        current = window_at(schedule, now)
        window_closes = current[1] if current else None
        upcoming = current or next_window(schedule, now)
        if upcoming is not None and state.status == CMLWorkerStatus.STOPPED:
            lead = timedelta(minutes=lead_minutes(worker, schedule, config))
            next_start = NextStart(max(upcoming[0] - lead, now), schedule.name, schedule.zone)
    lines = explain_next_action(
        effective,
        status=state.status,
        now=now,
        zone=zone,
        stop_in_minutes=verdict.stop_in_minutes if verdict.idle_minutes is not None else None,
        lab_running=state.active_labs_count > 0,
        window_closes=window_closes,
        next_start=next_start,
        close_grace_minutes=verdict.close_grace_minutes,
    )
    return PolicyView(
        idle_minutes=state.policy_idle_minutes,
        schedule=state.policy_schedule,
        maintenance_from=state.policy_maintenance_from,
        maintenance_until=state.policy_maintenance_until,
        auto_stop_opt_out=state.auto_stop_opt_out,
        schedule_tag=schedule_tag,
        effective=effective,
        lines=lines,
    )
