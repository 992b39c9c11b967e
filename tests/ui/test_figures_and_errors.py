"""Figures carry their age, the detail follows the highlighted row, every error is reachable.

On the in-memory service: the snapshots say exactly what the controller would publish
(``telemetry_live``, ``seen_*``, ``detached``, ``problems``), byte for byte.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from textual.widgets import Input

from cmltui.domain.enums import CMLServiceStatus, CMLWorkerStatus
from cmltui.services.snapshot import SourceHealth
from cmltui.ui.widgets.detail import DetailPane
from cmltui.ui.widgets.header import FleetHeader, OutageBanner, StatusLine
from cmltui.ui.widgets.worker_table import WorkerTable
from tests.ui.fake_service import NOW, FakeFleetService, make_app, make_snapshot


def stale_stopped(index: int, **overrides):
    """A worker stopped 40 minutes ago whose last figures were high: they are history now."""
    fields = dict(
        status=CMLWorkerStatus.STOPPED,
        service_status=CMLServiceStatus.AVAILABLE,  # what CML last said, before the stop
        telemetry_live=False,
        telemetry_at=NOW - timedelta(minutes=40),
        cpu_utilization=97.0,
        memory_utilization=88.0,
        active_labs_count=3,
        seen_cpu_utilization=97.0,
        seen_memory_utilization=88.0,
        seen_active_labs_count=3,
    )
    fields.update(overrides)
    return make_snapshot(index, **fields)


def cells(table: WorkerTable, worker_id: str, *keys: str) -> list[str]:
    return [table.get_cell(worker_id, key).plain.strip() for key in keys]


async def test_figures_that_are_not_live_never_look_live(tmp_path):
    stopped = stale_stopped(1, name="old-busy")
    running = make_snapshot(4, name="live-calm", cpu_utilization=10.0, memory_utilization=20.0)
    service = FakeFleetService([stopped, running])
    app = make_app(service, tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        await pilot.pause()
        table = app.main_screen.query_one(WorkerTable)
        assert cells(table, stopped.id, "cpu", "mem", "labs") == ["—", "—", "—"]
        assert cells(table, running.id, "cpu", "mem") == ["10%", "20%"]
        # Not running: whatever CML said last, the service is not available.
        assert "● available" not in table.get_cell(stopped.id, "service").plain
        assert "● available" in table.get_cell(running.id, "service").plain

        # Sorting by CPU (either way) uses live figures only: the stopped worker goes last.
        while table.sort_column != "cpu":
            await pilot.press("o")
        assert table.shown_ids == [running.id, stopped.id]
        await pilot.press("O")
        assert table.shown_ids == [running.id, stopped.id]
        for column in ("mem", "labs"):
            table.set_sort(column, True)
            assert table.shown_ids == [running.id, stopped.id]

        table.move_cursor(row=table.get_row_index(stopped.id))
        await pilot.pause()
        detail = app.main_screen.query_one(DetailPane).text()
        assert "Telemetry (not live)" in detail
        assert "last seen 40 min ago" in detail
        assert "97%" in detail and "88%" in detail  # the last figures, said to be old
        assert "● available" not in detail

        # The age moves with the clock.
        app.clock.advance(minutes=80)  # type: ignore[attr-defined]
        app.main_screen.tick()
        assert "last seen 2 h ago" in app.main_screen.query_one(DetailPane).text()


async def test_stop_does_not_warn_about_labs_that_are_history(tmp_path):
    """A worker whose last lab count is not live is stopped without a "running labs" warning."""
    worker = stale_stopped(1, status=CMLWorkerStatus.RUNNING, telemetry_live=False)
    service = FakeFleetService([worker])
    app = make_app(service, tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        await pilot.pause()
        await pilot.press("S")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.screen is app.main_screen
        assert ("stop", (worker.id,)) in service.calls


async def test_detached_and_problems_mark_the_row_and_fill_the_detail(tmp_path):
    detached = make_snapshot(1, name="lost-tag", detached=True)
    troubled = make_snapshot(
        2, name="copied", problems=("i-0copy is a copy: same cmltui:worker-id tag",)
    )
    fine = make_snapshot(3, name="fine")
    service = FakeFleetService([detached, troubled, fine])
    app = make_app(service, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        table = app.main_screen.query_one(WorkerTable)
        # At 80 columns the name column is too narrow for "⚠ detached" and the name: the row
        # has the short mark (the detail's title says "detached"; wider, the row does too).
        assert table.get_cell(detached.id, "name").plain == "⚠ lost-tag"
        assert table.get_cell(troubled.id, "name").plain.startswith("⚠")
        assert "⚠" not in table.get_cell(fine.id, "name").plain
        # The filter finds them by their warning.
        await pilot.press("slash", *"detached", "enter")
        assert table.shown_ids == [detached.id]
        await pilot.press("slash", "escape")

        detail = app.main_screen.query_one(DetailPane)
        table.move_cursor(row=table.get_row_index(detached.id))
        await pilot.pause()
        assert "managed tag" in detail.text()
        assert "detached" in str(detail.border_title)
        table.move_cursor(row=table.get_row_index(troubled.id))
        await pilot.pause()
        assert "i-0copy is a copy" in detail.text()
        assert "1 problem" in str(detail.border_title)


def lettered_fleet() -> list:
    return [make_snapshot(n, name=f"{prefix}-{n}") for n, prefix in enumerate("abcde", 1)]


async def paste_filter(pilot, screen, text: str) -> None:
    """The filter changes in one go (a paste), so the cursor's index does not move."""
    await pilot.press("slash")
    screen.query_one("#filter", Input).value = text
    await pilot.press("enter")


