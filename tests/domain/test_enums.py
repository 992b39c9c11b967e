"""The three enums and the one EC2 state mapping."""

from __future__ import annotations

import pytest

from cmltui.domain.enums import (
    CMLServiceStatus,
    CMLWorkerStatus,
    LicenseStatus,
    status_from_ec2_state,
)


def test_enums_have_every_value_of_the_seed():
    assert {s.name for s in CMLWorkerStatus} == {
        "PENDING",
        "RUNNING",
        "STOPPING",
        "STOPPED",
        "SHUTTING_DOWN",
        "TERMINATED",
        "UNKNOWN",
    }
    assert {s.name for s in CMLServiceStatus} == {"UNAVAILABLE", "STARTING", "AVAILABLE", "ERROR"}
    assert {s.name for s in LicenseStatus} == {
        "UNREGISTERED",
        "REGISTERED",
        "EVALUATION",
        "EXPIRED",
        "INVALID",
    }


@pytest.mark.parametrize(
    ("ec2_state", "expected"),
    [
        ("pending", CMLWorkerStatus.PENDING),
        ("running", CMLWorkerStatus.RUNNING),
        ("stopping", CMLWorkerStatus.STOPPING),
        ("stopped", CMLWorkerStatus.STOPPED),
        ("shutting-down", CMLWorkerStatus.SHUTTING_DOWN),
        ("terminated", CMLWorkerStatus.TERMINATED),
        (" Running ", CMLWorkerStatus.RUNNING),
        ("rebooting", CMLWorkerStatus.UNKNOWN),
        ("", CMLWorkerStatus.UNKNOWN),
        (None, CMLWorkerStatus.UNKNOWN),
    ],
)
def test_status_from_ec2_state(ec2_state, expected):
    assert status_from_ec2_state(ec2_state) is expected
