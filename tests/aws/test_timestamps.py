"""The fast timestamp parser gives what botocore's own gives, and the gateway's clients use it."""

from __future__ import annotations

from datetime import UTC

import boto3
import pytest
from botocore.utils import parse_timestamp as botocore_parse_timestamp

from cmltui.aws.gateway import AwsGateway
from cmltui.aws.timestamps import parse_timestamp, use_fast_timestamps
from tests.fixtures.moto_fixtures import MOTO_REGIONS

EAST = MOTO_REGIONS[0]


@pytest.mark.parametrize(
    "value",
    [
        "2026-12-03T14:05:06.000Z",  # as EC2 writes LaunchTime
        "2026-12-03T14:05:06Z",
        "2026-12-03T14:05:06.123456Z",
        "2028-02-29T23:59:59.5Z",
        "2026-12-03T14:05:06+02:00",  # not 'Z': botocore's parser
        "2026-12-03 14:05:06",
        "Thu, 03 Dec 2026 14:05:06 GMT",
        1764770706,  # epoch seconds (JSON protocols)
        1764770706.25,
        "1764770706",
    ],
)
def test_same_answer_as_botocore(value: object) -> None:
    ours, theirs = parse_timestamp(value), botocore_parse_timestamp(value)
    assert ours == theirs
    assert ours.utcoffset() == theirs.utcoffset()


def test_iso_z_is_utc_aware() -> None:
    parsed = parse_timestamp("2026-12-03T14:05:06.000Z")
    assert parsed.tzinfo is not None and parsed.utcoffset() == UTC.utcoffset(None)


@pytest.mark.parametrize("value", ["not a time", "2026-13-45T99:00:00Z", ""])
def test_bad_values_fail_as_botocore_fails(value: str) -> None:
    with pytest.raises(ValueError) as theirs:
        botocore_parse_timestamp(value)
    with pytest.raises(type(theirs.value)):
        parse_timestamp(value)


def test_clients_made_after_use_the_fast_parser() -> None:
    session = boto3.Session(aws_access_key_id="x", aws_secret_access_key="y")
    use_fast_timestamps(session)
    client = session.client("ec2", region_name=EAST)
    # botocore's endpoint makes the parser of each response from this factory.
    parser = client._endpoint._response_parser_factory.create_parser("ec2")
    assert parser._timestamp_parser is parse_timestamp


async def test_gateway_describes_with_the_fast_parser(
    aws_gateway: AwsGateway, aws_session: boto3.Session, moto_client, cml_amis, moto
) -> None:
    ec2 = moto_client("ec2", EAST)
    launched = ec2.run_instances(
        ImageId=cml_amis[EAST],
        MinCount=1,
        MaxCount=1,
        TagSpecifications=[
            {"ResourceType": "instance", "Tags": [{"Key": "cmltui:managed", "Value": "true"}]}
        ],
    )["Instances"][0]

    fleet = await aws_gateway.describe_fleet(EAST)

    client = aws_gateway._client(EAST, "ec2")
    parser = client._endpoint._response_parser_factory.create_parser("ec2")
    assert parser._timestamp_parser is parse_timestamp
    [dto] = [d for d in fleet if d.aws_instance_id == launched["InstanceId"]]
    assert dto.launch_time is not None
    assert dto.launch_time == launched["LaunchTime"]
    assert dto.launch_time.utcoffset() == UTC.utcoffset(None)
