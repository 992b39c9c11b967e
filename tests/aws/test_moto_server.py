"""The fault-injecting wrapper and helpers of ``cmltui.demo.moto_server``, over plain boto3."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from cmltui.demo.moto_server import set_instance_state
from tests.fixtures.moto_fixtures import MOTO_REGIONS

EAST, WEST = MOTO_REGIONS


def _code(err: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response = err.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def test_requests_are_counted_per_service_and_action(moto, moto_client):
    moto_client("ec2", EAST).describe_instances()
    moto_client("ec2", WEST).describe_instances()
    moto_client("cloudwatch", EAST).list_metrics()

    assert moto.request_counts[("ec2", "DescribeInstances")] == 2
    assert moto.request_counts[("cloudwatch", "ListMetrics")] == 1
    moto.reset()
    assert sum(moto.request_counts.values()) == 0  # /moto-api itself is not counted


def test_faults_answer_like_aws_for_each_service(moto, moto_client):
    ec2, cloudwatch = moto_client("ec2", EAST), moto_client("cloudwatch", EAST)
    moto.faults.throttle("ec2", 1)
    moto.faults.throttle("cloudwatch", 1)
    with pytest.raises(ClientError) as ec2_err:
        ec2.describe_instances()
    with pytest.raises(ClientError) as cw_err:
        cloudwatch.list_metrics()
    assert _code(ec2_err) == ("RequestLimitExceeded", 503)
    assert _code(cw_err) == ("Throttling", 400)

    moto.faults.server_error("ec2", 1)
    with pytest.raises(ClientError) as server_err:
        ec2.describe_instances()
    assert _code(server_err) == ("InternalError", 500)

    # Spent faults are gone: the next calls reach moto.
    ec2.describe_instances()
    cloudwatch.list_metrics()


def test_deny_hits_only_its_action_and_region_filter_only_its_region(moto, moto_client):
    east, west = moto_client("ec2", EAST), moto_client("ec2", WEST)
    moto.faults.deny("ec2", "StopInstances")
    moto.faults.throttle("ec2", None, region=WEST)

    east.describe_instances()
    with pytest.raises(ClientError) as denied:
        east.stop_instances(InstanceIds=["i-0123456789abcdef0"])
    with pytest.raises(ClientError) as throttled:
        west.describe_instances()
    assert _code(denied) == ("UnauthorizedOperation", 403)
    assert _code(throttled)[0] == "RequestLimitExceeded"

    moto.faults.clear()
    west.describe_instances()


def test_expired_credentials_fault(moto, moto_client):
    moto.faults.expired_credentials(count=2)
    with pytest.raises(ClientError) as ec2_err:
        moto_client("ec2", EAST).describe_instances()
    with pytest.raises(ClientError) as cw_err:
        moto_client("cloudwatch", EAST).list_metrics()
    assert _code(ec2_err) == ("AuthFailure", 401)
    assert _code(cw_err) == ("ExpiredToken", 403)
    moto_client("ec2", EAST).describe_instances()


def test_reset_wipes_instances_and_faults(moto, moto_client):
    ec2 = moto_client("ec2", EAST)
    ec2.run_instances(ImageId="ami-12345678", MinCount=2, MaxCount=2)
    moto.faults.throttle("ec2", None)

    moto.reset()

    assert ec2.describe_instances()["Reservations"] == []


def test_set_instance_state_shows_in_describe(moto, moto_client):
    ec2 = moto_client("ec2", WEST)
    [instance] = ec2.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1)["Instances"]

    set_instance_state(instance["InstanceId"], "stopping", region=WEST)

    described = ec2.describe_instances(InstanceIds=[instance["InstanceId"]])
    assert described["Reservations"][0]["Instances"][0]["State"] == {
        "Code": 64,
        "Name": "stopping",
    }
    with pytest.raises(ValueError, match="unknown EC2 state"):
        set_instance_state(instance["InstanceId"], "hibernating", region=WEST)
