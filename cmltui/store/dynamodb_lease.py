"""The automatic-policy lease in the shared DynamoDB table: one item, a conditional put; and the
policy runner's CML poll mark, one item it overwrites each cycle.

The same rules as the data file's lease (``cmltui.store.lease.decide``): taken when free, expired or
already ours, renewed once a third of its time has gone. The put is conditioned on the item being
exactly what was read (or absent), so two processes can never both take it.
"""

from __future__ import annotations

import json
import zlib
from datetime import datetime, timedelta
from typing import Any

from cmltui.domain.lease import LeaseView, PollMark
from cmltui.store import poll_mark
from cmltui.store.dynamodb_schema import LEASE_SK, META_PK, PK, POLL_MARK_SK, SK
from cmltui.store.lease import decide, peek, release_value

_KEY = {PK: {"S": META_PK}, SK: {"S": LEASE_SK}}


def _read(client: Any, table: str) -> tuple[dict[str, str] | None, dict[str, Any] | None]:
    item = client.get_item(TableName=table, Key=_KEY, ConsistentRead=True).get("Item")
    if item is None:
        return None, None
    value = {"holder": item["holder"]["S"], "expires_at": item["expires_at"]["S"]}
    return value, item


def _put(client: Any, table: str, value: dict[str, str], seen: dict[str, Any] | None) -> bool:
    """Store ``value`` if the item is still ``seen``; False when another process changed it."""
    item = {**_KEY, "holder": {"S": value["holder"]}, "expires_at": {"S": value["expires_at"]}}
    if seen is None:
        condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(pk)"}
    else:
        condition = {
            "ConditionExpression": "holder = :h AND expires_at = :e",
            "ExpressionAttributeValues": {":h": seen["holder"], ":e": seen["expires_at"]},
        }
    try:
        client.put_item(TableName=table, Item=item, **condition)
    except client.exceptions.ConditionalCheckFailedException:
        return False
    return True


def claim(
    client: Any, table: str, holder: str, now: datetime, ttl: timedelta, *, read_only: bool
) -> LeaseView:
    current, seen = _read(client, table)
    if read_only:
        return peek(current, now)
    value, view = decide(current, holder, now, ttl)
    if value is None or _put(client, table, value, seen):
        return view
    current, _ = _read(client, table)  # another process took or renewed it meanwhile
    return peek(current, now)


def release(client: Any, table: str, holder: str) -> None:
    current, seen = _read(client, table)
    value = release_value(current, holder)
    if value is not None:
        _put(client, table, value, seen)


_POLL_KEY = {PK: {"S": META_PK}, SK: {"S": POLL_MARK_SK}}


def read_poll_mark(client: Any, table: str) -> PollMark | None:
    """The policy runner's last CML poll mark (one eventually consistent read: a mark a second
    late only makes a process poll CML itself once)."""
    item = client.get_item(TableName=table, Key=_POLL_KEY).get("Item")
    if item is None or "z" not in item:
        return None
    try:
        return poll_mark.decode(json.loads(zlib.decompress(item["z"]["B"])))
    except (KeyError, TypeError, ValueError, zlib.error):
        return None


def put_poll_mark(client: Any, table: str, mark: PollMark) -> None:
    """One put per CML cycle by the runner (no condition: only the lease holder writes it).

    Compressed: an item holds at most 400 KB and each KB written costs a write unit; 5,000
    worker ids are about 190 KB as JSON and about half that compressed."""
    value = json.dumps(poll_mark.encode(mark), separators=(",", ":")).encode()
    client.put_item(TableName=table, Item={**_POLL_KEY, "z": {"B": zlib.compress(value, 9)}})