async def test_detail_shows_the_highlighted_row_after_a_filter(tmp_path):
    workers = lettered_fleet()
    app = make_app(FakeFleetService(workers), tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        await pilot.pause()
        screen = app.main_screen
        table = screen.query_one(WorkerTable)
        detail = screen.query_one(DetailPane)
        await pilot.press("j")  # b-2, second row
        assert detail.worker_id == table.selected_id == workers[1].id
        # The filter hides b-2; the cursor stays on the second row, c-3 now.
        await paste_filter(pilot, screen, "[acd]-")
        assert table.selected_id == workers[2].id
        assert detail.worker_id == table.selected_id


async def test_detail_follows_the_row_while_paused(tmp_path):
    workers = lettered_fleet()
    service = FakeFleetService(workers)
    app = make_app(service, tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        await pilot.pause()
        screen = app.main_screen
        table = screen.query_one(WorkerTable)
        detail = screen.query_one(DetailPane)
        await pilot.press("j", "p")  # b-2, then pause
        # Paused: a filter, a sort and a change set leave the detail on the cursor's row.
        await paste_filter(pilot, screen, "[acd]-")
        assert table.selected_id == workers[2].id
        assert detail.worker_id == table.selected_id
        await paste_filter(pilot, screen, "[ade]-")  # c-3 goes, e-5 comes: d-4 second
        assert table.selected_id == workers[3].id
        assert detail.worker_id == table.selected_id
        await pilot.press("O")
        assert detail.worker_id == table.selected_id
        service.publish([replace(workers[3], cpu_utilization=1.0)])
        await pilot.pause()
        assert detail.worker_id == table.selected_id
        assert table.snapshots[workers[3].id].cpu_utilization != 1.0  # still frozen
        await pilot.press("p")
        assert table.snapshots[workers[3].id].cpu_utilization == 1.0
        assert detail.worker_id == table.selected_id


async def test_header_says_paused_not_updated_while_paused(tmp_path):
    app = make_app(FakeFleetService(lettered_fleet()), tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        await pilot.pause()
        header = app.main_screen.query_one(FleetHeader)
        assert "updated 12 s ago" in header.render_text(NOW).plain
        await pilot.press("p")
        app.clock.advance(seconds=30)  # type: ignore[attr-defined]
        app.main_screen.tick()
        shown = header.render_text(app.clock()).plain
        assert "paused for 30 s" in shown and "updated" not in shown
        await pilot.press("p")
        assert "updated 42 s ago" in header.render_text(app.clock()).plain


async def test_status_line_counts_every_error_and_E_lists_them_all(tmp_path):
    service = FakeFleetService([make_snapshot(1)])
    service.errors = (
        SourceHealth("us-east-1", "throttled past every attempt " * 3, NOW, 8.0),
        SourceHealth("us-west-2", "access denied on DescribeInstances", NOW),
        SourceHealth("cml:cml-worker-1", "connection refused", NOW),
    )
    app = make_app(service, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        line = app.main_screen.query_one(StatusLine)
        painted = app.export_screenshot()
        assert "us-east-1:" in str(line.render())
        assert "+2 more" in str(line.render())
        assert "+2" in painted  # the count is on screen, not cut off
        await pilot.press("E")
        listed = "\n".join(str(w.render()) for w in app.screen.query("#errors-body Static"))
        for health in service.errors:
            assert health.source in listed and health.error.strip() in listed
        await pilot.press("escape")
        assert app.screen is app.main_screen
        # Wide enough: every error is on the line itself.
        service.errors = service.errors[1:]
        service.publish([make_snapshot(1)])
        await pilot.pause()
        assert "+1 more" in str(line.render())
        wide = line.line_for(200).plain
        assert "us-west-2:" in wide and "cml:cml-worker-1:" in wide and "more" not in wide


async def test_detail_shows_the_highlighted_row_after_a_typed_burst(tmp_path):
    """Typed fast (tmux send-keys, a paste): every row goes and comes back while the filter is
    half typed, and highlight messages about rows long gone arrive after the last keystroke."""
    from tests.ui.test_rendering import send_burst

    # Published newest first: the rows come back in that order, then are sorted by name.
    workers = [make_snapshot(n, name=f"cml-lab-{n:02d}") for n in range(8, 0, -1)]
    app = make_app(FakeFleetService(workers), tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        await pilot.pause()
        screen = app.main_screen
        table = screen.query_one(WorkerTable)
        detail = screen.query_one(DetailPane)
        await pilot.press("j", "j")
        send_burst(app, "/lab-0[4-8]")
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert table.row_count == 5
        assert detail.worker_id == table.selected_id


async def test_new_errors_on_a_shown_status_line_repaint_it_without_a_layout_pass(tmp_path):
    """A layout pass repaints the whole screen (tens of ms at 1,000 rows): errors come and
    go with refreshes, and the status line and the outage banner are one screen line
    whatever they say. Only showing or hiding them lays out."""
    service = FakeFleetService([make_snapshot(1)])
    service.errors = (SourceHealth("us-east-1", "throttled", NOW, 8.0),)
    service.all_regions_failing = True
    app = make_app(service, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        line = app.main_screen.query_one(StatusLine)
        banner = app.main_screen.query_one(OutageBanner)
        assert line.display and banner.display
        layouts = (line._layout_updates, banner._layout_updates)
        for n in range(3):
            service.errors = (SourceHealth("us-east-1", f"throttled {n} " * 20, NOW, 8.0),)
            service.last_success_at = NOW - timedelta(minutes=n + 5)
            service.publish([make_snapshot(1)])
            await pilot.pause()
            assert f"throttled {n}" in str(line.render())
            assert f"{n + 5} min ago" in str(banner.render())
        assert (line._layout_updates, banner._layout_updates) == layouts
        service.errors = ()
        service.all_regions_failing = False
        service.publish([make_snapshot(1)])
        await pilot.pause()
        assert not line.display and not banner.display
