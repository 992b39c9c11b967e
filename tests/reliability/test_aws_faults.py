"""AWS faults through the controller: each shows on its region only, and clears by itself.

Faults come from the fault-injecting WSGI wrapper in front of moto (``moto.faults``), or for a
dead endpoint from a botocore ``before-send`` handler on a session of the test's own.
"""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError

from cmltui.domain.enums import CMLWorkerStatus
from tests.fixtures.moto_fixtures import MOTO_REGIONS
from tests.reliability.helpers import (
    by_name,
    close_controller,
    controller_with_session,
    errors_by_source,
    with_aws,
)

EAST, WEST = MOTO_REGIONS


async def _two_region_fleet(fleet, moto_client):
    """One running worker per region, plus one in EAST stopped outside cmltui after the first
    refresh (so the next refresh has a change to pick up)."""
    await fleet.launch("east-run")
    east_stop = await fleet.launch("east-stop")
    await fleet.launch("west-run", region=WEST)
    controller = fleet.make_controller()
    await controller.refresh_once()
    assert not controller.current().errors
    moto_client("ec2", EAST).stop_instances(InstanceIds=[east_stop])
    moto_client("ec2", WEST).stop_instances(
        InstanceIds=[by_name(controller)["west-run"].aws_instance_id]
    )
    return controller


async def test_a_short_throttling_burst_is_retried_and_never_shown(fleet, moto_client):
    controller = await _two_region_fleet(fleet, moto_client)
    before = fleet.moto.request_counts[("ec2", "DescribeInstances")]
    fleet.moto.faults.throttle("ec2", 2, action="DescribeInstances", region=EAST)
    await controller.refresh_ec2()
    # 2 throttled + 1 answered in EAST, 1 in WEST: retried inside the call, not shown.
    assert fleet.moto.request_counts[("ec2", "DescribeInstances")] - before == 3 + 1
    assert not controller.current().errors
    assert by_name(controller)["east-stop"].status == CMLWorkerStatus.STOPPED
    assert by_name(controller)["west-run"].status == CMLWorkerStatus.STOPPED


async def test_throttling_past_every_attempt_marks_the_region_throttled_then_clears(
    fleet, moto_client
):
    controller = await _two_region_fleet(fleet, moto_client)
    config = with_aws(fleet.config, total_max_attempts=2)
    await close_controller(fleet, controller)
    controller = fleet.make_controller(config)
    before = fleet.moto.request_counts[("ec2", "DescribeInstances")]
    fleet.moto.faults.throttle("ec2", None, action="DescribeInstances", region=EAST)
    await controller.refresh_ec2()
    errors = errors_by_source(controller)
    assert list(errors) == [EAST]
    assert "throttled by AWS after 2 attempts" in errors[EAST].error
    assert errors[EAST].retry_in_seconds == config.refresh.ec2_seconds
    assert fleet.moto.request_counts[("ec2", "DescribeInstances")] - before == 2 + 1
    # The other region kept refreshing; EAST still shows its stored state.
    workers = by_name(controller)
    assert workers["west-run"].status == CMLWorkerStatus.STOPPED
    assert workers["east-stop"].status == CMLWorkerStatus.RUNNING  # last known
    assert not controller.current().all_regions_failing
    since = errors[EAST].since
    fleet.clock.advance(seconds=30)
    await controller.refresh_ec2()
    assert errors_by_source(controller)[EAST].since == since  # the same outage, not a new one

    fleet.moto.faults.clear()
    await controller.refresh_ec2()
    assert not controller.current().errors
    assert by_name(controller)["east-stop"].status == CMLWorkerStatus.STOPPED


async def test_server_errors_show_service_unavailable_for_that_region_only(fleet, moto_client):
    controller = await _two_region_fleet(fleet, moto_client)
    await close_controller(fleet, controller)
    controller = fleet.make_controller(with_aws(fleet.config, total_max_attempts=2))
    fleet.moto.faults.server_error("ec2", None, region=WEST)
    await controller.refresh_ec2()
    errors = errors_by_source(controller)
    assert list(errors) == [WEST]
    assert "AWS service unavailable (InternalError) after 2 attempts" in errors[WEST].error
    assert by_name(controller)["east-stop"].status == CMLWorkerStatus.STOPPED
    fleet.moto.faults.clear()
    await controller.refresh_ec2()
    assert not controller.current().errors
    assert by_name(controller)["west-run"].status == CMLWorkerStatus.STOPPED


async def test_cloudwatch_answers_past_the_read_timeout_show_a_timeout_for_that_region(
    fleet, moto_client
):
    await fleet.launch("east-run")
    await fleet.launch("west-run", region=WEST)
    # EC2 is read with the usual timeouts (a loaded machine can take over a second), then a
    # controller with a short read timeout works from what was stored: CloudWatch only.
    seeding = fleet.make_controller()
    await seeding.refresh_ec2()
    await seeding.stop()
    controller = fleet.make_controller(
        with_aws(fleet.config, read_timeout_seconds=2.0, total_max_attempts=1)
    )
    await controller.load()
    fleet.moto.faults.slow("cloudwatch", seconds=8, count=None, region=EAST)
    try:
        await controller.refresh_cloudwatch()
    finally:
        fleet.moto.faults.clear()  # releases the held request
    errors = errors_by_source(controller)
    assert list(errors) == [f"{EAST} CloudWatch"]
    assert "timed out (read)" in errors[f"{EAST} CloudWatch"].error
    await controller.refresh_cloudwatch()
    assert not controller.current().errors


