"""Create, start, stop, terminate and describe-by-id through the gateway, on moto over HTTP."""

from __future__ import annotations

import uuid

import pytest

from cmltui.aws.dto import WORKER_ID_TAG
from cmltui.aws.errors import AmiNotFoundError, InstanceNotFoundError, InvalidStateError
from cmltui.aws.gateway import AwsGateway
from cmltui.config import Config
from cmltui.domain.enums import CMLWorkerStatus
from tests.fixtures.moto_fixtures import CML_AMI_NAME

EAST = "us-east-1"
WEST = "us-west-2"


def _states(dtos) -> dict[str, CMLWorkerStatus]:
    return {dto.aws_instance_id: dto.state for dto in dtos}


async def test_create_finds_ami_by_name_and_tags_the_worker(aws_gateway, cml_amis):
    worker_id = str(uuid.uuid4())

    created = await aws_gateway.create_instance(WEST, worker_id, "lab-west-1")

    assert created.region == WEST
    assert created.ami_id == cml_amis[WEST]
    assert created.ami_name == CML_AMI_NAME
    assert created.instance_type == "c5.2xlarge"
    assert created.tags["Name"] == "lab-west-1"
    assert created.tags["Product"] == "cml"
    assert created.tags["ManagedBy"] == "cmltui"
    assert created.tags["cmltui:managed"] == "true"
    assert created.tags[WORKER_ID_TAG] == worker_id
    assert created.worker_id == worker_id
    assert created.private_ip

    fleet = await aws_gateway.describe_fleet(WEST)
    assert [dto.aws_instance_id for dto in fleet] == [created.aws_instance_id]
    assert fleet[0].state is CMLWorkerStatus.RUNNING
    assert fleet[0].ami_name == CML_AMI_NAME
    # The other region stays empty: the worker went where it was asked.
    assert await aws_gateway.describe_fleet(EAST) == []


async def test_create_without_name_uses_worker_id_and_given_instance_type(aws_gateway):
    worker_id = "w-1234"

    created = await aws_gateway.create_instance(EAST, worker_id, "", instance_type="m5.2xlarge")

    assert created.tags["Name"] == f"cml-worker-{worker_id}"
    assert created.instance_type == "m5.2xlarge"


async def test_create_with_configured_ami_id_records_its_name(
    gateway_config: Config, cml_amis, aws_session
):
    config = gateway_config.model_copy(
        update={"cml_worker_ami_ids": {EAST: cml_amis[EAST]}, "cml_worker_ami_names": {}}
    )
    gateway = AwsGateway(config, session=aws_session)
    try:
        created = await gateway.create_instance(EAST, "w-ami-id", "by-id")
    finally:
        await gateway.close()

    assert created.ami_id == cml_amis[EAST]
    assert created.ami_name == CML_AMI_NAME
    # The name was looked up by id, not by name.
    assert gateway.request_counts["DescribeImages"] == 1


async def test_create_with_unknown_ami_name_raises_ami_not_found(
    gateway_config: Config, aws_session
):
    config = gateway_config.model_copy(update={"cml_worker_ami_names": {EAST: "CML-0.0-nope"}})
    gateway = AwsGateway(config, session=aws_session)
    try:
        with pytest.raises(AmiNotFoundError, match=r"CML-0\.0-nope") as caught:
            await gateway.create_instance(EAST, "w-x", "x")
        # No AMI configured at all for the region.
        with pytest.raises(AmiNotFoundError, match=f"{WEST}: no CML AMI configured"):
            await gateway.create_instance(WEST, "w-y", "y")
    finally:
        await gateway.close()
    assert caught.value.region == EAST
    assert gateway.request_counts["RunInstances"] == 0


async def test_create_resolves_security_groups_by_name_and_uses_subnet_and_key(
    gateway_config: Config, moto_client, aws_session
):
    ec2 = moto_client("ec2", EAST)
    vpc_id = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    group_id = ec2.create_security_group(GroupName="cml-workers", Description="cml", VpcId=vpc_id)[
        "GroupId"
    ]
    subnet_id = ec2.describe_subnets()["Subnets"][0]["SubnetId"]
    ec2.create_key_pair(KeyName="cml-key")
    config = gateway_config.model_copy(
        update={
            "cml_worker_security_group_names": ["cml-workers"],
            "cml_worker_subnet_id": subnet_id,
            "cml_worker_key_name": "cml-key",
        }
    )
    gateway = AwsGateway(config, session=aws_session)
    try:
        created = await gateway.create_instance(EAST, "w-sg", "sg")
    finally:
        await gateway.close()

    assert created.key_pair_name == "cml-key"
    raw = ec2.describe_instances(InstanceIds=[created.aws_instance_id])["Reservations"][0][
        "Instances"
    ][0]
    assert [group["GroupId"] for group in raw["SecurityGroups"]] == [group_id]
    assert raw["SubnetId"] == subnet_id


