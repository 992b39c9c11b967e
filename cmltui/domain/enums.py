"""The seed's three enums, and the one place that maps EC2 instance states onto them."""

from __future__ import annotations

from enum import StrEnum


class CMLWorkerStatus(StrEnum):
    """EC2 instance state of a worker."""

    PENDING = "pending"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    SHUTTING_DOWN = "shutting-down"
    TERMINATED = "terminated"
    UNKNOWN = "unknown"


class CMLServiceStatus(StrEnum):
    """Availability of the CML HTTPS service on a worker."""

    UNAVAILABLE = "unavailable"
    STARTING = "starting"
    AVAILABLE = "available"
    ERROR = "error"


class LicenseStatus(StrEnum):
    """CML licence state of a worker."""

    UNREGISTERED = "unregistered"
    REGISTERED = "registered"
    EVALUATION = "evaluation"
    EXPIRED = "expired"
    INVALID = "invalid"


_EC2_STATE_TO_STATUS: dict[str, CMLWorkerStatus] = {
    "pending": CMLWorkerStatus.PENDING,
    "running": CMLWorkerStatus.RUNNING,
    "stopping": CMLWorkerStatus.STOPPING,
    "stopped": CMLWorkerStatus.STOPPED,
    "shutting-down": CMLWorkerStatus.SHUTTING_DOWN,
    "terminated": CMLWorkerStatus.TERMINATED,
}

#: States in which the instance exists and costs compute money.
BILLABLE_STATUSES = frozenset({CMLWorkerStatus.PENDING, CMLWorkerStatus.RUNNING})
#: Transitional states an operator action shows until EC2 confirms the end state.
TRANSITIONAL_STATUSES = frozenset(
    {CMLWorkerStatus.PENDING, CMLWorkerStatus.STOPPING, CMLWorkerStatus.SHUTTING_DOWN}
)


def status_from_ec2_state(ec2_state_name: str | None) -> CMLWorkerStatus:
    """Map an EC2 ``State.Name`` to a worker status; anything unrecognised is UNKNOWN.

    This is the only place in cmltui that interprets EC2 state names.
    """
    if not ec2_state_name:
        return CMLWorkerStatus.UNKNOWN
    return _EC2_STATE_TO_STATUS.get(ec2_state_name.strip().lower(), CMLWorkerStatus.UNKNOWN)
