"""Helpers shared by the CML tests (the fixtures themselves live in tests/fixtures)."""

from __future__ import annotations

import itertools

import pytest

from cmltui.cml.client import CmlApiClient
from cmltui.cml.pool import CmlApiClientPool
from cmltui.demo.fake_cml import FakeCmlServer

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
