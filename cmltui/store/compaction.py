"""Telemetry retention without a lossy replay: dropped telemetry events become one checkpoint.

Retention keeps the audit trail small by dropping old telemetry events, but a replay needs what
they set (the last activity, CPU, memory, labs) and counts them in the version. So the events
it drops are compacted into one ``CMLWorkerTelemetryCompactedDomainEvent`` standing where the
newest of them stood (with the worker's earlier checkpoint folded in): replaying the trail
still rebuilds the stored state. Telemetry only sets telemetry fields and no other event reads
them, so the net effect of the dropped events is the newest one's figures at its place.

Pure functions over stored event documents (``{"seq", "telemetry", "envelope"}``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from cmltui.domain.events import (
    CMLWorkerTelemetryCompactedDomainEvent,
    CMLWorkerTelemetryUpdatedDomainEvent,
    UnknownEventTypeError,
    event_from_cloudevent,
    to_cloudevent,
)

log = logging.getLogger(__name__)

CHECKPOINT_TYPE = CMLWorkerTelemetryCompactedDomainEvent.EVENT_TYPE


def is_checkpoint(doc: Mapping[str, Any]) -> bool:
    """True for a stored checkpoint document."""
    envelope = doc.get("envelope")
    return isinstance(envelope, Mapping) and envelope.get("type") == CHECKPOINT_TYPE


def _event_of(doc: Mapping[str, Any] | None) -> Any:
    if doc is None:
        return None
    try:
        return event_from_cloudevent(dict(doc["envelope"]))
    except (KeyError, TypeError, ValidationError, UnknownEventTypeError) as err:
        # A replay skips it too, so leaving it out keeps the count the replay's.
        log.warning("stored event %s cannot be compacted: %s", doc.get("seq"), err)
        return None


def compact_telemetry(
    dropped: Sequence[Mapping[str, Any] | None], previous: Mapping[str, Any] | None
) -> dict[str, Any] | None:
    """The checkpoint's CloudEvents envelope (JSON-ready) standing for the ``previous``
    checkpoint and the ``dropped`` telemetry documents (oldest first); None when none of the
    dropped can be read (a replay would skip them: the earlier checkpoint stays as it is)."""
    earlier = _event_of(previous)
    count = 0
    first_measured_at = None
    if isinstance(earlier, CMLWorkerTelemetryCompactedDomainEvent):
        count = earlier.compacted_events
        first_measured_at = earlier.first_measured_at
    newest: CMLWorkerTelemetryUpdatedDomainEvent | None = None
    for doc in dropped:
        event = _event_of(doc)
        if not isinstance(event, CMLWorkerTelemetryUpdatedDomainEvent):
            continue
        count += 1
        newest = event
        if first_measured_at is None:
            first_measured_at = event.updated_at
    if newest is None:
        return None
    checkpoint = CMLWorkerTelemetryCompactedDomainEvent(
        aggregate_id=newest.aggregate_id,
        last_activity_at=newest.last_activity_at,
        active_labs_count=newest.active_labs_count,
        cpu_utilization=newest.cpu_utilization,
        memory_utilization=newest.memory_utilization,
        compacted_events=count,
        first_measured_at=first_measured_at or newest.updated_at,
        updated_at=newest.updated_at,
    )
    return to_cloudevent(checkpoint).model_dump(mode="json")


def compact_in_table(
    table: dict[int, Mapping[str, Any]], dropped_ids: Sequence[int], previous_id: int | None
) -> tuple[list[int], int | None]:
    """Drop a worker's ``dropped_ids`` (oldest first) from the events ``table``, leaving one
    checkpoint where the newest stood (the earlier one, ``previous_id``, folded in).

    Returns the doc ids removed and the checkpoint's doc id (None: no checkpoint was written,
    the earlier one, if any, stays)."""
    if not dropped_ids:
        return [], None
    previous = table.get(previous_id) if previous_id is not None else None
    envelope = compact_telemetry([table.get(doc_id) for doc_id in dropped_ids], previous)
    if envelope is None:
        removed = list(dropped_ids)
        position = None
    else:
        position = dropped_ids[-1]
        removed = list(dropped_ids[:-1])
        if previous_id is not None:
            removed.append(previous_id)
        table[position] = {"seq": position, "telemetry": False, "envelope": envelope}
    for doc_id in removed:
        table.pop(doc_id, None)
    return removed, position
