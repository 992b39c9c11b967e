"""Licence registration (success, invalid token, time limit, 409/400) and deregistration."""

from __future__ import annotations

import pytest

from cmltui.cml.pool import CmlApiClientPool
from cmltui.demo.fake_cml import DEMO_LICENSE_TOKEN, DEMO_PASSWORD
from cmltui.domain.enums import LicenseStatus
from tests.cml.conftest import new_key
from tests.fixtures.cml_fixtures import make_cml_settings


async def test_register_valid_token_polls_until_registered(make_worker):
    worker, client = make_worker(licensed=False, registration_seconds=0.3)
    result = await client.register_license(DEMO_LICENSE_TOKEN)
    assert result.outcome == "registered"
    assert result.licensing is not None
    assert result.licensing.license_status is LicenseStatus.REGISTERED
    assert result.licensing.registration_expires is not None
    # It was IN_PROGRESS for a while: the client polled more than once.
    assert worker.counters.requests_by_path["licensing"] >= 2
    assert worker.licence_state() == ("COMPLETED", "IN_COMPLIANCE")


async def test_register_invalid_token_fails_with_cml_reason(make_worker):
    _worker, client = make_worker(licensed=False, registration_seconds=0.1)
    result = await client.register_license("NOT-A-REAL-TOKEN")
    assert result.outcome == "failed"
    assert "'NOT-A-REAL-TOKEN' is not valid" in result.reason
    assert result.licensing.registration_status == "FAILED"
    assert result.licensing.license_status is LicenseStatus.INVALID


async def test_register_that_never_completes_times_out(fake_cml, fake_cml_ca_file):
    key = new_key()
    worker = fake_cml.add_worker(key, licensed=False, registration_seconds=0.1)
    worker.set_faults(registration_never_completes=True)
    settings = make_cml_settings(
        fake_cml_ca_file, license_timeout_seconds=0.5, license_poll_seconds=0.05
    )
    pool = CmlApiClientPool(settings, password=DEMO_PASSWORD)
    try:
        client = pool.client_for(key, fake_cml.base_url_for(key))
        result = await client.register_license(DEMO_LICENSE_TOKEN)
        assert result.outcome == "timeout"
        assert "IN_PROGRESS" in result.reason
        assert result.licensing.registration_status == "IN_PROGRESS"
        assert result.licensing.license_status is LicenseStatus.UNREGISTERED
        # While a registration is in flight, deregistration is refused as busy.
        busy = await client.deregister_license()
        assert (busy.outcome, busy.status_code) == ("busy", 409)
    finally:
        await pool.aclose()


async def test_register_when_already_registered_is_409_failure(make_worker):
    worker, client = make_worker(licensed=True)
    result = await client.register_license(DEMO_LICENSE_TOKEN)
    assert result.outcome == "failed"
    assert "already registered" in result.reason
    assert worker.counters.responses_by_status[409] == 1
    # No polling after a refused POST.
    assert worker.counters.requests_by_path["licensing"] == 0


async def test_register_with_empty_token_is_400_failure(make_worker):
    worker, client = make_worker(licensed=False)
    result = await client.register_license("")
    assert result.outcome == "failed"
    assert "token" in result.reason
    assert worker.counters.responses_by_status[400] == 1


async def test_deregister_204_then_second_is_400(make_worker):
    worker, client = make_worker(licensed=True)
    first = await client.deregister_license()
    assert (first.outcome, first.status_code) == ("deregistered", 204)
    assert worker.licence_state() == ("NOT_REGISTERED", "INIT")
    assert (await client.licensing()).license_status is LicenseStatus.UNREGISTERED
    second = await client.deregister_license()
    assert (second.outcome, second.status_code) == ("not-registered", 400)
    assert "not registered" in second.reason


async def test_deregister_202_is_local_only(make_worker):
    worker, client = make_worker(licensed=True)
    worker.set_faults(deregister_202=True)
    result = await client.deregister_license()
    assert (result.outcome, result.status_code) == ("local-only", 202)
    assert worker.licence_state()[0] == "NOT_REGISTERED"


async def test_register_again_after_deregistration(make_worker):
    _worker, client = make_worker(licensed=True, registration_seconds=0.1)
    await client.deregister_license()
    result = await client.register_license(DEMO_LICENSE_TOKEN)
    assert result.outcome == "registered"


@pytest.mark.parametrize("token", ["bad-token", DEMO_LICENSE_TOKEN])
async def test_registration_outcome_depends_only_on_token(make_worker, token):
    _worker, client = make_worker(licensed=False, registration_seconds=0.05)
    result = await client.register_license(token)
    assert result.outcome == ("registered" if token == DEMO_LICENSE_TOKEN else "failed")
