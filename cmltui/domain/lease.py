"""Which cmltui process runs the automatic policies (idle auto-stop, schedules)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class LeaseView:
    """The policy lease as a process sees it after trying to take or renew it."""

    #: "user@host:pid" of the process that holds it (None: nobody does).
    holder: str | None
    expires_at: datetime | None
    #: True when the process that asked holds it now.
    ours: bool


@dataclass(frozen=True, slots=True)
class PollMark:
    """The workers whose CML the policy runner read in its last cycle, and when: another
    process uses the stored figures of those workers instead of asking CML again while the mark
    is fresh (one poller for a team)."""

    #: "user@host:pid" of the process that read them (the lease holder when it wrote this).
    poller: str
    #: When its cycle finished (the figures are this old at most).
    at: datetime
    #: How long that cycle took: the poller's next mark is due about an interval plus this later.
    cycle_seconds: float
    #: The poller's own CML interval.
    interval_seconds: float
    worker_ids: frozenset[str]

    def fresh_for(self, now: datetime, own_interval_seconds: float) -> bool:
        """Whether its figures are as fresh as a read of our own would be: at most our interval
        old (plus the poller's cycle time, as its loop waits an interval after each cycle)."""
        age = (now - self.at).total_seconds()
        return -5.0 <= age <= own_interval_seconds + self.cycle_seconds + 1.0
