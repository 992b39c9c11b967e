"""``cmltui list --status/--idle/--available`` and the seed's queries in its JSON rows (issue 15
#14): real ``cmltui`` processes over a store filled from moto's server and the fake CML."""

from __future__ import annotations

import json
from pathlib import Path

from cmltui.demo.fleet import write_toml
from cmltui.domain.enums import CMLServiceStatus, CMLWorkerStatus
from tests.cli.helpers import run_cmltui


def _config(fleet, tmp_path: Path) -> Path:
    path = tmp_path / "cli-config.toml"
    document = fleet.config.model_dump(mode="json", exclude_none=True)
    document["cml_worker_username"] = "sysadmin"
    document["refresh"]["cml_full_read_cycles"] = 1
    write_toml(path, document)
    return path


def _names(tmp_path: Path, config: Path, *flags: str) -> list[str]:
    result = run_cmltui(tmp_path, "list", "--json", *flags, config=config)
    assert result.returncode == 0, result.stdout + result.stderr
    return [row["name"] for row in json.loads(result.stdout)]


async def test_list_filters_and_rows_follow_the_seed_queries(fleet, tmp_path):
    # Two hours ago: the workers were created and their labs last active then, so those with no
    # running lab are idle now for the CLI process, which runs on the real clock.
    fleet.clock.advance(hours=-2)
    await fleet.launch("idle-1", running_labs=0)
    await fleet.launch("busy-1", running_labs=1)
    await fleet.launch("booting-1", ready=False)
    await fleet.launch("halted-1", running_labs=0)
    controller = fleet.make_controller(fleet.config.model_copy(update={"cml_worker_username": "x"}))
    await controller.load()
    await controller.refresh_once()
    await controller.stop_workers([controller.find("halted-1").id])
    for _ in range(20):
        await controller.refresh_ec2()
        if controller.find("halted-1").state.status == CMLWorkerStatus.STOPPED:
            break
    await controller.stop()
    assert controller.find("booting-1").state.service_status != CMLServiceStatus.AVAILABLE
    config = _config(fleet, tmp_path)

    result = run_cmltui(tmp_path, "list", "--json", config=config)
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert set(rows) == {"idle-1", "busy-1", "booting-1", "halted-1"}
    assert {name: row["is_idle"] for name, row in rows.items()} == {
        "idle-1": True,
        "busy-1": False,  # a lab runs
        "booting-1": False,  # CML never answered: no activity seen, so not idle (seed rule)
        "halted-1": False,  # stopped: idle is about running workers
    }
    assert {name: row["can_connect"] for name, row in rows.items()} == {
        "idle-1": True,
        "busy-1": True,
        "booting-1": False,
        "halted-1": False,
    }
    assert rows["idle-1"]["connect_refusal"] is None
    assert rows["halted-1"]["connect_refusal"] == "it is stopped"
    assert rows["booting-1"]["connect_refusal"].startswith("CML is ")
    # cml_worker_username of the config this process read, at the worker's address.
    state = controller.find("idle-1").state
    assert rows["idle-1"]["ssh"] == f"sysadmin@{state.public_ip or state.private_ip}"

    assert _names(tmp_path, config, "--idle") == ["idle-1"]
    assert _names(tmp_path, config, "--available") == ["busy-1", "idle-1"]
    assert _names(tmp_path, config, "--idle", "--available") == ["idle-1"]
    assert _names(tmp_path, config, "--status", "stopped") == ["halted-1"]
    assert _names(tmp_path, config, "--status", "running") == ["booting-1", "busy-1", "idle-1"]
    assert _names(tmp_path, config, "--status", "stopped", "--idle") == []
    assert _names(tmp_path, config, "--status", "terminated") == []

    table = run_cmltui(tmp_path, "list", "--available", config=config)
    assert table.returncode == 0
    lines = table.stdout.splitlines()
    assert lines[0].startswith("NAME") and [line.split()[0] for line in lines[1:]] == [
        "busy-1",
        "idle-1",
    ]

    wrong = run_cmltui(tmp_path, "list", "--status", "asleep", config=config)
    assert wrong.returncode == 2
    assert "invalid choice: 'asleep'" in wrong.stderr and "stopped" in wrong.stderr
    assert "Traceback" not in wrong.stderr
