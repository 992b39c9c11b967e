"""Where a new worker is launched: ``cml_worker_vpc_id`` and ``cml_worker_subnet_id`` on moto.

The VPC setting places new workers in a subnet of that VPC when no subnet is given (issue 15
#12); before, it only narrowed the security-group lookup and workers went to the default VPC.
"""

from __future__ import annotations

import pytest

from cmltui.aws.errors import AwsRequestError
from cmltui.aws.gateway import AwsGateway
from cmltui.config import Config

EAST = "us-east-1"
WEST = "us-west-2"


def _vpc_with_subnets(ec2, cidr: str, public: tuple[bool, ...]) -> tuple[str, list[str]]:
    vpc_id = ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
    base = cidr.rsplit(".", 2)[0]
    subnet_ids = []
    for index, maps_public_ip in enumerate(public):
        subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"{base}.{index * 16}.0/20")[
            "Subnet"
        ]["SubnetId"]
        if maps_public_ip:
            ec2.modify_subnet_attribute(SubnetId=subnet_id, MapPublicIpOnLaunch={"Value": True})
        subnet_ids.append(subnet_id)
    return vpc_id, subnet_ids


def _launched_subnet(ec2, instance_id: str) -> str:
    reply = ec2.describe_instances(InstanceIds=[instance_id])
    return reply["Reservations"][0]["Instances"][0]["SubnetId"]


async def _create(config: Config, aws_session, region: str, worker_id: str):
    gateway = AwsGateway(config, session=aws_session)
    try:
        return await gateway.create_instance(region, worker_id, worker_id), gateway.request_counts
    finally:
        await gateway.close()


async def test_a_configured_vpc_places_new_workers_in_one_of_its_subnets(
    gateway_config: Config, moto_client, aws_session
):
    ec2 = moto_client("ec2", EAST)
    vpc_id, (private_subnet, public_subnet) = _vpc_with_subnets(ec2, "10.42.0.0/16", (False, True))
    config = gateway_config.model_copy(update={"cml_worker_vpc_id": vpc_id})

    created, _counts = await _create(config, aws_session, EAST, "w-vpc")

    # A subnet of that VPC, and the one that gives the worker a public address (the endpoint
    # template reads {public_ip} by default).
    assert _launched_subnet(ec2, created.aws_instance_id) == public_subnet
    assert public_subnet != private_subnet
    reply = ec2.describe_instances(InstanceIds=[created.aws_instance_id])
    assert reply["Reservations"][0]["Instances"][0]["VpcId"] == vpc_id


async def test_a_vpc_without_subnets_in_the_region_is_refused_with_the_reason(
    gateway_config: Config, moto_client, aws_session
):
    east = moto_client("ec2", EAST)
    vpc_id = east.create_vpc(CidrBlock="10.43.0.0/16")["Vpc"]["VpcId"]
    config = gateway_config.model_copy(update={"cml_worker_vpc_id": vpc_id})

    # The VPC has no subnet at all.
    with pytest.raises(AwsRequestError, match=f"{EAST}: VPC {vpc_id} has no available subnet"):
        await _create(config, aws_session, EAST, "w-empty")
    # A VPC lives in one region: a worker of another region cannot go there.
    with pytest.raises(AwsRequestError, match=f"{WEST}: VPC {vpc_id} has no available subnet"):
        await _create(config, aws_session, WEST, "w-west")
    assert east.describe_instances()["Reservations"] == []


async def test_a_subnet_outside_the_configured_vpc_is_refused(
    gateway_config: Config, moto_client, aws_session
):
    ec2 = moto_client("ec2", EAST)
    vpc_id, _ = _vpc_with_subnets(ec2, "10.44.0.0/16", (True,))
    default_subnet = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])[
        "Subnets"
    ][0]["SubnetId"]
    config = gateway_config.model_copy(
        update={"cml_worker_vpc_id": vpc_id, "cml_worker_subnet_id": default_subnet}
    )

    with pytest.raises(AwsRequestError, match=f"subnet {default_subnet} is not in VPC {vpc_id}"):
        await _create(config, aws_session, EAST, "w-mismatch")


async def test_a_subnet_of_the_configured_vpc_is_used_as_given(
    gateway_config: Config, moto_client, aws_session
):
    ec2 = moto_client("ec2", EAST)
    vpc_id, (first, second) = _vpc_with_subnets(ec2, "10.45.0.0/16", (True, False))
    config = gateway_config.model_copy(
        update={"cml_worker_vpc_id": vpc_id, "cml_worker_subnet_id": second}
    )

    created, _counts = await _create(config, aws_session, EAST, "w-given")

    assert _launched_subnet(ec2, created.aws_instance_id) == second != first


async def test_without_a_vpc_no_subnet_is_looked_up(gateway_config: Config, aws_session):
    created, counts = await _create(gateway_config, aws_session, EAST, "w-plain")
    assert created.aws_instance_id
    assert counts["DescribeSubnets"] == 0
