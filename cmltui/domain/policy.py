"""The one policy resolver: what applies to a worker now, and where each part comes from.

Precedence: the worker's own setting (UI/CLI, ``WorkerPolicy``) > its schedule (named by the
worker's setting, else its EC2 tag ``cmltui:schedule=NAME``) > the global ``[idle]`` section.
``explain_next_action`` words the next automatic action for the detail pane and the CLI. Pure:
times arrive aware, zones as tzinfo objects.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from cmltui.domain.enums import CMLWorkerStatus
from cmltui.domain.schedule import Schedule
from cmltui.domain.worker_state import CMLWorkerState


@dataclass(frozen=True, slots=True)
class EffectivePolicy:
    """The policy in force for one worker at one instant."""

    idle_minutes: int  # threshold in force
    schedule: str | None  # schedule name in force (may be one the config does not know)
    auto_stop: bool  # idle auto-stop allowed at all (opt-out, global switch)
    maintenance_until: datetime | None  # auto-stop blocked until then (None: not in maintenance)
    source: str  # where the idle threshold came from: "worker", "schedule", "global"
    #: Where the schedule name came from: "worker", "tag", or None (no schedule).
    schedule_source: str | None = None
    #: Whether the named schedule is in the config (an unknown one applies nothing).
    schedule_known: bool = False
    #: Why auto-stop is off: "worker" (opted out) or "global" ([idle] auto_stop off); None: on.
    auto_stop_off_by: str | None = None
    #: A maintenance window still to come (from, until); None: none ahead.
    maintenance_ahead: tuple[datetime, datetime] | None = None


def effective_policy(
    worker_state: CMLWorkerState,
    *,
    global_idle_minutes: int,
    global_auto_stop: bool,
    schedules: Mapping[str, Schedule],
    schedule_tag: str | None,
    schedule_idle_minutes: Mapping[str, int] | None = None,
    now: datetime,
) -> EffectivePolicy:
    """Resolve the worker's policy (worker > schedule > global). ``schedule_idle_minutes``
    overrides the schedules' own ``idle_minutes`` by name (None: read them from ``schedules``)."""
    s = worker_state
    name = s.policy_schedule or schedule_tag or None
    schedule_source = None if name is None else ("worker" if s.policy_schedule else "tag")
    schedule = schedules.get(name) if name else None
    schedule_idle = schedule.idle_minutes if schedule else None
    if schedule is not None and name and schedule_idle_minutes and name in schedule_idle_minutes:
        schedule_idle = schedule_idle_minutes[name]
    if s.policy_idle_minutes is not None:
        idle, source = s.policy_idle_minutes, "worker"
    elif schedule_idle is not None:
        idle, source = schedule_idle, "schedule"
    else:
        idle, source = global_idle_minutes, "global"
    off_by = "worker" if s.auto_stop_opt_out else None if global_auto_stop else "global"
    starts, ends = s.policy_maintenance_from, s.policy_maintenance_until
    in_maintenance = starts is not None and ends is not None and starts <= now < ends
    ahead = (starts, ends) if starts is not None and ends is not None and now < starts else None
    return EffectivePolicy(
        idle_minutes=idle,
        schedule=name,
        auto_stop=off_by is None,
        maintenance_until=ends if in_maintenance else None,
        source=source,
        schedule_source=schedule_source,
        schedule_known=schedule is not None,
        auto_stop_off_by=off_by,
        maintenance_ahead=ahead,
    )


def when_text(at: datetime, now: datetime, zone: tzinfo) -> str:
    """``18:12 UTC`` the same local day, else ``Tue 06:00 UTC`` within a week, else the date."""
    local, today = at.astimezone(zone), now.astimezone(zone)
    label = local.tzname() or ""
    if local.date() == today.date():
        text = f"{local:%H:%M}"
    elif timedelta(0) <= local - today < timedelta(days=6):
        text = f"{local:%a %H:%M}"
    else:
        text = f"{local:%Y-%m-%d %H:%M}"
    return f"{text} {label}".rstrip()


def _threshold(policy: EffectivePolicy) -> str:
    return f"threshold {policy.idle_minutes} min, from {policy.source}"


@dataclass(frozen=True, slots=True)
class NextStart:
    """A schedule's coming start of the worker: when the start goes out and for which schedule."""

    at: datetime
    schedule: str
    zone: tzinfo


def explain_next_action(
    policy: EffectivePolicy,
    *,
    status: CMLWorkerStatus,
    now: datetime,
    zone: tzinfo,
    stop_in_minutes: float | None = None,
    lab_running: bool = False,
    window_closes: datetime | None = None,
    next_start: NextStart | None = None,
    close_grace_minutes: float | None = None,
) -> tuple[str, ...]:
    """The worker's next automatic action in one or two lines.

    ``stop_in_minutes``: when the idle rule would stop it (threshold and snooze counted; None:
    no activity seen yet); ``window_closes``: its schedule's open window keeps it up until
    then; ``next_start``: a stopped worker's coming scheduled start (the opening less the lead
    time); ``close_grace_minutes``: the stop time is its schedule's close grace (nobody active
    since the close), not the threshold. Times are shown in ``zone``, a start in its schedule's
    zone.
    """
    lines: list[str] = []
    if policy.schedule is not None and not policy.schedule_known:
        lines.append(f"schedule {policy.schedule} is not in the config: no schedule applies")
    if status == CMLWorkerStatus.STOPPED:
        if next_start is not None:
            start = when_text(next_start.at, now, next_start.zone)
            lines.append(f"starts {start} for {next_start.schedule}")
        return tuple(lines)
    if status != CMLWorkerStatus.RUNNING:
        return tuple(lines)
    if policy.maintenance_until is not None:
        until = when_text(policy.maintenance_until, now, zone)
        lines.append(f"auto-stop blocked by maintenance until {until}")
    elif not policy.auto_stop:
        why = "opted out" if policy.auto_stop_off_by == "worker" else "[idle] auto_stop is off"
        lines.append(f"no idle auto-stop ({why})")
    elif window_closes is not None and policy.schedule is not None:
        closes = when_text(window_closes, now, zone)
        lines.append(
            f"kept up by {policy.schedule} until {closes}, then stops once idle "
            f"({_threshold(policy)})"
        )
    elif lab_running:
        lines.append(f"not stopped while a lab runs ({_threshold(policy)})")
    elif stop_in_minutes is None:
        lines.append(f"stops once idle ({_threshold(policy)})")
    else:
        stop_at = when_text(now + timedelta(minutes=stop_in_minutes), now, zone)
        why = _threshold(policy)
        if close_grace_minutes is not None:
            why = (
                f"close grace {close_grace_minutes:g} min: nobody active since "
                f"{policy.schedule} closed"
            )
        lines.append(f"stops at {stop_at} if still idle ({why})")
    if policy.maintenance_ahead is not None:
        starts, ends = policy.maintenance_ahead
        lines.append(
            f"maintenance from {when_text(starts, now, zone)} until {when_text(ends, now, zone)} "
            "blocks auto-stop"
        )
    return tuple(lines)
