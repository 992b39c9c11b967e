"""Who runs the automatic policies: a lease kept in the shared data file.

Any number of cmltui processes share a data file; only one of them may take automatic actions
(idle auto-stop, schedules), or two dashboards would both stop the same worker. The lease is a
meta value ``{"holder", "expires_at"}``: the holder renews it every cycle; when it stops renewing
(it quit, or was killed), another process takes it once it has expired.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from cmltui.domain.lease import LeaseView

__all__ = ["LEASE_KEY", "LeaseView", "decide", "peek", "release_value"]

LEASE_KEY = "policy_lease"


def _parse(value: Any) -> tuple[str | None, datetime | None]:
    if not isinstance(value, dict):
        return None, None
    holder = value.get("holder")
    try:
        expires_at = datetime.fromisoformat(str(value.get("expires_at")))
    except ValueError:
        return None, None
    return (holder if isinstance(holder, str) and holder else None), expires_at


def decide(
    current: Any, holder: str, now: datetime, ttl: timedelta
) -> tuple[dict[str, str] | None, LeaseView]:
    """(the value to store, or None to leave it; the resulting view) for ``holder`` at ``now``.

    Taken when free, expired or already ours; renewed (not rewritten every cycle) once a third
    of its time has gone, so a steady holder writes about three times per lease period.
    """
    current_holder, expires_at = _parse(current)
    free = current_holder is None or expires_at is None or expires_at <= now
    if current_holder == holder or free:
        if current_holder == holder and expires_at is not None and expires_at - now > ttl * 2 / 3:
            return None, LeaseView(holder, expires_at, True)
        new_expiry = now + ttl
        value = {"holder": holder, "expires_at": new_expiry.isoformat()}
        return value, LeaseView(holder, new_expiry, True)
    return None, LeaseView(current_holder, expires_at, False)


def peek(current: Any, now: datetime) -> LeaseView:
    """Who holds the lease, for a process that does not try to take it."""
    holder, expires_at = _parse(current)
    if holder is None or expires_at is None or expires_at <= now:
        return LeaseView(None, None, False)
    return LeaseView(holder, expires_at, False)


def release_value(current: Any, holder: str) -> dict[str, str] | None:
    """The value that frees the lease when ``holder`` holds it (None: not ours, leave it)."""
    current_holder, _ = _parse(current)
    if current_holder != holder:
        return None
    return {"holder": "", "expires_at": datetime.min.isoformat()}
