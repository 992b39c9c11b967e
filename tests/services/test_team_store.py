"""Issue 17 #2 and #4: several controllers (a team's dashboards) on ONE DynamoDB table on moto's
server: one policy runner, shown to the others and taken over when it stops renewing; and each
one's actions seen by the others (table and event trail) at their next refresh, with the actor.
The dashboard's trail reads come from memory (no DynamoDB call on the UI's loop)."""

from __future__ import annotations

import itertools
import threading
from datetime import timedelta

import pytest
from botocore.config import Config as BotoConfig

from cmltui.aws.gateway import AwsGateway
from cmltui.cml.pool import CmlApiClientPool
from cmltui.domain.enums import CMLWorkerStatus
from cmltui.services.controller import FleetController
from cmltui.store.dynamodb import DynamoDbWorkerRepository
from cmltui.store.dynamodb_schema import create_table

_tables = itertools.count()

STOPPED_OR_STOPPING = (CMLWorkerStatus.STOPPING, CMLWorkerStatus.STOPPED)


@pytest.fixture
def team(fleet, moto, aws_session):
    """``team(user, config=None)``: a controller on one shared table (a new table per test)."""
    client = aws_session.client(
        "dynamodb",
        region_name="us-east-1",
        endpoint_url=moto.url,
        config=BotoConfig(retries={"mode": "standard", "total_max_attempts": 1}),
    )
    table = f"cmltui-team-{next(_tables)}"
    assert create_table(client, table) is True
    # Which thread sent each DynamoDB call (botocore's own event hooks; nothing is patched).
    calls_on: list[tuple[threading.Thread, str]] = []
    client.meta.events.register(
        "before-call.dynamodb.*",
        lambda model, **_: calls_on.append((threading.current_thread(), model.name)),
    )

    def make(user: str, config=None) -> FleetController:
        config = config or fleet.config
        store = DynamoDbWorkerRepository(client, table, clock=fleet.clock)
        controller = FleetController(
            config,
            store,
            AwsGateway(config, session=fleet.session),
            CmlApiClientPool(config, clock=fleet.clock),
            clock=fleet.clock,
            user=user,
        )
        fleet.controllers.append(controller)
        fleet.stores.append(store)
        return controller

    make.calls_on = calls_on  # type: ignore[attr-defined]
    return make


def _by_name(controller):
    return {w.name: w for w in controller.workers()}


def _auto_stop_config(fleet):
    return fleet.config.model_copy(
        update={
            "idle": fleet.config.idle.model_copy(
                update={"auto_stop": True, "threshold_minutes": 30, "snooze_minutes": 0}
            )
        }
    )


async def _cycle(*controllers):
    for controller in controllers:
        await controller.refresh_cml()
    for controller in controllers:
        await controller.refresh_ec2()


async def test_one_policy_runner_the_others_show_it(fleet, team):
    config = _auto_stop_config(fleet)
    await fleet.launch("idle-one")
    await fleet.launch("idle-two")
    alice, bob = team("alice@jump1", config), team("bob@laptop", config)
    await alice.refresh_once()
    await bob.refresh_once()
    fleet.clock.advance(minutes=40)
    for _ in range(3):
        await _cycle(alice, bob)
    assert fleet.moto.request_counts[("ec2", "StopInstances")] == 1, "one batched stop, once"
    assert alice.holder_id.startswith("alice@jump1:")
    for controller in (alice, bob):
        assert controller.current().policy_runner == alice.holder_id
        for name in ("idle-one", "idle-two"):
            assert _by_name(controller)[name].status in STOPPED_OR_STOPPING
    assert alice.current().policy_runner_is_me and not bob.current().policy_runner_is_me
    auto = [e for e in bob.events_for(None, limit=1000) if "auto-stopped" in e.type]
    assert len(auto) == 2, "each worker's auto-stop recorded once, seen by both"


