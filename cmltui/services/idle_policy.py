"""The idle policy: when a running worker counts as idle, and when it may be auto-stopped."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cmltui.config import IdleConfig
from cmltui.domain.enums import CMLWorkerStatus
from cmltui.domain.policy import EffectivePolicy
from cmltui.domain.schedule import Schedule, close_grace_stop_at
from cmltui.domain.worker import CMLWorker


@dataclass(frozen=True, slots=True)
class IdleVerdict:
    idle_minutes: float | None
    is_idle: bool
    #: Minutes until the policy would stop it (None: it would not, e.g. a lab runs).
    stop_in_minutes: float | None
    should_stop_now: bool
    reason: str
    #: The schedule's close grace (minutes) when it, not the threshold, sets the stop time.
    close_grace_minutes: float | None = None


def evaluate_idle(
    worker: CMLWorker,
    policy: IdleConfig,
    now: datetime,
    *,
    effective: EffectivePolicy | None = None,
    schedule: Schedule | None = None,
) -> IdleVerdict:
    """Judge one worker by the seed's ``is_idle`` rule plus the operator's guards.

    Never while a lab runs, never within the snooze window after a start (by anyone: the start
    is seen in EC2 even when made outside cmltui), never for an opted-out worker, never during
    its maintenance window, and only when ``idle.auto_stop`` is on. Without auto-stop the
    verdict still says when it *would* stop. ``effective`` (``cmltui.domain.policy``) brings
    the worker's threshold (its own, its schedule's or the global one) and its maintenance.
    ``schedule`` (the one the worker follows) adds its close grace: after its window closed, a
    worker nobody has used since the close stops once idle ``close_grace_minutes`` (at most
    the threshold), at the close at the earliest (``domain.schedule.close_grace_stop_at``).
    """
    if effective is not None:
        policy = policy.model_copy(update={"threshold_minutes": effective.idle_minutes})
    state = worker.state
    idle_minutes = worker.idle_minutes(now)
    is_idle = worker.is_idle(policy.threshold_minutes, now=now)
    if state.status != CMLWorkerStatus.RUNNING or idle_minutes is None:
        return IdleVerdict(idle_minutes, False, None, False, "not running")
    if state.active_labs_count > 0:
        return IdleVerdict(idle_minutes, False, None, False, "a lab is running")
    if state.auto_stop_opt_out:
        return IdleVerdict(idle_minutes, is_idle, None, False, "opted out of auto-stop")
    if effective is not None and effective.maintenance_until is not None:
        until = f"{effective.maintenance_until.astimezone(UTC):%Y-%m-%d %H:%M}Z"
        return IdleVerdict(idle_minutes, is_idle, None, False, f"maintenance until {until}")
    minutes_to_threshold = policy.threshold_minutes - idle_minutes
    grace_stop = (
        None if is_idle else _close_grace_stop(worker, schedule, policy.threshold_minutes, now)
    )
    by_grace = False
    if grace_stop is not None:
        minutes_to_threshold = min(minutes_to_threshold, (grace_stop - now) / timedelta(minutes=1))
        by_grace = grace_stop <= now
    minutes_to_snooze_end = 0.0
    if state.last_started_at is not None:
        snooze_end = state.last_started_at + timedelta(minutes=policy.snooze_minutes)
        minutes_to_snooze_end = (snooze_end - now) / timedelta(minutes=1)
    stop_in = max(minutes_to_threshold, minutes_to_snooze_end, 0.0)
    should_stop = policy.auto_stop and (is_idle or by_grace) and minutes_to_snooze_end <= 0
    if should_stop and by_grace and schedule is not None:
        reason = (
            f"idle for {idle_minutes:.0f} min, nobody active since {schedule.name} closed "
            f"(close grace {_grace_minutes(schedule, policy.threshold_minutes):g} min, "
            "no lab running)"
        )
    elif should_stop:
        reason = (
            f"idle for {idle_minutes:.0f} min (threshold {policy.threshold_minutes} min, "
            "no lab running)"
        )
    elif minutes_to_snooze_end > 0 and (is_idle or by_grace):
        reason = f"idle, but started less than {policy.snooze_minutes} min ago"
    else:
        reason = f"would stop in {stop_in:.0f} min" if policy.auto_stop else "auto-stop is off"
    grace = None
    if grace_stop is not None and schedule is not None:
        threshold_left = policy.threshold_minutes - idle_minutes
        if (grace_stop - now) / timedelta(minutes=1) < threshold_left:
            grace = _grace_minutes(schedule, policy.threshold_minutes)
    return IdleVerdict(idle_minutes, is_idle, stop_in, should_stop, reason, grace)


def _grace_minutes(schedule: Schedule, threshold_minutes: float) -> float:
    return min(float(schedule.close_grace_minutes or 0), float(threshold_minutes))


def _close_grace_stop(
    worker: CMLWorker, schedule: Schedule | None, threshold_minutes: float, now: datetime
) -> datetime | None:
    """When the schedule's close grace stops the worker (None: it does not apply)."""
    if schedule is None or schedule.close_grace_minutes is None:
        return None
    since = worker.idle_since()
    if since is None:
        return None
    return close_grace_stop_at(schedule, since, now, _grace_minutes(schedule, threshold_minutes))
