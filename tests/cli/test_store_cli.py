"""``cmltui store init`` and ``cmltui store migrate --from tinydb``, as real processes on moto's
server (DynamoDB over HTTP on 127.0.0.1), and the dashboard's headless commands on the table."""

from __future__ import annotations

import json

from cmltui.domain.clock import FrozenClock
from cmltui.domain.enums import CMLWorkerStatus
from cmltui.domain.worker import CMLWorker
from cmltui.store import open_store
from cmltui.store.dynamodb import DynamoDbWorkerRepository
from tests.cli.helpers import DEAD_ENDPOINT, run_cmltui, seed_store, write_config


def _config(tmp_path, endpoint: str, table: str = "team"):
    return write_config(
        tmp_path / "config.toml",
        {
            "regions": ["us-east-1"],
            "data_dir": str(tmp_path / "data"),
            "aws": {"endpoint_url": endpoint, "total_max_attempts": 1},
            "store": {"backend": "dynamodb", "table": table},
        },
    )


def _one_line_usage_error(result) -> str:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_store_init_creates_the_table_then_says_it_exists(tmp_path, moto, moto_client):
    dynamo_client = moto_client("dynamodb")
    config = _config(tmp_path, moto.url)
    first = run_cmltui(tmp_path, "store", "init", config=config)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "created the DynamoDB table team in us-east-1; it is ACTIVE"
    second = run_cmltui(tmp_path, "store", "init", config=config)
    assert second.returncode == 0, second.stderr
    assert "exists already" in second.stdout
    assert dynamo_client.describe_table(TableName="team")["Table"]["TableStatus"] == "ACTIVE"


def test_migrate_twice_copies_each_worker_and_event_once(tmp_path, moto, moto_client):
    dynamo_client = moto_client("dynamodb")
    clock = FrozenClock()
    seed_store(tmp_path / "data", ["alpha", ("beta", CMLWorkerStatus.STOPPED), "gamma"])
    source = open_store(tmp_path / "data", clock=clock)
    try:  # one forgotten worker: its events only
        source.delete("w2", source.get("w2"))
        trail = source.events()
        states = {w.id: w.state for w in source.all_workers()}
    finally:
        source.close()
    config = _config(tmp_path, moto.url)
    assert run_cmltui(tmp_path, "store", "init", config=config).returncode == 0

    first = run_cmltui(tmp_path, "store", "migrate", "--from", "tinydb", config=config)
    assert first.returncode == 0, first.stderr
    assert "workers: 2 copied, 0 already there" in first.stdout
    assert f"events: {len(trail)} copied, 0 already there" in first.stdout
    path = tmp_path / "data" / "cmltui.json"
    again = run_cmltui(
        tmp_path, "store", "migrate", "--from", "tinydb", "--path", str(path), config=config
    )
    assert again.returncode == 0, again.stderr
    assert "workers: 0 copied, 2 already there" in again.stdout
    assert f"events: 0 copied, {len(trail)} already there" in again.stdout

    table = DynamoDbWorkerRepository(dynamo_client, "team", clock=clock)
    assert {w.id: w.state for w in table.all_workers()} == states
    copied = table.events()
    assert sorted(e.id for e in copied) == sorted(e.id for e in trail)  # no duplicate
    for worker_id, state in states.items():
        replayed = CMLWorker.from_events(table.domain_events_for(worker_id), clock=clock)
        assert replayed.state == state
    assert table.get("w2") is None and table.events("w2")

    # The dashboard's commands read the table: the trail as JSON, newest last.
    listed = run_cmltui(tmp_path, "events", "--json", "--limit", "500", config=config)
    assert listed.returncode == 0, listed.stderr
    assert len(json.loads(listed.stdout)) == len(trail)


def test_store_errors_are_one_line_and_exit_2(tmp_path, moto):
    config = _config(tmp_path, moto.url, table="absent")
    no_file = run_cmltui(tmp_path, "store", "migrate", "--from", "tinydb", config=config)
    assert "no TinyDB data file at" in _one_line_usage_error(no_file)
    seed_store(tmp_path / "data", ["alpha"])
    no_table = run_cmltui(tmp_path, "store", "migrate", "--from", "tinydb", config=config)
    assert "absent does not exist (create it: cmltui store init)" in _one_line_usage_error(no_table)
    dead = run_cmltui(tmp_path, "store", "init", config=_config(tmp_path, DEAD_ENDPOINT))
    assert "cannot reach DynamoDB" in _one_line_usage_error(dead)
    bad = run_cmltui(tmp_path, "store", "migrate", "--from", "csv", config=config)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