async def test_start_stop_terminate_single_and_batch(aws_gateway):
    workers = [await aws_gateway.create_instance(EAST, f"w-{n}", f"lab-{n}") for n in range(3)]
    ids = [dto.aws_instance_id for dto in workers]

    await aws_gateway.stop_instances(EAST, ids[:2])
    assert aws_gateway.request_counts["StopInstances"] == 1  # one call for the batch
    states = _states(await aws_gateway.describe_fleet(EAST))
    assert states == {
        ids[0]: CMLWorkerStatus.STOPPED,
        ids[1]: CMLWorkerStatus.STOPPED,
        ids[2]: CMLWorkerStatus.RUNNING,
    }

    await aws_gateway.start_instances(EAST, ids[:2])
    assert aws_gateway.request_counts["StartInstances"] == 1
    assert set(_states(await aws_gateway.describe_fleet(EAST)).values()) == {
        CMLWorkerStatus.RUNNING
    }

    await aws_gateway.stop_instance(EAST, ids[2])
    assert _states(await aws_gateway.describe_fleet(EAST))[ids[2]] is CMLWorkerStatus.STOPPED
    await aws_gateway.start_instance(EAST, ids[2])
    assert _states(await aws_gateway.describe_fleet(EAST))[ids[2]] is CMLWorkerStatus.RUNNING

    await aws_gateway.terminate_instance(EAST, ids[0])
    await aws_gateway.terminate_instances(EAST, ids[1:])
    assert aws_gateway.request_counts["TerminateInstances"] == 2
    # Terminated managed instances are still reported (EC2 keeps them for a while).
    assert set(_states(await aws_gateway.describe_fleet(EAST)).values()) == {
        CMLWorkerStatus.TERMINATED
    }


async def test_empty_batches_send_nothing(aws_gateway):
    await aws_gateway.start_instances(EAST, [])
    await aws_gateway.stop_instances(EAST, [])
    await aws_gateway.terminate_instances(EAST, [])
    assert await aws_gateway.cpu_utilization(EAST, []) == {}
    assert aws_gateway.request_count == 0


async def test_start_refuses_terminated_instance_which_moto_would_restart(aws_gateway, moto_client):
    alive = await aws_gateway.create_instance(EAST, "w-alive", "alive")
    gone = await aws_gateway.create_instance(EAST, "w-gone", "gone")
    await aws_gateway.stop_instance(EAST, alive.aws_instance_id)
    await aws_gateway.terminate_instance(EAST, gone.aws_instance_id)

    with pytest.raises(InvalidStateError, match=gone.aws_instance_id) as caught:
        await aws_gateway.start_instances(EAST, [alive.aws_instance_id, gone.aws_instance_id])

    assert caught.value.operation == "StartInstances"
    assert aws_gateway.request_counts["StartInstances"] == 0  # refused before asking EC2
    states = _states(await aws_gateway.describe_fleet(EAST))
    assert states[gone.aws_instance_id] is CMLWorkerStatus.TERMINATED
    assert states[alive.aws_instance_id] is CMLWorkerStatus.STOPPED  # batch refused whole


async def test_describe_unknown_instance_raises_instance_not_found(aws_gateway):
    with pytest.raises(InstanceNotFoundError) as caught:
        await aws_gateway.describe_instances(EAST, ["i-0123456789abcdef0"])
    assert caught.value.region == EAST
    assert "DescribeInstances" in str(caught.value)

    with pytest.raises(InstanceNotFoundError):
        await aws_gateway.start_instance(EAST, "i-0123456789abcdef0")


async def test_describe_instances_by_id_returns_dtos(aws_gateway):
    created = await aws_gateway.create_instance(EAST, "w-d", "d")
    [described] = await aws_gateway.describe_instances(EAST, [created.aws_instance_id])
    assert described.aws_instance_id == created.aws_instance_id
    assert described.ami_name == CML_AMI_NAME
    assert described.state is CMLWorkerStatus.RUNNING
