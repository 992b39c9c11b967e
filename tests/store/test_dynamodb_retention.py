"""Telemetry retention on the shared DynamoDB table (moto's server): old telemetry items are
folded into one checkpoint, so the table stays bounded and a replay of the trail still rebuilds
the stored record, version included, also with a second process and a competing trim."""

from __future__ import annotations

from datetime import timedelta

from cmltui.domain.enums import CMLServiceStatus, CMLWorkerStatus
from cmltui.domain.events import CMLWorkerTelemetryUpdatedDomainEvent
from cmltui.domain.worker import CMLWorker
from cmltui.store.compaction import CHECKPOINT_TYPE
from cmltui.store.dynamodb import DynamoDbWorkerRepository
from cmltui.store.dynamodb_retention import TelemetryTrimmer, trim_worker
from cmltui.store.retention import TelemetryRetention
from tests.fixtures.workers import make_worker

TELEMETRY_TYPE = CMLWorkerTelemetryUpdatedDomainEvent.EVENT_TYPE
RULE = TelemetryRetention(per_worker=3, max_age=timedelta(hours=24))


def _open(client, table, clock, *, batch: int = 5, **kwargs) -> DynamoDbWorkerRepository:
    trimmer = TelemetryTrimmer(RULE, batch=batch)
    return DynamoDbWorkerRepository(client, table, clock=clock, retention=trimmer, **kwargs)


def _tick(worker: CMLWorker, clock, step: int) -> None:
    clock.advance(minutes=1)
    worker.update_telemetry(clock() - timedelta(seconds=step % 2), step % 3, float(step % 97), 50.0)


def _items(client, table, worker_id: str) -> list[dict]:
    reply = client.query(
        TableName=table,
        KeyConditionExpression="pk = :p AND begins_with(sk, :e)",
        ExpressionAttributeValues={":p": {"S": f"WORKER#{worker_id}"}, ":e": {"S": "EVENT#"}},
        ConsistentRead=True,
    )
    return reply["Items"]


def _count(client, table, worker_id: str, event_type: str) -> int:
    return sum(1 for i in _items(client, table, worker_id) if i["type"]["S"] == event_type)


def _replay_matches(store: DynamoDbWorkerRepository, worker_id: str) -> CMLWorker:
    fresh = DynamoDbWorkerRepository(store.client, store.table, clock=store._clock, read_only=True)
    replayed = CMLWorker.from_events(fresh.domain_events_for(worker_id))
    assert replayed.state == fresh.get(worker_id).state
    return replayed


def test_old_telemetry_is_folded_and_replay_equals_the_record(
    dynamo_client, dynamo_table, frozen_clock
):
    store = _open(dynamo_client, dynamo_table, frozen_clock)
    worker = make_worker(frozen_clock, "w", instance_id="i-1")
    store.save_many([worker])
    for step in range(60):
        _tick(worker, frozen_clock, step)
        if step == 20:
            worker.update_status(CMLWorkerStatus.STOPPED)
        if step == 25:
            worker.update_status(CMLWorkerStatus.RUNNING)
            worker.update_service_status(CMLServiceStatus.AVAILABLE, cml_version="2.8.1+build.6")
        store.save_many([worker])
        kept = _count(dynamo_client, dynamo_table, "w", TELEMETRY_TYPE)
        assert kept < RULE.per_worker + 5 + 1, f"step {step}: {kept} telemetry items kept"
    assert _count(dynamo_client, dynamo_table, "w", CHECKPOINT_TYPE) == 1
    telemetry_written = 60
    checkpoint = next(
        i for i in _items(dynamo_client, dynamo_table, "w") if i["type"]["S"] == CHECKPOINT_TYPE
    )
    kept = _count(dynamo_client, dynamo_table, "w", TELEMETRY_TYPE)
    assert f'"compacted_events":{telemetry_written - kept}' in checkpoint["envelope"]["S"]
    replayed = _replay_matches(store, "w")
    assert replayed.state == worker.state
    assert replayed.state.cml_version == "2.8.1+build.6"
    assert store.get("w").state.version == worker.state.version


def test_a_stopped_workers_figures_are_folded_after_a_day(
    dynamo_client, dynamo_table, frozen_clock
):
    store = _open(dynamo_client, dynamo_table, frozen_clock, batch=50)
    worker = make_worker(frozen_clock, "w", instance_id="i-1")
    for step in range(4):
        _tick(worker, frozen_clock, step)
        store.save_many([worker])
    worker.update_status(CMLWorkerStatus.STOPPED)
    store.save_many([worker])
    assert _count(dynamo_client, dynamo_table, "w", TELEMETRY_TYPE) == 4, "under the batch"
    frozen_clock.advance(hours=25)
    other = make_worker(frozen_clock, "other", instance_id="i-2")
    store.save_many([other])  # any write applies the rule
    assert _count(dynamo_client, dynamo_table, "w", TELEMETRY_TYPE) == 0
    assert _count(dynamo_client, dynamo_table, "w", CHECKPOINT_TYPE) == 1
    assert _replay_matches(store, "w").state == worker.state


def test_telemetry_left_by_an_earlier_process_is_folded_too(
    dynamo_client, dynamo_table, frozen_clock
):
    earlier = _open(dynamo_client, dynamo_table, frozen_clock, batch=95)  # never trims here
    worker = make_worker(frozen_clock, "w", instance_id="i-1")
    for step in range(30):
        _tick(worker, frozen_clock, step)
        earlier.save_many([worker])
    assert _count(dynamo_client, dynamo_table, "w", TELEMETRY_TYPE) == 30
    later = _open(dynamo_client, dynamo_table, frozen_clock)
    mine = later.get("w")
    for step in range(30, 40):
        _tick(mine, frozen_clock, step)
        later.save_many([mine])
    assert _count(dynamo_client, dynamo_table, "w", TELEMETRY_TYPE) <= RULE.per_worker + 5
    assert _replay_matches(later, "w").state == mine.state


def test_a_competing_trim_cancels_ours_and_nothing_is_lost(
    dynamo_client, dynamo_table, frozen_clock, moto, aws_session
):
    store = _open(dynamo_client, dynamo_table, frozen_clock, batch=95)
    worker = make_worker(frozen_clock, "w", instance_id="i-1")
    for step in range(12):
        _tick(worker, frozen_clock, step)
        store.save_many([worker])
    versions = sorted(int(i["sk"]["S"][6:]) for i in _items(dynamo_client, dynamo_table, "w"))
    upto = versions[-4]
    # Another process trims the same worker between our read and our transaction.
    rival = aws_session.client("dynamodb", region_name="us-east-1", endpoint_url=moto.url)
    competed: list[int] = []

    def compete(**_):
        if not competed:
            competed.append(trim_worker(rival, dynamo_table, "w", upto))

    dynamo_client.meta.events.register("before-call.dynamodb.TransactWriteItems", compete)
    removed = trim_worker(dynamo_client, dynamo_table, "w", upto)
    dynamo_client.meta.events.unregister("before-call.dynamodb.TransactWriteItems", compete)
    assert competed and competed[0] > 0, "the rival folded them first"
    assert removed == 0, "ours was cancelled by its conditions, not applied twice"
    assert _count(dynamo_client, dynamo_table, "w", CHECKPOINT_TYPE) == 1
    assert _replay_matches(store, "w").state == worker.state
    assert trim_worker(dynamo_client, dynamo_table, "w", upto) == 0, "nothing left to fold"


def test_the_trim_batch_fits_one_transaction():
    assert TelemetryTrimmer(TelemetryRetention(per_worker=10), batch=500).batch <= 89
