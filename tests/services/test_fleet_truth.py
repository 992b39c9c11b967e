"""Issue 11: what the operator sees is true and actions hit exactly the workers chosen.

Every test changes EC2 from outside with boto3 against moto's server (as colleagues and the EC2
console do) and drives the real controller, gateway, fake CML and store file.
"""

from __future__ import annotations

import asyncio

import pytest

from cmltui.aws.dto import WORKER_ID_TAG
from cmltui.domain.enums import CMLServiceStatus, CMLWorkerStatus
from tests.fixtures.moto_fixtures import MOTO_REGIONS

EAST, WEST = MOTO_REGIONS


def _by_name(controller):
    return {w.name: w for w in controller.workers()}


def _describe(ec2, instance_id):
    reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    return reservations[0]["Instances"][0]


def _launch_copy(ec2, instance_id, *, name=None):
    """'Launch more like this': a new instance with the original's tags."""
    original = _describe(ec2, instance_id)
    tags = [t for t in original["Tags"] if not t["Key"].startswith("aws:")]
    if name is not None:
        tags = [t for t in tags if t["Key"] != "Name"] + [{"Key": "Name", "Value": name}]
    reply = ec2.run_instances(
        ImageId=original["ImageId"],
        InstanceType=original["InstanceType"],
        MinCount=1,
        MaxCount=1,
        TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
    )
    return reply["Instances"][0]["InstanceId"]


def _event_types(controller, worker_id):
    return [e.type.rsplit(".", 2)[-2] for e in controller.events_for(worker_id, limit=1000)]


async def test_a_copied_worker_id_never_takes_the_worker_over(fleet, moto_client):
    original_id = await fleet.launch("cml-lab-01")
    controller = fleet.make_controller()
    await controller.refresh_ec2()
    worker = _by_name(controller)["cml-lab-01"]
    ec2 = moto_client("ec2", EAST)
    copy_id = _launch_copy(ec2, original_id)
    assigned_before = _event_types(controller, worker.id).count("instance-assigned")
    for _ in range(3):
        fleet.clock.advance(minutes=1)
        await controller.refresh_ec2()
    workers = controller.workers()
    assert [w.name for w in workers] == ["cml-lab-01"], "the copy is never merged nor imported"
    assert workers[0].aws_instance_id == original_id
    assert _event_types(controller, worker.id).count("instance-assigned") == assigned_before
    errors = [h.error for h in controller.current().errors]
    assert any(copy_id in e and "copy" in e for e in errors), errors
    assert any(copy_id in p for p in workers[0].problems)
    # Its actions address the bound instance only.
    result = await controller.stop_workers([worker.id])
    assert result.ok, result.summary()
    assert _describe(ec2, original_id)["State"]["Name"] in ("stopping", "stopped")
    assert _describe(ec2, copy_id)["State"]["Name"] == "running"


async def test_a_copy_is_offered_for_import_as_a_new_worker(fleet, moto_client):
    original_id = await fleet.launch("cml-lab-01")
    controller = fleet.make_controller()
    await controller.refresh_ec2()
    ec2 = moto_client("ec2", EAST)
    copy_id = _launch_copy(ec2, original_id)
    await controller.refresh_ec2()
    offered = {d.aws_instance_id: d for d in await controller.discover()}
    assert offered[copy_id].copy_of == "cml-lab-01"
    # Same name as the live worker: refused before anything is tagged.
    assert offered[copy_id].problem and "already has this name" in offered[copy_id].problem
    refused = await controller.import_instances([offered[copy_id]])
    assert not refused.ok and not refused.done
    copy_tags = {t["Key"]: t["Value"] for t in _describe(ec2, copy_id)["Tags"]}
    assert copy_tags[WORKER_ID_TAG] == "seed-cml-lab-01", "nothing was tagged"
    # Renamed in EC2, it imports as a new worker with a new id; the original is untouched.
    ec2.create_tags(Resources=[copy_id], Tags=[{"Key": "Name", "Value": "cml-lab-02"}])
    await controller.refresh_ec2()
    offered = {d.aws_instance_id: d for d in await controller.discover()}
    result = await controller.import_instances([offered[copy_id]])
    assert result.ok, result.summary()
    workers = _by_name(controller)
    assert workers["cml-lab-02"].aws_instance_id == copy_id
    assert workers["cml-lab-02"].id != workers["cml-lab-01"].id
    assert workers["cml-lab-01"].aws_instance_id == original_id
    copy_tags = {t["Key"]: t["Value"] for t in _describe(ec2, copy_id)["Tags"]}
    assert copy_tags[WORKER_ID_TAG] == workers["cml-lab-02"].id
    await controller.refresh_ec2()
    assert not any("copy" in h.error for h in controller.current().errors)


