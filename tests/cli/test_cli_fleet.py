"""Exit codes and refusals of real ``cmltui`` processes against moto's server and the fake CML.

Each test checks what reached AWS too: a refused command leaves every instance as it was.
"""

from __future__ import annotations

import json
from pathlib import Path

from cmltui.demo.fleet import write_toml
from cmltui.store import DATA_FILE_NAME
from tests.cli.helpers import immutable, run_cmltui
from tests.fixtures.cml_fixtures import CML_TEST_PASSWORD_ENV
from tests.fixtures.moto_fixtures import MOTO_REGIONS


def _config(fleet, tmp_path: Path) -> Path:
    path = tmp_path / "cli-config.toml"
    write_toml(path, fleet.config.model_dump(mode="json", exclude_none=True))
    return path


def _state(moto_client, instance_id: str, region: str = MOTO_REGIONS[0]) -> str:
    reply = moto_client("ec2", region).describe_instances(InstanceIds=[instance_id])
    return reply["Reservations"][0]["Instances"][0]["State"]["Name"]


async def test_refresh_exits_1_when_a_region_fails_and_still_prints_the_summary(fleet, tmp_path):
    await fleet.launch("east-1")
    await fleet.launch("west-1", region=MOTO_REGIONS[1])
    config = _config(fleet, tmp_path)
    fleet.moto.faults.deny("ec2", "DescribeInstances", region=MOTO_REGIONS[1])

    text = run_cmltui(tmp_path, "refresh", config=config)
    assert text.returncode == 1, text.stdout + text.stderr
    assert "workers_seen: 1" in text.stdout and "errors: 1" in text.stdout
    assert MOTO_REGIONS[1] in text.stderr and MOTO_REGIONS[1] not in text.stdout
    assert "Traceback" not in text.stderr

    as_json = run_cmltui(tmp_path, "refresh", "--json", config=config)
    assert as_json.returncode == 1
    summary = json.loads(as_json.stdout)
    assert len(summary["errors"]) == 1 and MOTO_REGIONS[1] in summary["errors"][0]

    listing = run_cmltui(tmp_path, "list", "--refresh", config=config)
    assert listing.returncode == 1
    assert "east-1" in listing.stdout and MOTO_REGIONS[1] in listing.stderr

    fleet.moto.faults.clear()
    healthy = run_cmltui(tmp_path, "refresh", config=config)
    assert healthy.returncode == 0, healthy.stderr
    assert "workers_seen: 2" in healthy.stdout and "errors: 0" in healthy.stdout
    assert healthy.stderr == ""


async def test_refresh_exits_1_when_cml_logins_fail(fleet, tmp_path):
    await fleet.launch("lab-a")
    await fleet.launch("lab-b")
    config = _config(fleet, tmp_path)
    result = run_cmltui(
        tmp_path, "refresh", config=config, env={CML_TEST_PASSWORD_ENV: "not-the-password"}
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "workers_seen: 2" in result.stdout and "errors: 2" in result.stdout
    errors = result.stderr.splitlines()
    assert len(errors) == 2 and all("cml:lab-" in line for line in errors), errors
    assert "not-the-password" not in result.stdout + result.stderr


async def test_stop_of_an_ambiguous_name_stops_nothing_and_lists_the_candidates(
    fleet, tmp_path, moto_client
):
    first = await fleet.launch("dup", worker_id="seed-dup-1")
    second = await fleet.launch("dup", region=MOTO_REGIONS[1], worker_id="seed-dup-2")
    config = _config(fleet, tmp_path)
    run_cmltui(tmp_path, "refresh", config=config)
    rows = json.loads(run_cmltui(tmp_path, "list", "--json", config=config).stdout)
    assert sorted(r["instance_id"] for r in rows if r["name"] == "dup") == sorted([first, second])

    stop = run_cmltui(tmp_path, "stop", "dup", config=config)

    assert stop.returncode == 2, stop.stdout + stop.stderr
    assert "could mean 2 workers" in stop.stderr
    assert f"instance {first}" in stop.stderr and f"instance {second}" in stop.stderr
    assert stop.stdout == ""
    assert _state(moto_client, first) == "running"
    assert _state(moto_client, second, MOTO_REGIONS[1]) == "running"

    by_instance = run_cmltui(tmp_path, "stop", second, config=config)
    assert by_instance.returncode == 0, by_instance.stderr
    assert _state(moto_client, first) == "running"
    assert _state(moto_client, second, MOTO_REGIONS[1]) in ("stopping", "stopped")


async def test_an_immutable_data_folder_stops_commands_before_they_reach_aws(
    fleet, tmp_path, moto_client
):
    instance_id = await fleet.launch("kept")
    config = _config(fleet, tmp_path)
    assert run_cmltui(tmp_path, "refresh", config=config).returncode == 0
    data_dir = Path(fleet.config.data_path)
    content = (data_dir / DATA_FILE_NAME).read_bytes()

    with immutable(data_dir):
        stop = run_cmltui(tmp_path, "stop", "kept", config=config)
        dashboard = run_cmltui(tmp_path, config=config)
        viewer = run_cmltui(tmp_path, "--read-only", "list", config=config)

    expected = f"cmltui: cannot use the data folder {data_dir}: no file can be written in it"
    for result in (stop, dashboard):
        assert result.returncode == 2, result.stdout + result.stderr
        (line,) = result.stderr.splitlines()
        assert line.startswith(expected) and "(Operation not permitted)" in line
        assert "Traceback" not in result.stdout
    assert _state(moto_client, instance_id) == "running"
    assert (data_dir / DATA_FILE_NAME).read_bytes() == content

    # A read-only viewer never writes: the folder's fault does not concern it.
    assert viewer.returncode == 0, viewer.stderr
    assert "kept" in viewer.stdout and viewer.stderr == ""
