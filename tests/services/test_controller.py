"""The fleet controller on moto's server and the fake CML server, with an injected clock."""

from __future__ import annotations

import asyncio

from cmltui.domain.enums import CMLServiceStatus, CMLWorkerStatus, LicenseStatus
from cmltui.services.snapshot import ChangeSet
from tests.fixtures.moto_fixtures import MOTO_REGIONS

EAST, WEST = MOTO_REGIONS


def _by_name(controller) -> dict:
    return {s.name: s for s in controller.workers()}


def _event_types(controller, worker_id: str) -> list[str]:
    return [e.type.removeprefix("cmltui.worker.") for e in controller.events_for(worker_id)]


async def test_first_refresh_imports_managed_instances_with_their_cml_state(fleet):
    await fleet.launch("busy", running_labs=2)
    await fleet.launch("unready", region=WEST, ready=False)
    controller = fleet.make_controller()
    summary = await controller.refresh_once()
    workers = _by_name(controller)
    assert set(workers) == {"busy", "unready"}
    busy, unready = workers["busy"], workers["unready"]
    assert busy.status == CMLWorkerStatus.RUNNING
    assert busy.service_status == CMLServiceStatus.AVAILABLE
    assert busy.cml_version == "2.9.0"
    assert busy.active_labs_count == 2
    assert busy.license_status == LicenseStatus.REGISTERED
    assert busy.cpu_utilization is not None and busy.memory_utilization is not None
    assert busy.https_endpoint == fleet.cml.base_url_for(busy.aws_instance_id)
    assert unready.service_status == CMLServiceStatus.STARTING
    assert summary.workers_seen == 2
    # One paginated describe per region, nothing per worker.
    assert fleet.moto.request_counts[("ec2", "DescribeInstances")] == len(MOTO_REGIONS)
    assert summary.cml_logins == 1  # only the ready worker's CML is logged into


async def test_stopped_and_terminated_outside_cmltui_are_seen_in_one_cycle(fleet, moto_client):
    stopped_id = await fleet.launch("to-stop")
    terminated_id = await fleet.launch("to-terminate")
    untagged_id = await fleet.launch("to-vanish")
    controller = fleet.make_controller()
    await controller.refresh_ec2()
    ec2 = moto_client("ec2", EAST)
    ec2.stop_instances(InstanceIds=[stopped_id])
    ec2.terminate_instances(InstanceIds=[terminated_id])
    # An instance that only lost its managed tag still exists: detached, never terminated.
    ec2.delete_tags(Resources=[untagged_id], Tags=[{"Key": fleet.config.aws.managed_tag_key}])
    fleet.clock.advance(minutes=5)
    await controller.refresh_ec2()
    workers = _by_name(controller)
    assert workers["to-stop"].status == CMLWorkerStatus.STOPPED
    assert workers["to-terminate"].status == CMLWorkerStatus.TERMINATED
    assert workers["to-terminate"].terminated_at == fleet.clock()
    assert workers["to-vanish"].status == CMLWorkerStatus.RUNNING
    assert workers["to-vanish"].detached
    assert workers["to-terminate"].terminated_by == "observed in EC2 (not by cmltui)"
    assert "status-updated.v1" in _event_types(controller, workers["to-stop"].id)
    assert "terminated.v1" in _event_types(controller, workers["to-terminate"].id)


async def test_cml_down_marks_service_unavailable_while_ec2_keeps_updating(fleet, moto_client):
    instance_id = await fleet.launch("flaky")
    controller = fleet.make_controller()
    await controller.refresh_once()
    assert _by_name(controller)["flaky"].service_status == CMLServiceStatus.AVAILABLE
    fleet.cml.worker(instance_id).set_faults(connection="reset")
    await controller.refresh_cml()
    flaky = _by_name(controller)["flaky"]
    assert flaky.service_status == CMLServiceStatus.UNAVAILABLE
    assert flaky.last_error
    assert any(h.source == "cml:flaky" for h in controller.current().errors)
    moto_client("ec2", EAST).stop_instances(InstanceIds=[instance_id])
    await controller.refresh_ec2()
    assert _by_name(controller)["flaky"].status == CMLWorkerStatus.STOPPED
    # Recovery: the fault clears, the worker starts again, CML answers, the error goes away.
    fleet.cml.worker(instance_id).clear_faults()
    moto_client("ec2", EAST).start_instances(InstanceIds=[instance_id])
    await controller.refresh_ec2()
    await controller.refresh_cml()
    flaky = _by_name(controller)["flaky"]
    assert flaky.service_status == CMLServiceStatus.AVAILABLE
    assert flaky.last_error is None
    assert not controller.current().errors


