"""Telemetry retention on the shared table, as in the data file: replay stays exact.

A telemetry event is written for every worker every CML cycle: left alone, a team's table grows
by millions of items a day, and every trail read (``events``) reads them all. So, as the data
file does (``retention``, ``compaction``), a worker's old telemetry events are dropped and
folded into one checkpoint event standing where the newest dropped one stood (an earlier
checkpoint folded in), so that replaying the trail still rebuilds the stored record.

On DynamoDB the fold is one ``TransactWriteItems``: the checkpoint's put over the newest dropped
item and the deletes of the others, each conditioned on the event id that was read, so that two
processes trimming the same worker cannot both fold one checkpoint (the second is cancelled and
tries again later). Lifecycle events are never touched.

Trimming is batched: a worker is trimmed when this process has written ``batch`` telemetry
events past the rule's ``per_worker`` (or some are past ``max_age``): two calls per worker
every ``batch`` cycles, not two per cycle. The query then finds every telemetry item older than
the ones kept, also those written before this process started or by another process.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cmltui.store.compaction import CHECKPOINT_TYPE, compact_telemetry
from cmltui.store.dynamodb_reads import _pages
from cmltui.store.dynamodb_schema import (
    EVENT_PREFIX,
    MAX_TRANSACTION_ITEMS,
    PK,
    SK,
    event_sk,
    version_of_event_item,
    worker_pk,
)
from cmltui.store.retention import TelemetryRetention

log = logging.getLogger(__name__)

#: Telemetry events written past the kept ones before a worker is trimmed.
TRIM_BATCH = 90


class TelemetryTrimmer:
    """Which workers are due a trim, from the telemetry events this process wrote."""

    def __init__(self, rule: TelemetryRetention | None = None, batch: int = TRIM_BATCH) -> None:
        self.rule = rule or TelemetryRetention()
        # One transaction holds the checkpoint, the deletes and the earlier checkpoint.
        self.batch = max(1, min(batch, MAX_TRANSACTION_ITEMS - 1 - self.rule.per_worker))
        #: worker id -> (version, time) of the telemetry events written since its last trim.
        self._written: dict[str, deque[tuple[int, datetime]]] = {}

    def note(self, worker_id: str, version: int, when: datetime) -> None:
        self._written.setdefault(worker_id, deque()).append((version, when))

    def due(self, now: datetime) -> dict[str, int]:
        """worker id -> the newest version to drop (every telemetry item up to it goes).

        The rule's own terms (the newest ``per_worker``, none older than ``max_age``), applied
        once ``batch`` are over the count, or as soon as any is over the age (a stopped
        worker's last figures, a day later)."""
        cutoff = now - self.rule.max_age
        result: dict[str, int] = {}
        for worker_id, entries in list(self._written.items()):
            over_count = len(entries) - self.rule.per_worker
            over_age = 0
            while over_age < len(entries) and entries[over_age][1] < cutoff:
                over_age += 1
            drop = max(over_count if over_count >= self.batch else 0, over_age)
            if drop <= 0:
                continue
            result[worker_id] = entries[drop - 1][0]
            for _ in range(drop):
                entries.popleft()
            if not entries:
                del self._written[worker_id]
        return result

    def forget(self, worker_id: str) -> None:
        self._written.pop(worker_id, None)


def _telemetry_upto(client: Any, table: str, worker_id: str, upto: int) -> list[dict[str, Any]]:
    """The worker's telemetry items and checkpoint(s) with version <= ``upto``, oldest first."""
    return list(
        _pages(
            client,
            TableName=table,
            KeyConditionExpression="pk = :p AND sk BETWEEN :first AND :last",
            FilterExpression="#t = :yes OR #type = :checkpoint",
            ExpressionAttributeNames={"#t": "telemetry", "#type": "type"},
            ExpressionAttributeValues={
                ":p": {"S": worker_pk(worker_id)},
                ":first": {"S": EVENT_PREFIX},
                ":last": {"S": event_sk(upto)},
                ":yes": {"BOOL": True},
                ":checkpoint": {"S": CHECKPOINT_TYPE},
            },
            ConsistentRead=True,
        )
    )


def _as_doc(item: Mapping[str, Any]) -> dict[str, Any]:
    return {"envelope": json.loads(item["envelope"]["S"])}


def _unchanged(item: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "ConditionExpression": "event_id = :id",
        "ExpressionAttributeValues": {":id": item["event_id"]},
    }


def trim_worker(client: Any, table: str, worker_id: str, upto: int) -> int:
    """Fold the worker's telemetry items up to version ``upto`` into one checkpoint (several
    transactions when there are many). Returns the items removed; 0 when there was nothing to
    fold or another process changed them meanwhile (it is tried again at the next trim)."""
    items = _telemetry_upto(client, table, worker_id, upto)
    checkpoints = [i for i in items if i["type"]["S"] == CHECKPOINT_TYPE]
    previous = checkpoints[-1] if checkpoints else None
    telemetry = [i for i in items if i["type"]["S"] != CHECKPOINT_TYPE]
    # Stray older checkpoints (there should be none) are left alone: each counts in replay.
    removed = 0
    room = MAX_TRANSACTION_ITEMS - 1  # the earlier checkpoint's delete
    for start in range(0, len(telemetry), room):
        chunk = telemetry[start : start + room]
        if previous is not None and version_of_event_item(previous) > version_of_event_item(
            chunk[-1]
        ):
            break  # never move a checkpoint backwards
        envelope = compact_telemetry(
            [_as_doc(i) for i in chunk], _as_doc(previous) if previous else None
        )
        if envelope is None:
            return removed  # nothing readable to fold: leave the items as they are
        newest = chunk[-1]
        checkpoint = {  # where the newest stood, in the trail and in the by-time index
            **{k: v for k, v in newest.items() if k in (PK, SK, "time", "gsi1pk", "gsi1sk")},
            "event_id": {"S": envelope["id"]},
            "type": {"S": CHECKPOINT_TYPE},
            "telemetry": {"BOOL": False},
            "envelope": {"S": json.dumps(envelope, separators=(",", ":"))},
        }
        actions: list[dict[str, Any]] = [
            {"Put": {"TableName": table, "Item": checkpoint, **_unchanged(newest)}}
        ]
        for item in [*chunk[:-1], *([previous] if previous is not None else [])]:
            key = {PK: item[PK], SK: item[SK]}
            actions.append({"Delete": {"TableName": table, "Key": key, **_unchanged(item)}})
        try:
            client.transact_write_items(TransactItems=actions)
        except client.exceptions.TransactionCanceledException:
            log.info("telemetry of %s changed while it was trimmed: tried again later", worker_id)
            return removed
        removed += len(actions) - 1
        previous = checkpoint
    return removed
