"""Each worker's event trail kept in memory, so that a dashboard reads it without a network call.

The dashboard asks for a worker's trail on every cursor move (the detail pane) and for its
billing events whenever its lifecycle changed (the cost figures): on a DynamoDB table each would
be a ``Query``, and neither may wait on the network (the UI's loop, or the engine's between two
steps). ``TrailCache`` answers from memory: ``get`` returns None for a worker not read yet, and
the engine reads it in a worker thread (``fill``) then publishes the worker again.

A trail is kept current without reading it again: this process's own writes are appended as
they land (``append_written``: only when they follow the cached version, else the trail is
dropped and read again), and the workers another process changed are read from their cached
version onwards at ``sync`` (``fill`` again: one small ``Query`` each). Memory stays bounded:
every lifecycle event is kept, and only the newest ``TELEMETRY_KEPT`` telemetry events (a
telemetry event is written every CML cycle), which is enough for the last ``TELEMETRY_KEPT``
events of any kind.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cmltui.domain.events import CloudEvent
from cmltui.store.dynamodb_reads import _pages, envelopes
from cmltui.store.dynamodb_schema import event_sk, version_of_event_item, worker_pk

#: Telemetry events kept per worker (all lifecycle events are kept).
TELEMETRY_KEPT = 200

_LAST_EVENT_SK = event_sk(10**12 - 1)


@dataclass
class _Trail:
    #: The version of the newest event held (0: none yet).
    through: int = 0
    #: (version, telemetry, envelope), oldest first.
    events: list[tuple[int, bool, CloudEvent]] = field(default_factory=list)
    telemetry: int = 0

    def add(self, version: int, telemetry: bool, envelope: CloudEvent) -> None:
        self.events.append((version, telemetry, envelope))
        self.through = version
        if telemetry:
            self.telemetry += 1
            if self.telemetry > TELEMETRY_KEPT * 2:  # trimmed in bulk, not on every event
                self._trim()

    def _trim(self) -> None:
        drop = self.telemetry - TELEMETRY_KEPT
        kept: list[tuple[int, bool, CloudEvent]] = []
        for entry in self.events:
            if entry[1] and drop > 0:
                drop -= 1
                continue
            kept.append(entry)
        self.events = kept
        self.telemetry = TELEMETRY_KEPT


def event_items_after(client: Any, table: str, worker_id: str, after: int) -> list[dict[str, Any]]:
    """A worker's event items with a version above ``after``, oldest first."""
    return list(
        _pages(
            client,
            TableName=table,
            KeyConditionExpression="pk = :p AND sk BETWEEN :a AND :b",
            ExpressionAttributeValues={
                ":p": {"S": worker_pk(worker_id)},
                ":a": {"S": event_sk(after + 1)},
                ":b": {"S": _LAST_EVENT_SK},
            },
            ConsistentRead=True,
        )
    )


class TrailCache:
    """Worker id -> its trail as last read or written (thread-safe; never reads while locked)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._trails: dict[str, _Trail] = {}

    def get(self, worker_id: str, limit: int | None = None) -> list[CloudEvent] | None:
        """The worker's newest ``limit`` events, oldest first; None when not read yet."""
        with self._lock:
            trail = self._trails.get(worker_id)
            if trail is None:
                return None
            entries = trail.events if limit is None else trail.events[-limit:] if limit > 0 else []
            return [envelope for _, _, envelope in entries]

    def has(self, worker_id: str) -> bool:
        with self._lock:
            return worker_id in self._trails

    def fill(self, client: Any, table: str, worker_ids: Iterable[str], call: Any) -> None:
        """Read each worker's events past its cached version (all of them when not cached);
        ``call`` wraps each DynamoDB call (the repository's error mapping)."""
        for worker_id in worker_ids:
            with self._lock:
                trail = self._trails.get(worker_id)
                after = trail.through if trail is not None else 0
            items = call(event_items_after, client, table, worker_id, after)
            read: list[tuple[int, bool, CloudEvent]] = []
            for item in items:
                parsed = envelopes([item])  # an unreadable one is logged and left out
                if parsed:
                    telemetry = bool(item.get("telemetry", {}).get("BOOL"))
                    read.append((version_of_event_item(item), telemetry, parsed[0]))
            with self._lock:
                trail = self._trails.setdefault(worker_id, _Trail())
                for version, telemetry, envelope in read:
                    if version > trail.through:  # a write of ours may have landed meanwhile
                        trail.add(version, telemetry, envelope)

    def append_written(
        self, worker_id: str, written: Sequence[tuple[int, int, bool, CloudEvent]]
    ) -> None:
        """This process's events that landed: appended when they follow the cached trail;
        otherwise (another process wrote in between) the trail is dropped, to be read again."""
        with self._lock:
            trail = self._trails.get(worker_id)
            if trail is None:
                return
            for before, version, telemetry, envelope in written:
                if before != trail.through:
                    del self._trails[worker_id]
                    return
                trail.add(version, telemetry, envelope)

    def cached_ids(self, worker_ids: Iterable[str]) -> list[str]:
        with self._lock:
            return [w for w in worker_ids if w in self._trails]

    def drop(self, worker_id: str) -> None:
        with self._lock:
            self._trails.pop(worker_id, None)
