"""Dialogs on a small terminal: every field and button can be reached and seen. A form taller
than the screen scrolls inside its box (focus brings the field into view); before, the policy
form at 80x24 cut off its auto-stop choice and its Save button for good."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.errors import NoWidget
from textual.widget import Widget

from cmltui.config import Config
from cmltui.domain.clock import FrozenClock
from cmltui.ui.app import CmlTuiApp
from tests.ui.fake_service import NOW, FakeFleetService, make_snapshot


def _app(tmp_path: Path) -> CmlTuiApp:
    return CmlTuiApp(
        FakeFleetService([make_snapshot(1), make_snapshot(2)]),
        config=Config.model_validate(
            {"regions": ["us-east-1"], "schedules": {"emea-class": {"zone": "Europe/Paris"}}}
        ),
        aws_profile_label="lab-admin",
        read_only=False,
        clock=FrozenClock(NOW),
        log_path=tmp_path / "cmltui.log",
    )


def _seen(app: CmlTuiApp, widget: Widget) -> bool:
    """The widget is painted on screen: the top-most widget at its first cell is it (or a
    part of it)."""
    region = widget.region
    if not region.width or not region.height:
        return False
    try:
        found, _ = app.screen.get_widget_at(region.x + 1, region.y + region.height // 2)
    except NoWidget:  # outside the screen
        return False
    return found is widget or widget in found.ancestors_with_self


@pytest.mark.parametrize("size", [(80, 24), (60, 16)], ids=["80x24", "60x16"])
@pytest.mark.parametrize("key", ["P", "n", "l"], ids=["policy", "new-worker", "licence"])
async def test_every_control_of_a_form_can_be_focused_and_seen(tmp_path, size, key):
    app = _app(tmp_path)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        await pilot.press(key)
        await pilot.pause()
        form = app.screen
        assert form is not app.main_screen
        controls = [w for w in form.query("Input, Select, Button") if w.focusable]
        assert controls
        for control in controls:
            control.focus()
            await pilot.pause()
            await pilot.pause()
            assert _seen(app, control), f"{control!r} not visible at {size}"
