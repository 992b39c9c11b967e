"""The labs service on the real controller: moto's server, the fake CML over HTTPS, a real
store file. Polling only while open, keyed diffs, intents before every mutating call, CML's
rules checked first, CML's refusals named, and the audit trail of each lab action."""

from __future__ import annotations

import asyncio
import shutil

from cmltui.services.labs import LabsUpdate

LAB_ACTION = "cmltui.worker.lab-action.v1"
REQUESTED = "cmltui.worker.action-requested.v1"
COMPLETED = "cmltui.worker.action-completed.v1"


async def _ready(fleet, name: str = "w", **launch):
    instance_id = await fleet.launch(name, **launch)
    controller = fleet.make_controller()
    await controller.refresh_once()
    worker = controller.find(name)
    assert worker is not None
    return controller, worker.id, fleet.cml.worker(instance_id)


def _lab_requests(fake) -> dict[str, int]:
    paths = fake.counters.requests_by_path
    return {path: count for path, count in paths.items() if path.startswith("labs/")}


def _trail(controller, worker_id: str) -> list:
    telemetry = "cmltui.worker.telemetry-updated.v1"
    return [e for e in controller.events_for(worker_id, 500) if e.type != telemetry]


async def test_a_poll_is_one_plus_labs_plus_started_labs_and_gives_the_labs(fleet):
    controller, worker_id, fake = await _ready(fleet, labs=4, running_labs=2)
    fake.add_lab("Zoe's [bold]lab[/]", owner="zoe", nodes=5, state="STOPPED")
    session = controller.labs().session(worker_id)
    before = fake.request_count
    update = await session.refresh()
    assert fake.request_count - before == 1 + 5 + 2
    assert update.loaded and update.error is None
    assert (update.total, update.started) == (5, 2)
    by_title = {lab.title: lab for lab in session.labs}
    zoe = by_title["Zoe's [bold]lab[/]"]
    assert (zoe.owner, zoe.state, zoe.nodes) == ("zoe", "STOPPED", "0/5")
    for fake_lab in fake.labs_snapshot():
        lab = session.labs_by_id[fake_lab.id]
        expected = f"{fake_lab.running_nodes}/{fake_lab.node_count}"
        assert (lab.title, lab.owner, lab.state, lab.nodes) == (
            fake_lab.title,
            fake_lab.owner_username,
            fake_lab.state,
            expected,
        )
    assert update.running_nodes == sum(lab.running_nodes for lab in fake.labs_snapshot())
    assert update.busy.busy and "2 labs run" in update.busy.reason


async def test_updates_are_keyed_diffs(fleet):
    controller, worker_id, fake = await _ready(fleet, labs=3, running_labs=1)
    session = controller.labs().session(worker_id)
    first = await session.refresh()
    assert len(first.changed) == 3 and not first.removed_ids
    assert (await session.refresh()).changed == ()
    running = next(lab for lab in fake.labs_snapshot() if lab.running)
    fake.set_lab_state(running.id, "STOPPED")
    changed = await session.refresh()
    assert [lab.id for lab in changed.changed] == [running.id]
    assert changed.changed[0].state == "STOPPED"
    # The idle policy goes by the fleet's last count until its next cycle: the screen says so.
    assert changed.busy.busy and "last fleet refresh counted 1" in changed.busy.reason
    await controller.refresh_cml()
    assert not session.current().busy.busy
    other = next(lab for lab in fake.labs_snapshot() if lab.id != running.id)
    result = await controller.labs().stop_wipe_delete(worker_id, [other.id])
    assert result.ok, result.summary()
    gone = await session.refresh()
    assert gone.removed_ids == (other.id,) and gone.changed == ()
    assert session.current().is_full and len(session.current().changed) == 2


async def test_polling_runs_only_while_open_and_the_fleet_cycle_costs_the_same(fleet):
    controller, worker_id, fake = await _ready(fleet, labs=3, running_labs=1)
    before = fake.request_count
    await controller.refresh_cml()
    steady_cycle = fake.request_count - before
    labs = controller.labs()
    updates: list[LabsUpdate] = []
    got = asyncio.Event()

    def listener(update: LabsUpdate) -> None:
        updates.append(update)
        got.set()

    session = labs.session(worker_id)
    session.open(listener)
    await asyncio.wait_for(got.wait(), 30)
    assert labs.open_sessions() == [worker_id]
    assert updates[0].loaded and updates[0].total == 3
    await session.close()
    assert labs.open_sessions() == []
    after_close = _lab_requests(fake)
    before = fake.request_count
    await controller.refresh_cml()
    assert fake.request_count - before == steady_cycle
    assert _lab_requests(fake) == after_close  # not one lab read for a closed screen
    assert len(updates) == 1  # closed: the listener hears nothing more


