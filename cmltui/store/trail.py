"""The audit trail as stored in the data file's ``events`` table, read back: CloudEvents for
the trail screen and ``cmltui events``, domain events for replay."""

from __future__ import annotations

import logging
from collections.abc import Container, Iterable
from typing import Any

from pydantic import ValidationError

from cmltui.domain.events import (
    CloudEvent,
)

log = logging.getLogger("cmltui.store.repository")

EVENTS_TABLE = "events"


def brief_error(err: Exception) -> str:
    """A validation error's first problem (where: what), else the error's text."""
    if isinstance(err, ValidationError):
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "document"
        return f"{where}: {first['msg']}"
    return str(err)


class TrailReads:
    """Reads of the ``events`` table: its documents by sequence number, and per worker."""

    _event_ids_by_worker: dict[str, dict[int, None]]

    def _raw(self, table_name: str) -> dict[str, Any]:
        raise NotImplementedError

    def events(self, worker_id: str | None = None, limit: int | None = None) -> list[CloudEvent]:
        """The audit trail as CloudEvents, oldest first, newest last (the last ``limit``)."""
        raw = self._raw(EVENTS_TABLE)
        if worker_id is None:
            doc_ids = sorted(int(raw_id) for raw_id in raw)
        else:
            doc_ids = list(self._event_ids_by_worker.get(worker_id, {}))
        if limit is not None:
            doc_ids = doc_ids[-limit:] if limit > 0 else []
        return self._validated(raw, doc_ids)

    def _validated(
        self, raw: dict[str, Any], doc_ids: Iterable[int], types: Container[str] | None = None
    ) -> list[CloudEvent]:
        """The envelopes of these documents (of these types only, when given): unreadable ones
        are logged and left out."""
        envelopes: list[CloudEvent] = []
        for doc_id in doc_ids:
            doc = raw.get(str(doc_id))
            if doc is None:
                continue
            if types is not None:
                envelope = doc.get("envelope")
                if not isinstance(envelope, dict) or envelope.get("type") not in types:
                    continue  # an unreadable one is logged when the whole trail is read
            try:
                envelopes.append(CloudEvent.model_validate(doc["envelope"]))
            except (KeyError, TypeError, ValidationError) as err:
                log.warning("stored event %s is unreadable: %s", doc_id, brief_error(err))
        return envelopes

    def cached_events_of_types(
        self, worker_id: str, types: Container[str]
    ) -> list[CloudEvent] | None:
        """A worker's events of these types, oldest first: the others are never validated."""
        raw = self._raw(EVENTS_TABLE)
        return self._validated(raw, self._event_ids_by_worker.get(worker_id, {}), types)

    def cached_events(self, worker_id: str, limit: int | None = None) -> list[CloudEvent] | None:
        """A worker's newest events without waiting on anything: the data file is in memory."""
        return self.events(worker_id, limit)

    def load_trails(self, worker_ids: Iterable[str]) -> None:
        """Nothing to read: the data file's trail is in memory already."""

    def event_sequence_numbers(self, worker_id: str | None = None) -> list[int]:
        """The sequence numbers of the stored events, oldest first."""
        if worker_id is None:
            return sorted(int(raw_id) for raw_id in self._raw(EVENTS_TABLE))
        return list(self._event_ids_by_worker.get(worker_id, {}))
