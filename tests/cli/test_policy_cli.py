"""``cmltui policy``: a real cmltui process against moto's server, the fake CML and a data file."""

from __future__ import annotations

import json
from pathlib import Path

from cmltui.demo.fleet import write_toml
from tests.cli.helpers import run_cmltui


def _config(fleet, tmp_path: Path) -> Path:
    document = fleet.config.model_dump(mode="json", exclude_none=True)
    document["idle"] = {"threshold_minutes": 45, "auto_stop": True}
    document["schedules"] = {
        "emea-class": {
            "zone": "Europe/Paris",
            "idle_minutes": 20,
            "windows": [{"days": "mon-fri", "start": "09:00", "end": "17:00"}],
        }
    }
    path = tmp_path / "cli-config.toml"
    write_toml(path, document)
    return path


async def test_policy_shows_sets_and_refuses_from_the_command_line(fleet, tmp_path):
    await fleet.launch("pol-a")
    await fleet.launch("pol-b")
    config = _config(fleet, tmp_path)

    shown = run_cmltui(tmp_path, "policy", "pol-a", config=config)
    assert shown.returncode == 0, shown.stderr
    assert "idle threshold: 45 min (from [idle] threshold_minutes)" in shown.stdout
    assert "schedule: none" in shown.stdout and "auto-stop: on" in shown.stdout

    set_ = run_cmltui(
        tmp_path,
        "policy",
        "pol-a",
        "pol-b",
        "--idle-minutes",
        "90",
        "--maintenance",
        "2026-03-10T18:00Z..2026-03-10T22:00Z",
        config=config,
    )
    assert set_.returncode == 0, set_.stderr
    assert "policy set: pol-a" in set_.stderr and "policy set: pol-b" in set_.stderr
    assert set_.stdout.count("idle threshold: 90 min (from the worker's own setting)") == 2
    assert "maintenance: 2026-03-10 18:00:00Z until 2026-03-10 22:00:00Z" in set_.stdout

    # The schedule brings its threshold only where the worker has none of its own.
    scheduled = run_cmltui(
        tmp_path,
        "policy",
        "pol-b",
        "--schedule",
        "emea-class",
        "--idle-minutes",
        "default",
        "--json",
        config=config,
    )
    assert scheduled.returncode == 0, scheduled.stderr
    (row,) = json.loads(scheduled.stdout)
    assert (row["idle_minutes"], row["idle_minutes_from"]) == (20, "schedule")
    assert (row["schedule"], row["schedule_from"], row["schedule_known"]) == (
        "emea-class",
        "worker",
        True,
    )
    assert row["own"] == {
        "idle_minutes": None,
        "schedule": "emea-class",
        "auto_stop_opt_out": False,
    }

    unknown = run_cmltui(tmp_path, "policy", "pol-a", "--schedule", "nope", config=config)
    assert unknown.returncode == 1
    assert "schedule 'nope' is not in the config (known: emea-class)" in unknown.stderr
    assert "Traceback" not in unknown.stderr

    off = run_cmltui(tmp_path, "policy", "pol-a", "--auto-stop", "off", "--json", config=config)
    (row,) = json.loads(off.stdout)
    assert (row["auto_stop"], row["auto_stop_off_by"]) == (False, "worker")

    trail = json.loads(run_cmltui(tmp_path, "events", "pol-a", "--json", config=config).stdout)
    changes = [e for e in trail if e["type"] == "cmltui.worker.policy-changed.v1"]
    assert len(changes) == 1 and changes[0]["data"]["idle_minutes"] == 90
    assert changes[0]["data"]["updated_by"]


def test_bad_policy_values_are_usage_errors_in_one_line(tmp_path):
    for args, words in (
        (("--idle-minutes", "0"), "must be from 1 to"),
        (("--idle-minutes", "soon"), "a whole number of minutes or 'default'"),
        (("--maintenance", "tomorrow"), "FROM..UNTIL is needed"),
        (("--maintenance", "2026-03-10T22:00..2026-03-10T18:00"), "must end after it starts"),
        (("--maintenance", "x..y"), "is not an ISO 8601 time"),
    ):
        result = run_cmltui(tmp_path, "policy", "w", *args)
        assert result.returncode == 2, result.stderr
        assert words in result.stderr and "Traceback" not in result.stderr
