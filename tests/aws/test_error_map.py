"""The one botocore -> typed error translation."""

from __future__ import annotations

import pytest
from botocore import exceptions as bce

from cmltui.aws.error_map import map_aws_error
from cmltui.aws.errors import (
    AmiNotFoundError,
    AwsAccessDeniedError,
    AwsCredentialsError,
    AwsError,
    AwsRequestError,
    AwsThrottledError,
    AwsUnreachableError,
    CapacityError,
    InstanceNotFoundError,
    InvalidStateError,
)


def _client_error(code: str, operation: str, *, status: int = 400, retries: int = 0):
    return bce.ClientError(
        {
            "Error": {"Code": code, "Message": f"message for {code}"},
            "ResponseMetadata": {"HTTPStatusCode": status, "RetryAttempts": retries},
        },
        operation,
    )


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("RequestLimitExceeded", AwsThrottledError),
        ("Throttling", AwsThrottledError),
        ("ThrottlingException", AwsThrottledError),
        ("AuthFailure", AwsCredentialsError),
        ("ExpiredToken", AwsCredentialsError),
        ("UnrecognizedClientException", AwsCredentialsError),
        ("RequestExpired", AwsCredentialsError),
        ("AccessDenied", AwsAccessDeniedError),
        ("UnauthorizedOperation", AwsAccessDeniedError),
        ("InvalidAMIID.NotFound", AmiNotFoundError),
        ("InvalidAMIID.Malformed", AmiNotFoundError),
        ("InsufficientInstanceCapacity", CapacityError),
        ("InstanceLimitExceeded", CapacityError),
        ("VcpuLimitExceeded", CapacityError),
        ("InvalidInstanceID.NotFound", InstanceNotFoundError),
        ("IncorrectInstanceState", InvalidStateError),
        ("InvalidParameterValue", AwsRequestError),
    ],
)
def test_client_error_codes_map_to_typed_errors(code, expected):
    err = map_aws_error(_client_error(code, "RunInstances"), region="eu-west-1")

    assert type(err) is expected
    assert err.region == "eu-west-1"
    assert err.operation == "RunInstances"
    assert str(err).startswith("eu-west-1: ")
    assert "RunInstances" in str(err)


def test_throttle_message_counts_attempts_from_retry_metadata():
    err = map_aws_error(
        _client_error("Throttling", "DescribeInstances", retries=2), region="us-west-2"
    )
    assert str(err) == "us-west-2: throttled by AWS after 3 attempts (DescribeInstances)"


def test_access_denied_names_the_iam_action_of_the_service():
    err = map_aws_error(
        _client_error("AccessDenied", "GetMetricData", status=403),
        region="us-east-1",
        service="cloudwatch",
    )
    assert "grant cloudwatch:GetMetricData" in str(err)


def test_unlisted_5xx_is_a_service_outage():
    err = map_aws_error(_client_error("Whatever", "DescribeInstances", status=503), region="r")
    assert isinstance(err, AwsUnreachableError)


@pytest.mark.parametrize(
    ("exc", "expected", "text"),
    [
        (bce.NoCredentialsError(), AwsCredentialsError, "credentials unavailable"),
        (bce.ProfileNotFound(profile="x"), AwsCredentialsError, "ProfileNotFound"),
        (
            bce.EndpointConnectionError(endpoint_url="https://ec2.r.amazonaws.com"),
            AwsUnreachableError,
            "cannot reach https://ec2.r.amazonaws.com",
        ),
        (bce.ConnectTimeoutError(endpoint_url="u"), AwsUnreachableError, "timed out (connect)"),
        (bce.ReadTimeoutError(endpoint_url="u"), AwsUnreachableError, "timed out (read)"),
        (bce.ParamValidationError(report="bad"), AwsRequestError, "failed"),
    ],
)
def test_botocore_exceptions_map_to_typed_errors(exc, expected, text):
    err = map_aws_error(exc, region="r", operation="DescribeInstances", attempts=3)
    assert type(err) is expected
    assert text in str(err)
    assert str(err).endswith("(DescribeInstances)") or expected is AwsRequestError


def test_typed_errors_pass_through_unchanged():
    original = AwsError("r: already typed", region="r")
    assert map_aws_error(original, region="other") is original
