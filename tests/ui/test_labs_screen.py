"""The labs screen driven by Pilot on the real controller (moto + fake CML over HTTPS + store)."""

from __future__ import annotations

from textual.widgets import Button, Input

from cmltui.ui.screens.confirm import ConfirmScreen
from cmltui.ui.screens.lab_dialogs import (
    DeleteLabsScreen,
    DownloadLabScreen,
    ImportLabScreen,
    LabsHelpScreen,
)
from cmltui.ui.screens.labs import LabsScreen
from cmltui.ui.screens.lists import EventTrailScreen
from cmltui.ui.widgets.lab_table import LabTable
from tests.ui.test_real_controller import notices, select, settle

LAB_ACTION = "cmltui.worker.lab-action.v1"


async def open_labs(app, pilot, fleet, name: str) -> LabsScreen:
    await select(app, pilot, fleet.id_of(name))
    await pilot.press("L")
    screen = app.screen
    assert isinstance(screen, LabsScreen)
    await read_again(app, pilot, screen)
    return screen


async def read_again(app, pilot, screen: LabsScreen) -> None:
    """One poll now (the screen's own loop polls too), then its message is handled."""
    await app.workers.wait_for_complete()
    await screen.session.refresh()
    await pilot.pause()
    await pilot.pause()


def fake_of(fleet, fake_cml, name: str):
    return fake_cml.worker(fleet.instance_ids[name])


def row_text(table: LabTable, lab_id: str) -> list[str]:
    return [cell.plain for cell in table.get_row(lab_id)]


async def test_the_screen_lists_every_lab_literally_and_polls_only_while_open(
    make_fleet, open_app, fake_cml
):
    fleet = await make_fleet([("busy", "us-east-1", 2), ("other", "us-east-1", 0)])
    fake = fake_of(fleet, fake_cml, "busy")
    odd = fake.add_lab("[bold]x[/] \u202eevil", owner="m[red]allory", nodes=4, state="STOPPED")
    async with open_app(fleet) as (app, pilot):
        labs_service = fleet.controller.labs()
        assert labs_service.open_sessions() == []
        screen = await open_labs(app, pilot, fleet, "busy")
        table = screen.table
        assert set(table.shown_ids) == {lab.id for lab in fake.labs_snapshot()}
        assert labs_service.open_sessions() == [fleet.id_of("busy")]
        cells = row_text(table, odd)
        assert cells[1] == "[bold]x[/] \\u202eevil"
        assert cells[2] == "m[red]allory"
        assert cells[3] == "■ STOPPED" and cells[4] == "0/4"
        for lab in fake.labs_snapshot():
            if lab.running:
                row = row_text(table, lab.id)
                assert row[3] == "▶ STARTED" and row[4] == f"{lab.node_count}/{lab.node_count}"
        busy = str(screen.query_one("#labs-busy").render())
        assert busy.startswith("busy: 2 labs run")
        assert "never stops a worker while a lab runs" in busy
        header = str(screen.query_one("#labs-header").render())
        assert "3 labs · 2 started" in header
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is app.main_screen
        assert labs_service.open_sessions() == []


async def test_stop_a_lab_and_see_its_state_change(make_fleet, open_app, fake_cml):
    fleet = await make_fleet([("busy", "us-east-1", 1)])
    fake = fake_of(fleet, fake_cml, "busy")
    (lab,) = fake.labs_snapshot()
    async with open_app(fleet) as (app, pilot):
        screen = await open_labs(app, pilot, fleet, "busy")
        assert row_text(screen.table, lab.id)[3] == "▶ STARTED"
        await pilot.press("S")  # one lab: no question
        await settle(app, pilot)
        assert fake.labs_snapshot()[0].state == "STOPPED"
        await read_again(app, pilot, screen)
        assert row_text(screen.table, lab.id)[3] == "■ STOPPED"
        assert any(f'stop lab: "{lab.title}"' in text for text in notices(app))
        # The lab's record, wherever telemetry of the same moment falls in the trail.
        records = [
            e.data
            for e in fleet.controller.events_for(fleet.id_of("busy"))
            if e.type == "cmltui.worker.lab-action.v1"
        ]
        assert records and {"action": "stop", "lab_id": lab.id}.items() <= records[-1].items()
        await pilot.press("e")
        trail = app.screen
        assert isinstance(trail, EventTrailScreen)
        shown = str(trail.query_one("#event-trail Static").render())
        assert f"lab-action action=stop lab_title={lab.title} requested_by=" in shown
        assert f'action-requested action=lab-stop target=lab {lab.id} "{lab.title}"' in shown
        await pilot.press("escape")


async def test_wipe_checks_cml_rules_then_asks_with_cancel_focused(make_fleet, open_app, fake_cml):
    fleet = await make_fleet([("busy", "us-east-1", 1)])
    fake = fake_of(fleet, fake_cml, "busy")
    (lab,) = fake.labs_snapshot()
    async with open_app(fleet) as (app, pilot):
        screen = await open_labs(app, pilot, fleet, "busy")
        await pilot.press("w")
        assert app.screen is screen  # no dialog: CML would refuse
        assert any("wipe needs a stopped lab: stop it first" in t for t in notices(app))
        assert f"labs/{lab.id}/wipe" not in fake.counters.requests_by_path
        fake.set_lab_state(lab.id, "STOPPED")
        await read_again(app, pilot, screen)
        await pilot.press("w")
        dialog = app.screen
        assert isinstance(dialog, ConfirmScreen)
        assert app.focused.id == "cancel"
        assert dialog.names == [f'"{lab.title}" ({lab.id[:8]})']
        await pilot.press("y")
        await settle(app, pilot)
        assert fake.labs_snapshot()[0].state == "DEFINED_ON_CORE"


