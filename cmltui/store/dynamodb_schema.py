"""The shared DynamoDB table: its keys, how it is created, and how items encode workers and events.

One table, single-table design (all keys are strings):

* a worker's record: ``pk = WORKER#<id>``, ``sk = STATE``; ``version`` (a number, the
  aggregate's own event count, the optimistic-concurrency check), ``state`` (the
  ``CMLWorkerState`` as JSON), and ``gsi2pk = WORKERS``/``gsi2sk = <id>`` so that the ``workers``
  index lists every record (it projects the version only: a sync reads the index, then fetches
  just the records whose version moved);
* a worker's event: ``pk = WORKER#<id>``, ``sk = EVENT#<version, 12 digits>`` (the aggregate's
  version once the event is applied: per worker, strictly ordered, and a deterministic key, so a
  copy run twice or a retried write never duplicates one); ``event_id``, ``type``, ``time``,
  ``telemetry``, ``envelope`` (the CloudEvents 1.0 form as JSON), and ``gsi1pk =
  EVENTS#<UTC day>``/``gsi1sk = <UTC time>#<worker id>#<version>`` for the ``by_time`` index
  (events by time, one partition per day);
* ``pk = META``: ``sk = LEASE`` (the automatic-policy lease), ``sk = POLL_MARK`` (which
  workers' CML the lease holder read last, and when), ``sk = EVENT_DAYS`` (the set of
  days that have events, so a query by time knows where the trail starts).

JSON strings rather than DynamoDB maps: no float/Decimal conversion, one attribute per record.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from cmltui.domain.events import CloudEvent, DomainEvent
from cmltui.domain.worker import CMLWorkerState

PK = "pk"
SK = "sk"
STATE_SK = "STATE"
EVENT_PREFIX = "EVENT#"
WORKER_PREFIX = "WORKER#"
META_PK = "META"
LEASE_SK = "LEASE"
POLL_MARK_SK = "POLL_MARK"
DAYS_SK = "EVENT_DAYS"
BY_TIME_INDEX = "by_time"
WORKERS_INDEX = "workers"
WORKERS_PARTITION = "WORKERS"
DAY_PREFIX = "EVENTS#"
#: TransactWriteItems takes at most 100 items.
MAX_TRANSACTION_ITEMS = 100

#: Every DynamoDB action cmltui calls (the README's IAM policy lists exactly these).
IAM_ACTIONS = (
    "dynamodb:CreateTable",
    "dynamodb:DescribeTable",
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:DeleteItem",
)


def worker_pk(worker_id: str) -> str:
    return WORKER_PREFIX + worker_id


def event_sk(version: int) -> str:
    return f"{EVENT_PREFIX}{version:012d}"


def utc_text(when: datetime) -> str:
    """A time as sortable UTC text (``2025-01-02T03:04:05.000006Z``)."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def day_of(when: datetime) -> str:
    return utc_text(when)[:10]


def event_increment(event: DomainEvent) -> int:
    """How much an event moves the aggregate's version (a telemetry checkpoint stands for many)."""
    compacted = getattr(event, "compacted_events", None)
    return compacted if isinstance(compacted, int) and compacted > 0 else 1


# ---------------------------------------------------------------------- items
def state_item(state: CMLWorkerState) -> dict[str, Any]:
    return {
        PK: {"S": worker_pk(state.id)},
        SK: {"S": STATE_SK},
        "version": {"N": str(state.version)},
        "state": {"S": state.model_dump_json()},
        "gsi2pk": {"S": WORKERS_PARTITION},
        "gsi2sk": {"S": state.id},
    }


def state_from_item(item: dict[str, Any]) -> CMLWorkerState:
    return CMLWorkerState.model_validate_json(item["state"]["S"])


def event_item(
    worker_id: str, version: int, envelope: CloudEvent, *, telemetry: bool
) -> dict[str, Any]:
    when = utc_text(envelope.time)
    return {
        PK: {"S": worker_pk(worker_id)},
        SK: {"S": event_sk(version)},
        "event_id": {"S": envelope.id},
        "type": {"S": envelope.type},
        "time": {"S": when},
        "telemetry": {"BOOL": telemetry},
        "envelope": {"S": envelope.model_dump_json()},
        "gsi1pk": {"S": DAY_PREFIX + when[:10]},
        "gsi1sk": {"S": f"{when}#{worker_id}#{version:012d}"},
    }


def envelope_from_item(item: dict[str, Any]) -> CloudEvent:
    return CloudEvent.model_validate(json.loads(item["envelope"]["S"]))


def version_of_event_item(item: dict[str, Any]) -> int:
    return int(item[SK]["S"][len(EVENT_PREFIX) :])


# ---------------------------------------------------------------------- the table
def table_definition(table: str) -> dict[str, Any]:
    """``CreateTable``'s arguments: on-demand billing, the two indexes."""
    strings = ("pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk")
    return {
        "TableName": table,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": a, "AttributeType": "S"} for a in strings],
        "KeySchema": [
            {"AttributeName": PK, "KeyType": "HASH"},
            {"AttributeName": SK, "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": BY_TIME_INDEX,
                "KeySchema": [
                    {"AttributeName": "gsi1pk", "KeyType": "HASH"},
                    {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            },
            {
                "IndexName": WORKERS_INDEX,
                "KeySchema": [
                    {"AttributeName": "gsi2pk", "KeyType": "HASH"},
                    {"AttributeName": "gsi2sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["version"]},
            },
        ],
    }


def create_table(client: Any, table: str, *, wait_seconds: float = 300.0) -> bool:
    """Create the table and wait until it is ACTIVE. False when it existed already (then it
    only waits for it to be ACTIVE)."""
    created = True
    try:
        client.create_table(**table_definition(table))
    except client.exceptions.ResourceInUseException:
        created = False
    deadline = time.monotonic() + wait_seconds
    delay = 0.2
    while True:
        status = client.describe_table(TableName=table)["Table"].get("TableStatus")
        if status == "ACTIVE":
            return created
        if time.monotonic() > deadline:
            raise TimeoutError(f"table {table} is still {status} after {wait_seconds:.0f} s")
        time.sleep(delay)
        delay = min(delay * 2, 5.0)


def dynamodb_client(session: Any, config: Any) -> Any:
    """A DynamoDB client from the same session, endpoint and retry settings as EC2's
    (``config`` is a ``cmltui.config.Config``; ``$AWS_ENDPOINT_URL`` is boto3's own)."""
    from botocore.config import Config as BotoConfig

    region = config.store.region or config.regions[0]
    boto_config = BotoConfig(
        retries={"mode": "standard", "total_max_attempts": config.aws.total_max_attempts},
        connect_timeout=config.aws.connect_timeout_seconds,
        read_timeout=config.aws.read_timeout_seconds,
    )
    kwargs: dict[str, Any] = {"region_name": region, "config": boto_config}
    if config.aws.endpoint_url:
        kwargs["endpoint_url"] = config.aws.endpoint_url
    return session.client("dynamodb", **kwargs)
