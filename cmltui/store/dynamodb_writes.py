"""Writing workers and their events to DynamoDB: ``TransactWriteItems`` with a version check.

Each worker's change is one or more *steps*: its new events (one item each, ``attribute_not_exists``
on the key) and its record, conditioned on the version the table held when this process read it
(``attribute_not_exists`` for a new worker). A step is atomic: the record and its events are written
together or not at all. A worker with more than 99 new events takes several steps, each a
consistent state (the record at the version its events reach, rebuilt by replaying them).

Steps are packed into transactions of at most 100 items, at most one step per worker (DynamoDB
refuses two operations on one item in a transaction). A transaction is all or nothing: when one is
cancelled, its ``CancellationReasons`` name the items whose condition failed; those workers are
*conflicts* (returned to the caller, which reloads and re-applies them); the other workers of the
cancelled transaction are written in the next one. Transactions already committed stay committed:
their workers leave the pending set, so a retry never writes them twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from cmltui.domain.events import CloudEvent, DomainEvent
from cmltui.domain.worker import CMLWorkerState
from cmltui.store.dynamodb_errors import StoreConflictError
from cmltui.store.dynamodb_schema import (
    MAX_TRANSACTION_ITEMS,
    PK,
    SK,
    STATE_SK,
    event_increment,
    event_item,
    state_from_item,
    state_item,
    worker_pk,
)
from cmltui.store.errors import StoreWriteError

log = logging.getLogger(__name__)

#: A cancelled transaction whose reasons are only ``TransactionConflict`` (another transaction
#: on the same items at the same moment) is sent again this many times.
TRANSACTION_CONFLICT_RETRIES = 4


@dataclass
class PendingWorker:
    """What this process has not written yet for one worker."""

    worker_id: str
    #: The version the table holds (the events go on top of it); 0: a worker new to the table.
    base_version: int
    #: The record to store once all events are written (None: the events only, the worker was
    #: forgotten: its record stays deleted).
    state: CMLWorkerState | None
    #: The events with their envelopes (ids fixed once, so a retry is recognisable).
    events: list[tuple[DomainEvent, CloudEvent]] = field(default_factory=list)
    #: The stored state at ``base_version`` when known (needed only past 99 events).
    base_state: CMLWorkerState | None = None
    #: Delete the record in the last step (forget), keeping the events.
    delete: bool = False
    #: The events written so far: (version before, version, telemetry, envelope), for the
    #: repository's trail cache (``dynamodb_trail``).
    written: list[tuple[int, int, bool, CloudEvent]] = field(default_factory=list)

    @property
    def events_only(self) -> bool:
        return self.state is None or (self.delete and self.base_version == 0)


@dataclass
class _Step:
    pending: PendingWorker
    events: list[tuple[DomainEvent, CloudEvent]]
    #: The record written by this step (None: events only, or a delete).
    state: CMLWorkerState | None
    final: bool
    items: list[dict[str, Any]] = field(default_factory=list)
    version_after: int = 0
    written: list[tuple[int, int, bool, CloudEvent]] = field(default_factory=list)


def _plan_step(table: str, p: PendingWorker, fetch_state: Callable[[str], Any]) -> _Step:
    room = MAX_TRANSACTION_ITEMS if p.events_only else MAX_TRANSACTION_ITEMS - 1
    events, final = p.events[:room], len(p.events) <= room
    version = p.base_version
    items: list[dict[str, Any]] = []
    written: list[tuple[int, int, bool, CloudEvent]] = []
    for event, envelope in events:
        before = version
        version += event_increment(event)
        written.append((before, version, event.IS_TELEMETRY, envelope))
        item = event_item(p.worker_id, version, envelope, telemetry=event.IS_TELEMETRY)
        items.append(
            {
                "Put": {
                    "TableName": table,
                    "Item": item,
                    "ConditionExpression": "attribute_not_exists(sk)",
                }
            }
        )
    step = _Step(p, events, None, final, items, version, written)
    if p.events_only:
        return step
    key = {PK: {"S": worker_pk(p.worker_id)}, SK: {"S": STATE_SK}}
    if p.base_version == 0:
        condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(pk)"}
    else:
        condition = {
            "ConditionExpression": "version = :base",
            "ExpressionAttributeValues": {":base": {"N": str(p.base_version)}},
        }
    if final and p.delete:
        items.append({"Delete": {"TableName": table, "Key": key, **condition}})
        return step
    if final:
        assert p.state is not None
        step.state = p.state
    else:  # past 99 events: the record at the version these events reach, by replaying them
        base = p.base_state
        if base is None or base.version != p.base_version:
            base = fetch_state(p.worker_id) if p.base_version else CMLWorkerState()
        if base is None or base.version != p.base_version:
            raise StoreConflictError([p.worker_id])
        state = base.model_copy(deep=True)
        for event, _ in events:
            state.apply(event)
        step.state = state
    items.append({"Put": {"TableName": table, "Item": state_item(step.state), **condition}})
    return step


def _cancellation_codes(err: ClientError) -> list[str]:
    reasons = err.response.get("CancellationReasons") or []
    return [str(r.get("Code") or "None") for r in reasons]


def write_pending(
    client: Any,
    table: str,
    pending: dict[str, PendingWorker],
    *,
    on_written: Callable[[PendingWorker, CMLWorkerState | None, int], None],
    sleep: Callable[[float], None] = time.sleep,
) -> set[str]:
    """Write everything in ``pending`` (removing what reaches the table); returns the ids of the
    workers in conflict (left in ``pending``). Raises ``StoreWriteError`` when DynamoDB cannot be
    written (what was not written stays in ``pending``)."""

    def fetch_state(worker_id: str) -> CMLWorkerState | None:
        reply = client.get_item(
            TableName=table,
            Key={PK: {"S": worker_pk(worker_id)}, SK: {"S": STATE_SK}},
            ConsistentRead=True,
        )
        return state_from_item(reply["Item"]) if "Item" in reply else None

    conflicts: set[str] = set()
    transactions = 0
    while True:
        ready = [p for wid, p in pending.items() if wid not in conflicts]
        if not ready:
            return conflicts
        steps: list[_Step] = []
        for p in ready:
            try:
                steps.append(_plan_step(table, p, fetch_state))
            except StoreConflictError:
                conflicts.add(p.worker_id)
        batch: list[_Step] = []
        size = 0
        groups: list[list[_Step]] = []
        for step in steps:
            if batch and size + len(step.items) > MAX_TRANSACTION_ITEMS:
                groups.append(batch)
                batch, size = [], 0
            batch.append(step)
            size += len(step.items)
        if batch:
            groups.append(batch)
        for group in groups:
            transactions += 1
            failed = _send(client, group, sleep)
            if failed:  # nothing of this transaction was written: the others go next round
                conflicts |= failed
                continue
            for step in group:
                _advance(step, pending, on_written)
        log.debug("dynamodb: %d transactions so far", transactions)


def _send(client: Any, group: list[_Step], sleep: Callable[[float], None]) -> set[str]:
    """Send one transaction; the ids whose own condition failed (empty: written)."""
    items = [item for step in group for item in step.items]
    owners = [step.pending.worker_id for step in group for _ in step.items]
    delay = 0.05
    for attempt in range(TRANSACTION_CONFLICT_RETRIES + 1):
        try:
            client.transact_write_items(TransactItems=items)
            return set()
        except ClientError as err:
            code = err.response.get("Error", {}).get("Code", "")
            if code != "TransactionCanceledException":
                raise StoreWriteError(f"cannot write the DynamoDB table: {_brief(err)}") from None
            codes = _cancellation_codes(err)
            failed = {owners[i] for i, c in enumerate(codes) if c == "ConditionalCheckFailed"}
            if failed:
                return failed
            if any(c not in ("None", "TransactionConflict") for c in codes):
                raise StoreWriteError(f"cannot write the DynamoDB table: {_brief(err)}") from None
            if attempt < TRANSACTION_CONFLICT_RETRIES:
                sleep(delay)
                delay *= 2
        except BotoCoreError as err:
            raise StoreWriteError(f"cannot reach DynamoDB: {err}") from None
    raise StoreWriteError(
        "cannot write the DynamoDB table: other transactions kept conflicting with this one; "
        "the changes are kept in memory and the next write retries them"
    )


def _advance(
    step: _Step,
    pending: dict[str, PendingWorker],
    on_written: Callable[[PendingWorker, CMLWorkerState | None, int], None],
) -> None:
    p = step.pending
    del p.events[: len(step.events)]
    p.written.extend(step.written)
    p.base_version = step.version_after
    if step.state is not None:
        p.base_state = step.state
    if step.final:
        pending.pop(p.worker_id, None)
        on_written(p, step.state, step.version_after)


def _brief(err: ClientError) -> str:
    error = err.response.get("Error", {})
    return f"{error.get('Code', 'error')}: {error.get('Message', '')}".strip()
