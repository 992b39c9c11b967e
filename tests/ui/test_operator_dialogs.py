"""The import, new-worker and licence dialogs as a first-time operator meets them (issue 15):
keys do what the hint says, failures are shown where the operator looks, forms keep their
values when refused."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Static

from cmltui.aws.dto import CMLWorkerInstanceDto
from cmltui.config import Config
from cmltui.domain.clock import FrozenClock
from cmltui.domain.enums import CMLWorkerStatus
from cmltui.ui.app import CmlTuiApp
from cmltui.ui.screens.lists import ImportScreen
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