async def test_expired_credentials_name_the_fix_and_clear_when_renewed(fleet, moto_client):
    controller = await _two_region_fleet(fleet, moto_client)
    fleet.moto.faults.expired_credentials(region=EAST)
    await controller.refresh_ec2()
    errors = errors_by_source(controller)
    assert list(errors) == [EAST]
    assert "credentials expired or invalid (AuthFailure)" in errors[EAST].error
    assert "aws sso login" in errors[EAST].error
    assert by_name(controller)["west-run"].status == CMLWorkerStatus.STOPPED
    fleet.moto.faults.clear()
    await controller.refresh_ec2()
    assert not controller.current().errors


async def test_missing_credentials_fail_every_region_and_the_stored_fleet_stays_shown(
    fleet, moto_client, monkeypatch
):
    controller = await _two_region_fleet(fleet, moto_client)
    await close_controller(fleet, controller)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    no_credentials = boto3.Session()
    assert no_credentials.get_credentials() is None
    controller = controller_with_session(fleet, no_credentials)
    await controller.refresh_ec2()
    current = controller.current()
    assert current.all_regions_failing
    assert current.from_cache  # nothing fresh: the stored fleet is what is shown
    assert sorted(s.name for s in current.changed) == ["east-run", "east-stop", "west-run"]
    errors = errors_by_source(controller)
    assert set(errors) == {EAST, WEST}
    assert all(
        "AWS credentials unavailable (NoCredentialsError)" in h.error for h in errors.values()
    )


async def test_access_denied_on_get_metric_data_keeps_ec2_updating(fleet, moto_client):
    controller = await _two_region_fleet(fleet, moto_client)
    moto_client("ec2", WEST).start_instances(
        InstanceIds=[by_name(controller)["west-run"].aws_instance_id]
    )
    fleet.moto.faults.deny("cloudwatch", "GetMetricData", region=EAST)
    before_west = fleet.moto.request_counts[("cloudwatch", "GetMetricData")]
    await controller.refresh_once()
    errors = errors_by_source(controller)
    assert list(errors) == [f"{EAST} CloudWatch"]
    assert "access denied for GetMetricData (AccessDenied)" in errors[f"{EAST} CloudWatch"].error
    assert "grant cloudwatch:GetMetricData" in errors[f"{EAST} CloudWatch"].error
    # EC2 still updates in the denied region, and WEST's CloudWatch was asked as usual.
    assert by_name(controller)["east-stop"].status == CMLWorkerStatus.STOPPED
    assert fleet.moto.request_counts[("cloudwatch", "GetMetricData")] - before_west == 2
    fleet.moto.faults.clear()
    await controller.refresh_cloudwatch()
    assert not controller.current().errors


async def test_a_dead_region_endpoint_fails_alone_while_the_other_region_refreshes(
    fleet, moto_client
):
    controller = await _two_region_fleet(fleet, moto_client)
    await close_controller(fleet, controller)
    session = boto3.Session()
    dead = {"on": True}

    def refuse_west(request, **_):
        # A real dead endpoint: botocore gets no connection for WEST's requests.
        auth = request.headers.get("Authorization") or b""
        auth = auth.decode() if isinstance(auth, bytes) else auth
        if dead["on"] and f"/{WEST}/" in auth:
            raise EndpointConnectionError(endpoint_url=f"https://ec2.{WEST}.amazonaws.com")

    session.events.register("before-send.ec2", refuse_west)
    controller = controller_with_session(fleet, session)
    for _ in range(2):  # it keeps failing, cycle after cycle, without blocking EAST
        await controller.refresh_ec2()
        errors = errors_by_source(controller)
        assert list(errors) == [WEST]
        assert f"cannot reach https://ec2.{WEST}.amazonaws.com" in errors[WEST].error
        assert not controller.current().all_regions_failing
        assert by_name(controller)["east-stop"].status == CMLWorkerStatus.STOPPED
    dead["on"] = False
    await controller.refresh_ec2()
    assert not controller.current().errors
    assert by_name(controller)["west-run"].status == CMLWorkerStatus.STOPPED


@pytest.mark.parametrize("fault", ["throttle", "server_error", "expired_credentials"])
async def test_every_region_failing_raises_the_banner_flag_until_one_answers(
    fleet, moto_client, fault
):
    controller = await _two_region_fleet(fleet, moto_client)
    await close_controller(fleet, controller)
    # A new process over the stored file: the fleet it shows comes from the store.
    controller = fleet.make_controller(with_aws(fleet.config, total_max_attempts=1))
    getattr(fleet.moto.faults, fault)(count=None)
    await controller.refresh_ec2()
    current = controller.current()
    assert current.all_regions_failing
    assert current.from_cache
    assert current.last_success_at is None
    assert {h.source for h in current.errors} == {EAST, WEST}
    assert sorted(s.name for s in current.changed) == ["east-run", "east-stop", "west-run"]
    assert by_name(controller)["east-stop"].status == CMLWorkerStatus.RUNNING  # last stored

    fleet.moto.faults.clear()
    await controller.refresh_ec2()
    current = controller.current()
    assert not current.all_regions_failing
    assert not current.from_cache
    assert current.errors == ()
    assert current.last_success_at == fleet.clock()
    assert by_name(controller)["east-stop"].status == CMLWorkerStatus.STOPPED
