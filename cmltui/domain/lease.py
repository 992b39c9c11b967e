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
