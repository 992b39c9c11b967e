"""Reading the shared DynamoDB table: worker records, the event trail per worker and by time, the
policy lease. Plain functions over a boto3 DynamoDB client (synchronous; callers run them in a
worker thread when on the event loop)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError

from cmltui.domain.events import CloudEvent
from cmltui.domain.worker import CMLWorkerState
from cmltui.store.dynamodb_errors import StoreTableError
from cmltui.store.dynamodb_schema import (
    BY_TIME_INDEX,
    DAY_PREFIX,
    DAYS_SK,
    EVENT_PREFIX,
    META_PK,
    PK,
    SK,
    STATE_SK,
    WORKER_PREFIX,
    WORKERS_INDEX,
    WORKERS_PARTITION,
    day_of,
    envelope_from_item,
    event_sk,
    state_from_item,
    utc_text,
    version_of_event_item,
    worker_pk,
)
from cmltui.store.errors import StoreError

log = logging.getLogger(__name__)


def describe_problem(err: Exception, table: str) -> str:
    """One line for a DynamoDB error an operator can act on."""
    if isinstance(err, ClientError):
        error = err.response.get("Error", {})
        code = error.get("Code", "error")
        if code == "ResourceNotFoundException":
            return f"the DynamoDB table {table} does not exist (create it: cmltui store init)"
        message = " ".join(str(error.get("Message", "")).split())
        return f"DynamoDB table {table}: {code}: {message}".rstrip(": ")
    return f"cannot reach DynamoDB for the table {table}: {' '.join(str(err).split())}"


def guarded(table: str, call: Any, *args: Any, **kwargs: Any) -> Any:
    """``call(*args, **kwargs)``, its AWS errors as ``StoreError`` (one line)."""
    try:
        return call(*args, **kwargs)
    except (ClientError, BotoCoreError) as err:
        problem = describe_problem(err, table)
        if isinstance(err, ClientError) and "ResourceNotFound" in str(err):
            raise StoreTableError(problem) from None
        raise StoreError(problem) from None


def _pages(client: Any, **query: Any) -> Iterator[dict[str, Any]]:
    while True:
        reply = client.query(**query)
        yield from reply.get("Items", [])
        last = reply.get("LastEvaluatedKey")
        if not last:
            return
        query["ExclusiveStartKey"] = last


def worker_versions(client: Any, table: str) -> dict[str, int]:
    """Every stored worker's version, from the ``workers`` index (eventually consistent)."""
    return {
        item["gsi2sk"]["S"]: int(item["version"]["N"])
        for item in _pages(
            client,
            TableName=table,
            IndexName=WORKERS_INDEX,
            KeyConditionExpression="gsi2pk = :p",
            ExpressionAttributeValues={":p": {"S": WORKERS_PARTITION}},
        )
    }


def get_state(client: Any, table: str, worker_id: str) -> CMLWorkerState | None:
    reply = client.get_item(
        TableName=table,
        Key={PK: {"S": worker_pk(worker_id)}, SK: {"S": STATE_SK}},
        ConsistentRead=True,
    )
    return state_from_item(reply["Item"]) if "Item" in reply else None


def get_states(
    client: Any, table: str, worker_ids: Iterable[str], notices: list[str]
) -> dict[str, CMLWorkerState]:
    """The records of ``worker_ids`` (strongly consistent, 100 per request); an unreadable one
    is skipped with a notice."""
    ids = list(dict.fromkeys(worker_ids))
    states: dict[str, CMLWorkerState] = {}
    for start in range(0, len(ids), 100):
        keys = [{PK: {"S": worker_pk(w)}, SK: {"S": STATE_SK}} for w in ids[start : start + 100]]
        request: dict[str, Any] = {table: {"Keys": keys, "ConsistentRead": True}}
        while request:
            reply = client.batch_get_item(RequestItems=request)
            for item in reply.get("Responses", {}).get(table, []):
                worker_id = item[PK]["S"][len(WORKER_PREFIX) :]
                try:
                    states[worker_id] = state_from_item(item)
                except (KeyError, ValidationError, ValueError) as err:
                    message = f"stored worker {worker_id} is unreadable and was skipped: {err}"
                    log.warning(message)
                    notices.append(message.splitlines()[0])
            request = reply.get("UnprocessedKeys") or {}
    return states