async def test_a_lost_managed_tag_detaches_and_never_terminates(fleet, moto_client):
    instance_id = await fleet.launch("tagless")
    await fleet.launch("other", region=WEST)
    controller = fleet.make_controller()
    await controller.refresh_ec2()
    ec2 = moto_client("ec2", EAST)
    ec2.delete_tags(Resources=[instance_id], Tags=[{"Key": fleet.config.aws.managed_tag_key}])
    fleet.clock.advance(minutes=5)
    counts_before = dict(controller._gateway.request_counts)
    await controller.refresh_ec2()
    described = controller._gateway.request_counts["DescribeInstances"] - counts_before.get(
        "DescribeInstances", 0
    )
    # One managed describe per region, plus one by-id lookup in the region missing an id.
    assert described == len(MOTO_REGIONS) + 1
    tagless = _by_name(controller)["tagless"]
    assert tagless.status == CMLWorkerStatus.RUNNING and tagless.detached
    assert tagless.terminated_at is None and tagless.hourly_cost_usd > 0
    # Still live: a stop from outside shows while detached.
    ec2.stop_instances(InstanceIds=[instance_id])
    await controller.refresh_ec2()
    assert _by_name(controller)["tagless"].status == CMLWorkerStatus.STOPPED
    # Nothing is missing any more in a steady cycle of a healthy region: no extra call there.
    ec2.start_instances(InstanceIds=[instance_id])
    # The re-tag action puts the tags back; the worker is whole again.
    result = await controller.reattach_workers([tagless.id])
    assert result.ok, result.summary()
    tags = {t["Key"]: t["Value"] for t in _describe(ec2, instance_id)["Tags"]}
    assert tags[fleet.config.aws.managed_tag_key] == "true" and tags[WORKER_ID_TAG] == tagless.id
    counts_before = dict(controller._gateway.request_counts)
    await controller.refresh_ec2()
    assert controller._gateway.request_counts["DescribeInstances"] - counts_before.get(
        "DescribeInstances", 0
    ) == len(MOTO_REGIONS)
    again = _by_name(controller)["tagless"]
    assert not again.detached and again.status == CMLWorkerStatus.RUNNING


async def test_a_tag_put_back_from_outside_clears_detached(fleet, moto_client):
    instance_id = await fleet.launch("flipper")
    controller = fleet.make_controller()
    await controller.refresh_ec2()
    ec2 = moto_client("ec2", EAST)
    key = fleet.config.aws.managed_tag_key
    ec2.delete_tags(Resources=[instance_id], Tags=[{"Key": key}])
    fleet.clock.advance(minutes=5)
    await controller.refresh_ec2()
    assert _by_name(controller)["flipper"].detached
    ec2.create_tags(Resources=[instance_id], Tags=[{"Key": key, "Value": "true"}])
    await controller.refresh_ec2()
    flipper = _by_name(controller)["flipper"]
    assert not flipper.detached and flipper.status == CMLWorkerStatus.RUNNING


async def test_terminated_without_its_tag_is_terminated_as_observed(fleet, moto_client):
    instance_id = await fleet.launch("doomed")
    controller = fleet.make_controller()
    await controller.refresh_ec2()
    ec2 = moto_client("ec2", EAST)
    ec2.delete_tags(Resources=[instance_id], Tags=[{"Key": fleet.config.aws.managed_tag_key}])
    ec2.terminate_instances(InstanceIds=[instance_id])
    fleet.clock.advance(minutes=5)
    await controller.refresh_ec2()
    doomed = _by_name(controller)["doomed"]
    assert doomed.status == CMLWorkerStatus.TERMINATED and not doomed.detached
    assert doomed.terminated_by == "observed in EC2 (not by cmltui)"


