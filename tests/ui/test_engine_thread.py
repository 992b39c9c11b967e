"""The dashboard on the real controller running on its own thread (``EngineThread``), as
``run_dashboard`` runs it: Pilot drives the app on the test's loop, the controller's loops,
boto3 and httpx run on the engine's loop, against moto and the fake CML server over HTTPS."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from cmltui.aws.gateway import AwsGateway
from cmltui.cml.pool import CmlApiClientPool
from cmltui.config import Config
from cmltui.domain.clock import FrozenClock
from cmltui.domain.enums import CMLWorkerStatus
from cmltui.services.controller import FleetController
from cmltui.services.engine_service import ENGINE_SOURCE, EngineService
from cmltui.services.engine_thread import EngineStopped, EngineThread
from cmltui.ui.app import CmlTuiApp
from cmltui.ui.screens.labs import LabsScreen
from cmltui.ui.screens.lists import EventTrailScreen
from cmltui.ui.widgets.header import StatusLine
from tests.ui.test_real_controller import notices, select, settle, table_of

STOPPING = {CMLWorkerStatus.STOPPING, CMLWorkerStatus.STOPPED}
#: Turns of the loop a condition gets before a test says it never came (a hang guard only).
MAX_TURNS = 600


@dataclass
class EngineFleet:
    service: EngineService
    engine: EngineThread
    controller: FleetController
    config: Config
    clock: FrozenClock
    instance_ids: dict[str, str]

    def id_of(self, name: str) -> str:
        found = self.service.find(name)
        assert found is not None, name
        return found.id

    def status_of(self, name: str) -> CMLWorkerStatus:
        found = self.service.find(name)
        assert found is not None, name
        return found.status


@pytest.fixture
async def engine_fleet(
    make_fleet, fleet_config: Config, store, aws_session, frozen_clock: FrozenClock
) -> AsyncIterator[Callable]:
    """``await engine_fleet([(name, region, labs_running), ...])``: workers made as the other
    UI tests make them, then a fresh controller on the same data file on an engine thread."""
    made: list[EngineFleet] = []

    async def make(workers: list[tuple[str, str, int]]) -> EngineFleet:
        built = await make_fleet(workers)
        await built.controller.stop()  # its clients belong to the test's loop
        controller = FleetController(
            fleet_config,
            store,
            AwsGateway(fleet_config, session=aws_session),
            CmlApiClientPool(fleet_config),
            clock=frozen_clock,
        )
        engine = EngineThread(name="cmltui-engine-test").start()
        service = EngineService(engine, controller, clock=frozen_clock)
        fleet = EngineFleet(
            service, engine, controller, fleet_config, frozen_clock, built.instance_ids
        )
        made.append(fleet)
        return fleet

    yield make
    for fleet in made:  # as the launcher does: close on the engine, then end its thread
        if fleet.engine.is_running:
            await fleet.service.stop()
        assert await fleet.engine.astop()


@pytest.fixture
def open_engine_app(tmp_path: Path):
    @asynccontextmanager
    async def run(
        fleet: EngineFleet, *, expect_errors: bool = False
    ) -> AsyncIterator[tuple[CmlTuiApp, object]]:
        app = CmlTuiApp(
            fleet.service,
            config=fleet.config,
            aws_profile_label="moto",
            read_only=False,
            clock=fleet.clock,
            log_path=tmp_path / "log" / "cmltui.log",
        )
        async with app.run_test(size=(120, 35)) as pilot:
            await until(pilot, lambda: table_of(app).row_count > 0, "the stored fleet")
            yield app, pilot
            if not expect_errors:
                assert app.unexpected_errors == []

    return run


async def until(pilot, condition: Callable[[], bool], what: str) -> None:
    """Let the app run until ``condition`` holds (the engine answers on its own thread)."""
    for _ in range(MAX_TURNS):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"{what} never arrived")


async def test_the_fleet_arrives_and_actions_reach_moto(engine_fleet, open_engine_app, moto_client):
    fleet = await engine_fleet([("e-quiet", "us-east-1", 0), ("e-other", "us-west-2", 0)])
    async with open_engine_app(fleet) as (app, pilot):
        table = table_of(app)
        await until(pilot, lambda: table.row_count == 2, "both workers")
        assert app.service is fleet.service
        quiet = fleet.id_of("e-quiet")
        await select(app, pilot, quiet)
        await pilot.press("S")  # one worker, no lab: no question
        await settle(app, pilot)
        # The action went out from the engine thread to moto...
        ec2 = moto_client("ec2", "us-east-1")
        answer = ec2.describe_instances(InstanceIds=[fleet.instance_ids["e-quiet"]])
        state = answer["Reservations"][0]["Instances"][0]["State"]["Name"]
        assert state in {"stopping", "stopped"}
        # ...and its change set came back to the table on the UI's loop.
        await until(
            pilot,
            lambda: table.snapshots[quiet].status in STOPPING,
            "the stopped worker's change set",
        )
        assert fleet.status_of("e-quiet") in STOPPING
        assert fleet.status_of("e-other") == CMLWorkerStatus.RUNNING
        # current() answers from what was delivered, without asking the engine.
        assert {s.id: s.status for s in app.service.current().changed}[quiet] in STOPPING
        # A refresh now (r) runs on the engine and its change set arrives as well.
        other = fleet.id_of("e-other")
        before = table.snapshots[other]
        await pilot.press("r")
        await until(pilot, lambda: table.snapshots[other] is not before, "the refresh")


async def test_queries_and_the_labs_screen_cross_to_the_engine(
    engine_fleet, open_engine_app, fake_cml
):
    fleet = await engine_fleet([("e-busy", "us-east-1", 2)])
    async with open_engine_app(fleet) as (app, pilot):
        busy = fleet.id_of("e-busy")
        await select(app, pilot, busy)
        await pilot.press("e")  # the event trail: events_for on the engine
        assert isinstance(app.screen, EventTrailScreen)
        await pilot.press("escape")
        await pilot.press("L")
        screen = app.screen
        assert isinstance(screen, LabsScreen)
        labs = fleet.service.engine_labs()
        expected = {lab.id for lab in fake_cml.worker(fleet.instance_ids["e-busy"]).labs_snapshot()}
        # The session polls on the engine; its updates reach the screen on the UI's loop.
        await until(pilot, lambda: set(screen.table.shown_ids) == expected, "the labs")
        assert labs.open_sessions() == [busy]
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is app.main_screen, "the main screen")
        await until(pilot, lambda: labs.open_sessions() == [], "the session's end")


async def test_quitting_stops_the_controller_and_the_engine_thread(engine_fleet, open_engine_app):
    fleet = await engine_fleet([("e-one", "us-east-1", 0)])
    async with open_engine_app(fleet) as (_app, pilot):
        await until(pilot, lambda: fleet.service.is_running, "the controller's loops")
        await pilot.press("q")
        await until(pilot, lambda: not fleet.service.is_running, "the loops' end")
    # The launcher then ends the thread: its tasks are done and nothing is left waiting.
    thread = fleet.engine.thread
    assert thread is not None and thread.name == "cmltui-engine-test"
    assert await fleet.engine.astop()
    assert not thread.is_alive() and fleet.engine.failure is None
    assert not fleet.controller.is_running
    with pytest.raises(EngineStopped):
        await fleet.service.refresh_once()


async def test_an_exception_in_an_engine_action_is_shown_and_the_app_goes_on(
    engine_fleet, open_engine_app
):
    fleet = await engine_fleet([("e-bad", "us-east-1", 0), ("e-good", "us-east-1", 0)])

    async def broken(worker_ids):
        raise RuntimeError("boom in the engine")

    fleet.controller.start_workers = broken  # type: ignore[method-assign]
    async with open_engine_app(fleet, expect_errors=True) as (app, pilot):
        await select(app, pilot, fleet.id_of("e-bad"))
        await pilot.press("s")
        await settle(app, pilot)
        assert [str(err) for err in app.unexpected_errors] == ["boom in the engine"]
        assert any("boom in the engine" in line for line in notices(app))
        # The engine is alive: the next action works.
        good = fleet.id_of("e-good")
        await select(app, pilot, good)
        await pilot.press("S")
        await settle(app, pilot)
        await until(pilot, lambda: table_of(app).snapshots[good].status in STOPPING, "stop")
        assert fleet.engine.is_running


async def test_the_engine_dying_is_an_error_on_screen_not_a_hang(engine_fleet, open_engine_app):
    fleet = await engine_fleet([("e-held", "us-east-1", 0)])
    sent = threading.Event()

    async def never_answers(worker_ids):
        sent.set()
        await asyncio.Event().wait()

    fleet.controller.stop_workers = never_answers  # type: ignore[method-assign]

    def die() -> None:
        raise SystemExit("killed by the test")

    async with open_engine_app(fleet, expect_errors=True) as (app, pilot):
        await pilot.press("S")  # the stop waits in the engine for ever
        await until(pilot, sent.is_set, "the stop request in the engine")
        fleet.engine.loop.call_soon_threadsafe(die)
        await until(pilot, lambda: not fleet.engine.is_running, "the engine's end")
        await settle(app, pilot)
        # The waiting action failed with a reason instead of waiting for ever...
        assert [type(err) for err in app.unexpected_errors] == [EngineStopped]
        assert "SystemExit: killed by the test" in str(app.unexpected_errors[0])
        # ...and the status line says the engine stopped.
        status = app.main_screen.query_one(StatusLine)
        await until(pilot, lambda: bool(status.errors), "the engine's error")
        assert status.errors[-1].source == ENGINE_SOURCE
        assert "SystemExit" in status.errors[-1].error
        # Asking it anything now is an error at once; quitting still works.
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.unexpected_errors[-1], EngineStopped)
        await pilot.press("q")
    assert isinstance(fleet.engine.failure, SystemExit)
    assert await fleet.engine.astop()