async def test_a_stop_is_an_intent_then_the_call_then_its_record(fleet):
    controller, worker_id, fake = await _ready(fleet, labs=2, running_labs=1)
    running = next(lab for lab in fake.labs_snapshot() if lab.running)
    result = await controller.labs().act(worker_id, "stop", [running.id])
    assert result.ok and result.done == (f'"{running.title}" ({running.id[:8]})',)
    assert next(lab for lab in fake.labs_snapshot() if lab.id == running.id).state == "STOPPED"
    trail = _trail(controller, worker_id)
    kinds = [e.type for e in trail]
    at = kinds.index(LAB_ACTION)
    assert kinds[at - 2 : at + 1] == [REQUESTED, COMPLETED, LAB_ACTION]
    requested, completed, record = trail[at - 2 : at + 1]
    assert requested.data["action"] == "lab-stop"
    assert running.id in requested.data["target"] and running.title in requested.data["target"]
    assert requested.data["requested_by"] == "tester"
    assert completed.data["outcome"] == "accepted"
    assert record.data["lab_id"] == running.id and record.data["lab_title"] == running.title
    assert (record.data["action"], record.data["requested_by"], record.data["outcome"]) == (
        "stop",
        "tester",
        "accepted",
    )


async def test_no_call_goes_out_when_the_intent_cannot_be_saved(fleet):
    controller, worker_id, fake = await _ready(fleet, labs=1, running_labs=1)
    lab = fake.labs_snapshot()[0]
    data_file = fleet.stores[-1].path
    data_file.unlink()
    data_file.mkdir()
    (data_file / "blocker").write_text("x")
    try:
        result = await controller.labs().act(worker_id, "stop", [lab.id])
    finally:
        shutil.rmtree(data_file)
    assert not result.ok and "not sent" in result.failed[0]
    assert f"labs/{lab.id}/stop" not in fake.counters.requests_by_path
    assert fake.labs_snapshot()[0].state == "STARTED"


async def test_cml_rules_are_checked_before_any_request(fleet):
    controller, worker_id, fake = await _ready(fleet, labs=2, running_labs=1)
    running, defined = sorted(fake.labs_snapshot(), key=lambda lab: not lab.running)
    labs = controller.labs()
    reads_before = fake.counters.requests_by_path[f"labs/{running.id}"]
    wipe = await labs.act(worker_id, "wipe", [running.id])
    label = f'"{running.title}" ({running.id[:8]})'
    assert wipe.refused == (f"{label}: wipe needs a stopped lab: stop it first",)
    delete = await labs.act(worker_id, "delete", [running.id])
    why = "delete needs a stopped and wiped lab: stop and wipe it first"
    assert delete.refused == (f"{label}: {why}",)
    # One read of the lab per action (GET), and nothing else: no wipe, no DELETE.
    assert fake.counters.requests_by_path[f"labs/{running.id}"] == reads_before + 2
    assert f"labs/{running.id}/wipe" not in fake.counters.requests_by_path
    assert running.id in {lab.id for lab in fake.labs_snapshot()}
    assert LAB_ACTION not in [e.type for e in _trail(controller, worker_id)]
    unknown = await labs.act(worker_id, "stop", ["0" * 36])
    assert unknown.refused == (f"lab {'0' * 36}: no such lab on the controller",)
    started = await labs.act(worker_id, "start", [defined.id])
    assert started.ok
    assert fake.running_lab_count() == 2


async def test_a_cml_refusal_names_the_lab_and_cml_reason_and_is_recorded(fleet):
    controller, worker_id, fake = await _ready(fleet, labs=1, running_labs=0)
    lab = fake.labs_snapshot()[0]
    fake.set_faults(lab_start_refused=True)
    result = await controller.labs().act(worker_id, "start", [lab.id])
    assert not result.ok
    (line,) = result.failed
    assert line.startswith(f'"{lab.title}" ({lab.id[:8]}): refused by CML (HTTP 400): ')
    assert "Cannot start lab" in line
    record = [e for e in _trail(controller, worker_id) if e.type == LAB_ACTION][-1]
    assert record.data["outcome"] == "failed" and "Cannot start lab" in record.data["detail"]
    completed = [e for e in _trail(controller, worker_id) if e.type == COMPLETED][-1]
    assert completed.data["outcome"] == "failed"


