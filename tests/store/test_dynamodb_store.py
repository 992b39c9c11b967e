"""What is the DynamoDB store's own (moto's server over HTTP): the version check, chunked
transactions, a lost answer, events by time, the table's errors. The contract it shares with
the TinyDB store is in ``test_repository_contract.py``."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cmltui.domain.enums import CMLWorkerStatus
from cmltui.domain.worker import CMLWorker
from cmltui.store.dynamodb import DynamoDbWorkerRepository
from cmltui.store.dynamodb_errors import StoreConflictError, StoreTableError
from cmltui.store.dynamodb_schema import create_table
from tests.fixtures.workers import make_worker


@pytest.fixture
def open_dynamo(dynamo_client, dynamo_table, frozen_clock):
    def make(**kwargs) -> DynamoDbWorkerRepository:
        return DynamoDbWorkerRepository(dynamo_client, dynamo_table, clock=frozen_clock, **kwargs)

    return make


def _transactions(client) -> list[int]:
    """Items per TransactWriteItems call, recorded by botocore's own event hook."""
    sizes: list[int] = []

    def record(params, **_):
        sizes.append(len(params["TransactItems"]))

    client.meta.events.register("provide-client-params.dynamodb.TransactWriteItems", record)
    return sizes


def test_a_version_conflict_is_raised_naming_the_worker_and_nothing_is_overwritten(
    open_dynamo, frozen_clock
):
    first = open_dynamo()
    first.save_many([make_worker(frozen_clock, "w1"), make_worker(frozen_clock, "w2")])
    second = open_dynamo()
    mine, theirs = first.get("w1"), second.get("w1")
    theirs.update_status(CMLWorkerStatus.STOPPING)
    second.save_many([theirs])
    mine.update_status(CMLWorkerStatus.STOPPED)
    untouched = first.get("w2")
    untouched.update_status(CMLWorkerStatus.STOPPING)

    with pytest.raises(StoreConflictError) as caught:
        first.save_many([mine, untouched], rebase=False)
    assert caught.value.worker_ids == ("w1",)
    assert "w1" in str(caught.value) and "nothing was overwritten" in str(caught.value)
    # The table still has the other process's change; ours is kept, pending.
    assert open_dynamo().get("w1").state.status == CMLWorkerStatus.STOPPING
    assert open_dynamo().get("w2").state.status == CMLWorkerStatus.STOPPING  # written
    assert first.pending_write
    # The next write reloads w1 and re-applies our event on top of theirs.
    assert first.flush() is True
    stored = open_dynamo().get("w1")
    assert stored.state.status == CMLWorkerStatus.STOPPED
    assert stored.state.version == theirs.state.version + 1
    assert [s.id for s in first.take_refreshed()[0]] == ["w1"]


def test_a_save_larger_than_one_transaction_is_chunked_by_whole_workers(
    open_dynamo, dynamo_client, frozen_clock
):
    store = open_dynamo()
    sizes = _transactions(dynamo_client)
    workers = [make_worker(frozen_clock, f"w{i:03d}") for i in range(120)]
    events = sum(len(w.uncommitted_events) for w in workers)
    assert store.save_many(workers) == events
    assert max(sizes) <= 100 and sum(sizes) == events + 120  # each event and each record once
    assert len(sizes) >= 2
    again = open_dynamo()
    assert len(again.all_workers()) == 120
    assert len(again.events()) == events


def test_a_worker_with_more_events_than_a_transaction_takes_consistent_steps(
    open_dynamo, dynamo_client, frozen_clock
):
    store = open_dynamo()
    worker = make_worker(frozen_clock, "busy")
    store.save_many([worker])
    for labs in range(250):
        frozen_clock.advance(seconds=30)
        worker.update_telemetry(frozen_clock(), labs % 7, 10.0, 20.0)
    sizes = _transactions(dynamo_client)
    assert store.save_many([worker]) == 250
    # 99 + record, 99 + record, 52 + record; then retention folds the old telemetry into a
    # checkpoint in transactions of its own (test_dynamodb_retention.py).
    assert sizes[:3] == [100, 100, 53]
    assert all(size <= 100 for size in sizes)
    other = open_dynamo()
    assert other.get("busy").state == worker.state
    replayed = CMLWorker.from_events(other.domain_events_for("busy"), clock=frozen_clock)
    assert replayed.state == worker.state


