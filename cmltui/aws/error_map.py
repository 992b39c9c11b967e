"""The one translation from botocore exceptions to the gateway's typed errors.

Every message is short, names the region and the operation, and says what to do.
"""

from __future__ import annotations

from botocore import exceptions as bce

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
from cmltui.domain.plural import plural

CREDENTIAL_CODES = frozenset(
    {
        "AuthFailure",
        "ExpiredToken",
        "ExpiredTokenException",
        "RequestExpired",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "SignatureDoesNotMatch",
        "IncompleteSignature",
        "InvalidAccessKeyId",
        "MissingAuthenticationToken",
        "InvalidToken",
        "MissingAuthenticationTokenException",
    }
)
ACCESS_DENIED_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "Blocked",
        "OptInRequired",
    }
)
THROTTLING_CODES = frozenset(
    {
        "RequestLimitExceeded",
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "SlowDown",
        "EC2ThrottledException",
        "PriorRequestNotComplete",
        "BandwidthLimitExceeded",
    }
)
SERVER_ERROR_CODES = frozenset(
    {
        "InternalError",
        "InternalFailure",
        "ServiceUnavailable",
        "Unavailable",
        "ServiceUnavailableException",
        "InternalServiceError",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)
CAPACITY_CODES = frozenset(
    {
        "InsufficientInstanceCapacity",
        "InstanceLimitExceeded",
        "VcpuLimitExceeded",
        "InsufficientHostCapacity",
        "InsufficientReservedInstanceCapacity",
        "InsufficientAddressCapacity",
        "InsufficientCapacity",
        "MaxSpotInstanceCountExceeded",
    }
)
INSTANCE_NOT_FOUND_CODES = frozenset({"InvalidInstanceID.NotFound", "InvalidInstanceID.Malformed"})
INVALID_STATE_CODES = frozenset({"IncorrectInstanceState", "IncorrectState"})

_CREDENTIAL_EXCEPTIONS = (
    bce.NoCredentialsError,
    bce.PartialCredentialsError,
    bce.CredentialRetrievalError,
    bce.ProfileNotFound,
    bce.TokenRetrievalError,
    bce.SSOError,
    bce.UnauthorizedSSOTokenError,
)
_TIMEOUT_EXCEPTIONS = (bce.ConnectTimeoutError, bce.ReadTimeoutError)
_CONNECTION_EXCEPTIONS = (
    bce.EndpointConnectionError,
    bce.ConnectionClosedError,
    bce.ConnectionError,
    bce.HTTPClientError,
)

#: The IAM prefix of each boto3 service, for "grant ec2:StopInstances" hints.
_IAM_PREFIX = {"ec2": "ec2", "cloudwatch": "cloudwatch", "monitoring": "cloudwatch"}


def _attempts_text(attempts: int | None) -> str:
    if not attempts or attempts <= 1:
        return ""
    return f" after {plural(attempts, 'attempt')}"


def map_aws_error(
    err: Exception,
    *,
    region: str,
    operation: str | None = None,
    service: str = "ec2",
    attempts: int | None = None,
) -> AwsError:
    """Translate ``err`` (a botocore exception) into one of the typed ``AwsError``s.

    ``attempts`` is how many HTTP requests the failing call sent (retries included), when the
    caller counted them; for a ``ClientError`` the response's ``RetryAttempts`` is used.
    """
    if isinstance(err, AwsError):
        return err
    if isinstance(err, bce.ClientError):
        return _map_client_error(err, region=region, operation=operation, service=service)
    op = operation or "AWS call"
    where = {"region": region, "operation": op}
    if isinstance(err, _CREDENTIAL_EXCEPTIONS):
        return AwsCredentialsError(
            f"{region}: AWS credentials unavailable ({type(err).__name__}); set a profile, "
            f"AWS_* variables or run 'aws sso login' ({op})",
            **where,
        )
    if isinstance(err, _TIMEOUT_EXCEPTIONS):
        kind = "connect" if isinstance(err, bce.ConnectTimeoutError) else "read"
        return AwsUnreachableError(
            f"{region}: AWS endpoint timed out ({kind}){_attempts_text(attempts)} ({op})", **where
        )
    if isinstance(err, _CONNECTION_EXCEPTIONS):
        endpoint = getattr(err, "kwargs", {}).get("endpoint_url") or "endpoint"
        return AwsUnreachableError(
            f"{region}: cannot reach {endpoint}{_attempts_text(attempts)}; check network, "
            f"proxy or endpoint_url ({op})",
            **where,
        )
    if isinstance(err, bce.BotoCoreError):
        return AwsRequestError(f"{region}: {op} failed: {err}", **where)
    return AwsRequestError(f"{region}: {op} failed: {type(err).__name__}: {err}", **where)


def _map_client_error(
    err: bce.ClientError, *, region: str, operation: str | None, service: str
) -> AwsError:
    error = err.response.get("Error", {})
    code = str(error.get("Code") or "Unknown")
    aws_message = str(error.get("Message") or "").strip()
    op = err.operation_name or operation or "AWS call"
    retry_attempts = err.response.get("ResponseMetadata", {}).get("RetryAttempts", 0) or 0
    attempts = int(retry_attempts) + 1
    where = {"region": region, "operation": op}

    if code in THROTTLING_CODES:
        return AwsThrottledError(
            f"{region}: throttled by AWS after {plural(attempts, 'attempt')} ({op})", **where
        )
    if code in CREDENTIAL_CODES:
        return AwsCredentialsError(
            f"{region}: AWS credentials expired or invalid ({code}); refresh them, e.g. "
            f"'aws sso login' ({op})",
            **where,
        )
    if code in ACCESS_DENIED_CODES:
        action = f"{_IAM_PREFIX.get(service, service)}:{op}"
        return AwsAccessDeniedError(
            f"{region}: access denied for {op} ({code}); grant {action} to this identity",
            **where,
        )
    if code.startswith("InvalidAMIID"):
        return AmiNotFoundError(
            f"{region}: AMI not found ({code}: {aws_message}); check cml_worker_ami_ids / "
            f"cml_worker_ami_names ({op})",
            **where,
        )
    if code in CAPACITY_CODES:
        return CapacityError(
            f"{region}: {code}: {aws_message or 'no capacity'}; try another instance type or "
            f"zone, or ask for a quota increase ({op})",
            **where,
        )
    if code in INSTANCE_NOT_FOUND_CODES:
        return InstanceNotFoundError(
            f"{region}: instance not found ({aws_message or code}) ({op})", **where
        )
    if code in INVALID_STATE_CODES:
        return InvalidStateError(
            f"{region}: instance state does not allow {op} ({aws_message or code})", **where
        )
    status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
    if code in SERVER_ERROR_CODES or int(status) >= 500:
        return AwsUnreachableError(
            f"{region}: AWS service unavailable ({code})"
            f" after {plural(attempts, 'attempt')} ({op})",
            **where,
        )
    detail = f"{code}: {aws_message}" if aws_message else code
    return AwsRequestError(f"{region}: {op} failed ({detail})", **where)