async def test_a_failing_region_does_not_hold_back_another(fleet):
    await fleet.launch("east-1")
    await fleet.launch("west-1", region=WEST)
    controller = fleet.make_controller()
    await controller.refresh_ec2()
    published: list[ChangeSet] = []
    controller.subscribe(published.append)
    fleet.moto.faults.slow("ec2", seconds=2.5, count=None, region=WEST)
    config = fleet.config.model_copy(
        update={
            "aws": fleet.config.aws.model_copy(
                update={"read_timeout_seconds": 1.0, "total_max_attempts": 1}
            )
        }
    )
    slow_controller = fleet.make_controller(config)
    slow_controller.subscribe(published.append)
    await slow_controller.refresh_ec2()
    fleet.moto.faults.clear()
    first_with_east = next(
        i for i, cs in enumerate(published) if any(s.region == EAST for s in cs.changed)
    )
    first_with_west_error = next(
        i for i, cs in enumerate(published) if any(h.source == WEST for h in cs.errors)
    )
    assert first_with_east < first_with_west_error
    final = slow_controller.current()
    assert [h.source for h in final.errors] == [WEST]
    assert "timed out" in final.errors[0].error or "unreachable" in final.errors[0].error
    assert not final.all_regions_failing
    # Recovery clears the error.
    await slow_controller.refresh_ec2()
    assert not slow_controller.current().errors


async def test_operator_actions_use_one_aws_call_and_show_transitional_states(fleet, moto_client):
    ids = [await fleet.launch(f"w{i}") for i in range(3)]
    controller = fleet.make_controller()
    await controller.refresh_ec2()
    workers = _by_name(controller)
    result = await controller.stop_workers([workers["w0"].id, workers["w1"].id])
    assert result.ok and set(result.done) == {"w0", "w1"}
    assert fleet.moto.request_counts[("ec2", "StopInstances")] == 1
    workers = _by_name(controller)
    assert workers["w0"].status == CMLWorkerStatus.STOPPING  # shown at once...
    await controller.refresh_ec2()
    assert _by_name(controller)["w0"].status == CMLWorkerStatus.STOPPED  # ...then confirmed
    events = controller.events_for(workers["w0"].id)
    stopping = [e for e in events if e.data.get("new_status") == "stopping"]
    assert stopping and stopping[0].data["changed_by"] == "tester"

    refused = await controller.start_workers([workers["w2"].id])
    assert not refused.ok and "not stopped" in refused.refused[0]
    assert fleet.moto.request_counts[("ec2", "StartInstances")] == 0

    started = await controller.start_workers([workers["w0"].id])
    assert started.ok
    assert _by_name(controller)["w0"].status == CMLWorkerStatus.PENDING

    terminated = await controller.terminate_workers([workers["w2"].id])
    assert terminated.ok
    assert _by_name(controller)["w2"].status == CMLWorkerStatus.SHUTTING_DOWN
    await controller.refresh_ec2()
    w2 = _by_name(controller)["w2"]
    assert w2.status == CMLWorkerStatus.TERMINATED and w2.terminated_by == "tester"
    again = await controller.terminate_workers([w2.id])
    assert "already terminated" in again.refused[0]
    # moto would start a terminated instance; cmltui refuses before any call.
    assert not (await controller.start_workers([w2.id])).ok
    state = moto_client("ec2", EAST).describe_instances(InstanceIds=[ids[2]])
    assert state["Reservations"][0]["Instances"][0]["State"]["Name"] == "terminated"


async def test_create_worker_records_the_operator_and_the_ami(fleet):
    controller = fleet.make_controller()
    result = await controller.create_worker("new-one", WEST, "c5.4xlarge")
    assert result.ok
    created = _by_name(controller)["new-one"]
    assert created.status == CMLWorkerStatus.PENDING
    assert created.created_by == "tester"
    assert created.ami_name == "CML-2.9.0-Ubuntu-22.04"
    assert created.instance_type == "c5.4xlarge"
    assert created.region == WEST
    await controller.refresh_ec2()
    assert _by_name(controller)["new-one"].status == CMLWorkerStatus.RUNNING
    duplicate = await controller.create_worker("new-one", WEST)
    assert not duplicate.ok and "already has this name" in duplicate.refused[0]
    bad_region = await controller.create_worker("elsewhere", "eu-north-1")
    assert "not configured" in bad_region.refused[0]


async def test_read_only_refuses_every_mutating_action(fleet):
    await fleet.launch("ro")
    controller = fleet.make_controller(read_only=True)
    await controller.refresh_ec2()
    worker_id = _by_name(controller)["ro"].id
    actions = ("StopInstances", "StartInstances", "TerminateInstances", "RunInstances")
    before = {a: fleet.moto.request_counts[("ec2", a)] for a in actions}
    results = [
        await controller.stop_workers([worker_id]),
        await controller.start_workers([worker_id]),
        await controller.terminate_workers([worker_id]),
        await controller.create_worker("x", EAST),
        await controller.register_license(worker_id, "token"),
        await controller.deregister_license(worker_id),
        await controller.set_auto_stop_opt_out([worker_id], True),
    ]
    assert all(not r.ok and "read-only" in r.summary() for r in results)
    assert {a: fleet.moto.request_counts[("ec2", a)] for a in actions} == before