async def test_a_blank_or_odd_name_never_stops_the_cycle(fleet, moto_client):
    good_id = await fleet.launch("good")
    blank_id = _launch_copy(moto_client("ec2", EAST), good_id, name="   ")
    ec2 = moto_client("ec2", EAST)
    ec2.create_tags(Resources=[blank_id], Tags=[{"Key": WORKER_ID_TAG, "Value": "blank-one"}])
    odd_id = _launch_copy(ec2, good_id, name="good\u200b")
    ec2.create_tags(Resources=[odd_id], Tags=[{"Key": WORKER_ID_TAG, "Value": "odd-one"}])
    controller = fleet.make_controller()
    await controller.refresh_ec2()
    assert not [h for h in controller.current().errors if h.source in MOTO_REGIONS]
    workers = _by_name(controller)
    assert workers[blank_id].aws_instance_id == blank_id, "a blank name shows the instance id"
    assert workers["good\u200b"].aws_instance_id == odd_id, "remote names are kept as they are"
    ec2.stop_instances(InstanceIds=[good_id])
    await controller.refresh_ec2()
    assert _by_name(controller)["good"].status == CMLWorkerStatus.STOPPED


async def test_import_checks_every_name_before_tagging_anything(fleet, moto_client):
    await fleet.launch("taken")
    controller = fleet.make_controller()
    await controller.refresh_ec2()
    ec2 = moto_client("ec2", EAST)
    image = _describe(ec2, controller.workers()[0].aws_instance_id)["ImageId"]

    def unmanaged(name):
        tags = [{"Key": "cml:worker", "Value": "yes"}]
        if name is not None:
            tags.append({"Key": "Name", "Value": name})
        reply = ec2.run_instances(
            ImageId=image,
            MinCount=1,
            MaxCount=1,
            TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
        )
        return reply["Instances"][0]["InstanceId"]

    bad = {
        unmanaged("  "): "no Name tag",
        unmanaged(None): "no Name tag",
        unmanaged("x\u202eyz"): "bidi",
        unmanaged("TAKEN"): "already has this name",
    }
    fine = unmanaged("  spaced  ")
    found = {d.aws_instance_id: d for d in await controller.discover()}
    assert set(bad) | {fine} <= set(found)
    for instance_id, why in bad.items():
        assert why in (found[instance_id].problem or ""), (instance_id, found[instance_id])
    result = await controller.import_instances(list(found.values()))
    assert result.done == ("spaced",)
    assert len(result.refused) == len(bad)
    for instance_id in bad:
        tags = {t["Key"] for t in _describe(ec2, instance_id).get("Tags", [])}
        assert fleet.config.aws.managed_tag_key not in tags and WORKER_ID_TAG not in tags


@pytest.mark.parametrize(
    ("status", "truncated", "why"),
    [(500, False, "500"), (200, False, "could not be read"), (200, True, "could not be read")],
)
async def test_unreadable_answer_stays_in_its_region(fleet, status, truncated, why):
    await fleet.launch("east-one")
    await fleet.launch("west-one", region=WEST)
    controller = fleet.make_controller()
    await controller.refresh_ec2()
    fleet.clock.advance(minutes=5)
    fleet.moto.faults.unreadable(
        "ec2",
        action="DescribeInstances",
        region=EAST,
        count=None,
        status=status,
        truncated_xml=truncated,
    )
    await controller.refresh_ec2()
    errors = {h.source: h.error for h in controller.current().errors}
    assert EAST in errors and why in errors[EAST]
    workers = _by_name(controller)
    assert workers["east-one"].status == CMLWorkerStatus.RUNNING, "not taken for gone"
    assert "west-one" in workers
    # Saved: a second process sees the healthy region's worker.
    fleet.moto.faults.clear()
    other = fleet.make_controller(read_only=True)
    await other.load()
    assert "west-one" in _by_name(other)


async def test_figures_of_a_stopped_worker_are_not_live(fleet, moto_client):
    instance_id = await fleet.launch("busy", running_labs=1)
    controller = fleet.make_controller()
    await controller.refresh_once()
    busy = _by_name(controller)["busy"]
    assert busy.telemetry_live and busy.active_labs_count == 1
    assert busy.service_status == CMLServiceStatus.AVAILABLE
    moto_client("ec2", EAST).stop_instances(InstanceIds=[instance_id])
    await controller.refresh_ec2()
    stopped = _by_name(controller)["busy"]
    assert not stopped.telemetry_live
    assert stopped.cpu_utilization is None and stopped.memory_utilization is None
    assert stopped.active_labs_count == 0 and stopped.seen_active_labs_count == 1
    assert stopped.service_status != CMLServiceStatus.AVAILABLE
    assert stopped.telemetry_at is not None
    assert controller.current().totals.average_cpu is None