async def test_a_runner_that_stops_renewing_is_replaced_within_one_lease_period(fleet, team):
    config = _auto_stop_config(fleet)
    await fleet.launch("first-idle")
    alice, bob = team("alice@jump1", config), team("bob@laptop", config)
    await alice.refresh_once()
    await bob.refresh_once()
    fleet.clock.advance(minutes=40)
    await _cycle(alice, bob)
    assert fleet.moto.request_counts[("ec2", "StopInstances")] == 1
    assert bob.current().policy_runner == alice.holder_id
    # alice is killed: no release, no renewal. Her lease runs out within one period.
    period = timedelta(seconds=max(60.0, 3 * config.refresh.ec2_seconds))
    await fleet.launch("second-idle")
    fleet.clock.advance(seconds=period.total_seconds() / 2)
    await _cycle(bob)
    assert bob.current().policy_runner == alice.holder_id, "not before the lease expires"
    fleet.clock.advance(seconds=period.total_seconds() / 2 + 1)
    await _cycle(bob)
    assert bob.current().policy_runner_is_me, "taken over within one lease period"
    fleet.clock.advance(minutes=40)  # second-idle has been idle past the threshold now
    for _ in range(3):
        await _cycle(bob)
    names = _by_name(bob)
    assert names["second-idle"].status in STOPPED_OR_STOPPING
    assert fleet.moto.request_counts[("ec2", "StopInstances")] == 2, "each stopped once, ever"
    auto = [e for e in bob.events_for(None, limit=1000) if "auto-stopped" in e.type]
    assert sorted(e.subject for e in auto) == sorted(
        {names["first-idle"].id, names["second-idle"].id}
    )


async def test_another_operators_stop_shows_with_its_actor_at_the_next_refresh(fleet, team):
    await fleet.launch("shared")
    alice, bob = team("alice@jump1"), team("bob@laptop")
    await alice.refresh_once()  # alice's dashboard has read the trail (the detail pane's)
    await bob.refresh_once()
    worker_id = _by_name(alice)["shared"].id
    assert alice.cached_trail(worker_id) is not None
    result = await bob.stop_workers([worker_id])
    assert result.ok, result
    assert _by_name(alice)["shared"].status == CMLWorkerStatus.RUNNING, "not before a refresh"
    await alice.refresh_ec2()
    assert _by_name(alice)["shared"].status in STOPPED_OR_STOPPING
    for trail in (alice.cached_trail(worker_id), alice.events_for(worker_id)):
        stops = [
            e.data
            for e in trail
            if e.type.endswith(".status-updated.v1") and e.data.get("new_status") == "stopping"
        ]
        assert stops and stops[-1]["changed_by"] == "bob@laptop", trail
        asked = [e.data for e in trail if e.data.get("requested_by")]
        assert asked and asked[-1]["requested_by"] == "bob@laptop"


async def test_the_dashboards_trail_reads_never_call_dynamodb(fleet, team, moto):
    await fleet.launch("quiet")
    alice, bob = team("alice@jump1"), team("bob@laptop")
    team.calls_on.clear()  # opening a store reads the table (before any loop runs)
    await alice.refresh_once()  # its publications asked for every worker's trail
    await bob.refresh_once()
    worker_id = next(iter(_by_name(alice).values())).id
    assert (await bob.stop_workers([worker_id])).ok
    await alice.refresh_ec2()  # its sync reads the tail of what bob wrote, in a worker thread
    await alice._trails_settled()

    def dynamodb_calls() -> int:
        return sum(n for (service, _), n in moto.request_counts.items() if service == "dynamodb")

    before = dynamodb_calls()
    assert before > 0, "the server counts DynamoDB calls (else the check below cannot fail)"
    for _ in range(20):
        trail = alice.cached_trail(worker_id)
        alice._cost.forget(worker_id)  # the cost figures read the billing events again
        alice.snapshot(alice._workers[worker_id])
    assert dynamodb_calls() == before
    on_loop = [name for thread, name in team.calls_on if thread is threading.current_thread()]
    assert on_loop == [], "a DynamoDB call made on the event loop's thread"
    assert any(e.data.get("changed_by") == "bob@laptop" for e in trail or []), "bob's stop"


async def test_a_trail_not_read_yet_is_read_in_the_background_and_published(fleet, team):
    await fleet.launch("late")
    bob = team("bob@laptop")
    await bob.refresh_once()
    alice = team("alice@jump1")
    seen = []
    alice.subscribe(lambda change_set: seen.append({s.id for s in change_set.changed}))
    for worker in await alice._repository.get_all_async():
        alice._workers[worker.id] = worker  # loaded, nothing published yet
    worker_id = next(iter(alice._workers))
    assert alice.cached_trail(worker_id) is None
    alice.want_trails([worker_id])
    await alice._trails_settled()
    assert alice.cached_trail(worker_id), "read in a worker thread"
    assert any(worker_id in ids for ids in seen), "the worker published again"
