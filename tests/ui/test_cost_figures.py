"""The cost figures (issue 16 #4) as the dashboard shows them: the fleet's today / week / saved
in the header when it has room, the worker's in the detail pane; both from the change set."""

from __future__ import annotations

from pathlib import Path

from cmltui.config import Config
from cmltui.domain.clock import FrozenClock
from cmltui.ui.app import CmlTuiApp
from cmltui.ui.widgets.detail import DetailPane
from cmltui.ui.widgets.header import FleetHeader
from tests.ui.fake_service import NOW, FakeFleetService, make_snapshot


def _app(service: FakeFleetService, tmp_path: Path) -> CmlTuiApp:
    return CmlTuiApp(
        service,
        config=Config(regions=["us-east-1"]),
        aws_profile_label="lab-admin",
        read_only=False,
        clock=FrozenClock(NOW),
        log_path=tmp_path / "cmltui.log",
    )


def _workers():
    return [
        make_snapshot(
            1, cost_today_usd=12.0, cost_week_usd=40.0, saved_today_usd=2.0, saved_week_usd=8.5
        ),
        make_snapshot(2, cost_today_usd=1.5, cost_week_usd=3.25, saved_week_usd=0.0),
    ]


async def test_header_shows_the_fleet_today_week_and_saved_when_it_has_room(tmp_path):
    app = _app(FakeFleetService(_workers()), tmp_path)
    async with app.run_test(size=(160, 30)) as pilot:
        await pilot.pause()
        header = app.main_screen.query_one(FleetHeader).render_text(NOW).plain
        assert "today $13.50  week $43.25  saved $8.50" in header
    app = _app(FakeFleetService(_workers()), tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        # 80 columns: the fleet's counts and hourly cost keep their place; no cut figure.
        header = app.main_screen.query_one(FleetHeader).render_text(NOW).plain
        assert "today" not in header and "$" in header


async def test_detail_shows_the_worker_today_week_and_saved_this_week(tmp_path):
    app = _app(FakeFleetService(_workers()), tmp_path)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        text = app.main_screen.query_one(DetailPane).text()
        assert "today         $12.00" in text
        assert "this week     $40.00" in text
        assert "auto-stops    saved $8.50 this week" in text
