"""Login, token renewal before exp, one re-login on 401, and refused credentials."""

from __future__ import annotations

import asyncio

import pytest

from cmltui.cml.errors import CmlAuthError
from cmltui.cml.pool import CmlApiClientPool
from cmltui.demo.fake_cml import DEMO_PASSWORD
from cmltui.domain.clock import FrozenClock
from tests.cml.conftest import new_key
from tests.fixtures.cml_fixtures import make_cml_settings


@pytest.fixture
async def frozen_setup(fake_cml, fake_cml_ca_file):
    """A worker and a client sharing one frozen clock (the fake's token exp and the client's
    renewal decision then agree exactly)."""
    clock = FrozenClock()
    key = new_key()
    worker = fake_cml.add_worker(key, clock=clock, token_ttl_seconds=600)
    pool = CmlApiClientPool(
        make_cml_settings(fake_cml_ca_file), password=DEMO_PASSWORD, clock=clock
    )
    client = pool.client_for(key, fake_cml.base_url_for(key))
    yield clock, worker, client
    await pool.aclose()


async def test_token_is_renewed_shortly_before_exp(frozen_setup):
    clock, worker, client = frozen_setup
    await client.system_stats()
    assert worker.login_count == 1
    clock.advance(seconds=500)  # still well before exp (600 s): the token is reused
    await client.system_stats()
    assert worker.login_count == 1
    clock.advance(seconds=80)  # 20 s before exp: inside the renewal margin
    await client.system_stats()
    assert worker.login_count == 2
    # The renewal came before the server refused anything.
    assert worker.counters.responses_by_status[401] == 0


async def test_expired_token_is_renewed_without_a_401(frozen_setup):
    clock, worker, client = frozen_setup
    await client.licensing()
    clock.advance(seconds=3600)
    await client.licensing()
    assert worker.login_count == 2
    assert worker.counters.responses_by_status[401] == 0


async def test_revoked_token_causes_exactly_one_relogin(frozen_setup):
    _clock, worker, client = frozen_setup
    await client.system_stats()
    worker.revoke_tokens()
    stats = await client.system_stats()
    assert stats.cpu_percent is not None
    assert worker.counters.responses_by_status[401] == 1
    assert worker.login_count == 2
    assert client.login_count == 2


async def test_many_concurrent_401s_cause_a_single_login(frozen_setup):
    _clock, worker, client = frozen_setup
    await client.system_stats()
    worker.revoke_tokens()
    results = await asyncio.gather(*(client.licensing() for _ in range(12)))
    assert len(results) == 12
    assert worker.login_count == 2  # the first login and one re-login for all of them
    assert worker.counters.responses_by_status[401] >= 1


async def test_concurrent_first_calls_log_in_once(make_worker):
    worker, client = make_worker(labs=8, running_labs=3)
    await asyncio.gather(client.labs(), client.system_stats(), client.licensing(), client.labs())
    assert worker.login_count == 1


async def test_persisting_401_is_an_auth_error_after_one_relogin(make_worker):
    # Tokens that are already expired when issued: every request answers 401.
    worker, client = make_worker(token_ttl_seconds=0)
    with pytest.raises(CmlAuthError) as caught:
        await client.system_stats()
    assert caught.value.status_code == 401
    assert worker.login_count == 2
    assert worker.counters.requests_by_path["system_stats"] == 2


async def test_bad_password_is_403_and_never_retried(fake_cml, fake_cml_ca_file):
    key = new_key()
    worker = fake_cml.add_worker(key)
    pool = CmlApiClientPool(make_cml_settings(fake_cml_ca_file), password="wrong")
    try:
        client = pool.client_for(key, fake_cml.base_url_for(key))
        with pytest.raises(CmlAuthError) as caught:
            await client.licensing()
        assert caught.value.status_code == 403
        assert "denied" in caught.value.reason.lower()
        assert worker.login_count == 1
        assert worker.counters.requests_by_path["licensing"] == 0
        # system_information needs no login and still works.
        assert (await client.system_information()).ready
    finally:
        await pool.aclose()


async def test_missing_password_is_an_auth_error(fake_cml, fake_cml_ca_file, monkeypatch):
    key = new_key()
    worker = fake_cml.add_worker(key)
    settings = make_cml_settings(fake_cml_ca_file, password_env="CMLTUI_TEST_UNSET_PASSWORD")
    monkeypatch.delenv("CMLTUI_TEST_UNSET_PASSWORD", raising=False)
    pool = CmlApiClientPool(settings)
    try:
        client = pool.client_for(key, fake_cml.base_url_for(key))
        with pytest.raises(CmlAuthError) as caught:
            await client.system_stats()
        assert "CMLTUI_TEST_UNSET_PASSWORD" in caught.value.reason
        assert worker.request_count == 0
        # Setting the variable later is enough: it is read at login.
        monkeypatch.setenv("CMLTUI_TEST_UNSET_PASSWORD", DEMO_PASSWORD)
        assert (await client.system_stats()).running_nodes is not None
    finally:
        await pool.aclose()
