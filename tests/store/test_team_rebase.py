"""Found by bench/team.py (issue 17 #5): what a version conflict's rebase leaves in a team's
trail. The store re-applies this process's events on top of the other process's (the replay
still equals the record); events that only made sense on the state this process had were kept
as they were, and are now left out (``cmltui.domain.rebase``):

* two cmltui importing one instance at once (its worker id comes from its tag, so both build
  the same worker): the second's ``created`` event lands on top of the first's, and the trail
  says the worker was created twice (three times with three dashboards);
* an intent completed by another process meanwhile ("confirmed" when its EC2 loop saw the
  instance stopped) is completed a second time by its caller ("accepted").

Real parts: two repositories on one table of moto's DynamoDB server."""

from __future__ import annotations

from cmltui.domain.enums import CMLWorkerStatus
from cmltui.store.dynamodb import DynamoDbWorkerRepository
from tests.fixtures.workers import make_worker


def _types(store: DynamoDbWorkerRepository, worker_id: str) -> list[str]:
    return [e.type.split(".")[2] for e in store.events(worker_id)]


def test_two_processes_importing_one_worker_leave_one_created_event(
    dynamo_client, dynamo_table, frozen_clock
):
    first = DynamoDbWorkerRepository(dynamo_client, dynamo_table, clock=frozen_clock)
    second = DynamoDbWorkerRepository(dynamo_client, dynamo_table, clock=frozen_clock)
    first.save_many([make_worker(frozen_clock, "demo-0001", instance_id="i-1")])
    second.save_many([make_worker(frozen_clock, "demo-0001", instance_id="i-1")])  # a conflict
    reader = DynamoDbWorkerRepository(dynamo_client, dynamo_table, clock=frozen_clock)
    assert _types(reader, "demo-0001").count("created") == 1


def test_an_intent_completed_by_another_process_is_not_completed_twice(
    dynamo_client, dynamo_table, frozen_clock
):
    runner = DynamoDbWorkerRepository(dynamo_client, dynamo_table, clock=frozen_clock)
    worker = make_worker(frozen_clock, "w1", instance_id="i-1")
    worker.request_action("auto-stop", "cmltui:idle-policy", "token-1")
    runner.save_many([worker])
    other = DynamoDbWorkerRepository(dynamo_client, dynamo_table, clock=frozen_clock)
    seen = other.get("w1")
    seen.update_status(CMLWorkerStatus.STOPPED)  # its EC2 loop: "confirmed"
    other.save_many([seen])
    worker.complete_action("token-1", "accepted")  # the runner, on EC2's answer
    runner.save_many([worker])  # a conflict: reloaded, our events re-applied
    reader = DynamoDbWorkerRepository(dynamo_client, dynamo_table, clock=frozen_clock)
    outcomes = [
        e.data["outcome"]
        for e in reader.events("w1")
        if e.type.endswith("action-completed.v1") and e.data["request_token"] == "token-1"
    ]
    assert len(outcomes) == 1, outcomes
