"""The few typed errors the AWS gateway raises, each with a message an operator can act on."""

from __future__ import annotations


class AwsError(Exception):
    """Base of every gateway error. ``str(err)`` is short and actionable."""

    def __init__(self, message: str, *, region: str | None = None, operation: str | None = None):
        self.region = region
        self.operation = operation
        super().__init__(message)


class AwsCredentialsError(AwsError):
    """Credentials are missing, expired or invalid."""


class AwsAccessDeniedError(AwsError):
    """IAM refused the named operation."""


class AwsThrottledError(AwsError):
    """AWS kept throttling after every retry."""


class AwsUnreachableError(AwsError):
    """The region's endpoint could not be reached or timed out."""


class AmiNotFoundError(AwsError):
    """No AMI id configured for the region, or no image matches the configured AMI name."""


class CapacityError(AwsError):
    """Insufficient instance capacity, or an instance/vCPU quota was exceeded."""


class InstanceNotFoundError(AwsError):
    """The instance no longer exists."""


class InvalidStateError(AwsError):
    """The instance is in a state that does not allow the operation."""


class AwsRequestError(AwsError):
    """Any other AWS error (the AWS error code is in the message)."""
