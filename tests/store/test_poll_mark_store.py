"""The policy runner's CML poll mark in both stores: what one process puts, another reads; a
viewer puts nothing; a big fleet's mark fits a DynamoDB item."""

from __future__ import annotations

import uuid
from datetime import timedelta

from cmltui.domain.lease import PollMark
from cmltui.store.dynamodb import DynamoDbWorkerRepository
from tests.fixtures.workers import make_worker


def _mark(clock, ids) -> PollMark:
    return PollMark("alice@jump1:42", clock(), 1.5, 30.0, frozenset(ids))


async def test_a_mark_put_by_one_process_is_read_by_another(open_any, frozen_clock):
    runner, other = open_any(), open_any()
    runner.save_many([make_worker(frozen_clock, "w1")])  # a first write (the data file exists)
    assert await other.poll_mark_async() is None
    mark = _mark(frozen_clock, {"w1", "w2"})
    await runner.put_poll_mark_async(mark)
    if runner.pending_write:  # the data file stages it for the cycle's write
        await runner.flush_async()
    await other.sync_async()
    assert await other.poll_mark_async() == mark
    newer = PollMark("alice@jump1:42", frozen_clock() + timedelta(seconds=30), 1.0, 30.0,
                     frozenset({"w1"}))  # fmt: skip
    await runner.put_poll_mark_async(newer)
    if runner.pending_write:
        await runner.flush_async()
    await other.sync_async()
    assert await other.poll_mark_async() == newer


async def test_a_viewer_puts_no_mark(open_any, frozen_clock):
    runner = open_any()
    runner.save_many([make_worker(frozen_clock, "w1")])
    viewer = open_any(read_only=True)
    await viewer.put_poll_mark_async(_mark(frozen_clock, {"w1"}))
    await runner.sync_async()
    assert await runner.poll_mark_async() is None


async def test_five_thousand_workers_fit_one_dynamodb_item(
    dynamo_client, dynamo_table, frozen_clock
):
    store = DynamoDbWorkerRepository(dynamo_client, dynamo_table, clock=frozen_clock)
    mark = _mark(frozen_clock, {str(uuid.UUID(int=n)) for n in range(5000)})
    await store.put_poll_mark_async(mark)
    assert await store.poll_mark_async() is None, "stored with the cycle's write, not before"
    assert await store.flush_async() is True
    assert await store.poll_mark_async() == mark
    item = dynamo_client.get_item(
        TableName=dynamo_table, Key={"pk": {"S": "META"}, "sk": {"S": "POLL_MARK"}}
    )["Item"]
    assert len(item["z"]["B"]) < 150_000
