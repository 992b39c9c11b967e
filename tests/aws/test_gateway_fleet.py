"""Fleet-scale describe, CloudWatch CPU, discovery and transitional states, on moto over HTTP."""

from __future__ import annotations

import asyncio
import math
from datetime import timedelta

import pytest

from cmltui.aws.dto import WORKER_ID_TAG
from cmltui.aws.gateway import AwsGateway
from cmltui.aws.gateway_metrics import METRIC_QUERIES_PER_CALL
from cmltui.demo.moto_server import set_instance_state
from cmltui.domain.clock import utc_now
from cmltui.domain.enums import CMLWorkerStatus
from tests.fixtures.moto_fixtures import MOTO_REGIONS

EAST, WEST = MOTO_REGIONS
MANAGED_TAGS = [{"Key": "cmltui:managed", "Value": "true"}, {"Key": "Product", "Value": "cml"}]


def _launch(ec2, ami_id: str, count: int, tags: list[dict[str, str]] | None = None) -> list[str]:
    """One run_instances call (= one reservation) of ``count`` instances."""
    params = {"ImageId": ami_id, "MinCount": count, "MaxCount": count, "InstanceType": "c5.2xlarge"}
    if tags:
        params["TagSpecifications"] = [{"ResourceType": "instance", "Tags": tags}]
    return [inst["InstanceId"] for inst in ec2.run_instances(**params)["Instances"]]


def _put_cpu(cloudwatch, points: list[tuple[str, float, float]]) -> None:
    """points: (instance id, minutes ago, percent)."""
    now = utc_now()
    cloudwatch.put_metric_data(
        Namespace="AWS/EC2",
        MetricData=[
            {
                "MetricName": "CPUUtilization",
                "Dimensions": [{"Name": "InstanceId", "Value": instance_id}],
                "Timestamp": now - timedelta(minutes=minutes_ago),
                "Value": percent,
                "Unit": "Percent",
            }
            for instance_id, minutes_ago, percent in points
        ],
    )


@pytest.mark.slow  # 250 instances through moto: seconds
async def test_fleet_of_250_in_two_regions_costs_one_page_and_one_metric_call_per_region(
    aws_gateway, gateway_config, aws_session, moto, moto_client, cml_amis
):
    east, west = moto_client("ec2", EAST), moto_client("ec2", WEST)
    # 130 one-instance reservations plus a big one: more reservations than moto's unasked
    # page of 100, so only a paginating describe sees them all.
    east_ids = [iid for _ in range(130) for iid in _launch(east, cml_amis[EAST], 1, MANAGED_TAGS)]
    east_ids += _launch(east, cml_amis[EAST], 20, MANAGED_TAGS)
    west_ids = _launch(west, cml_amis[WEST], 100, MANAGED_TAGS)
    _launch(west, cml_amis[WEST], 3)  # unmanaged: not part of the fleet
    unpaginated = east.describe_instances(
        Filters=[{"Name": "tag:cmltui:managed", "Values": ["true"]}]
    )
    assert len(unpaginated["Reservations"]) == 100 and unpaginated.get("NextToken")
    _put_cpu(moto_client("cloudwatch", EAST), [(east_ids[0], 2, 55.0)])
    _put_cpu(moto_client("cloudwatch", WEST), [(west_ids[-1], 3, 12.5)])
    moto.faults.reset_counts()

    fleets = await asyncio.gather(*(aws_gateway.describe_fleet(r) for r in MOTO_REGIONS))
    cpu = await asyncio.gather(
        *(
            aws_gateway.cpu_utilization(region, [dto.aws_instance_id for dto in fleet])
            for region, fleet in zip(MOTO_REGIONS, fleets, strict=True)
        )
    )

    east_fleet, west_fleet = fleets
    assert sorted(dto.aws_instance_id for dto in east_fleet) == sorted(east_ids)
    assert sorted(dto.aws_instance_id for dto in west_fleet) == sorted(west_ids)
    assert {dto.state for fleet in fleets for dto in fleet} == {CMLWorkerStatus.RUNNING}
    assert all(dto.ami_name == "CML-2.9.0-Ubuntu-22.04" for fleet in fleets for dto in fleet)
    assert cpu == [{east_ids[0]: 55.0}, {west_ids[-1]: 12.5}]

    # The Done-when budget: R x ceil(N/1000) describe pages + R x ceil(N/500) metric calls.
    counts = aws_gateway.request_counts
    expected_pages = sum(math.ceil(len(f) / 1000) for f in fleets)
    expected_metric_calls = sum(math.ceil(len(f) / METRIC_QUERIES_PER_CALL) for f in fleets)
    assert counts["DescribeInstances"] == expected_pages == 2
    assert counts["GetMetricData"] == expected_metric_calls == 2
    assert counts["DescribeImages"] == 2  # one AMI-name lookup per region, then cached
    assert aws_gateway.request_count == expected_pages + expected_metric_calls + 2
    # The hook counts what really went over the wire.
    assert moto.request_counts[("ec2", "DescribeInstances")] == expected_pages
    assert moto.request_counts[("cloudwatch", "GetMetricData")] == expected_metric_calls

    again = await aws_gateway.describe_fleet(EAST)
    assert len(again) == len(east_ids)
    assert aws_gateway.request_counts["DescribeImages"] == 2  # names came from the cache

    # With moto's own page size the paginator has to follow NextToken, and still sees all.
    small_pages = AwsGateway(gateway_config, session=aws_session, describe_page_size=100)
    try:
        paged = await small_pages.describe_fleet(EAST)
    finally:
        await small_pages.close()
    assert sorted(dto.aws_instance_id for dto in paged) == sorted(east_ids)
    assert small_pages.request_counts["DescribeInstances"] == 2


