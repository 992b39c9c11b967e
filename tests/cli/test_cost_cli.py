"""``cmltui cost`` (issue 16 #4): real ``cmltui`` processes over a data file written by a
controller on moto's server and the fake CML, its workers started, stopped and auto-stopped on
a frozen clock one past Monday."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cmltui.config import CostConfig, IdleConfig
from cmltui.demo.fleet import write_toml
from cmltui.domain.enums import CMLWorkerStatus
from tests.cli.helpers import run_cmltui

MONDAY_8H = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)


def _config(fleet, tmp_path: Path, name: str, **cost) -> Path:
    path = tmp_path / f"{name}.toml"
    document = fleet.config.model_dump(mode="json", exclude_none=True)
    document["cost"] = CostConfig(**cost).model_dump(mode="json", exclude_none=True)
    write_toml(path, document)
    return path


async def _settle(controller, name: str, status: CMLWorkerStatus) -> None:
    for _ in range(20):
        await controller.refresh_ec2()
        if controller.find(name).state.status == status:
            return
    raise AssertionError(f"{name} never reached {status}")


async def _monday(fleet) -> None:
    """alpha: 08:00-10:00 running, auto-stopped at 10:00, started by hand at 14:00, stopped at
    15:00. beta: 08:00-10:00 running, stopped by hand. Both stopped since (UTC)."""
    fleet.clock.set(MONDAY_8H)
    await fleet.launch("alpha", running_labs=0)
    await fleet.launch("beta", running_labs=0)
    config = fleet.config.model_copy(
        update={"idle": IdleConfig(threshold_minutes=30, auto_stop=True, snooze_minutes=60)}
    )
    controller = fleet.make_controller(config)
    await controller.load()
    await controller.refresh_once()
    fleet.clock.advance(hours=2)
    await controller.stop_workers([controller.find("beta").id])
    await controller.refresh_once()  # the idle policy stops alpha (idle, past the snooze)
    assert controller.find("alpha").state.last_auto_stop_at == fleet.clock()
    await _settle(controller, "alpha", CMLWorkerStatus.STOPPED)
    await _settle(controller, "beta", CMLWorkerStatus.STOPPED)
    fleet.clock.advance(hours=4)
    await controller.start_workers([controller.find("alpha").id])
    await _settle(controller, "alpha", CMLWorkerStatus.RUNNING)
    fleet.clock.advance(hours=1)
    await controller.stop_workers([controller.find("alpha").id])
    await _settle(controller, "alpha", CMLWorkerStatus.STOPPED)
    await controller.stop()


def _cost_json(tmp_path: Path, config: Path, *args: str) -> dict:
    result = run_cmltui(tmp_path, "cost", "--json", *args, config=config)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


async def test_cost_per_worker_and_total_from_the_recorded_events(fleet, tmp_path):
    await _monday(fleet)
    config = _config(fleet, tmp_path, "utc", hourly_usd={"c5.2xlarge": 4.0}, time_zone="UTC")
    assert fleet.config.cml_worker_instance_type == "c5.2xlarge"

    report = _cost_json(tmp_path, config, "--since", "2025-01-06", "--until", "2025-01-06")
    assert (report["since"], report["until"], report["time_zone"]) == (
        "2025-01-06",
        "2025-01-06",
        "UTC",
    )
    rows = {row["name"]: row for row in report["workers"]}
    assert set(rows) == {"alpha", "beta"}
    assert rows["alpha"]["hours_billed"] == pytest.approx(3.0)  # 08-10 and 14-15
    assert rows["alpha"]["cost_usd"] == pytest.approx(12.0)
    assert rows["alpha"]["saved_hours"] == pytest.approx(4.0)  # auto-stop 10:00 to start 14:00
    assert rows["alpha"]["saved_usd"] == pytest.approx(16.0)
    assert rows["beta"]["hours_billed"] == pytest.approx(2.0)
    assert rows["beta"]["saved_usd"] == 0  # stopped by hand: nothing saved by auto-stop
    assert report["total"] == {
        "hours_billed": pytest.approx(5.0),
        "cost_usd": pytest.approx(20.0),
        "saved_hours": pytest.approx(4.0),
        "saved_usd": pytest.approx(16.0),
    }

    # The next day: both stopped, nothing billed, nothing auto-stopped that day.
    tuesday = _cost_json(tmp_path, config, "--since", "2025-01-07", "--until", "2025-01-07")
    assert tuesday["total"]["hours_billed"] == 0
    assert tuesday["total"]["saved_usd"] == 0

    # A zone where Monday 08:00-10:00 UTC is Sunday 23:00 to Monday 01:00 (UTC-9):
    # alpha's first hour falls on Sunday.
    alaska = _config(
        fleet, tmp_path, "alaska", hourly_usd={"c5.2xlarge": 4.0}, time_zone="America/Anchorage"
    )
    sunday = _cost_json(tmp_path, alaska, "--since", "2025-01-05", "--until", "2025-01-05")
    assert {r["name"]: r["hours_billed"] for r in sunday["workers"]} == {
        "alpha": pytest.approx(1.0),
        "beta": pytest.approx(1.0),
    }

    # An instance type without a price: [cost] default_hourly_usd.
    default = _config(
        fleet, tmp_path, "unpriced", hourly_usd={}, default_hourly_usd=2.5, time_zone="UTC"
    )
    report = _cost_json(tmp_path, default, "--since", "2025-01-06", "--until", "2025-01-06")
    assert report["total"]["cost_usd"] == pytest.approx(12.5)

    table = run_cmltui(
        tmp_path, "cost", "--since", "2025-01-06", "--until", "2025-01-06", config=config
    )
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0] == "cost from 2025-01-06 to 2025-01-06 (UTC), as of now"
    assert lines[1].split() == [
        "NAME",
        "REGION",
        "TYPE",
        "HOURS_BILLED",
        "COST",
        "SAVED_BY_AUTO_STOP",
    ]
    assert lines[2].split()[0] == "alpha" and lines[2].split()[-3:] == ["3.00", "$12.00", "$16.00"]
    assert lines[-1].split() == ["TOTAL", "5.00", "$20.00", "$16.00"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--since", "2025-02-30"], "--since '2025-02-30' is not a date: day is out of range"),
        (["--until", "06/01/2025"], "--until '06/01/2025' is not a date: not in the form"),
        (["--since", "20250106"], "--since '20250106' is not a date"),
        (["--since", "2025-01-07", "--until", "2025-01-06"], "--since 2025-01-07 is after"),
    ],
)
def test_bad_dates_are_one_line_and_exit_2(tmp_path, args, expected):
    from tests.cli.helpers import offline_config

    result = run_cmltui(tmp_path, "cost", *args, config=offline_config(tmp_path))
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.count("\n") == 1 and expected in result.stderr, result.stderr
    assert result.stdout == ""
