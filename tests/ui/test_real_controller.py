"""Pilot tests of every binding and dialog against the real controller (moto + fake CML)."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Button, Input

from cmltui.demo.fake_cml.worker import DEMO_LICENSE_TOKEN
from cmltui.domain.enums import CMLWorkerStatus, LicenseStatus
from cmltui.ui.screens.confirm import ConfirmScreen, TerminateScreen
from cmltui.ui.screens.forms import LicenceScreen, NewWorkerScreen
from cmltui.ui.screens.lists import EventTrailScreen, HelpScreen, ImportScreen
from cmltui.ui.widgets.detail import DetailPane
from cmltui.ui.widgets.header import FleetHeader
from cmltui.ui.widgets.worker_table import WorkerTable

GONE = {CMLWorkerStatus.SHUTTING_DOWN, CMLWorkerStatus.TERMINATED}
STOPPING = {CMLWorkerStatus.STOPPING, CMLWorkerStatus.STOPPED}


def status_of(fleet, name: str) -> CMLWorkerStatus:
    return fleet.controller.find(name).state.status


async def settle(app, pilot) -> None:
    """Wait for the action workers, then for the messages they posted."""
    await app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.pause()


def table_of(app) -> WorkerTable:
    return app.main_screen.query_one(WorkerTable)


def notices(app) -> list[str]:
    return [str(n.message) for n in app._notifications]


async def select(app, pilot, worker_id: str) -> None:
    table = table_of(app)
    table.move_cursor(row=table.get_row_index(worker_id))
    await pilot.pause()


async def test_fleet_rows_and_detail_pane(make_fleet, open_app):
    fleet = await make_fleet([("w-a", "us-east-1", 2), ("w-b", "us-west-2", 0)])
    async with open_app(fleet) as (app, pilot):
        table = table_of(app)
        assert table.row_count == 2
        assert set(table.shown_ids) == {fleet.id_of("w-a"), fleet.id_of("w-b")}
        await select(app, pilot, fleet.id_of("w-a"))
        detail = app.main_screen.query_one(DetailPane)
        assert detail.worker_id == fleet.id_of("w-a")
        fields = app.main_screen.query_one(DetailPane).text()
        assert fleet.instance_ids["w-a"] in fields
        assert "Identity & infrastructure" in fields and "Audit" in fields
        header = app.main_screen.query_one(FleetHeader)
        assert header.totals.total == 2


async def test_navigation_keys_and_enter_esc(make_fleet, open_app):
    fleet = await make_fleet([(f"nav-{n}", "us-east-1", 0) for n in range(4)])
    async with open_app(fleet, size=(80, 24)) as (app, pilot):
        table = table_of(app)
        await pilot.press("G")
        assert table.cursor_row == 3
        await pilot.press("k")
        assert table.cursor_row == 2
        await pilot.press("g")
        assert table.cursor_row == 0
        await pilot.press("j", "down")
        assert table.cursor_row == 2
        await pilot.press("enter")
        detail = app.main_screen.query_one(DetailPane)
        assert app.focused is detail and detail.display
        assert detail.worker_id == table.selected_id
        await pilot.press("escape")
        assert app.focused is table


async def test_cursor_stays_on_its_worker_after_resort(make_fleet, open_app):
    fleet = await make_fleet([(f"sort-{n}", "us-east-1", 0) for n in range(4)])
    async with open_app(fleet) as (app, pilot):
        table = table_of(app)
        await pilot.press("j")
        chosen = table.selected_id
        assert table.cursor_row == 1
        await pilot.press("O")  # name, descending: row 1 becomes row 2
        assert table.selected_id == chosen
        assert table.cursor_row == 2
        assert table.shown_ids[2] == chosen
        await pilot.press("o")  # next sort column
        assert table.sort_column != "name"
        assert table.selected_id == chosen
        # A refresh that changes the sort column's values keeps the cursor too.
        await fleet.controller.refresh_once()
        await pilot.pause()
        assert table.selected_id == chosen


async def test_terminate_needs_the_name(make_fleet, open_app):
    fleet = await make_fleet([("doomed", "us-east-1", 0), ("keeper", "us-east-1", 0)])
    async with open_app(fleet) as (app, pilot):
        await select(app, pilot, fleet.id_of("doomed"))
        await pilot.press("ctrl+d")
        dialog = app.screen
        assert isinstance(dialog, TerminateScreen)
        # The field has the focus: what is typed at once is never dropped (issue 15).
        assert app.focused.id == "confirm-text"
        assert "doomed" not in dialog.query_one("#confirm-text", Input).placeholder
        confirm = dialog.query_one("#confirm", Button)
        assert confirm.disabled
        await pilot.press(*"keeper", "enter")
        await pilot.pause()
        assert app.screen is dialog and confirm.disabled
        dialog.query_one("#confirm-text", Input).value = ""
        await pilot.press(*"doomed")
        await pilot.pause()
        assert not confirm.disabled
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.screen is app.main_screen
        assert status_of(fleet, "doomed") in GONE
        assert status_of(fleet, "keeper") == CMLWorkerStatus.RUNNING


async def test_terminate_cancel_sends_nothing(make_fleet, open_app):
    fleet = await make_fleet([("safe", "us-east-1", 0)])
    async with open_app(fleet) as (app, pilot):
        await pilot.press("ctrl+d")
        assert isinstance(app.screen, TerminateScreen)
        await pilot.press("enter")  # an empty field: Enter does nothing
        await pilot.pause()
        assert isinstance(app.screen, TerminateScreen)
        await pilot.press("escape")  # esc cancels
        await settle(app, pilot)
        assert app.screen is app.main_screen
        assert status_of(fleet, "safe") == CMLWorkerStatus.RUNNING


async def test_filter_mark_all_stop_acts_on_exactly_the_filtered(make_fleet, open_app):
    fleet = await make_fleet(
        [("alpha-1", "us-east-1", 0), ("alpha-2", "us-west-2", 0), ("beta-1", "us-east-1", 0)]
    )
    async with open_app(fleet) as (app, pilot):
        table = table_of(app)
        await pilot.press("slash", *"^alpha", "enter")
        assert table.row_count == 2
        await pilot.press("M")
        assert table.marked == {fleet.id_of("alpha-1"), fleet.id_of("alpha-2")}
        await pilot.press("S")
        dialog = app.screen
        assert isinstance(dialog, ConfirmScreen)  # several marked: it asks
        assert dialog.names == ["alpha-1", "alpha-2"]
        await pilot.press("y")
        await settle(app, pilot)
        assert status_of(fleet, "alpha-1") in STOPPING
        assert status_of(fleet, "alpha-2") in STOPPING
        assert status_of(fleet, "beta-1") == CMLWorkerStatus.RUNNING
        await pilot.press("U")
        assert table.marked == set()
        await pilot.press("escape")  # leaves the table, back to the table
        await pilot.press("slash", "escape")
        assert table.row_count == 3


async def test_space_marks_and_start_applies_to_marked(make_fleet, open_app):
    fleet = await make_fleet([("m-1", "us-east-1", 0), ("m-2", "us-east-1", 0)])
    await fleet.controller.stop_workers([fleet.id_of("m-1"), fleet.id_of("m-2")])
    await fleet.controller.refresh_once()
    async with open_app(fleet) as (app, pilot):
        table = table_of(app)
        await pilot.press("g", "space")
        assert table.marked == {fleet.id_of("m-1")}
        assert table.cursor_row == 1  # space moves on, like htop
        await pilot.press("space", "space")  # marks m-2, then nothing below: m-2 unmarked
        await pilot.press("s")
        await settle(app, pilot)
        assert status_of(fleet, "m-1") in {CMLWorkerStatus.PENDING, CMLWorkerStatus.RUNNING}
        assert status_of(fleet, "m-2") == CMLWorkerStatus.STOPPED


async def test_stop_asks_when_a_lab_is_running(make_fleet, open_app):
    fleet = await make_fleet([("busy", "us-east-1", 2), ("quiet", "us-east-1", 0)])
    async with open_app(fleet) as (app, pilot):
        await select(app, pilot, fleet.id_of("quiet"))
        await pilot.press("S")  # one worker, no lab: no question
        await settle(app, pilot)
        assert app.screen is app.main_screen
        assert status_of(fleet, "quiet") in STOPPING
        await select(app, pilot, fleet.id_of("busy"))
        await pilot.press("S")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await settle(app, pilot)
        assert status_of(fleet, "busy") == CMLWorkerStatus.RUNNING


async def test_new_worker_form_validates_before_sending(make_fleet, open_app):
    fleet = await make_fleet([])
    async with open_app(fleet) as (app, pilot):
        await pilot.press("n")
        form = app.screen
        assert isinstance(form, NewWorkerScreen)
        await pilot.press(*"bad/name")
        await pilot.pause()
        assert form.query_one("#create", Button).disabled
        assert "letters" in str(form.query_one("#name-error").render())
        await pilot.press("enter")  # invalid: nothing sent, the form stays
        assert app.screen is form
        form.query_one("#name", Input).value = "lab-new"
        await pilot.pause()
        assert not form.query_one("#create", Button).disabled
        assert "CML-2.9.0-Ubuntu-22.04" in str(form.query_one("#ami").render())
        await pilot.press("enter")
        await settle(app, pilot)
        assert fleet.controller.find("lab-new") is not None
        assert fleet.id_of("lab-new") in table_of(app).snapshots


async def test_licence_deregister_then_register(make_fleet, open_app):
    fleet = await make_fleet([("lic", "us-east-1", 0)])
    async with open_app(fleet) as (app, pilot):
        await pilot.press("l")
        dialog = app.screen
        assert isinstance(dialog, LicenceScreen)
        assert not dialog.query("#token")  # registered: deregister only
        await pilot.click("#deregister")
        await settle(app, pilot)
        assert app.screen is app.main_screen
        worker = fleet.controller.find("lic")
        assert worker.state.license_status == LicenseStatus.UNREGISTERED
        await pilot.press("l")
        dialog = app.screen
        assert isinstance(dialog, LicenceScreen)
        assert dialog.query_one("#token", Input).password  # the token is masked
        assert not dialog.query("#deregister")  # nothing to deregister
        await pilot.press(*DEMO_LICENSE_TOKEN, "enter")
        await settle(app, pilot)
        assert app.screen is app.main_screen
        assert fleet.controller.find("lic").state.license_status == LicenseStatus.REGISTERED


async def test_import_discovered_instance(make_fleet, open_app, moto_client, cml_amis):
    fleet = await make_fleet([("managed", "us-east-1", 0)])
    ec2 = moto_client("ec2", "us-east-1")
    reply = ec2.run_instances(
        ImageId=cml_amis["us-east-1"],
        MinCount=1,
        MaxCount=1,
        InstanceType="c5.2xlarge",
        TagSpecifications=[
            {"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "stray-cml"}]}
        ],
    )
    stray_id = reply["Instances"][0]["InstanceId"]
    async with open_app(fleet) as (app, pilot):
        await pilot.press("i")
        dialog = app.screen
        assert isinstance(dialog, ImportScreen)
        await settle(app, pilot)
        assert [i.aws_instance_id for i in dialog.instances] == [stray_id]
        await pilot.press("space")
        await pilot.pause()
        await pilot.click("#import")
        await settle(app, pilot)
        assert fleet.controller.find(stray_id) is not None


async def test_events_help_copy_and_refresh(make_fleet, open_app):
    fleet = await make_fleet([("evt", "us-east-1", 0)])
    async with open_app(fleet) as (app, pilot):
        await pilot.press("e")
        trail = app.screen
        assert isinstance(trail, EventTrailScreen)
        assert any(e.type == "cmltui.worker.created.v1" for e in trail.events)
        await pilot.press("escape")
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await pilot.press("c")
        worker = fleet.controller.find("evt")
        assert worker.state.https_endpoint
        assert app.clipboard == worker.state.https_endpoint
        requests_before = fleet.controller.aws_request_count
        await pilot.press("r")
        for _ in range(50):
            await pilot.pause(0.05)
            if fleet.controller.aws_request_count > requests_before:
                break
        assert fleet.controller.aws_request_count > requests_before


async def test_pause_freezes_the_table_and_resume_catches_up(make_fleet, open_app):
    fleet = await make_fleet([("frozen", "us-east-1", 0)])
    async with open_app(fleet) as (app, pilot):
        table = table_of(app)
        worker_id = fleet.id_of("frozen")
        await pilot.press("p")
        assert "PAUSED" in app.main_screen.query_one(FleetHeader).render_text(fleet.clock()).plain
        await fleet.controller.stop_workers([worker_id])
        await pilot.pause()
        assert table.snapshots[worker_id].status == CMLWorkerStatus.RUNNING
        await pilot.press("p")
        assert table.snapshots[worker_id].status in STOPPING


async def test_read_only_hides_and_refuses_mutating_actions(make_fleet, open_app):
    fleet = await make_fleet([("ro", "us-east-1", 0)], read_only=True)
    async with open_app(fleet, read_only=True) as (app, pilot):
        shown = {
            binding.action
            for (_, binding, enabled, _) in app.screen.active_bindings.values()
            if binding.show
        }
        assert "start" not in shown and "terminate" not in shown and "filter" in shown
        header = app.main_screen.query_one(FleetHeader).render_text(fleet.clock()).plain
        assert "READ-ONLY" in header
        await pilot.press("S", "ctrl+d", "n")
        await settle(app, pilot)
        assert app.screen is app.main_screen  # no dialog opened
        assert status_of(fleet, "ro") == CMLWorkerStatus.RUNNING
        assert any("Read-only mode" in message for message in notices(app))


async def test_markup_in_a_name_tag_shows_literally(make_fleet, open_app):
    evil = "[bold red]x[/] [@click=app.quit]y[/]"
    fleet = await make_fleet([(evil, "us-east-1", 0)])
    async with open_app(fleet, size=(200, 40)) as (app, pilot):
        table = table_of(app)
        cell = table.get_cell(fleet.id_of(evil), "name")
        # The name column is narrower than this name: its start and end around an ellipsis,
        # still literal.
        head, ellipsis, tail = cell.plain.partition("…")
        assert isinstance(cell, Text) and ellipsis and head and tail
        assert evil.startswith(head) and evil.endswith(tail)
        assert evil in app.main_screen.query_one(DetailPane).text()
        assert evil.replace(" ", "&#160;") in app.export_screenshot() or evil in (
            app.export_screenshot()
        )
        await pilot.press("ctrl+d")
        assert evil in str(app.screen.query_one(".dialog-names Static").render())
        await pilot.press("escape")


async def test_q_quits_and_stops_the_controller(make_fleet, open_app):
    fleet = await make_fleet([("bye", "us-east-1", 0)])
    async with open_app(fleet) as (app, pilot):
        assert fleet.controller.is_running  # the app started the loops
        await pilot.press("q")
        await pilot.pause()
    assert not fleet.controller.is_running
    assert app.return_code == 0


async def test_a_toggles_the_idle_auto_stop_opt_out(make_fleet, open_app):
    fleet = await make_fleet([("keep-me", "us-east-1", 0), ("other", "us-east-1", 0)])
    async with open_app(fleet) as (app, pilot):
        await select(app, pilot, fleet.id_of("keep-me"))
        await pilot.press("a")
        await settle(app, pilot)
        assert fleet.controller.find("keep-me").state.auto_stop_opt_out
        assert not fleet.controller.find("other").state.auto_stop_opt_out
        assert any("keep-me" in n for n in notices(app))
        await pilot.press("a")
        await settle(app, pilot)
        assert not fleet.controller.find("keep-me").state.auto_stop_opt_out


async def test_retag_a_detached_worker(make_fleet, open_app, moto_client):
    """Issue 11: a worker whose managed tag was removed outside is kept, marked detached, and
    T puts the tags back after asking."""
    fleet = await make_fleet([("kept", "us-east-1", 0), ("other", "us-east-1", 0)])
    ec2 = moto_client("ec2", "us-east-1")
    instance_id = fleet.instance_ids["kept"]
    key = fleet.config.aws.managed_tag_key
    ec2.delete_tags(Resources=[instance_id], Tags=[{"Key": key}])
    fleet.clock.advance(minutes=5)
    await fleet.controller.refresh_ec2()
    async with open_app(fleet) as (app, pilot):
        await select(app, pilot, fleet.id_of("other"))
        await pilot.press("T")  # not detached: nothing to do, nothing asked
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
        assert any("Nothing to re-tag" in n for n in notices(app))
        await select(app, pilot, fleet.id_of("kept"))
        assert "detached" in app.main_screen.query_one(DetailPane).text()
        await pilot.press("T")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen) and app.screen.names == ["kept"]
        await pilot.press("y")
        await settle(app, pilot)
    reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    tags = {t["Key"]: t["Value"] for t in reservations[0]["Instances"][0]["Tags"]}
    assert tags[key] == "true" and tags["cmltui:worker-id"] == fleet.id_of("kept")
    await fleet.controller.refresh_ec2()
    assert not next(w for w in fleet.controller.workers() if w.name == "kept").detached
