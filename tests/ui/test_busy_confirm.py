"""Stop and terminate of a worker whose labs run, on the real controller: the confirmation
lists the running labs (title, owner, nodes) and offers to stop them first."""

from __future__ import annotations

from textual.widgets import Checkbox, Input

from cmltui.domain.enums import CMLWorkerStatus
from cmltui.ui.screens.busy_confirm import BusyStopScreen, BusyTerminateScreen
from tests.ui.test_real_controller import GONE, STOPPING, select, settle, status_of


def labs_listed(dialog) -> str:
    return str(dialog.query_one("#running-labs").render())


async def test_stop_lists_the_running_labs_and_can_stop_them_first(make_fleet, open_app, fake_cml):
    fleet = await make_fleet([("busy", "us-east-1", 2)])
    fake = fake_cml.worker(fleet.instance_ids["busy"])
    running = [lab for lab in fake.labs_snapshot() if lab.running]
    async with open_app(fleet) as (app, pilot):
        await select(app, pilot, fleet.id_of("busy"))
        await pilot.press("S")
        dialog = app.screen
        assert isinstance(dialog, BusyStopScreen)
        assert app.focused.id == "cancel"
        await settle(app, pilot)
        listed = labs_listed(dialog)
        assert listed.startswith("Running labs (stopping the worker ends them):")
        for lab in running:
            assert f"busy  {lab.title}  owner {lab.owner_username}  nodes" in listed
            assert f"nodes {lab.node_count}/{lab.node_count}" in listed
        await pilot.press("f")
        await settle(app, pilot)
        assert fake.running_lab_count() == 0
        assert status_of(fleet, "busy") in STOPPING
        assert any("2 labs stopped first" in str(n.message) for n in app._notifications)


async def test_stop_without_the_labs_first_leaves_them_to_the_instance_stop(
    make_fleet, open_app, fake_cml
):
    fleet = await make_fleet([("busy", "us-east-1", 1)])
    fake = fake_cml.worker(fleet.instance_ids["busy"])
    async with open_app(fleet) as (app, pilot):
        await pilot.press("S")
        assert isinstance(app.screen, BusyStopScreen)
        await pilot.press("y")
        await settle(app, pilot)
        assert status_of(fleet, "busy") in STOPPING
        assert fake.running_lab_count() == 1  # cmltui sent no lab stop
        assert not [p for p in fake.counters.requests_by_path if p.endswith("/stop")]


async def test_terminate_lists_the_labs_and_stops_them_first_when_asked(
    make_fleet, open_app, fake_cml
):
    fleet = await make_fleet([("doomed", "us-east-1", 1), ("keeper", "us-east-1", 1)])
    fake = fake_cml.worker(fleet.instance_ids["doomed"])
    (lab,) = fake.labs_snapshot()
    async with open_app(fleet) as (app, pilot):
        await select(app, pilot, fleet.id_of("doomed"))
        await pilot.press("ctrl+d")
        dialog = app.screen
        assert isinstance(dialog, BusyTerminateScreen)
        assert app.focused.id == "confirm-text"  # typed at once, never dropped
        await settle(app, pilot)
        assert f"doomed  {lab.title}  owner {lab.owner_username}" in labs_listed(dialog)
        dialog.query_one("#labs-first", Checkbox).value = True
        dialog.query_one("#confirm-text", Input).focus()
        await pilot.press(*"doomed", "enter")
        await settle(app, pilot)
        assert fake.running_lab_count() == 0
        assert status_of(fleet, "doomed") in GONE
        assert status_of(fleet, "keeper") == CMLWorkerStatus.RUNNING
        assert fake_cml.worker(fleet.instance_ids["keeper"]).running_lab_count() == 1
