"""Helpers shared by the CML tests (the fixtures themselves live in tests/fixtures)."""

from __future__ import annotations

import itertools
import ssl

import httpx
import pytest

from cmltui.cml.client import CmlApiClient
from cmltui.cml.pool import CmlApiClientPool
from cmltui.demo.fake_cml import DEMO_PASSWORD, DEMO_USERNAME, FakeCmlServer

_keys = itertools.count(1)


def new_key(prefix: str = "w") -> str:
    """A worker key never used before in this session (clients are cached per key)."""
    return f"{prefix}-{next(_keys)}"


@pytest.fixture
def make_worker(fake_cml: FakeCmlServer, cml_pool: CmlApiClientPool):
    """``make_worker(**add_worker_kwargs) -> (fake worker, client)`` on a fresh key."""

    def make(**kwargs) -> tuple:
        key = new_key()
        worker = fake_cml.add_worker(key, **kwargs)
        client: CmlApiClient = cml_pool.client_for(key, fake_cml.base_url_for(key))
        return worker, client

    return make


@pytest.fixture
def ssl_context(fake_cml_ca_file):
    return ssl.create_default_context(cafile=str(fake_cml_ca_file))


@pytest.fixture
async def raw(fake_cml, ssl_context):
    """``raw(**add_worker_kwargs) -> (worker, httpx client on its /api/v0/, auth headers)``."""
    opened: list[httpx.AsyncClient] = []

    async def make(**kwargs):
        key = new_key("raw")
        worker = fake_cml.add_worker(key, **kwargs)
        http = httpx.AsyncClient(
            base_url=fake_cml.base_url_for(key) + "/api/v0/", verify=ssl_context
        )
        opened.append(http)
        login = await http.post(
            "authenticate", json={"username": DEMO_USERNAME, "password": DEMO_PASSWORD}
        )
        assert login.status_code == 200
        return worker, http, {"Authorization": f"Bearer {login.json()}"}

    yield make
    for http in opened:
        await http.aclose()
