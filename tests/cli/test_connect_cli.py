"""``cmltui connect NAME`` (issue 16 #3): real ``cmltui`` processes against moto's server and the
fake CML, running a stand-in for ssh that writes the arguments it got as JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from cmltui.demo.fleet import write_toml
from tests.cli.helpers import run_cmltui
from tests.fixtures.moto_fixtures import MOTO_REGIONS


def _stand_in(tmp_path: Path, exit_status: int) -> tuple[Path, Path]:
    """A script that records its arguments (and that it ran) and exits ``exit_status``."""
    out = tmp_path / "argv.json"
    script = tmp_path / "stand_in_ssh.py"
    script.write_text(
        "import json, sys\n"
        f"open({str(out)!r}, 'w').write(json.dumps(sys.argv[1:]))\n"
        "print('stand-in connected')\n"
        f"sys.exit({exit_status})\n"
    )
    return script, out


def _config(fleet, tmp_path: Path, command: list[str]) -> Path:
    path = tmp_path / "cli-config.toml"
    document = fleet.config.model_dump(mode="json", exclude_none=True)
    document["cml_worker_username"] = "sysadmin"
    document["connect"] = {"command": command, "prefer_private_ip": True}
    write_toml(path, document)
    return path


def _listed(tmp_path: Path, config: Path) -> dict[str, dict]:
    result = run_cmltui(tmp_path, "list", "--json", config=config)
    assert result.returncode == 0, result.stderr
    return {row["name"]: row for row in json.loads(result.stdout)}


def _private_ip(moto_client, instance_id: str) -> str:
    reply = moto_client("ec2", MOTO_REGIONS[0]).describe_instances(InstanceIds=[instance_id])
    return reply["Reservations"][0]["Instances"][0]["PrivateIpAddress"]


async def test_connect_runs_the_filled_command_and_exits_with_its_status(
    fleet, moto_client, tmp_path
):
    instance_id = await fleet.launch("lab-one; rm -rf ~")
    await fleet.launch("booting-1", ready=False)
    script, out = _stand_in(tmp_path, exit_status=3)
    command = [sys.executable, str(script), "{name}", "{username}@{host}", "{instance_id}"]
    command += ["{region}", "{endpoint}", "--", "{private_ip}"]
    config = _config(fleet, tmp_path, command)

    # Connect refreshes EC2 and CML first: the addresses and CML's state are the current ones.
    result = run_cmltui(tmp_path, "connect", "lab-one; rm -rf ~", config=config)
    assert result.returncode == 3, result.stdout + result.stderr
    rows = _listed(tmp_path, config)
    worker = rows["lab-one; rm -rf ~"]
    assert worker["instance_id"] == instance_id
    # prefer_private_ip: {host} is the private address EC2 gives, not the public one.
    private_ip = _private_ip(moto_client, instance_id)
    assert worker["ssh"] != f"sysadmin@{private_ip}"
    assert json.loads(out.read_text()) == [
        "lab-one; rm -rf ~",  # one argument, as written: no shell ever read it
        f"sysadmin@{private_ip}",
        worker["instance_id"],
        MOTO_REGIONS[0],
        worker["endpoint"],
        "--",
        private_ip,
    ]
    assert "stand-in connected" in result.stdout  # the command had this terminal's output
    program = Path(sys.executable).name
    assert result.stderr.splitlines() == [
        f"cmltui: connecting to lab-one; rm -rf ~: {sys.executable} {script} "
        f"'lab-one; rm -rf ~' sysadmin@{private_ip} {worker['instance_id']} {MOTO_REGIONS[0]} "
        f"{worker['endpoint']} -- {private_ip}",
        f"cmltui: {program} exited with 3",
    ]

    # Refused with the domain's reason: the command never runs.
    out.unlink()
    refused = run_cmltui(tmp_path, "connect", "booting-1", config=config)
    assert refused.returncode == 1
    assert refused.stderr.startswith("cmltui: cannot connect to booting-1: CML is ")
    assert len(refused.stderr.strip().splitlines()) == 1
    assert not out.exists()

    unknown = run_cmltui(tmp_path, "connect", "nobody", config=config)
    assert unknown.returncode == 1
    assert unknown.stderr.strip() == "cmltui: no such worker: nobody"
    assert not out.exists()


async def test_an_ambiguous_name_exits_2_with_the_candidates(fleet, tmp_path):
    first = await fleet.launch("twin", worker_id="w-twin-a")
    second = await fleet.launch("TWIN", region=MOTO_REGIONS[1], worker_id="w-twin-b")
    script, out = _stand_in(tmp_path, exit_status=0)
    config = _config(fleet, tmp_path, [sys.executable, str(script), "{name}"])

    result = run_cmltui(tmp_path, "connect", "twin", config=config)
    assert result.returncode == 2
    assert result.stderr.startswith("cmltui: twin could mean 2 workers")
    assert first in result.stderr and second in result.stderr
    assert not out.exists()
    by_id = run_cmltui(tmp_path, "connect", second, config=config)
    assert by_id.returncode == 0, by_id.stderr
    assert json.loads(out.read_text()) == ["TWIN"]


async def test_a_missing_program_is_one_line_and_exit_2(fleet, tmp_path):
    await fleet.launch("lab-1")
    missing = tmp_path / "no-such-ssh"
    config = _config(fleet, tmp_path, [str(missing), "{username}@{host}"])
    result = run_cmltui(tmp_path, "connect", "lab-1", config=config)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        f"cmltui: cannot run {missing}: no such program (install it or change [connect] command)"
    )
    assert "Traceback" not in result.stderr


def test_an_unknown_placeholder_stops_cmltui_at_load_in_one_line(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('[connect]\ncommand = ["ssh", "{user}@{host}"]\n')
    result = run_cmltui(tmp_path, "connect", "x", config=path)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"cmltui: configuration error: {path}: connect.command must use")
    assert "{user} is not one" in lines[0]
