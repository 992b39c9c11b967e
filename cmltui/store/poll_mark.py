"""The policy runner's CML poll mark as a stored value (data file meta or DynamoDB item).

Bad or foreign values read back as None: a process then simply polls CML itself.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cmltui.domain.lease import PollMark

POLL_MARK_KEY = "cml_poll_mark"


def encode(mark: PollMark) -> dict[str, Any]:
    return {
        "poller": mark.poller,
        "at": mark.at.isoformat(),
        "cycle_seconds": round(mark.cycle_seconds, 3),
        "interval_seconds": mark.interval_seconds,
        "workers": sorted(mark.worker_ids),
    }


def decode(value: Any) -> PollMark | None:
    if not isinstance(value, dict):
        return None
    try:
        at = datetime.fromisoformat(str(value["at"]))
        workers = value["workers"]
        if not isinstance(workers, list) or not all(isinstance(w, str) for w in workers):
            return None
        poller = value["poller"]
        if not isinstance(poller, str) or not poller or at.tzinfo is None:
            return None
        return PollMark(
            poller=poller,
            at=at,
            cycle_seconds=max(0.0, float(value.get("cycle_seconds", 0.0))),
            interval_seconds=float(value.get("interval_seconds", 0.0)),
            worker_ids=frozenset(workers),
        )
    except (KeyError, TypeError, ValueError):
        return None
