"""Every fault knob of the fake yields the right typed error from every call, nothing else."""

from __future__ import annotations

import socket

import pytest

from cmltui.cml.errors import (
    CmlBadResponseError,
    CmlError,
    CmlHttpError,
    CmlNotReadyError,
    CmlTimeoutError,
    CmlUnreachableError,
)
from cmltui.cml.pool import CmlApiClientPool
from cmltui.demo.fake_cml import DEMO_LICENSE_TOKEN, DEMO_PASSWORD
from tests.cml.conftest import new_key
from tests.fixtures.cml_fixtures import make_cml_settings

CALLS = {
    "system_information": lambda client: client.system_information(),
    "system_stats": lambda client: client.system_stats(),
    "labs": lambda client: client.labs(),
    "licensing": lambda client: client.licensing(),
    "register_license": lambda client: client.register_license(DEMO_LICENSE_TOKEN),
    "deregister_license": lambda client: client.deregister_license(),
    "new_activity_events": lambda client: client.new_activity_events(),
}

KNOBS = {
    "not_ready_502": ({"not_ready_502": True}, CmlNotReadyError),
    "http_500": ({"http_500": True}, CmlHttpError),
    "malformed_json": ({"malformed_json": True}, CmlBadResponseError),
    "wrong_shape": ({"wrong_shape": True}, CmlBadResponseError),
    "connection_close": ({"connection": "close"}, CmlUnreachableError),
    "connection_reset": ({"connection": "reset"}, CmlUnreachableError),
}

# These calls answer 204 (no JSON), so body faults only reach them through the login.
_BODYLESS = {"register_license", "deregister_license"}


@pytest.mark.parametrize("call_name", list(CALLS))
@pytest.mark.parametrize("knob_name", list(KNOBS))
async def test_fault_knob_gives_typed_error(make_worker, call_name, knob_name):
    knobs, expected = KNOBS[knob_name]
    worker, client = make_worker(licensed=False)
    worker.set_faults(**knobs)
    with pytest.raises(CmlError) as caught:
        await CALLS[call_name](client)
    assert type(caught.value) is expected, caught.value
    assert caught.value.reason
    assert len(caught.value.reason) <= 200
    if expected is CmlHttpError:
        assert caught.value.status_code == 500
    if expected is CmlNotReadyError:
        assert caught.value.status_code == 502


@pytest.mark.parametrize(
    "knob_name", ["malformed_json", "wrong_shape", "http_500", "not_ready_502"]
)
@pytest.mark.parametrize("call_name", sorted(set(CALLS) - _BODYLESS - {"system_information"}))
async def test_fault_on_one_endpoint_after_login(make_worker, call_name, knob_name):
    """A fault on the endpoint itself (the login works) is typed the same way."""
    knobs, expected = KNOBS[knob_name]
    path = {"new_activity_events": "telemetry/events"}.get(call_name, call_name)
    worker, client = make_worker()
    worker.set_faults(only_paths={path}, **knobs)
    with pytest.raises(CmlError) as caught:
        await CALLS[call_name](client)
    assert type(caught.value) is expected
    assert worker.login_count == 1
    # Other endpoints are untouched by the fault.
    assert (await client.system_information()).ready


async def test_client_recovers_once_the_fault_is_gone(make_worker):
    worker, client = make_worker()
    await client.system_stats()
    for knob_name in ("connection_reset", "connection_close", "http_500", "malformed_json"):
        worker.set_faults(**KNOBS[knob_name][0])
        with pytest.raises(CmlError):
            await client.system_stats()
        worker.clear_faults()
        stats = await client.system_stats()
        assert stats.cpu_percent is not None
    assert worker.login_count == 1


async def test_ready_false_is_an_answer_not_an_error(make_worker):
    worker, client = make_worker(ready=True)
    worker.ready = False
    assert (await client.system_information()).ready is False
    worker.ready = True
    assert (await client.system_information()).ready is True


async def test_slow_answer_hits_the_read_timeout(fake_cml, fake_cml_ca_file):
    key = new_key()
    worker = fake_cml.add_worker(key)
    settings = make_cml_settings(fake_cml_ca_file, read_timeout_seconds=0.2)
    pool = CmlApiClientPool(settings, password=DEMO_PASSWORD)
    try:
        client = pool.client_for(key, fake_cml.base_url_for(key))
        worker.set_faults(delay_seconds=0.6)
        for call in (client.system_information, client.system_stats, client.labs):
            with pytest.raises(CmlTimeoutError):
                await call()
    finally:
        await pool.aclose()


async def test_total_timeout_bounds_login_plus_request(fake_cml, fake_cml_ca_file):
    key = new_key()
    worker = fake_cml.add_worker(key)
    # Each answer is within the read timeout, but login + request exceed the total.
    settings = make_cml_settings(
        fake_cml_ca_file, read_timeout_seconds=2.0, total_timeout_seconds=0.5
    )
    pool = CmlApiClientPool(settings, password=DEMO_PASSWORD)
    try:
        client = pool.client_for(key, fake_cml.base_url_for(key))
        worker.set_faults(delay_seconds=0.3)
        with pytest.raises(CmlTimeoutError) as caught:
            await client.licensing()
        assert "0.5" in caught.value.reason
    finally:
        await pool.aclose()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_refused_connection(cml_pool):
    client = cml_pool.client_for("nobody", f"https://127.0.0.1:{_closed_port()}")
    # For system_information a refused connection means "not ready yet" (booting).
    with pytest.raises(CmlNotReadyError):
        await client.system_information()
    for call in (client.system_stats, client.labs, client.licensing, client.new_activity_events):
        with pytest.raises(CmlUnreachableError):
            await call()


async def test_unknown_worker_path_is_an_http_error(fake_cml, cml_pool):
    client = cml_pool.client_for("ghost", fake_cml.base_url_for("not-added"))
    with pytest.raises(CmlHttpError) as caught:
        await client.system_information()
    assert caught.value.status_code == 404
