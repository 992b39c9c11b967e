"""The import, new-worker and licence dialogs as a first-time operator meets them (issue 15):
keys do what the hint says, failures are shown where the operator looks, forms keep their
values when refused."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Button, Input, Static

from cmltui.aws.dto import CMLWorkerInstanceDto
from cmltui.config import Config
from cmltui.demo.fake_cml import DEMO_LICENSE_TOKEN
from cmltui.domain.clock import FrozenClock
from cmltui.domain.enums import CMLWorkerStatus, LicenseStatus
from cmltui.services.snapshot import ActionResult
from cmltui.ui.actions import ACTIONS
from cmltui.ui.app import CmlTuiApp
from cmltui.ui.screens.forms import NAME_TAKEN, LicenceScreen, NewWorkerScreen
from cmltui.ui.screens.lists import ImportScreen, read_only_note
from cmltui.ui.widgets.worker_table import WorkerTable
from tests.ui.fake_service import NOW, FakeFleetService, make_snapshot


def make_app(service: FakeFleetService, tmp_path: Path, **config: object) -> CmlTuiApp:
    return CmlTuiApp(
        service,
        config=Config(regions=["us-east-1", "us-west-2"], **config),  # type: ignore[arg-type]
        aws_profile_label="lab-admin",
        read_only=False,
        clock=FrozenClock(NOW),
        log_path=tmp_path / "cmltui.log",
    )


def dialog_text(dialog) -> str:
    return "\n".join(str(widget.render()) for widget in dialog.query(Static))


async def settle(app, pilot) -> None:
    await app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.pause()


def stray(number: int, name: str) -> CMLWorkerInstanceDto:
    return CMLWorkerInstanceDto(
        aws_instance_id=f"i-0abc0000000000000{number}",
        region="us-east-1",
        ami_name="CML-2.9.0-Ubuntu-22.04",
        instance_type="c5.2xlarge",
        state=CMLWorkerStatus.RUNNING,
        tags={"Name": name},
    )


# -- import ---------------------------------------------------------------------------------


async def test_import_space_toggles_and_enter_imports_the_picked_ones(tmp_path):
    service = FakeFleetService([make_snapshot(1)], discovered=[stray(1, "one"), stray(2, "two")])
    app = make_app(service, tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        await pilot.press("i")
        dialog = app.screen
        assert isinstance(dialog, ImportScreen)
        await settle(app, pilot)
        assert "space picks, enter imports" in dialog_text(dialog)
        await pilot.press("down", "space")  # picks "two"
        await pilot.pause()
        assert [i.name for i in dialog.chosen] == ["two"]
        await pilot.press("enter")  # imports the picked one; it does not toggle the row
        await settle(app, pilot)
        assert app.screen is app.main_screen
        imported = [call for call in service.calls if call[0] == "import"]
        assert len(imported) == 1
        assert imported[0][1] == ("i-0abc00000000000002",)


async def test_import_enter_with_nothing_picked_says_how_to_pick(tmp_path):
    service = FakeFleetService([make_snapshot(1)], discovered=[stray(1, "one")])
    app = make_app(service, tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        await pilot.press("i")
        dialog = app.screen
        await settle(app, pilot)
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is dialog  # nothing sent, nothing toggled
        assert dialog.chosen == []
        assert not [call for call in service.calls if call[0] == "import"]
        assert any("space picks" in str(n.message) for n in app._notifications)


async def test_import_shows_discovery_failures_instead_of_nothing_to_import(tmp_path):
    service = FakeFleetService([make_snapshot(1)])
    service.discovery_failures = [
        "us-east-1 discovery: AccessDenied",
        "us-west-2 discovery: throttled",
    ]
    app = make_app(service, tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        await pilot.press("i")
        dialog = app.screen
        await settle(app, pilot)
        text = dialog_text(dialog)
        assert "Discovery failed: us-east-1 discovery: AccessDenied" in text
        assert "Discovery failed: us-west-2 discovery: throttled" in text
        assert "Nothing to import" not in text
        assert "No region could be searched" in text


async def test_import_one_failed_region_is_named_beside_what_was_found(tmp_path):
    service = FakeFleetService([make_snapshot(1)], discovered=[stray(1, "one")])
    service.discovery_failures = ["us-west-2 copy check: copies of managed workers not checked"]
    app = make_app(service, tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        await pilot.press("i")
        dialog = app.screen
        await settle(app, pilot)
        text = dialog_text(dialog)
        assert "Discovery failed: us-west-2 copy check" in text
        assert "1 instance found, 1 can be imported" in text


async def test_import_discovery_that_raises_is_shown_in_the_dialog(tmp_path):
    service = FakeFleetService([make_snapshot(1)])

    async def broken() -> list:
        raise RuntimeError("engine gone")

    service.discover = broken  # type: ignore[method-assign]
    app = make_app(service, tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        await pilot.press("i")
        dialog = app.screen
        await settle(app, pilot)
        text = dialog_text(dialog)
        assert "Discovery failed: engine gone" in text
        assert "Nothing to import" not in text


# -- new worker -----------------------------------------------------------------------------


def form_error(form, field: str) -> str:
    return str(form.query_one(f"#{field}-error", Static).render())


async def test_new_worker_name_taken_by_a_live_worker_is_refused_as_typed(tmp_path):
    gone = make_snapshot(2, name="old-lab", status=CMLWorkerStatus.TERMINATED)
    service = FakeFleetService([make_snapshot(1, name="lab-team-a"), gone])
    app = make_app(service, tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        await pilot.press("n")
        form = app.screen
        assert isinstance(form, NewWorkerScreen)
        await pilot.press(*" LAB-Team-A")  # same name key: trimmed, case-folded
        await pilot.pause()
        assert form_error(form, "name") == NAME_TAKEN
        assert form.query_one("#create", Button).disabled
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is form
        assert not [call for call in service.calls if call[0] == "create"]

        form.query_one("#name", Input).value = "old-lab"  # a terminated worker's name is free
        await pilot.pause()
        assert form_error(form, "name") == ""
        assert not form.query_one("#create", Button).disabled


async def test_new_worker_refused_after_submit_keeps_the_form_and_its_values(tmp_path):
    service = FakeFleetService([make_snapshot(1)])

    async def refuse(name: str, region: str, instance_type: str | None = None) -> ActionResult:
        service.calls.append(("create", (name, region, instance_type)))
        return ActionResult("create", refused=(f"{name}: a live worker already has this name",))

    service.create_worker = refuse  # type: ignore[method-assign]
    app = make_app(service, tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        await pilot.press("n")
        form = app.screen
        assert isinstance(form, NewWorkerScreen)
        await pilot.press(*"racer", "enter")
        await settle(app, pilot)
        assert [call[0] for call in service.calls] == ["create"]
        assert app.screen is form  # still open
        assert form.query_one("#name", Input).value == "racer"
        status = str(form.query_one("#create-status", Static).render())
        assert "Not created: racer: a live worker already has this name" in status
        assert not form.query_one("#create", Button).disabled  # can be sent again
        assert app.focused is form.query_one("#name", Input)


async def test_new_worker_error_after_submit_keeps_the_form(tmp_path):
    service = FakeFleetService([make_snapshot(1)])

    async def explode(name: str, region: str, instance_type: str | None = None) -> ActionResult:
        raise RuntimeError("engine gone")

    service.create_worker = explode  # type: ignore[method-assign]
    app = make_app(service, tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        await pilot.press("n", *"racer", "enter")
        await settle(app, pilot)
        form = app.screen
        assert isinstance(form, NewWorkerScreen)
        assert "engine gone" in str(form.query_one("#create-status", Static).render())
        assert form.query_one("#name", Input).value == "racer"


async def test_new_worker_accepted_closes_the_form(tmp_path):
    service = FakeFleetService([make_snapshot(1)])
    app = make_app(service, tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        await pilot.press("n", *"fresh-lab", "enter")
        await settle(app, pilot)
        assert app.screen is app.main_screen
        assert ("create", ("fresh-lab", "us-east-1", "c5.2xlarge")) in service.calls


async def test_new_worker_duplicate_name_on_the_real_controller(make_fleet, open_app):
    fleet = await make_fleet([("w-dup", "us-east-1", 0)])
    async with open_app(fleet) as (app, pilot):
        await pilot.press("n", *"W-Dup")
        await pilot.pause()
        form = app.screen
        assert isinstance(form, NewWorkerScreen)
        assert form_error(form, "name") == NAME_TAKEN
        # The controller refuses it with the same words (the form agrees with it).
        assert fleet.controller.name_problem("W-Dup") == NAME_TAKEN


# -- read-only --------------------------------------------------------------------------------


def read_only_app(service: FakeFleetService, tmp_path: Path, reason: str) -> CmlTuiApp:
    return CmlTuiApp(
        service,
        config=Config(regions=["us-east-1"]),
        aws_profile_label="lab-admin",
        read_only=True,
        read_only_reason=reason,
        clock=FrozenClock(NOW),
        log_path=tmp_path / "cmltui.log",
    )


async def test_read_only_refusal_says_why(tmp_path):
    reason = "/data/cmltui.json was written by a newer cmltui (schema 9)"
    service = FakeFleetService([make_snapshot(1)], read_only=True)
    app = read_only_app(service, tmp_path, reason)
    async with app.run_test(size=(120, 35)) as pilot:
        await pilot.press("a")
        await pilot.pause()
        told = [str(n.message) for n in app._notifications]
        assert any(reason in line for line in told), told
        assert not any("--read-only or" in line for line in told)
        assert not [call for call in service.calls if call[0] == "opt_out"]


def test_help_read_only_note_lists_every_mutating_key_and_the_reason():
    note = read_only_note("another reason").plain
    mutating = [spec.display for spec in ACTIONS if spec.mutating]
    assert "a" in mutating and "T" in mutating
    listed = note.split("Read-only mode: ")[1].split(" are off")[0]
    assert listed.replace(" and ", ", ").split(", ") == mutating
    assert "Why: another reason." in note


async def test_help_screen_read_only_shows_the_note(tmp_path):
    app = read_only_app(FakeFleetService([make_snapshot(1)]), tmp_path, "started with --read-only")
    async with app.run_test(size=(120, 35)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        text = dialog_text(app.screen)
        assert ", a, P, T and F are off" in text
        assert "Why: started with --read-only." in text


# -- licence ----------------------------------------------------------------------------------


def buttons(dialog) -> list[str]:
    return [str(button.id) for button in dialog.query(Button)]


async def test_licence_dialog_offers_what_the_state_allows(tmp_path):
    states = {
        "unregistered": LicenseStatus.UNREGISTERED,
        "evaluation": LicenseStatus.EVALUATION,
        "registered": LicenseStatus.REGISTERED,
        "expired": LicenseStatus.EXPIRED,
    }
    workers = [
        make_snapshot(n, name=name, license_status=status)
        for n, (name, status) in enumerate(states.items(), 1)
    ]
    app = make_app(FakeFleetService(workers), tmp_path)
    offered: dict[str, list[str]] = {}
    async with app.run_test(size=(120, 35)) as pilot:
        table = app.main_screen.query_one(WorkerTable)
        for worker in workers:
            table.move_cursor(row=table.get_row_index(worker.id))
            await pilot.pause()
            await pilot.press("l")
            dialog = app.screen
            assert isinstance(dialog, LicenceScreen)
            offered[worker.name] = buttons(dialog)
            assert bool(dialog.query("#token")) == ("register" in offered[worker.name])
            await pilot.press("escape")
            await pilot.pause()
    assert offered == {
        "unregistered": ["cancel", "register"],
        "evaluation": ["cancel", "register"],
        "registered": ["cancel", "deregister"],
        "expired": ["cancel", "deregister", "register"],
    }


async def test_licence_dialog_in_the_demo_names_the_accepted_token(tmp_path):
    worker = make_snapshot(1, license_status=LicenseStatus.UNREGISTERED)
    app = CmlTuiApp(
        FakeFleetService([worker]),
        config=Config(regions=["us-east-1"]),
        aws_profile_label="demo",
        read_only=False,
        demo_licence_token=DEMO_LICENSE_TOKEN,
        clock=FrozenClock(NOW),
        log_path=tmp_path / "cmltui.log",
    )
    async with app.run_test(size=(120, 35)) as pilot:
        await pilot.press("l")
        assert f"the fake CML accepts the token {DEMO_LICENSE_TOKEN}" in dialog_text(app.screen)


async def test_licence_dialog_outside_the_demo_names_no_token(tmp_path):
    worker = make_snapshot(1, license_status=LicenseStatus.UNREGISTERED)
    app = make_app(FakeFleetService([worker]), tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        await pilot.press("l")
        assert "accepts the token" not in dialog_text(app.screen)
