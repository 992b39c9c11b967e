"""The CMLWorker's own policy, set by the operator (mixed into ``CMLWorker``).

A worker may override the idle threshold, name the schedule it follows (over its
``cmltui:schedule`` tag) and carry a one-off maintenance window during which nothing stops it
automatically. Each change is one ``CMLWorkerPolicyChangedDomainEvent`` holding the whole policy
now in force, so a replay rebuilds it; the auto-stop opt-out keeps its own event.
``cmltui.domain.policy`` resolves what applies (worker > schedule > global).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Final, Literal

from cmltui.domain.errors import DomainError
from cmltui.domain.events import CMLWorkerPolicyChangedDomainEvent, DomainEvent
from cmltui.domain.worker_state import CMLWorkerState

#: A week: an idle threshold longer than that is a typo, not a policy.
MAX_IDLE_MINUTES = 7 * 24 * 60
#: Schedule names are config table keys: short, one line.
MAX_SCHEDULE_NAME = 64


class _Unchanged(Enum):
    UNCHANGED = "unchanged"


#: A field of ``PolicyChange`` left as it is.
UNCHANGED: Final = _Unchanged.UNCHANGED
Unchanged = Literal[_Unchanged.UNCHANGED]


class PolicyRefusedError(DomainError):
    """A policy value out of range (the message says what it must be)."""


@dataclass(frozen=True, slots=True)
class PolicyChange:
    """What an operator changes; ``UNCHANGED`` fields are kept, None clears a setting."""

    idle_minutes: int | Unchanged | None = UNCHANGED
    schedule: str | Unchanged | None = UNCHANGED
    #: The maintenance window as (from, until), aware datetimes; None clears it.
    maintenance: tuple[datetime, datetime] | Unchanged | None = UNCHANGED
    #: Idle auto-stop allowed (True) or opted out (False).
    auto_stop: bool | Unchanged = UNCHANGED

    @property
    def is_empty(self) -> bool:
        return all(
            value is UNCHANGED
            for value in (self.idle_minutes, self.schedule, self.maintenance, self.auto_stop)
        )


def policy_problem(change: PolicyChange) -> str | None:
    """Why ``change`` cannot be applied to any worker, or None (one line, for the operator)."""
    idle = change.idle_minutes
    whole = isinstance(idle, int) and not isinstance(idle, bool)
    if idle is not None and idle is not UNCHANGED and not (whole and 1 <= idle <= MAX_IDLE_MINUTES):
        return f"idle minutes must be a whole number from 1 to {MAX_IDLE_MINUTES} (got {idle!r})"
    name = change.schedule
    if isinstance(name, str) and not (
        name.strip() and len(name) <= MAX_SCHEDULE_NAME and name.isprintable()
    ):
        return f"a schedule name must be 1 to {MAX_SCHEDULE_NAME} printable characters"
    window = change.maintenance
    if isinstance(window, tuple):
        starts, ends = window
        if starts.tzinfo is None or ends.tzinfo is None:
            return "a maintenance window needs times with a zone"
        if ends <= starts:
            return "a maintenance window must end after it starts"
    return None


class WorkerPolicy:
    """Needs the aggregate's ``state``, ``id``, ``_clock``, ``_record``, ``is_terminated`` and
    ``set_auto_stop_opt_out``."""

    if TYPE_CHECKING:
        state: CMLWorkerState
        _clock: Callable[[], datetime]

        @property
        def id(self) -> str: ...

        @property
        def is_terminated(self) -> bool: ...

        def _record(self, event: DomainEvent) -> None: ...

        def set_auto_stop_opt_out(
            self, opt_out: bool, *, updated_by: str | None = None
        ) -> bool: ...

    def set_policy(self, change: PolicyChange, *, updated_by: str | None = None) -> bool:
        """Apply the operator's policy change (refused with ``PolicyRefusedError`` when a value
        is out of range). False when nothing changed."""
        problem = policy_problem(change)
        if problem:
            raise PolicyRefusedError(problem)
        if self.is_terminated:
            return False
        s = self.state
        current = (
            s.policy_idle_minutes,
            s.policy_schedule,
            s.policy_maintenance_from,
            s.policy_maintenance_until,
        )
        idle = s.policy_idle_minutes if change.idle_minutes is UNCHANGED else change.idle_minutes
        schedule = s.policy_schedule if change.schedule is UNCHANGED else change.schedule
        if change.maintenance is UNCHANGED:
            window: tuple[datetime | None, datetime | None] = current[2:]
        else:
            window = change.maintenance or (None, None)
        wanted = (idle, schedule.strip() if schedule else None, *window)
        changed = False
        if wanted != current:
            self._record(
                CMLWorkerPolicyChangedDomainEvent(
                    aggregate_id=self.id,
                    idle_minutes=wanted[0],
                    schedule=wanted[1],
                    maintenance_from=wanted[2],
                    maintenance_until=wanted[3],
                    updated_at=self._clock(),
                    updated_by=updated_by,
                )
            )
            changed = True
        if change.auto_stop is not UNCHANGED:
            changed |= self.set_auto_stop_opt_out(not change.auto_stop, updated_by=updated_by)
        return changed
