"""Issue 12, intent first: a headless command killed while AWS holds its answer still leaves who
asked for what, and the next refresh completes the action with that actor.

Real processes (``python -m cmltui``) against moto's server, whose fault wrapper holds the
request (``slow``) so the kill lands after the call went out and before its answer.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cmltui.demo.fleet import write_toml
from cmltui.domain.enums import CMLWorkerStatus
from cmltui.services.controller import current_os_user
from cmltui.store import open_store

pytestmark = pytest.mark.slow

ACTION_COMPLETED = "cmltui.worker.action-completed.v1"
ACTION_REQUESTED = "cmltui.worker.action-requested.v1"


def _config(fleet, tmp_path: Path) -> Path:
    path = tmp_path / "cli-config.toml"
    write_toml(path, fleet.config.model_dump(mode="json", exclude_none=True))
    return path


def _start(config_path: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "cmltui", "--config", str(config_path), *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=os.environ.copy(),
    )


def _wait_for_request(fleet, action: str, before: int, proc: subprocess.Popen) -> None:
    """Until moto has received (and the wrapper holds) ``action``."""
    for _ in range(600):
        if fleet.moto.faults.request_counts[("ec2", action)] > before:
            return
        if proc.poll() is not None:
            raise AssertionError(f"the command ended first: {proc.communicate()}")
        time.sleep(0.05)
    raise AssertionError(f"{action} never reached moto")


def _events(fleet, worker_id: str) -> list:
    store = open_store(fleet.config.data_path, clock=fleet.clock, read_only=True)
    try:
        return store.events(worker_id, limit=1000)
    finally:
        store.close()


@pytest.mark.parametrize(
    "kill_signal", [signal.SIGKILL, signal.SIGHUP, signal.SIGTERM, signal.SIGINT]
)
async def test_a_stop_killed_after_it_went_out_keeps_its_actor(fleet, tmp_path, kill_signal):
    await fleet.launch("cml-lab-02")
    controller = fleet.make_controller()
    await controller.refresh_ec2()
    worker_id = controller.workers()[0].id
    await controller.stop()
    fleet.stores[-1].close()
    config_path = _config(fleet, tmp_path)
    before = fleet.moto.faults.request_counts[("ec2", "StopInstances")]
    fleet.moto.faults.slow("ec2", seconds=3.0, action="StopInstances")
    proc = _start(config_path, "stop", "cml-lab-02")
    _wait_for_request(fleet, "StopInstances", before, proc)
    started = time.monotonic()
    proc.send_signal(kill_signal)
    _, stderr = proc.communicate(timeout=30)
    if kill_signal != signal.SIGKILL:
        # Said what went out and what is unknown, and ended at once (the held call is not
        # waited for), with 128 + the signal's number.
        assert proc.returncode == 128 + kill_signal, stderr
        assert time.monotonic() - started < 2.5
        text = stderr.decode()
        assert f"interrupted ({signal.Signals(kill_signal).name})" in text
        assert "stop cml-lab-02" in text and "answer unknown" in text, text
    # The intent is on disk already, with who asked.
    requested = [e for e in _events(fleet, worker_id) if e.type == ACTION_REQUESTED]
    assert requested and requested[-1].data["requested_by"] == current_os_user()
    assert requested[-1].data["action"] == "stop"
    # Moto answers the held request (the stop happens); a later refresh completes the intent.
    fleet.moto.faults.clear()
    for _ in range(100):
        if (
            fleet.moto.faults.request_counts[("ec2", "StopInstances")] > before
            and fleet.moto.faults.in_flight == 0
        ):
            break
        time.sleep(0.05)
    later = fleet.make_controller()
    await later.refresh_ec2()
    worker = later.workers()[0]
    assert worker.status in (CMLWorkerStatus.STOPPING, CMLWorkerStatus.STOPPED)
    events = _events(fleet, worker_id)
    stops = [
        e
        for e in events
        if e.type == "cmltui.worker.status-updated.v1"
        and e.data["new_status"] in ("stopping", "stopped")
    ]
    assert stops and all(e.data["changed_by"] == current_os_user() for e in stops), stops
    completed = [e for e in events if e.type == ACTION_COMPLETED]
    assert completed and completed[-1].data["outcome"] in ("accepted", "confirmed")


async def test_a_create_killed_during_run_instances_is_still_its_creators(fleet, tmp_path):
    await fleet.launch("existing")
    controller = fleet.make_controller()
    await controller.refresh_ec2()
    await controller.stop()
    fleet.stores[-1].close()
    config_path = _config(fleet, tmp_path)
    before = fleet.moto.faults.request_counts[("ec2", "RunInstances")]
    fleet.moto.faults.slow("ec2", seconds=3.0, action="RunInstances")
    proc = _start(config_path, "create", "--name", "cml-new", "--region", fleet.config.regions[0])
    _wait_for_request(fleet, "RunInstances", before, proc)
    proc.kill()
    proc.communicate(timeout=30)
    fleet.moto.faults.clear()
    for _ in range(100):
        if fleet.moto.faults.in_flight == 0:
            break
        time.sleep(0.05)
    later = fleet.make_controller()
    fleet.clock.advance(minutes=3)
    await later.refresh_ec2()
    workers = {w.name: w for w in later.workers()}
    created = workers["cml-new"]
    assert created.created_by == current_os_user(), "never attributed to ec2-sync"
    assert created.aws_instance_id, "the instance RunInstances made is bound to it"
    outcomes = [e.data["outcome"] for e in _events(fleet, created.id) if e.type == ACTION_COMPLETED]
    assert outcomes == ["confirmed"]
    assert len([w for w in later.workers() if w.name == "cml-new"]) == 1
