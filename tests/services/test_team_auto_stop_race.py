"""Found by bench/team.py (issue 17 #5): an automatic stop whose worker another actor stopped
while the stop was in flight. The idle runner records the intent, sends StopInstances, and on
EC2's yes calls ``record_auto_stop``, which refuses a worker that is no longer pending or
running (``check_can_stop``): the refusal escapes the CML cycle ("cml refresh failed
unexpectedly"), the accepted StopInstances gets no outcome and no auto-stop event, and the rest
of the cycle (the other workers' outcomes, the commit, the poll mark) is skipped. On a team's
table it happens when an operator on another cmltui stops the worker at the same moment (the
runner's intent commit rebases onto their STOPPING); here, with one process, the EC2 loop sees
the instance stopped by someone else while the auto-stop's call is held at moto.

Real parts: moto's server (the auto-stop's StopInstances held by the fault injector), the fake
CML over HTTPS, a real data file, an injected clock."""

from __future__ import annotations

import asyncio

from cmltui.config import IdleConfig
from cmltui.domain.enums import CMLWorkerStatus
from tests.fixtures.moto_fixtures import MOTO_REGIONS


async def test_an_auto_stop_of_a_worker_stopped_meanwhile_completes_its_intent(fleet):
    config = fleet.config.model_copy(
        update={"idle": IdleConfig(threshold_minutes=30, auto_stop=True, snooze_minutes=0)}
    )
    instance_id = await fleet.launch("w1", running_labs=0, labs=1, evolve=False)
    controller = fleet.make_controller(config)
    await controller.refresh_once()
    fleet.clock.advance(minutes=31)  # idle past the threshold: the next CML cycle stops it
    fleet.moto.faults.slow("ec2", seconds=30, count=1, action="StopInstances")
    cycle = asyncio.create_task(controller.refresh_cml())
    for _ in range(200):  # until the auto-stop's StopInstances is held at moto
        if fleet.moto.request_counts[("ec2", "StopInstances")] == 1:
            break
        await asyncio.sleep(0.05)
    assert fleet.moto.request_counts[("ec2", "StopInstances")] == 1
    # Someone else stops it meanwhile (another cmltui, the console); the EC2 loop sees it.
    ec2 = fleet.session.client("ec2", region_name=MOTO_REGIONS[0], endpoint_url=fleet.moto.url)
    ec2.stop_instances(InstanceIds=[instance_id])
    await controller.refresh_ec2()
    assert controller.workers()[0].status == CMLWorkerStatus.STOPPED
    fleet.moto.faults.clear()  # EC2 answers the auto-stop: yes
    await cycle  # the cycle ends normally (it raised ActionRefusedError "it is stopped")
    trail = controller.events_for(controller.workers()[0].id)
    requested = [
        e for e in trail if e.data.get("action") == "auto-stop" and "outcome" not in e.data
    ]
    completed = [e for e in trail if e.data.get("action") == "auto-stop" and "outcome" in e.data]
    assert len(requested) == 1
    assert len(completed) == 1  # EC2 said yes: the intent has its outcome (it had none)
    assert not any("auto-stopped" in e.type for e in trail), "someone else stopped it"


async def test_an_operator_start_of_a_worker_started_meanwhile_returns_a_result(fleet):
    """The same race for an operator's action: two operators start one worker at once (in the
    bench, the intent commit rebases onto the other's PENDING). ``start_workers`` raises
    ActionRefusedError ("it is running, not stopped") after EC2 said yes, instead of returning
    its result; the intent keeps no outcome."""
    instance_id = await fleet.launch("w1", running_labs=0, labs=1, evolve=False)
    controller = fleet.make_controller(fleet.config)
    ec2 = fleet.session.client("ec2", region_name=MOTO_REGIONS[0], endpoint_url=fleet.moto.url)
    ec2.stop_instances(InstanceIds=[instance_id])
    await controller.refresh_once()
    worker_id = controller.workers()[0].id
    assert controller.workers()[0].status == CMLWorkerStatus.STOPPED
    fleet.moto.faults.slow("ec2", seconds=30, count=1, action="StartInstances")
    action = asyncio.create_task(controller.start_workers([worker_id]))
    for _ in range(200):  # until the operator's StartInstances is held at moto
        if fleet.moto.request_counts[("ec2", "StartInstances")] == 1:
            break
        await asyncio.sleep(0.05)
    assert fleet.moto.request_counts[("ec2", "StartInstances")] == 1
    ec2.start_instances(InstanceIds=[instance_id])  # the other operator's start lands first
    await controller.refresh_ec2()
    assert controller.workers()[0].status == CMLWorkerStatus.RUNNING
    fleet.moto.faults.clear()  # EC2 answers this operator's start: yes
    result = await action  # it raised ActionRefusedError "it is running, not stopped"
    assert not result.failed
    trail = controller.events_for(worker_id)
    completed = [e for e in trail if e.data.get("action") == "start" and "outcome" in e.data]
    assert len(completed) == 1


async def test_the_two_loops_of_one_process_never_auto_stop_one_worker_twice(fleet):
    """One cmltui: its EC2 and CML loops each run ``_apply_idle_policy``. When both run while
    the first auto-stop's StopInstances is in flight, each records an intent and sends its own
    StopInstances for the same idle decision (seen: 2 StopInstances, 2 intents accepted, 1
    auto-stop event)."""
    config = fleet.config.model_copy(
        update={"idle": IdleConfig(threshold_minutes=30, auto_stop=True, snooze_minutes=0)}
    )
    await fleet.launch("w1", running_labs=0, labs=1, evolve=False)
    controller = fleet.make_controller(config)
    await controller.refresh_once()
    fleet.clock.advance(minutes=31)  # idle past the threshold
    fleet.moto.faults.slow("ec2", seconds=1.0, count=1, action="StopInstances")
    await asyncio.gather(controller.refresh_cml(), controller.refresh_ec2())
    trail = controller.events_for(controller.workers()[0].id)
    intents = [e for e in trail if e.type.endswith("action-requested.v1")]
    assert fleet.moto.request_counts[("ec2", "StopInstances")] == 1
    assert len(intents) == 1
