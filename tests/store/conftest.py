"""Store tests: both repositories behind one ``open_any`` factory (the contract tests), and a
DynamoDB table on moto's server (HTTP on 127.0.0.1) for the DynamoDB ones."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.config import Config as BotoConfig

from cmltui.store import open_store
from cmltui.store.dynamodb import DynamoDbWorkerRepository
from cmltui.store.dynamodb_schema import create_table

_tables = itertools.count()


@pytest.fixture
def dynamo_client(moto, aws_session) -> Any:
    """A DynamoDB client on the (reset) moto server, one attempt per call."""
    return aws_session.client(
        "dynamodb",
        region_name="us-east-1",
        endpoint_url=moto.url,
        config=BotoConfig(retries={"mode": "standard", "total_max_attempts": 1}),
    )


@pytest.fixture
def dynamo_table(dynamo_client) -> str:
    """A new, ACTIVE table (the layout ``cmltui store init`` creates)."""
    name = f"cmltui-test-{next(_tables)}"
    assert create_table(dynamo_client, name) is True
    return name


@pytest.fixture(params=["tinydb", "dynamodb"])
def open_any(request, tmp_path, frozen_clock) -> Iterator[Callable[..., Any]]:
    """``open_any(read_only=False)`` -> a repository on ONE shared backing (the same data file,
    or the same table), so a second call is a second process's view of it."""
    opened: list[Any] = []
    if request.param == "tinydb":

        def make(read_only: bool = False) -> Any:
            store = open_store(tmp_path / "data", clock=frozen_clock, read_only=read_only)
            opened.append(store)
            return store

    else:
        client = request.getfixturevalue("dynamo_client")
        table = request.getfixturevalue("dynamo_table")

        def make(read_only: bool = False) -> Any:
            store = DynamoDbWorkerRepository(client, table, clock=frozen_clock, read_only=read_only)
            opened.append(store)
            return store

    make.backend = request.param  # type: ignore[attr-defined]
    yield make
    for store in opened:
        if not store.read_only:
            store.close()


@pytest.fixture
def any_store(open_any) -> Any:
    return open_any()
