"""Where a new worker is launched: ``cml_worker_subnet_id`` and ``cml_worker_vpc_id``.

No VPC configured: the subnet as given (unset: EC2 picks one in the default VPC), with no call.
A VPC configured: the given subnet must belong to it; without one, a subnet of that VPC is
chosen (one DescribeSubnets). A VPC exists in one region only, so creating a worker in a
region where the VPC has no available subnet is refused with that reason rather than launched
elsewhere.
"""

from __future__ import annotations

from typing import Any

from cmltui.aws.errors import AwsRequestError
from cmltui.config import Config


def _preference(subnet: dict[str, Any]) -> tuple[bool, int, str]:
    """Subnets giving a public address first (the default endpoint template reads
    {public_ip}), then the most free addresses; the id breaks ties, so the choice is stable."""
    return (
        not subnet.get("MapPublicIpOnLaunch", False),
        -int(subnet.get("AvailableIpAddressCount") or 0),
        str(subnet.get("SubnetId", "")),
    )


def subnet_for_launch(config: Config, region: str, ec2: Any) -> str | None:
    """The ``SubnetId`` of a new worker in ``region``, or None to let EC2 pick one."""
    vpc_id = config.cml_worker_vpc_id
    subnet_id = config.cml_worker_subnet_id
    if not vpc_id:
        return subnet_id
    filters = [{"Name": "vpc-id", "Values": [vpc_id]}]
    if subnet_id:
        found = ec2.describe_subnets(Filters=[{"Name": "subnet-id", "Values": [subnet_id]}])
        vpcs = {subnet.get("VpcId") for subnet in found.get("Subnets", [])}
        if vpcs and vpc_id not in vpcs:
            raise AwsRequestError(
                f"{region}: subnet {subnet_id} is not in VPC {vpc_id}; make "
                "cml_worker_subnet_id and cml_worker_vpc_id agree",
                region=region,
                operation="DescribeSubnets",
            )
        return subnet_id
    filters.append({"Name": "state", "Values": ["available"]})
    subnets = ec2.describe_subnets(Filters=filters).get("Subnets", [])
    if not subnets:
        raise AwsRequestError(
            f"{region}: VPC {vpc_id} has no available subnet in this region (a VPC belongs to "
            "one region); check cml_worker_vpc_id or set cml_worker_subnet_id",
            region=region,
            operation="DescribeSubnets",
        )
    return str(min(subnets, key=_preference)["SubnetId"])