def test_a_write_whose_answer_was_lost_is_not_written_twice(
    open_dynamo, dynamo_client, frozen_clock
):
    store = open_dynamo()
    worker = make_worker(frozen_clock, "w1")
    store.save_many([worker])
    worker.update_status(CMLWorkerStatus.STOPPING)
    lost = []

    def lose_the_answer(http_response, parsed, **_):
        if not lost:
            lost.append(True)
            raise ConnectionError("the answer was lost")

    dynamo_client.meta.events.register("after-call.dynamodb.TransactWriteItems", lose_the_answer)
    with pytest.raises(ConnectionError):
        store.save_many([worker])
    assert store.pending_write  # it does not know the write landed
    store.flush()
    trail = open_dynamo().events("w1")
    assert len(trail) == worker.state.version  # the status event once
    assert len({e.id for e in trail}) == len(trail)
    assert open_dynamo().get("w1").state == worker.state


def test_events_by_time_span_days(open_dynamo, frozen_clock):
    store = open_dynamo()
    early = make_worker(frozen_clock, "early")
    store.save_many([early])
    frozen_clock.advance(days=2)
    late = make_worker(frozen_clock, "late")
    store.save_many([late])
    start_of_late = frozen_clock() - timedelta(minutes=5)
    assert {e.subject for e in store.events_between(since=start_of_late)} == {"late"}
    assert {e.subject for e in store.events_between(until=start_of_late)} == {"early"}
    everything = store.events_between()
    assert [e.time for e in everything] == sorted(e.time for e in everything)
    assert len(everything) == early.state.version + late.state.version
    assert store.events(limit=1)[0].subject == "late"


def test_a_missing_table_is_one_line_naming_store_init(dynamo_client, frozen_clock):
    with pytest.raises(StoreTableError) as caught:
        DynamoDbWorkerRepository(dynamo_client, "no-such-table", clock=frozen_clock)
    assert "no-such-table does not exist" in str(caught.value)
    assert "cmltui store init" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_create_table_twice_says_it_existed(dynamo_client):
    assert create_table(dynamo_client, "twice") is True
    assert create_table(dynamo_client, "twice") is False
    table = dynamo_client.describe_table(TableName="twice")["Table"]
    assert table["TableStatus"] == "ACTIVE"
    assert {i["IndexName"] for i in table["GlobalSecondaryIndexes"]} == {"by_time", "workers"}


def test_the_readme_policy_lists_exactly_the_actions_the_store_calls(
    open_dynamo, dynamo_client, frozen_clock, tmp_path
):
    import json
    import re
    from pathlib import Path

    from cmltui.store import open_store
    from cmltui.store.dynamodb_migrate import migrate_from_tinydb
    from cmltui.store.dynamodb_schema import IAM_ACTIONS

    called: set[str] = set()

    def record(model, params, **_):
        if model.name == "TransactWriteItems":  # authorised per item (Put, Delete...)
            called.update(f"{kind}Item" for item in params["TransactItems"] for kind in item)
        else:
            called.add(model.name)

    dynamo_client.meta.events.register("provide-client-params.dynamodb", record)
    create_table(dynamo_client, "another")
    store = open_dynamo()
    workers = [make_worker(frozen_clock, "a"), make_worker(frozen_clock, "b")]
    store.save_many(workers)
    other = open_dynamo()
    theirs = other.get("a")
    theirs.update_status(CMLWorkerStatus.STOPPING)
    other.save_many([theirs])
    workers[0].update_status(CMLWorkerStatus.STOPPED)
    store.save_many([workers[0]])  # a conflict, reloaded
    store.delete("b", workers[1])
    store.sync()
    store.claim_lease("me", timedelta(minutes=1))
    store.release_lease("me")
    store.events(), store.events("a"), store.events_between()
    source = open_store(tmp_path / "data", clock=frozen_clock)
    source.save_many([make_worker(frozen_clock, "c")])
    migrate_from_tinydb(source, dynamo_client, store.table)
    source.close()

    assert {f"dynamodb:{name}" for name in called} == set(IAM_ACTIONS)
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = re.search(r"```json\n(\{\"Version\".*?)```", readme, re.S)
    assert block, "the README's IAM policy block"
    policy = json.loads(block.group(1))
    assert sorted(policy["Statement"][0]["Action"]) == sorted(IAM_ACTIONS)