async def test_running_figures_go_stale_when_cml_stops_answering(fleet):
    instance_id = await fleet.launch("quiet")
    controller = fleet.make_controller()
    await controller.refresh_once()
    assert _by_name(controller)["quiet"].telemetry_live
    fleet.cml.worker(instance_id).set_faults(connection="reset")
    fleet.clock.advance(minutes=10)
    published = []
    controller.subscribe(published.append)
    await controller.refresh_cml()
    # Published as stale too (the table shows only what is published).
    shown = [w for cs in published for w in cs.changed if w.name == "quiet"]
    assert shown and not shown[-1].telemetry_live and shown[-1].cpu_utilization is None
    quiet = _by_name(controller)["quiet"]
    assert not quiet.telemetry_live and quiet.cpu_utilization is None
    assert quiet.last_error


async def test_cml_not_answering_past_the_boot_grace_is_an_error(fleet):
    instance_id = await fleet.launch("booting")
    controller = fleet.make_controller()
    await controller.refresh_ec2()
    fleet.cml.worker(instance_id).set_faults(not_ready_502=True)
    await controller.refresh_cml()
    booting = _by_name(controller)["booting"]
    assert booting.service_status == CMLServiceStatus.STARTING and booting.last_error is None
    grace = fleet.config.cml.boot_grace_minutes
    fleet.clock.advance(minutes=grace + 1)
    await controller.refresh_cml()
    late = _by_name(controller)["booting"]
    assert late.service_status == CMLServiceStatus.ERROR
    assert late.last_error and "unreachable" in late.last_error
    assert any(h.source == "cml:booting" for h in controller.current().errors)


async def test_new_names_are_checked(fleet):
    await fleet.launch("cml-lab-01")
    controller = fleet.make_controller()
    await controller.refresh_ec2()
    for name, why in [
        ("cml-lab-01\u200b", "zero-width"),
        ("cml\u202elab", "bidi"),
        ("lab\x9b31m", "control"),
        ("two\u2028lines", "line separator"),
        ("CML-LAB-01", "already has this name"),
        (" cml-lab-01 ", "already has this name"),
        ("   ", "needs a name"),
    ]:
        result = await controller.create_worker(name, EAST)
        assert not result.ok and why in result.refused[0], (name, result)
        assert "\u200b" not in result.refused[0] and "\x9b" not in result.refused[0]
    assert [w.name for w in controller.workers()] == ["cml-lab-01"]
    created = await controller.create_worker("  cml-lab-02  ", EAST)
    assert created.ok and "cml-lab-02" in _by_name(controller)


async def test_an_unexpected_loop_error_is_shown_until_it_clears(fleet):
    await fleet.launch("any")
    controller = fleet.make_controller()
    failures = {"left": 1}
    real_refresh_cml = controller.refresh_cml

    async def flaky_refresh_cml():
        if failures["left"]:
            failures["left"] -= 1
            raise RuntimeError("boom")
        await real_refresh_cml()

    controller.refresh_cml = flaky_refresh_cml
    published = []
    controller.subscribe(published.append)
    await controller.start()
    try:
        for _ in range(200):
            if any("boom" in h.error for cs in published for h in cs.errors):
                break
            await asyncio.sleep(0.05)
        shown = [h for cs in published for h in cs.errors if "boom" in h.error]
        assert shown and shown[0].source == "cml refresh"
        controller.request_refresh()
        for _ in range(200):
            if published and not any("boom" in h.error for h in published[-1].errors):
                break
            await asyncio.sleep(0.05)
        assert not any("boom" in h.error for h in published[-1].errors)
    finally:
        await controller.stop()


async def test_uptime_and_idle_move_on_for_rows_that_change_nothing_else(fleet):
    """Only changed rows are published; a quiet row must still show its uptime moving on."""
    instance_id = await fleet.launch("quiet-row")
    fleet.cml.worker(instance_id).set_faults(http_500=True)  # no telemetry changes either
    controller = fleet.make_controller()
    published = []
    controller.subscribe(published.append)
    await controller.refresh_once()
    first = next(w for cs in published for w in cs.changed if w.name == "quiet-row")
    published.clear()
    fleet.clock.advance(minutes=3)
    await controller.refresh_ec2()
    later = [w for cs in published for w in cs.changed if w.name == "quiet-row"]
    assert later, "republished because its shown uptime changed"
    assert later[-1].uptime_seconds - first.uptime_seconds >= 180
    published.clear()
    await controller.refresh_ec2()  # same minute: nothing to republish
    assert not [w for cs in published for w in cs.changed if w.name == "quiet-row"]
