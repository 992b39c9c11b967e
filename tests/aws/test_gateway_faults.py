"""Retries and typed errors under injected faults (WSGI wrapper in front of moto's app)."""

from __future__ import annotations

import asyncio
import socket

import boto3
import pytest

from cmltui.aws.errors import (
    AwsAccessDeniedError,
    AwsCredentialsError,
    AwsThrottledError,
    AwsUnreachableError,
)
from cmltui.aws.gateway import AwsGateway
from cmltui.config import Config
from cmltui.domain.enums import CMLWorkerStatus
from tests.fixtures.moto_fixtures import MOTO_REGIONS

EAST, WEST = MOTO_REGIONS


def _with_aws(config: Config, **aws_changes) -> Config:
    return config.model_copy(update={"aws": config.aws.model_copy(update=aws_changes)})


def _closed_port_url() -> str:
    """A 127.0.0.1 URL nobody listens on (connection refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


async def test_throttling_is_retried_then_succeeds(aws_gateway, moto):
    await aws_gateway.create_instance(EAST, "w-1", "one")
    moto.faults.throttle("ec2", 2)

    fleet = await aws_gateway.describe_fleet(EAST)

    assert len(fleet) == 1
    assert aws_gateway.request_counts["DescribeInstances"] == 3  # 2 throttled + 1 answered


async def test_throttling_beyond_the_attempts_raises_throttled_error(aws_gateway, moto):
    moto.faults.throttle("ec2", 5)

    with pytest.raises(AwsThrottledError) as caught:
        await aws_gateway.describe_fleet(WEST)

    assert str(caught.value) == "us-west-2: throttled by AWS after 3 attempts (DescribeInstances)"
    assert caught.value.region == WEST
    assert caught.value.operation == "DescribeInstances"
    assert aws_gateway.request_counts["DescribeInstances"] == 3  # total_max_attempts
    assert moto.request_counts[("ec2", "DescribeInstances")] == 3


async def test_cloudwatch_json_throttling_is_retried_and_then_typed(aws_gateway, moto):
    moto.faults.throttle("cloudwatch", 1)
    assert await aws_gateway.cpu_utilization(EAST, ["i-0000000000000000a"]) == {}
    assert aws_gateway.request_counts["GetMetricData"] == 2

    moto.faults.throttle("cloudwatch", None)
    with pytest.raises(AwsThrottledError, match=r"after 3 attempts \(GetMetricData\)"):
        await aws_gateway.cpu_utilization(EAST, ["i-0000000000000000a"])
    assert aws_gateway.request_counts["GetMetricData"] == 5


async def test_server_errors_after_retries_make_the_region_unavailable(aws_gateway, moto):
    moto.faults.server_error("ec2", None)

    with pytest.raises(AwsUnreachableError, match="us-east-1: AWS service unavailable"):
        await aws_gateway.describe_fleet(EAST)
    assert aws_gateway.request_counts["DescribeInstances"] == 3


async def test_read_timeout_is_retried_then_reported_unreachable(gateway_config, aws_session, moto):
    gateway = AwsGateway(_with_aws(gateway_config, read_timeout_seconds=0.3), session=aws_session)
    try:
        moto.faults.slow("ec2", seconds=1.0, count=1)
        assert await gateway.describe_fleet(EAST) == []
        assert gateway.request_counts["DescribeInstances"] == 2  # one timed out, one answered

        moto.faults.slow("ec2", seconds=1.0, count=None)
        with pytest.raises(AwsUnreachableError, match="timed out") as caught:
            await gateway.describe_fleet(EAST)
    finally:
        moto.faults.clear()
        await gateway.close()
    assert "after 3 attempts (DescribeInstances)" in str(caught.value)
    assert gateway.request_counts["DescribeInstances"] == 5


async def test_dead_region_endpoint_fails_alone(gateway_config, aws_session, aws_gateway):
    await aws_gateway.create_instance(EAST, "w-live", "live")
    dead = AwsGateway(
        _with_aws(gateway_config, endpoint_url=_closed_port_url()), session=aws_session
    )
    try:
        live_fleet, dead_result = await asyncio.gather(
            aws_gateway.describe_fleet(EAST), dead.describe_fleet(WEST), return_exceptions=True
        )
    finally:
        await dead.close()

    assert [dto.state for dto in live_fleet] == [CMLWorkerStatus.RUNNING]
    assert isinstance(dead_result, AwsUnreachableError)
    assert str(dead_result).startswith("us-west-2: cannot reach")
    assert dead.request_counts["DescribeInstances"] == 3  # connection errors are retried too


async def test_failing_region_does_not_stop_the_other_in_one_gateway(aws_gateway, moto):
    await aws_gateway.create_instance(EAST, "w-e", "e")
    moto.faults.server_error("ec2", None, region=WEST)

    east, west = await asyncio.gather(
        aws_gateway.describe_fleet(EAST), aws_gateway.describe_fleet(WEST), return_exceptions=True
    )

    assert len(east) == 1
    assert isinstance(west, AwsUnreachableError) and west.region == WEST


async def test_access_denied_on_one_action_names_it(aws_gateway, moto):
    worker = await aws_gateway.create_instance(EAST, "w-d", "d")
    moto.faults.deny("ec2", "StopInstances")

    with pytest.raises(AwsAccessDeniedError) as caught:
        await aws_gateway.stop_instance(EAST, worker.aws_instance_id)

    assert caught.value.operation == "StopInstances"
    assert "ec2:StopInstances" in str(caught.value)
    assert aws_gateway.request_counts["StopInstances"] == 1  # not retried
    # Other operations still work, and the instance was not stopped.
    [still] = await aws_gateway.describe_fleet(EAST)
    assert still.state is CMLWorkerStatus.RUNNING

    moto.faults.deny("cloudwatch", "GetMetricData")
    with pytest.raises(AwsAccessDeniedError, match="cloudwatch:GetMetricData"):
        await aws_gateway.cpu_utilization(EAST, [worker.aws_instance_id])


async def test_expired_credentials_raise_credentials_error(aws_gateway, moto):
    moto.faults.expired_credentials()

    with pytest.raises(AwsCredentialsError, match="us-east-1: AWS credentials expired"):
        await aws_gateway.describe_fleet(EAST)
    with pytest.raises(AwsCredentialsError, match="ExpiredToken"):
        await aws_gateway.cpu_utilization(EAST, ["i-0000000000000000a"])


async def test_missing_credentials_raise_credentials_error_without_a_request(
    gateway_config, monkeypatch, tmp_path
):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    gateway = AwsGateway(gateway_config, session=boto3.Session())
    try:
        with pytest.raises(AwsCredentialsError, match="credentials unavailable"):
            await gateway.describe_fleet(EAST)
    finally:
        await gateway.close()
    assert gateway.request_count == 0


async def test_unknown_profile_raises_credentials_error(gateway_config, monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    gateway = AwsGateway(_with_aws(gateway_config, profile="no-such-profile"))
    try:
        with pytest.raises(AwsCredentialsError, match="ProfileNotFound"):
            await gateway.describe_fleet(EAST)
    finally:
        await gateway.close()


async def test_calls_run_off_the_loop_within_the_region_bound(gateway_config, aws_session, moto):
    config = _with_aws(gateway_config, max_concurrent_calls_per_region=2)
    gateway = AwsGateway(config, session=aws_session)
    moto.faults.slow("ec2", seconds=0.3, count=None)
    ticks = 0

    async def tick_while_waiting() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    ticker = asyncio.create_task(tick_while_waiting())
    try:
        fleets = await asyncio.gather(*(gateway.describe_fleet(EAST) for _ in range(5)))
    finally:
        ticker.cancel()
        moto.faults.clear()
        await gateway.close()

    assert fleets == [[]] * 5
    assert ticks > 1  # the event loop kept running while boto3 waited
    assert moto.faults.max_in_flight == 2  # never more than the bound, and it was used