def worker_event_items(
    client: Any, table: str, worker_id: str, *, newest: int | None = None
) -> list[dict[str, Any]]:
    """A worker's event items, oldest first (only its ``newest`` when given)."""
    query: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "pk = :p AND begins_with(sk, :e)",
        "ExpressionAttributeValues": {":p": {"S": worker_pk(worker_id)}, ":e": {"S": EVENT_PREFIX}},
        "ConsistentRead": True,
    }
    if newest is None:
        return list(_pages(client, **query))
    if newest <= 0:
        return []
    items: list[dict[str, Any]] = []
    for item in _pages(client, ScanIndexForward=False, Limit=min(newest, 1000), **query):
        items.append(item)
        if len(items) >= newest:
            break
    return items[::-1]


def event_ids_between(
    client: Any, table: str, worker_id: str, after: int, upto: int
) -> dict[str, int]:
    """event id -> version of a worker's events with ``after < version <= upto``."""
    if upto <= after:
        return {}
    items = _pages(
        client,
        TableName=table,
        KeyConditionExpression="pk = :p AND sk BETWEEN :a AND :b",
        ExpressionAttributeValues={
            ":p": {"S": worker_pk(worker_id)},
            ":a": {"S": event_sk(after + 1)},
            ":b": {"S": event_sk(upto)},
        },
        ConsistentRead=True,
    )
    return {item["event_id"]["S"]: version_of_event_item(item) for item in items}


def last_event_version(client: Any, table: str, worker_id: str) -> int:
    items = worker_event_items(client, table, worker_id, newest=1)
    return version_of_event_item(items[-1]) if items else 0


def event_days(client: Any, table: str) -> list[str]:
    reply = client.get_item(
        TableName=table, Key={PK: {"S": META_PK}, SK: {"S": DAYS_SK}}, ConsistentRead=True
    )
    return sorted(reply.get("Item", {}).get("days", {}).get("SS", []))


def note_event_days(client: Any, table: str, days: Iterable[str]) -> None:
    client.update_item(
        TableName=table,
        Key={PK: {"S": META_PK}, SK: {"S": DAYS_SK}},
        UpdateExpression="ADD days :d",
        ExpressionAttributeValues={":d": {"SS": sorted(set(days))}},
    )


def events_by_time(
    client: Any,
    table: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    newest: int | None = None,
) -> list[dict[str, Any]]:
    """Event items of every worker in time order (``since`` <= time < ``until``), oldest first;
    with ``newest``, only the last that many (read from the newest day backwards)."""
    if newest is not None and newest <= 0:
        return []
    days = event_days(client, table)
    if since is not None:
        days = [d for d in days if d >= day_of(since)]
    if until is not None:
        days = [d for d in days if d <= day_of(until)]
    condition, values = "gsi1pk = :d", {}
    if since is not None and until is not None:
        condition += " AND gsi1sk BETWEEN :lo AND :hi"
        values = {":lo": {"S": utc_text(since)}, ":hi": {"S": utc_text(until)}}
    elif since is not None:
        condition += " AND gsi1sk >= :lo"
        values = {":lo": {"S": utc_text(since)}}
    elif until is not None:
        condition += " AND gsi1sk <= :hi"
        values = {":hi": {"S": utc_text(until)}}
    collected: list[dict[str, Any]] = []
    for day in reversed(days) if newest is not None else days:
        query: dict[str, Any] = {
            "TableName": table,
            "IndexName": BY_TIME_INDEX,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": {":d": {"S": DAY_PREFIX + day}, **values},
            "ScanIndexForward": newest is None,
        }
        for item in _pages(client, **query):
            if until is not None and item["time"]["S"] >= utc_text(until):
                continue  # until is exclusive
            collected.append(item)
            if newest is not None and len(collected) >= newest:
                return collected[::-1]
    return collected[::-1] if newest is not None else collected


def envelopes(items: Iterable[dict[str, Any]]) -> list[CloudEvent]:
    result: list[CloudEvent] = []
    for item in items:
        try:
            result.append(envelope_from_item(item))
        except (KeyError, ValueError, ValidationError) as err:
            log.warning("stored event %s is unreadable: %s", item.get(SK, {}).get("S"), err)
    return result