async def test_one_store_write_per_cycle_and_no_event_without_change(fleet):
    await fleet.launch("steady")
    controller = fleet.make_controller()
    store = fleet.stores[-1]
    await controller.refresh_ec2()
    assert store.write_count == 1
    events_before = len(controller.events_for(None, limit=10_000))
    await controller.refresh_ec2()  # nothing changed in EC2
    assert store.write_count == 1
    assert len(controller.events_for(None, limit=10_000)) == events_before
    await controller.refresh_cml()
    # The first CML cycle takes the policy lease (its own write: the file lock decides who
    # reads CML for the team), then writes the cycle's figures and poll mark in one write.
    assert store.write_count == 3
    await controller.refresh_cml()
    assert store.write_count == 4


async def test_stored_fleet_is_published_at_once_marked_as_cached(fleet):
    await fleet.launch("remembered")
    first = fleet.make_controller()
    await first.refresh_once()
    await first.stop()
    fleet.stores[-1].close()
    second = fleet.make_controller()
    seen: list[ChangeSet] = []
    second.subscribe(seen.append)
    await second.load()
    assert seen and seen[0].from_cache
    assert [s.name for s in seen[0].changed] == ["remembered"]
    assert seen[0].changed[0].service_status == CMLServiceStatus.AVAILABLE
    assert fleet.moto.request_counts[("ec2", "DescribeInstances")] == len(MOTO_REGIONS)


async def test_auto_stop_after_threshold_not_during_lab_or_snooze(fleet):
    config = fleet.config.model_copy(
        update={
            "idle": fleet.config.idle.model_copy(
                update={"auto_stop": True, "threshold_minutes": 30, "snooze_minutes": 45}
            )
        }
    )
    busy_id = await fleet.launch("busy", running_labs=1)
    await fleet.launch("idle")
    controller = fleet.make_controller(config)
    await controller.refresh_once()
    fleet.clock.advance(minutes=35)  # idle past the threshold, but inside the snooze
    await controller.refresh_cml()
    assert _by_name(controller)["idle"].status == CMLWorkerStatus.RUNNING
    assert _by_name(controller)["idle"].auto_stop_in_minutes == 10.0
    fleet.clock.advance(minutes=11)
    await controller.refresh_cml()
    workers = _by_name(controller)
    assert workers["idle"].status == CMLWorkerStatus.STOPPING
    assert workers["busy"].status == CMLWorkerStatus.RUNNING  # a lab runs: never stopped
    auto = [e for e in controller.events_for(workers["idle"].id) if "auto-stopped" in e.type]
    assert len(auto) == 1 and "idle for 46 min" in auto[0].data["reason"]
    assert fleet.moto.request_counts[("ec2", "StopInstances")] == 1
    assert fleet.cml.worker(busy_id).running_lab_count() == 1


async def test_opted_out_worker_is_never_auto_stopped(fleet):
    config = fleet.config.model_copy(
        update={
            "idle": fleet.config.idle.model_copy(
                update={"auto_stop": True, "threshold_minutes": 10, "snooze_minutes": 0}
            )
        }
    )
    await fleet.launch("keep")
    controller = fleet.make_controller(config)
    await controller.refresh_once()
    await controller.set_auto_stop_opt_out([_by_name(controller)["keep"].id], True)
    fleet.clock.advance(minutes=60)
    await controller.refresh_cml()
    assert _by_name(controller)["keep"].status == CMLWorkerStatus.RUNNING
    assert fleet.moto.request_counts[("ec2", "StopInstances")] == 0


async def test_licence_register_and_deregister_through_cml(fleet):
    from cmltui.demo.fake_cml import DEMO_LICENSE_TOKEN

    instance_id = await fleet.launch("lic", licensed=False)
    fleet.cml.worker(instance_id).registration_seconds = 0.0
    controller = fleet.make_controller()
    await controller.refresh_once()
    worker = _by_name(controller)["lic"]
    assert worker.license_status == LicenseStatus.UNREGISTERED
    bad = await controller.register_license(worker.id, "not-a-valid-token")
    assert not bad.ok and "is not valid" in bad.failed[0]
    good = await controller.register_license(worker.id, DEMO_LICENSE_TOKEN)
    assert good.ok, good.summary()
    worker = _by_name(controller)["lic"]
    assert worker.license_status == LicenseStatus.REGISTERED
    assert worker.license_token_masked == "…" + DEMO_LICENSE_TOKEN[-4:]
    stored = fleet.config.data_path.joinpath("cmltui.json").read_text("utf-8")
    assert DEMO_LICENSE_TOKEN not in stored  # the full token never reaches the data file
    gone = await controller.deregister_license(worker.id)
    assert gone.ok
    assert _by_name(controller)["lic"].license_status == LicenseStatus.UNREGISTERED


async def test_held_loops_wait_for_release_then_refresh(fleet):
    await fleet.launch("held")
    controller = fleet.make_controller()
    await controller.start(hold_loops=True)
    try:
        await asyncio.sleep(0.8)  # longer than the loops' 0.5 s head start: still held
        assert fleet.moto.request_counts[("ec2", "DescribeInstances")] == 0
        controller.release_loops()
        for _ in range(200):
            if fleet.moto.request_counts[("ec2", "DescribeInstances")] >= len(MOTO_REGIONS):
                break
            await asyncio.sleep(0.05)
        assert fleet.moto.request_counts[("ec2", "DescribeInstances")] >= len(MOTO_REGIONS)
    finally:
        await controller.stop()
