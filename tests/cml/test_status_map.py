"""The one mapping from CML answers to CMLServiceStatus and LicenseStatus."""

from __future__ import annotations

import pytest

from cmltui.cml.errors import (
    CmlAuthError,
    CmlBadResponseError,
    CmlHttpError,
    CmlNotReadyError,
    CmlTimeoutError,
    CmlTlsError,
    CmlUnreachableError,
)
from cmltui.cml.models import CmlSystemInfo
from cmltui.cml.status_map import license_status_for, service_status_for
from cmltui.domain.enums import CMLServiceStatus, LicenseStatus


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (CmlSystemInfo(version="2.9.0", ready=True), CMLServiceStatus.AVAILABLE),
        (CmlSystemInfo(version="2.9.0", ready=False), CMLServiceStatus.STARTING),
        (CmlNotReadyError("502"), CMLServiceStatus.STARTING),
        (CmlUnreachableError("refused"), CMLServiceStatus.UNAVAILABLE),
        (CmlTimeoutError("slow"), CMLServiceStatus.UNAVAILABLE),
        (CmlTlsError("bad cert"), CMLServiceStatus.UNAVAILABLE),
        (CmlAuthError("403"), CMLServiceStatus.ERROR),
        (CmlHttpError("500", status_code=500), CMLServiceStatus.ERROR),
        (CmlBadResponseError("junk"), CMLServiceStatus.ERROR),
        (RuntimeError("anything else"), CMLServiceStatus.ERROR),
    ],
)
def test_service_status_for(answer, expected):
    assert service_status_for(answer) is expected


@pytest.mark.parametrize(
    ("registration", "authorization", "expected"),
    [
        ("COMPLETED", "IN_COMPLIANCE", LicenseStatus.REGISTERED),
        ("COMPLETED", "AUTHORIZED", LicenseStatus.REGISTERED),
        ("completed", "in_compliance", LicenseStatus.REGISTERED),
        ("COMPLETED", "EVAL", LicenseStatus.EVALUATION),
        (None, "EVAL", LicenseStatus.EVALUATION),
        ("COMPLETED", "EVAL_EXPIRED", LicenseStatus.EXPIRED),
        ("COMPLETED", "AUTHORIZATION_EXPIRED", LicenseStatus.EXPIRED),
        ("NOT_REGISTERED", "EVAL_EXPIRED", LicenseStatus.EXPIRED),
        ("FAILED", "EVAL", LicenseStatus.INVALID),
        ("RETRY_IN_PROGRESS", "EVAL", LicenseStatus.INVALID),
        ("COMPLETED", "OUT_OF_COMPLIANCE", LicenseStatus.INVALID),
        ("NOT_REGISTERED", "NOT_AUTHORIZED", LicenseStatus.INVALID),
        # Evaluation mode: nothing registered, evaluation active (issue 15 #13).
        ("NOT_REGISTERED", "EVAL", LicenseStatus.EVALUATION),
        ("not registered", "eval", LicenseStatus.EVALUATION),
        ("NOT_REGISTERED", "INIT", LicenseStatus.UNREGISTERED),
        ("IN_PROGRESS", "EVAL", LicenseStatus.EVALUATION),
        ("IN_PROGRESS", "INIT", LicenseStatus.UNREGISTERED),
        ("INIT", None, LicenseStatus.UNREGISTERED),
        (None, None, LicenseStatus.UNREGISTERED),
        ("SOMETHING_NEW", "WHATEVER", LicenseStatus.INVALID),
    ],
)
def test_license_status_for(registration, authorization, expected):
    assert license_status_for(registration, authorization) is expected
