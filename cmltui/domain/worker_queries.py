"""The seed's connection rule, stated once for the aggregate and for its published views.

``can_connect`` (seed): RUNNING, CML service AVAILABLE and an HTTPS endpoint known.
``connect_refusal`` says which of these fails, in words an operator reads on the status line or
in ``cmltui list --json``; the worker is connectable exactly when it returns None.
"""

from __future__ import annotations

from cmltui.domain.enums import CMLServiceStatus, CMLWorkerStatus


def connect_refusal(
    status: CMLWorkerStatus, service_status: CMLServiceStatus, https_endpoint: str | None
) -> str | None:
    """Why a worker in this state cannot be connected to; None when it can."""
    if status == CMLWorkerStatus.UNKNOWN:
        return "its EC2 state is unknown"
    if status != CMLWorkerStatus.RUNNING:
        return f"it is {status}"
    if service_status != CMLServiceStatus.AVAILABLE:
        return f"CML is {service_status}, not available"
    if not https_endpoint:
        return "it has no endpoint yet"
    return None