async def test_stop_wipe_and_delete_waits_for_each_state(fleet):
    controller, worker_id, fake = await _ready(fleet, labs=2, running_labs=1)
    running = next(lab for lab in fake.labs_snapshot() if lab.running)
    fake.set_faults(lab_transition_seconds=6)
    labs = controller.labs()
    slept: list[float] = []

    async def sleep(seconds: float) -> None:  # the fake's clock moves instead of the wall's
        slept.append(seconds)
        fleet.clock.advance(seconds=seconds)

    labs.sleep = sleep
    result = await labs.stop_wipe_delete(worker_id, [running.id])
    assert result.ok, result.summary()
    assert result.done == (f'"{running.title}" ({running.id[:8]}) (stopped, wiped, deleted)',)
    assert running.id not in {lab.id for lab in fake.labs_snapshot()}
    assert len(slept) >= 2  # it waited for the stop, then for the wipe
    records = [e.data["action"] for e in _trail(controller, worker_id) if e.type == LAB_ACTION]
    assert records == ["stop", "wipe", "delete"]


async def test_stop_wipe_and_delete_gives_up_when_the_stop_never_completes(fleet):
    controller, worker_id, fake = await _ready(fleet, labs=1, running_labs=1)
    lab = fake.labs_snapshot()[0]
    fake.set_faults(lab_transition_seconds=3600)
    labs = controller.labs()
    labs.state_polls = 3

    async def sleep(seconds: float) -> None:
        fleet.clock.advance(seconds=1)

    labs.sleep = sleep
    result = await labs.stop_wipe_delete(worker_id, [lab.id])
    assert not result.ok
    assert "stopped, but still STARTED after 6 s: not deleted" in result.failed[0]
    assert lab.id in {item.id for item in fake.labs_snapshot()}


async def test_stopping_the_labs_first_then_the_worker(fleet):
    controller, worker_id, fake = await _ready(fleet, labs=3, running_labs=2)
    labs = controller.labs()
    listing = await labs.running_labs([worker_id])
    started, error = listing[worker_id]
    assert error is None and len(started) == 2
    result = await labs.stop_labs_then([worker_id], controller.stop_workers, "stop")
    assert result.ok, result.summary()
    assert result.done == ("w (2 labs stopped first)",)
    assert fake.running_lab_count() == 0
    assert controller.find("w").state.status.value in ("stopping", "stopped")


async def test_a_worker_whose_labs_do_not_stop_is_left_running(fleet):
    controller, worker_id, fake = await _ready(fleet, labs=1, running_labs=1)
    fake.set_faults(lab_transition_seconds=3600)
    labs = controller.labs()
    labs.state_polls = 2

    async def sleep(seconds: float) -> None:
        fleet.clock.advance(seconds=1)

    labs.sleep = sleep
    result = await labs.stop_labs_then([worker_id], controller.stop_workers, "stop")
    assert result.done == () and len(result.refused) == 1
    assert "left as is" in result.refused[0]
    assert controller.find("w").state.status.value == "running"


async def test_read_only_refuses_lab_changes_without_a_request(fleet):
    _, worker_id, fake = await _ready(fleet, labs=1, running_labs=1)
    viewer = fleet.make_controller(read_only=True)
    await viewer.refresh_once()
    before = _lab_requests(fake)
    labs = viewer.labs()
    assert (await labs.act(worker_id, "stop", [fake.labs_snapshot()[0].id])).refused == (
        "read-only mode",
    )
    assert (await labs.stop_wipe_delete(worker_id, ["x"])).refused == ("read-only mode",)
    assert (await labs.import_topology(worker_id, "x.yaml")).refused == ("read-only mode",)
    assert _lab_requests(fake) == before


async def test_a_stopped_worker_has_no_reachable_labs(fleet):
    controller, worker_id, _fake = await _ready(fleet, labs=2, running_labs=0)
    session = controller.labs().session(worker_id)
    assert (await session.refresh()).total == 2
    await controller.stop_workers([worker_id])
    update = await session.refresh()
    assert update.total == 0 and len(update.removed_ids) == 2
    assert "its labs cannot be reached" in (update.error or "")
    assert not update.busy.busy
