"""Targets are visible: the mark count is on screen, marked rows the filter hides are named and
counted in the action's confirmation, and marks clear once an action is accepted."""

from __future__ import annotations

from textual.widgets import Input, Static

from cmltui.domain.enums import CMLWorkerStatus
from cmltui.ui.screens.confirm import ConfirmScreen, TerminateScreen
from cmltui.ui.screens.forms import LicenceScreen
from cmltui.ui.widgets.header import FleetHeader
from cmltui.ui.widgets.worker_table import WorkerTable
from tests.ui.fake_service import FakeFleetService, make_app, make_snapshot

STARTED = {CMLWorkerStatus.PENDING, CMLWorkerStatus.RUNNING}
STOPPING = {CMLWorkerStatus.STOPPING, CMLWorkerStatus.STOPPED}


def dialog_text(dialog) -> str:
    return "\n".join(str(widget.render()) for widget in dialog.query(Static))


def header_text(app) -> str:
    return app.main_screen.query_one(FleetHeader).render_text(app.clock()).plain


async def settle(app, pilot) -> None:
    await app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.pause()


async def mark(app, pilot, *worker_ids: str) -> None:
    table = app.main_screen.query_one(WorkerTable)
    for worker_id in worker_ids:
        table.move_cursor(row=table.get_row_index(worker_id))
        await pilot.pause()
        await pilot.press("space")


async def test_hidden_marked_rows_are_named_before_start_and_marks_clear_after(
    make_fleet, open_app
):
    fleet = await make_fleet(
        [("alpha-1", "us-east-1", 0), ("alpha-2", "us-east-1", 0), ("beta-1", "us-west-2", 0)]
    )
    ids = {name: fleet.id_of(name) for name in ("alpha-1", "alpha-2", "beta-1")}
    await fleet.controller.stop_workers(list(ids.values()))
    await fleet.controller.refresh_once()
    async with open_app(fleet, size=(80, 24)) as (app, pilot):
        table = app.main_screen.query_one(WorkerTable)
        await mark(app, pilot, ids["alpha-1"], ids["beta-1"])
        assert "2 marked" in header_text(app)
        await pilot.press("slash", *"^alpha", "enter")
        assert table.row_count == 2
        # On screen (not only in the header's model): count and hidden count.
        assert "2 marked, 1 hidden" in app.export_screenshot().replace("&#160;", " ")

        await pilot.press("s")
        dialog = app.screen
        assert isinstance(dialog, ConfirmScreen)  # it asks: a target is out of sight
        assert sorted(dialog.names) == ["alpha-1", "beta-1"]
        shown = dialog_text(dialog)
        assert "1 of these 2 is hidden by the filter" in shown
        assert "beta-1  (hidden by the filter)" in shown
        await pilot.press("n")
        await settle(app, pilot)
        assert fleet.controller.find("beta-1").state.status == CMLWorkerStatus.STOPPED
        assert len(table.marked) == 2  # cancelled: the marks stay

        await pilot.press("s")
        await pilot.press("y")
        await settle(app, pilot)
        assert fleet.controller.find("alpha-1").state.status in STARTED
        assert fleet.controller.find("beta-1").state.status in STARTED
        assert fleet.controller.find("alpha-2").state.status == CMLWorkerStatus.STOPPED
        assert table.marked == set()  # accepted: the marks have done their job
        assert "marked" not in header_text(app)


async def test_one_hidden_marked_row_is_not_stopped_without_a_question(make_fleet, open_app):
    fleet = await make_fleet([("seen", "us-east-1", 0), ("unseen", "us-east-1", 0)])
    async with open_app(fleet) as (app, pilot):
        await mark(app, pilot, fleet.id_of("unseen"))
        await pilot.press("slash", *"^seen", "enter")
        await pilot.press("S")
        dialog = app.screen
        assert isinstance(dialog, ConfirmScreen)
        assert dialog.names == ["unseen"]
        assert "It is hidden by the filter" in dialog_text(dialog)
        await pilot.press("y")
        await settle(app, pilot)
        assert fleet.controller.find("unseen").state.status in STOPPING
        assert fleet.controller.find("seen").state.status == CMLWorkerStatus.RUNNING


async def test_terminate_names_hidden_targets_and_clears_the_marks(tmp_path):
    workers = [make_snapshot(n, name=f"{prefix}-{n}") for n, prefix in enumerate("aab", 1)]
    service = FakeFleetService(workers)
    app = make_app(service, tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        await pilot.pause()
        await mark(app, pilot, workers[0].id, workers[2].id)
        await pilot.press("slash", *"^a", "enter")
        await pilot.press("ctrl+d")
        dialog = app.screen
        assert isinstance(dialog, TerminateScreen)
        text = dialog_text(dialog)
        assert "1 of these 2 is hidden by the filter" in text
        assert "b-3  (hidden by the filter)" in text
        dialog.query_one("#confirm-text", Input).focus()
        await pilot.press("2", "enter")
        await settle(app, pilot)
        assert ("terminate", (workers[0].id, workers[2].id)) in service.calls
        assert app.main_screen.query_one(WorkerTable).marked == set()


async def test_auto_stop_and_licence_say_when_their_target_is_hidden(tmp_path):
    workers = [make_snapshot(1, name="shown-1"), make_snapshot(4, name="hidden-4")]
    service = FakeFleetService(workers)
    app = make_app(service, tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        await pilot.pause()
        await mark(app, pilot, workers[1].id)
        await pilot.press("slash", *"shown", "enter")

        await pilot.press("a")
        dialog = app.screen
        assert isinstance(dialog, ConfirmScreen)
        assert "hidden-4  (hidden by the filter)" in dialog_text(dialog)
        await pilot.press("n")
        assert not [call for call in service.calls if call[0] == "opt_out"]

        await pilot.press("l")
        licence = app.screen
        assert isinstance(licence, LicenceScreen)
        assert licence.worker.id == workers[1].id
        assert "hidden by the filter" in dialog_text(licence)
        await pilot.press("escape")
        assert app.main_screen.query_one(WorkerTable).marked == {workers[1].id}


async def test_marks_clear_once_an_action_is_accepted(tmp_path):
    workers = [make_snapshot(n) for n in (2, 5, 8)]  # stopped ones
    service = FakeFleetService(workers)
    app = make_app(service, tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        await pilot.pause()
        table = app.main_screen.query_one(WorkerTable)
        await mark(app, pilot, workers[0].id, workers[1].id)
        await pilot.press("s")  # every target in sight: no question
        await settle(app, pilot)
        assert ("start", (workers[0].id, workers[1].id)) in service.calls
        assert table.marked == set()
        # The next key acts on the selected row alone, not on the last selection.
        table.move_cursor(row=table.get_row_index(workers[2].id))
        await pilot.pause()
        await pilot.press("s")
        await settle(app, pilot)
        assert service.calls[-1] == ("start", (workers[2].id,))
