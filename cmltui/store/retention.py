"""Which telemetry events the audit trail keeps (lifecycle events are always kept whole; what
it drops is compacted into a checkpoint, see ``compaction``)."""

from __future__ import annotations

from collections import deque
from collections.abc import Container
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class TelemetryRetention:
    """Keep each worker's newest ``per_worker`` telemetry events, none older than ``max_age``."""

    per_worker: int = 10
    max_age: timedelta = timedelta(hours=24)


class TelemetryIndex:
    """Per worker, its stored telemetry events oldest first: (event doc id, event time).

    Lets retention find what to drop without scanning the events table.
    """

    def __init__(self) -> None:
        self._by_worker: dict[str, deque[tuple[int, datetime]]] = {}

    def add(self, worker_id: str, doc_id: int, when: datetime) -> None:
        self._by_worker.setdefault(worker_id, deque()).append((doc_id, when))

    def expired(
        self, rule: TelemetryRetention, now: datetime, unwritten: Container[int] = ()
    ) -> list[tuple[str, int]]:
        """Remove from the index and return (worker id, doc id) of what the rule drops.

        Events not yet written (``unwritten``: always a worker's newest) wait until they are,
        so that what is dropped is always on disk and compacted there (``compaction``).
        """
        cutoff = now - rule.max_age
        dropped: list[tuple[str, int]] = []
        for worker_id in list(self._by_worker):
            entries = self._by_worker[worker_id]
            while (
                entries
                and (len(entries) > rule.per_worker or entries[0][1] < cutoff)
                and entries[0][0] not in unwritten
            ):
                dropped.append((worker_id, entries.popleft()[0]))
            if not entries:
                del self._by_worker[worker_id]
        return dropped
