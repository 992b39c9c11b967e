"""Parsing of CML bodies: lenient where versions differ, typed errors for wrong shapes."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from cmltui.cml.errors import CmlBadResponseError
from cmltui.cml.wire import (
    error_reason,
    parse_licensing,
    parse_system_info,
    parse_system_stats,
    token_times,
)
from cmltui.domain.enums import LicenseStatus


def test_missing_stats_are_unknown_not_zero():
    stats = parse_system_stats({"computes": {}})
    assert stats.cpu_percent is None
    assert stats.memory_used_bytes is None
    assert stats.memory_percent is None
    assert stats.running_nodes is None
    partial = parse_system_stats(
        {
            "all": {"cpu": {"percent": 0.0}, "memory": {"total": 100, "used": 25}},
            "computes": {"c1": {"stats": {"dominfo": {"running_nodes": 3}}}, "c2": {}},
        }
    )
    assert partial.cpu_percent == 0.0
    assert partial.memory_percent == 25.0
    assert partial.disk_total_bytes is None
    assert partial.running_nodes == 3


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"all": {"cpu": {"percent": "busy"}}},
        {"all": {"cpu": {"percent": 150}}},
        {"computes": ["not", "a", "map"]},
    ],
)
def test_wrong_stats_shapes_are_bad_responses(body):
    with pytest.raises(CmlBadResponseError):
        parse_system_stats(body)


def test_system_info_ignores_unknown_keys_and_requires_version():
    info = parse_system_info({"version": "2.11.0", "ready": True, "features": ["x"], "timeout": 5})
    assert (info.version, info.ready, info.version_supported) == ("2.11.0", True, False)
    with pytest.raises(CmlBadResponseError):
        parse_system_info({"ready": True})


def test_old_licensing_shape_with_string_udi_and_space_timestamps():
    licensing = parse_licensing(
        {
            "udi": "cml-controller-udi",
            "registration": {
                "status": "COMPLETED",
                "expires": "2021-06-10 20:17:39",
                "register_time": {"failure": None},
            },
            "authorization": {"status": "IN_COMPLIANCE", "expires": "garbage"},
        }
    )
    assert licensing.registration_expires == datetime(2021, 6, 10, 20, 17, 39, tzinfo=UTC)
    assert licensing.authorization_expires is None
    assert licensing.product_license is None
    assert licensing.license_status is LicenseStatus.REGISTERED


def test_error_reason_stringifies_a_non_string_description():
    response = httpx.Response(400, json={"code": 400, "description": {"detail": "bad"}})
    assert error_reason(response) == '{"detail": "bad"}'
    html = httpx.Response(502, html="<html>Bad Gateway</html>")
    assert error_reason(html) == "Bad Gateway"


def test_token_times_without_exp():
    assert token_times("not-a-jwt") == (None, None)
    assert token_times("e30.e30.sig") == (None, None)  # {} payload