async def test_cpu_uses_newest_average_and_omits_instances_without_data(aws_gateway, moto_client):
    a, b, c = "i-0000000000000000a", "i-0000000000000000b", "i-0000000000000000c"
    _put_cpu(
        moto_client("cloudwatch", EAST),
        [
            (a, 12, 10.0),  # an older 5-minute bucket
            (a, 3, 40.0),  # the newest bucket: average of these two
            (a, 1, 60.0),
            (b, 7, 7.5),
            (c, 40, 99.0),  # outside the 15-minute window
        ],
    )

    cpu = await aws_gateway.cpu_utilization(EAST, [a, b, c])

    assert cpu == {a: 50.0, b: 7.5}
    assert aws_gateway.request_counts["GetMetricData"] == 1
    # Metrics are regional: the other region has none of them.
    assert await aws_gateway.cpu_utilization(WEST, [a, b]) == {}


async def test_cpu_chunks_at_500_queries_per_call(aws_gateway, moto, moto_client):
    ids = [f"i-{n:017x}" for n in range(1001)]
    # Data at both edges of each chunk, so a wrong offset in the id mapping shows.
    edges = {ids[0]: 1.0, ids[499]: 2.0, ids[500]: 3.0, ids[999]: 4.0, ids[1000]: 5.0}
    _put_cpu(moto_client("cloudwatch", EAST), [(iid, 2, value) for iid, value in edges.items()])

    cpu = await aws_gateway.cpu_utilization(EAST, ids + ids[:3])  # duplicates are asked once

    assert cpu == edges
    # moto accepts any number of queries: only our own count can prove the chunking.
    assert aws_gateway.request_counts["GetMetricData"] == 3 == math.ceil(1001 / 500)
    assert moto.request_counts[("cloudwatch", "GetMetricData")] == 3


async def test_transitional_states_from_the_in_process_backend(aws_gateway):
    booting = await aws_gateway.create_instance(EAST, "w-boot", "boot")
    halting = await aws_gateway.create_instance(EAST, "w-halt", "halt")
    dying = await aws_gateway.create_instance(EAST, "w-die", "die")
    # moto jumps straight to the end state: set the transitional ones in its backend.
    set_instance_state(booting.aws_instance_id, "pending", region=EAST)
    set_instance_state(halting.aws_instance_id, "stopping", region=EAST)
    set_instance_state(dying.aws_instance_id, "shutting-down", region=EAST)

    states = {dto.aws_instance_id: dto.state for dto in await aws_gateway.describe_fleet(EAST)}

    assert states == {
        booting.aws_instance_id: CMLWorkerStatus.PENDING,
        halting.aws_instance_id: CMLWorkerStatus.STOPPING,
        dying.aws_instance_id: CMLWorkerStatus.SHUTTING_DOWN,
    }


async def test_discover_finds_unmanaged_cml_lookalikes_and_adopt_manages_them(
    aws_gateway, moto_client, cml_amis
):
    ec2 = moto_client("ec2", EAST)
    plain_ami = ec2.register_image(Name="ubuntu-22.04-plain", RootDeviceName="/dev/sda1")["ImageId"]
    [by_ami] = _launch(ec2, cml_amis[EAST], 1)
    [by_tag] = _launch(ec2, plain_ami, 1, [{"Key": "cml:worker", "Value": "yes"}])
    [stopped_by_ami] = _launch(ec2, cml_amis[EAST], 1)
    ec2.stop_instances(InstanceIds=[stopped_by_ami])
    [_unrelated] = _launch(ec2, plain_ami, 1, [{"Key": "Name", "Value": "web"}])
    [terminated] = _launch(ec2, cml_amis[EAST], 1)
    ec2.terminate_instances(InstanceIds=[terminated])
    managed = await aws_gateway.create_instance(EAST, "w-managed", "managed")

    found = await aws_gateway.discover(EAST)

    assert {dto.aws_instance_id for dto in found} == {by_ami, by_tag, stopped_by_ami}
    assert managed.aws_instance_id not in {dto.aws_instance_id for dto in found}
    assert await aws_gateway.discover(WEST) == []

    assigned = await aws_gateway.adopt_instances(
        EAST, [by_ami, by_tag], worker_ids={by_tag: "w-chosen"}
    )

    assert set(assigned) == {by_ami, by_tag}
    assert assigned[by_tag] == "w-chosen"
    assert assigned[by_ami] and assigned[by_ami] != "w-chosen"
    fleet = {dto.aws_instance_id: dto for dto in await aws_gateway.describe_fleet(EAST)}
    assert set(fleet) == {managed.aws_instance_id, by_ami, by_tag}
    assert fleet[by_ami].tags[WORKER_ID_TAG] == assigned[by_ami]
    assert fleet[by_tag].worker_id == "w-chosen"
    assert {dto.aws_instance_id for dto in await aws_gateway.discover(EAST)} == {stopped_by_ami}
