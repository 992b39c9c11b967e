"""Rows are written when they are in view: whatever brings a row on screen (a scroll, a jump,
a sort, a filter), it shows its newest snapshot, never blank or old cells."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from cmltui.ui.app import CmlTuiApp
from tests.ui.fake_service import FakeFleetService, make_snapshot
from tests.ui.test_rendering import make_app

ROWS = 400


def _screen_text(app: CmlTuiApp) -> str:
    """The painted screen as plain text (what the operator reads)."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def _shows_newest(app: CmlTuiApp, worker_id: str) -> bool:
    """The row's cells are those of the worker's newest snapshot."""
    table = app.main_screen.table
    expected = table._cells(table.snapshots[worker_id])
    return all(table.get_cell(worker_id, key) == expected[key] for key in table.column_keys)


def _fleet_app(tmp_path: Path) -> tuple[FakeFleetService, CmlTuiApp]:
    service = FakeFleetService([make_snapshot(n) for n in range(1, ROWS + 1)])
    return service, make_app(service, tmp_path)


async def test_a_jump_to_the_last_row_shows_written_rows(tmp_path):
    service, app = _fleet_app(tmp_path)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        table = app.main_screen.table
        last_id = table.shown_ids[-1]
        service.publish([replace(service.workers[last_id], cml_version="7.7.7")])
        await pilot.pause()
        assert "7.7.7" not in _screen_text(app)  # off screen: not painted
        await pilot.press("G")
        await pilot.pause()
        assert table.selected_id == last_id
        assert _shows_newest(app, last_id)
        assert "7.7.7" in _screen_text(app)


async def test_a_change_to_a_row_out_of_view_shows_when_it_comes_into_view(tmp_path):
    service, app = _fleet_app(tmp_path)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        table = app.main_screen.table
        far_id = table.shown_ids[-50]
        service.publish([replace(service.workers[far_id], cml_version="7.7.7")])
        await pilot.pause()
        assert "7.7.7" not in _screen_text(app)
        table.select_worker(far_id)
        await pilot.pause()
        assert _shows_newest(app, far_id)
        assert "7.7.7" in _screen_text(app)


async def test_a_sort_brings_unwritten_rows_into_view_written(tmp_path):
    _, app = _fleet_app(tmp_path)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        table = app.main_screen.table
        table.set_sort("name", reverse=True)
        await pilot.pause()
        await pilot.press("g")  # the cursor stayed on its worker, now last: go to the top
        await pilot.pause()
        for worker_id in table.shown_ids[:20]:
            assert _shows_newest(app, worker_id)


async def test_a_filter_shows_rows_that_were_never_in_view_written(tmp_path):
    _, app = _fleet_app(tmp_path)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        table = app.main_screen.table
        table.set_filter("^cml-worker-39[0-9]$")
        await pilot.pause()
        assert len(table.shown_ids) == 10
        for worker_id in table.shown_ids:
            assert _shows_newest(app, worker_id)


async def test_rows_out_of_view_are_not_written_until_they_come_into_view(tmp_path):
    service, app = _fleet_app(tmp_path)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        table = app.main_screen.table
        # The point of writing in view: a change to every row builds cells for a screenful.
        service.publish([replace(s, memory_utilization=1.0) for s in service.workers.values()])
        await pilot.pause()
        written = [wid for wid in table.shown_ids if _shows_newest(app, wid)]
        assert 20 <= len(written) <= 60
