"""The one place that maps CML answers onto the domain's service and licence statuses."""

from __future__ import annotations

from cmltui.cml.errors import (
    CmlError,
    CmlNotReadyError,
    CmlTimeoutError,
    CmlTlsError,
    CmlUnreachableError,
)
from cmltui.cml.models import CmlSystemInfo
from cmltui.domain.enums import CMLServiceStatus, LicenseStatus

#: Registration finished and the licence is in use.
_REGISTERED_AUTHORIZATIONS = frozenset({"IN_COMPLIANCE", "AUTHORIZED"})
_EXPIRED = frozenset({"EVAL_EXPIRED", "AUTHORIZATION_EXPIRED", "EXPIRED", "REGISTRATION_EXPIRED"})
_INVALID = frozenset({"FAILED", "OUT_OF_COMPLIANCE", "NOT_AUTHORIZED", "RETRY_IN_PROGRESS"})
_UNREGISTERED = frozenset({"NOT_REGISTERED", "INIT", "IN_PROGRESS"})
#: The authorization of a controller in evaluation mode.
_EVALUATION = "EVAL"


def service_status_for(answer: CmlSystemInfo | BaseException) -> CMLServiceStatus:
    """Status of the CML service from a ``system_information`` result or the error it raised.

    ready -> AVAILABLE; ready false or not ready (502/503/504, refused) -> STARTING;
    unreachable, timeout or TLS failure -> UNAVAILABLE; anything else -> ERROR.
    """
    if isinstance(answer, CmlSystemInfo):
        return CMLServiceStatus.AVAILABLE if answer.ready else CMLServiceStatus.STARTING
    if isinstance(answer, CmlNotReadyError):
        return CMLServiceStatus.STARTING
    if isinstance(answer, CmlUnreachableError | CmlTimeoutError | CmlTlsError):
        return CMLServiceStatus.UNAVAILABLE
    if isinstance(answer, CmlError):
        return CMLServiceStatus.ERROR
    return CMLServiceStatus.ERROR


def _normalised(value: str | None) -> str | None:
    if value is None:
        return None
    cleaned = value.strip().upper().replace(" ", "_")
    return cleaned or None


def license_status_for(
    registration_status: str | None, authorization_status: str | None
) -> LicenseStatus:
    """Licence status from ``licensing.registration.status`` and ``authorization.status``.

    Rules, first match wins:

    1. COMPLETED + IN_COMPLIANCE/AUTHORIZED (or COMPLETED with no authorization) -> REGISTERED
    2. any *_EXPIRED status -> EXPIRED
    3. FAILED, RETRY_IN_PROGRESS, OUT_OF_COMPLIANCE, NOT_AUTHORIZED -> INVALID (so a failed
       registration shows as such even though authorization falls back to EVAL)
    4. EVAL authorization -> EVALUATION: the controller runs in evaluation mode, whether no
       licence is registered (NOT_REGISTERED, INIT, IN_PROGRESS or nothing) or a completed
       registration is not authorized yet
    5. NOT_REGISTERED, INIT, IN_PROGRESS or nothing, without evaluation -> UNREGISTERED
    6. anything else -> INVALID (an unknown string is not assumed to be fine)
    """
    registration = _normalised(registration_status)
    authorization = _normalised(authorization_status)
    statuses = {status for status in (registration, authorization) if status is not None}
    if registration == "COMPLETED" and authorization in _REGISTERED_AUTHORIZATIONS | {None}:
        return LicenseStatus.REGISTERED
    if any(status in _EXPIRED or status.endswith("_EXPIRED") for status in statuses):
        return LicenseStatus.EXPIRED
    if statuses & _INVALID:
        return LicenseStatus.INVALID
    if authorization == _EVALUATION and registration in _UNREGISTERED | {None, "COMPLETED"}:
        return LicenseStatus.EVALUATION
    if registration in _UNREGISTERED | {None} and authorization in _UNREGISTERED | {None}:
        return LicenseStatus.UNREGISTERED
    return LicenseStatus.INVALID
