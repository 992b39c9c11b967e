"""The headless CLI, end to end: a real cmltui process against moto and the fake CML server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from cmltui.demo.fake_cml import DEMO_LICENSE_TOKEN
from cmltui.demo.fleet import write_toml
from tests.fixtures.moto_fixtures import MOTO_REGIONS


def _write_config(fleet, tmp_path: Path) -> Path:
    path = tmp_path / "cli-config.toml"
    write_toml(path, fleet.config.model_dump(mode="json", exclude_none=True))
    return path


def _cmltui(config_path: Path, *args: str, env: dict[str, str] | None = None):
    return subprocess.run(
        [sys.executable, "-m", "cmltui", "--config", str(config_path), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        check=False,
        stdin=subprocess.DEVNULL,
    )


async def test_refresh_list_actions_events_from_the_command_line(fleet, tmp_path):
    await fleet.launch("cli-a", running_labs=1)
    await fleet.launch("cli-b", region=MOTO_REGIONS[1])
    await fleet.launch("cli-lic", licensed=False)
    config_path = _write_config(fleet, tmp_path)

    refresh = _cmltui(config_path, "refresh", "--json")
    assert refresh.returncode == 0, refresh.stderr
    summary = json.loads(refresh.stdout)
    assert summary["workers_seen"] == 3
    assert summary["aws_requests"] >= 2 * len(MOTO_REGIONS)  # describe + CloudWatch per region
    assert summary["cml_requests"] > 0 and summary["cml_logins"] == 3
    assert summary["errors"] == []

    listing = _cmltui(config_path, "list", "--json")
    assert listing.returncode == 0, listing.stderr
    rows = {row["name"]: row for row in json.loads(listing.stdout)}
    assert rows["cli-a"]["status"] == "running" and rows["cli-a"]["active_labs"] == 1
    assert rows["cli-b"]["region"] == MOTO_REGIONS[1]

    stop = _cmltui(config_path, "stop", "cli-b")
    assert stop.returncode == 0, stop.stderr
    assert "stop: cli-b" in stop.stdout
    refused = _cmltui(config_path, "start", "cli-a")
    assert refused.returncode == 1
    assert "not stopped" in refused.stderr

    no_yes = _cmltui(config_path, "terminate", "cli-b")
    assert no_yes.returncode == 2 and "--yes" in no_yes.stderr
    terminate = _cmltui(config_path, "terminate", "cli-b", "--yes")
    assert terminate.returncode == 0, terminate.stderr

    unknown = _cmltui(config_path, "stop", "nobody")
    assert unknown.returncode == 1 and "no such worker: nobody" in unknown.stderr

    missing_token = _cmltui(config_path, "license", "register", "cli-lic", "--token-env", "NOPE")
    assert missing_token.returncode == 2
    fleet.cml.worker(fleet.cml.worker_keys()[-1]).registration_seconds = 0.0
    register = _cmltui(
        config_path, "license", "register", "cli-lic", env={"CML_LICENSE_TOKEN": DEMO_LICENSE_TOKEN}
    )
    assert register.returncode == 0, register.stderr
    assert DEMO_LICENSE_TOKEN not in register.stdout + register.stderr

    create = _cmltui(config_path, "create", "--name", "cli-new", "--region", MOTO_REGIONS[0])
    assert create.returncode == 0, create.stderr

    events = _cmltui(config_path, "events", "cli-b", "--json")
    assert events.returncode == 0, events.stderr
    trail = json.loads(events.stdout)
    types = [e["type"] for e in trail]
    assert types[0] == "cmltui.worker.created.v1"
    # The later commands' EC2 refresh confirmed the termination, with who asked for it.
    terminated = [e for e in trail if e["type"] == "cmltui.worker.terminated.v1"]
    assert len(terminated) == 1 and terminated[0]["data"]["terminated_by"]
    new_statuses = [
        e["data"]["new_status"] for e in trail if e["type"] == "cmltui.worker.status-updated.v1"
    ]
    assert new_statuses[-4:] == ["stopping", "stopped", "shutting-down", "terminated"]
    opt_out = _cmltui(config_path, "auto-stop", "off", "cli-a")
    assert opt_out.returncode == 0, opt_out.stderr
    rows = {row["name"]: row for row in json.loads(_cmltui(config_path, "list", "--json").stdout)}
    a_events = json.loads(_cmltui(config_path, "events", "cli-a", "--json").stdout)
    policy = [e for e in a_events if e["type"] == "cmltui.worker.idle-policy-updated.v1"]
    assert len(policy) == 1 and policy[0]["data"]["auto_stop_opt_out"] is True
    assert rows["cli-a"]["status"] == "running"
    all_events = json.loads(_cmltui(config_path, "events", "--json").stdout)
    assert all(e["specversion"] == "1.0" and e["subject"] for e in all_events)
    text = _cmltui(config_path, "events")
    assert "cli-new" in text.stdout and "license-updated" in text.stdout


async def test_a_read_only_refresh_never_writes_the_data_file(fleet, tmp_path):
    """Issue 12: `--read-only refresh` used to rewrite the data file."""
    await fleet.launch("viewed")
    config_path = _write_config(fleet, tmp_path)
    first = _cmltui(config_path, "refresh")
    assert first.returncode == 0, first.stderr
    data_file = fleet.config.data_path / "cmltui.json"
    before = data_file.stat()
    content = data_file.read_bytes()
    fleet.cml.worker(next(iter(fleet.cml.worker_keys()))).set_faults(http_500=True)
    viewed = _cmltui(config_path, "--read-only", "refresh", "--json")
    assert viewed.returncode in (0, 1), viewed.stderr
    assert json.loads(viewed.stdout)["workers_seen"] == 1
    after = data_file.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert data_file.read_bytes() == content