async def test_delete_asks_for_the_title_and_offers_stop_wipe_and_delete(
    make_fleet, open_app, fake_cml
):
    fleet = await make_fleet([("busy", "us-east-1", 1)])
    fake = fake_of(fleet, fake_cml, "busy")
    (running,) = fake.labs_snapshot()
    defined = fake.add_lab("Spare", nodes=2)
    async with open_app(fleet) as (app, pilot):
        screen = await open_labs(app, pilot, fleet, "busy")
        screen.table.move_cursor(row=screen.table.get_row_index(defined))
        await pilot.press("ctrl+d")
        dialog = app.screen
        assert isinstance(dialog, DeleteLabsScreen) and not dialog.free
        assert app.focused.id == "cancel"
        assert dialog.query_one("#confirm", Button).disabled
        dialog.query_one("#confirm-text", Input).focus()
        await pilot.press(*"Spar", "enter")
        assert app.screen is dialog  # not the title yet
        await pilot.press("e", "enter")
        await settle(app, pilot)
        assert defined not in {lab.id for lab in fake.labs_snapshot()}
        await read_again(app, pilot, screen)
        screen.table.move_cursor(row=screen.table.get_row_index(running.id))
        await pilot.press("ctrl+d")  # started: CML would refuse a delete
        dialog = app.screen
        assert isinstance(dialog, DeleteLabsScreen) and dialog.free
        assert dialog.query_one("#confirm", Button).label.plain == "Stop, wipe and delete"
        dialog.query_one("#confirm-text", Input).value = running.title
        await pilot.pause()
        await pilot.click("#confirm")
        await settle(app, pilot)
        assert fake.labs_snapshot() == []
        await read_again(app, pilot, screen)
        assert screen.table.row_count == 0


async def test_download_never_overwrites_without_asking(make_fleet, open_app, fake_cml, tmp_path):
    fleet = await make_fleet([("busy", "us-east-1", 1)])
    (lab,) = fake_of(fleet, fake_cml, "busy").labs_snapshot()
    target = tmp_path / "mine.yaml"
    target.write_text("keep me", encoding="utf-8")
    async with open_app(fleet) as (app, pilot):
        await open_labs(app, pilot, fleet, "busy")
        await pilot.press("d")
        dialog = app.screen
        assert isinstance(dialog, DownloadLabScreen)
        field = dialog.query_one("#download-path", Input)
        assert field.value == f"{lab.title}.yaml"
        field.value = str(target)
        field.focus()
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.screen is dialog and target.read_text(encoding="utf-8") == "keep me"
        overwrite = dialog.query_one("#overwrite", Button)
        assert overwrite.display and not overwrite.disabled
        assert app.focused.id == "cancel"
        await pilot.click("#overwrite")
        await settle(app, pilot)
        assert app.screen is not dialog
        assert f"title: {lab.title}" in target.read_text(encoding="utf-8")


async def test_import_checks_the_file_before_sending(make_fleet, open_app, fake_cml, tmp_path):
    fleet = await make_fleet([("busy", "us-east-1", 1)])
    fake = fake_of(fleet, fake_cml, "busy")
    (lab,) = fake.labs_snapshot()
    good = tmp_path / "good.yaml"
    good.write_text(fake_cml.worker(fleet.instance_ids["busy"]).lab_download(lab.id)[1], "utf-8")
    async with open_app(fleet) as (app, pilot):
        screen = await open_labs(app, pilot, fleet, "busy")
        await pilot.press("i")
        dialog = app.screen
        assert isinstance(dialog, ImportLabScreen)
        await pilot.press(*str(tmp_path / "missing.yaml"), "enter")
        await settle(app, pilot)
        assert app.screen is dialog
        assert "does not exist" in str(dialog.query_one("#import-status").render())
        assert "import" not in fake.counters.requests_by_path
        dialog.query_one("#import-path", Input).value = str(good)
        dialog.query_one("#import-title", Input).value = "Copied"
        await pilot.click("#import")
        await settle(app, pilot)
        titles = sorted(item.title for item in fake.labs_snapshot())
        assert titles == sorted([lab.title, "Copied"])
        await read_again(app, pilot, screen)
        assert screen.table.row_count == 2


async def test_read_only_lists_and_downloads_but_changes_nothing(
    make_fleet, open_app, fake_cml, tmp_path
):
    fleet = await make_fleet([("busy", "us-east-1", 1)], read_only=True)
    fake = fake_of(fleet, fake_cml, "busy")
    async with open_app(fleet, read_only=True) as (app, pilot):
        screen = await open_labs(app, pilot, fleet, "busy")
        assert screen.table.row_count == 1
        await pilot.press("S")
        await settle(app, pilot)
        assert fake.running_lab_count() == 1
        refusal = "Read-only mode: 'stop' is disabled (started with --read-only)."
        assert any(refusal in t for t in notices(app))
        await pilot.press("question_mark")
        assert isinstance(app.screen, LabsHelpScreen)
        await pilot.press("escape")
        await pilot.press("d")
        assert isinstance(app.screen, DownloadLabScreen)
        await pilot.press("escape")
