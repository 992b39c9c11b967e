"""TLS: the pinned CA verifies the fake, a foreign CA fails, verify_tls=false is insecure."""

from __future__ import annotations

import pytest

from cmltui.cml.errors import CmlError, CmlTlsError
from cmltui.cml.pool import CmlApiClientPool
from cmltui.demo.fake_cml import DEMO_PASSWORD, generate_self_signed
from tests.cml.conftest import new_key
from tests.fixtures.cml_fixtures import make_cml_settings


async def _system_information_with(fake_cml, settings):
    key = new_key()
    worker = fake_cml.add_worker(key)
    pool = CmlApiClientPool(settings, password=DEMO_PASSWORD)
    try:
        client = pool.client_for(key, fake_cml.base_url_for(key))
        return pool, worker, await client.system_information()
    finally:
        await pool.aclose()


async def test_pinned_ca_verifies(fake_cml, fake_cml_ca_file):
    pool, _worker, info = await _system_information_with(
        fake_cml, make_cml_settings(fake_cml_ca_file)
    )
    assert info.ready
    assert pool.tls_insecure is False


async def test_certificate_not_matching_the_pinned_ca_is_a_tls_error(fake_cml, tmp_path):
    foreign_ca = generate_self_signed().write_ca_file(tmp_path / "other-ca.pem")
    with pytest.raises(CmlTlsError) as caught:
        await _system_information_with(fake_cml, make_cml_settings(foreign_ca))
    assert "TLS" in caught.value.reason


async def test_default_trust_store_rejects_a_self_signed_controller(fake_cml):
    with pytest.raises(CmlTlsError):
        await _system_information_with(fake_cml, make_cml_settings(None))


async def test_unreadable_ca_bundle_is_a_tls_error_on_each_call(fake_cml, tmp_path):
    settings = make_cml_settings(tmp_path / "missing.pem")
    with pytest.raises(CmlTlsError) as caught:
        await _system_information_with(fake_cml, settings)
    assert "missing.pem" in caught.value.reason


async def test_verify_tls_false_works_and_reports_insecure(fake_cml):
    settings = make_cml_settings(None, verify_tls=False)
    pool, worker, info = await _system_information_with(fake_cml, settings)
    assert info.ready
    assert pool.tls_insecure is True
    assert worker.request_count == 1


async def test_tls_failure_never_leaks_another_exception(fake_cml, tmp_path):
    foreign_ca = generate_self_signed().write_ca_file(tmp_path / "other-ca.pem")
    key = new_key()
    fake_cml.add_worker(key)
    pool = CmlApiClientPool(make_cml_settings(foreign_ca), password=DEMO_PASSWORD)
    try:
        client = pool.client_for(key, fake_cml.base_url_for(key))
        for call in (
            client.system_stats,
            client.labs,
            client.licensing,
            client.deregister_license,
            client.new_activity_events,
        ):
            with pytest.raises(CmlError) as caught:
                await call()
            assert type(caught.value) is CmlTlsError
    finally:
        await pool.aclose()
