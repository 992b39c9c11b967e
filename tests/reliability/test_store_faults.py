"""The data file under faults, through the controller and the real ``cmltui`` command: a write
that fails (as on a full disk) and is retried, two processes on one file, damaged files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cmltui.demo.fleet import write_toml
from cmltui.domain.enums import CMLWorkerStatus
from cmltui.domain.worker import CMLWorker
from cmltui.services.controller import current_os_user
from cmltui.store import DATA_FILE_NAME, open_store
from tests.fixtures.workers import make_worker
from tests.reliability.helpers import by_name, close_controller, errors_by_source

REPO_ROOT = Path(__file__).resolve().parents[2]


def cmltui_cli(config_path: Path, *args: str, state_home: Path) -> subprocess.CompletedProcess:
    """``cmltui --config X ARGS`` as a real process (its log goes under ``state_home``)."""
    return subprocess.run(
        [sys.executable, "-m", "cmltui", "--config", str(config_path), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "XDG_STATE_HOME": str(state_home)},
        cwd=REPO_ROOT,
        check=False,
        stdin=subprocess.DEVNULL,
    )


# ---------------------------------------------------------------- unwritable data file
def _data_file_becomes_a_directory(data_file: Path):
    """The rename onto the data file fails (EISDIR/ENOTEMPTY), for root too."""
    data_file.unlink()
    data_file.mkdir()
    (data_file / "blocker").write_text("x")

    def undo() -> None:
        shutil.rmtree(data_file)

    return undo


def _data_folder_vanishes(data_file: Path):
    """The folder is gone (an unmounted disk): the temp file cannot even be created."""
    folder = data_file.parent
    kept = folder.with_name(folder.name + ".kept")
    folder.rename(kept)

    def undo() -> None:
        kept.rename(folder)

    return undo


@pytest.mark.parametrize("block", [_data_file_becomes_a_directory, _data_folder_vanishes])
async def test_a_failed_write_keeps_state_shows_the_error_and_is_retried(fleet, moto_client, block):
    to_stop = await fleet.launch("to-stop")
    await fleet.launch("stays")
    controller = fleet.make_controller()
    await controller.refresh_once()
    store = fleet.stores[-1]
    undo = block(store.path)
    try:
        moto_client("ec2").stop_instances(InstanceIds=[to_stop])
        await controller.refresh_ec2()
        # Memory has it and shows it; the store's trouble is a source of its own.
        assert by_name(controller)["to-stop"].status == CMLWorkerStatus.STOPPED
        errors = errors_by_source(controller)
        assert list(errors) == ["store"]
        assert "cannot save" in errors["store"].error
        assert "kept in memory" in errors["store"].error
        assert store.pending_write
        since = errors["store"].since
        fleet.clock.advance(seconds=20)
        stays_id = by_name(controller)["stays"].id
        result = await controller.stop_workers([stays_id])
        # Intent first: with no record of who asked, nothing is sent to AWS.
        assert not result.ok and "not sent" in result.failed[0]
        assert by_name(controller)["stays"].status == CMLWorkerStatus.RUNNING
        assert errors_by_source(controller)["store"].since == since
    finally:
        undo()
    result = await controller.stop_workers([stays_id])
    assert result.ok, result.summary()
    # The next cycle writes everything that was kept, and the error goes.
    await controller.refresh_cml()
    assert not store.pending_write
    assert "store" not in errors_by_source(controller)
    await close_controller(fleet, controller)
    reopened = open_store(fleet.config.data_path, clock=fleet.clock, read_only=True)
    try:
        states = {w.name: w.state.status for w in reopened.all_workers()}
        assert states["to-stop"] == CMLWorkerStatus.STOPPED
        assert states["stays"] == CMLWorkerStatus.STOPPING
        new_statuses = [
            e.data["new_status"]
            for w in reopened.all_workers()
            for e in reopened.events(w.id)
            if e.type == "cmltui.worker.status-updated.v1"
        ]
        assert "stopped" in new_statuses and "stopping" in new_statuses
        seqs = reopened.event_sequence_numbers()
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # no gap, nothing dropped
    finally:
        reopened.close()


# ---------------------------------------------------------------- two processes
def _config_file(fleet, tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    write_toml(path, fleet.config.model_dump(mode="json", exclude_none=True))
    return path


async def test_a_second_cmltui_process_writes_beside_the_first_and_loses_no_update(
    fleet, moto_client, tmp_path
):
    """Issue 12: a dashboard holds the data file open; a cron-like command still acts."""
    first_id = await fleet.launch("first")
    second_id = await fleet.launch("second")
    controller = fleet.make_controller(user="dashboard-user")
    await controller.refresh_once()
    stopped = await controller.stop_workers([by_name(controller)["first"].id])
    assert stopped.ok
    data_file = fleet.stores[-1].path
    config_path = _config_file(fleet, tmp_path)

    listing = cmltui_cli(config_path, "list", "--refresh", "--json", state_home=tmp_path)
    assert listing.returncode == 0, listing.stderr
    assert "read-only" not in listing.stderr
    rows = {row["name"]: row for row in json.loads(listing.stdout)}
    assert rows["first"]["status"] in ("stopping", "stopped")
    acted = cmltui_cli(config_path, "stop", "second", state_home=tmp_path)
    assert acted.returncode == 0, acted.stderr
    assert fleet.moto.request_counts[("ec2", "StopInstances")] == 2

    # The dashboard's next cycle shows the other process's stop, and its own writes keep it.
    await controller.refresh_ec2()
    second = by_name(controller)["second"]
    assert second.status in (CMLWorkerStatus.STOPPING, CMLWorkerStatus.STOPPED)
    await close_controller(fleet, controller)
    store = open_store(data_file.parent, clock=fleet.clock, read_only=True)
    try:
        by_instance = {w.state.aws_instance_id: w for w in store.all_workers()}
        assert by_instance[first_id].state.status == CMLWorkerStatus.STOPPED
        trail = [
            (e.data["new_status"], e.data["changed_by"])
            for e in store.events(by_instance[second_id].id)
            if e.type == "cmltui.worker.status-updated.v1"
        ]
        assert ("stopping", current_os_user()) in trail, trail
        assert len(trail) == len(set(trail)), "no event recorded twice"
        ids = [e.id for e in store.events()]
        assert len(ids) == len(set(ids))
        for worker in store.all_workers():
            replayed = CMLWorker.from_events(store.domain_events_for(worker.id))
            assert replayed.state.model_dump(exclude={"updated_at"}) == worker.state.model_dump(
                exclude={"updated_at"}
            )
    finally:
        store.close()


# ---------------------------------------------------------------- damaged files, from the CLI
def _good_file(folder: Path) -> Path:
    from cmltui.domain.clock import FrozenClock

    clock = FrozenClock()
    store = open_store(folder, clock=clock)
    store.save_many([make_worker(clock, "kept")])
    store.close()
    return folder / DATA_FILE_NAME


DAMAGE = {
    "truncated": lambda good: good[: len(good) // 2],
    "garbage": lambda good: b"\x00\xff{{ not json",
    "empty": lambda good: b"",
    "json of the wrong type": lambda good: b'["a", "list"]',
}


@pytest.mark.parametrize("kind", [*DAMAGE, "half-written temp file"])
def test_a_damaged_data_file_gives_a_notice_and_a_working_cmltui(tmp_path, kind):
    data_dir = tmp_path / "data"
    data_file = _good_file(data_dir)
    good = data_file.read_bytes()
    config_path = tmp_path / "config.toml"
    write_toml(config_path, {"data_dir": str(data_dir)})
    if kind in DAMAGE:
        damaged = DAMAGE[kind](good)
        data_file.write_bytes(damaged)
    else:
        damaged = good[: len(good) // 3]
        (data_dir / f"{DATA_FILE_NAME}.tmp").write_bytes(damaged)

    result = cmltui_cli(config_path, "list", "--json", state_home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    notices = [line for line in result.stderr.splitlines() if line.startswith("notice: ")]
    assert len(notices) == 1
    aside = sorted(p for p in data_dir.iterdir() if ".corrupt-" in p.name or ".leftover-" in p.name)
    assert len(aside) == 1 and aside[0].read_bytes() == damaged  # kept, byte for byte
    assert str(aside[0]) in notices[0]
    names = [row["name"] for row in json.loads(result.stdout)]
    if kind in DAMAGE:
        assert "was damaged" in notices[0]
        assert names == []  # started empty, nothing made up
    else:
        assert "unfinished write" in notices[0]
        assert names == ["cml-kept"]  # the good file was used as it was
        assert data_file.read_bytes() == good
    # The next start is clean: the damage was dealt with once.
    again = cmltui_cli(config_path, "list", state_home=tmp_path)
    assert again.returncode == 0 and "notice:" not in again.stderr
