"""The detail follows the cursor in the same turn as the cursor, and without a layout pass: a
key's whole effect (cursor and detail) is painted in one frame that repaints only what changed
(a layout pass repaints the whole screen twice: ~16 ms a key at 1,000 rows, measured with
``bench/loop_lag.py``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rich.console import Console
from rich.text import Text
from textual.widgets import Static

from cmltui.domain.events import CloudEvent
from cmltui.ui.widgets.detail import DetailPane
from cmltui.ui.widgets.detail_lines import EVENT_ROWS, event_lines, screen_rows
from tests.ui.fake_service import NOW, FakeFleetService, make_snapshot
from tests.ui.test_rendering import make_app


class _UnevenTrails(FakeFleetService):
    """Worker n has n lifecycle events: the event block's content differs in length."""

    def events_for(self, worker_id: str | None, limit: int = 200) -> list[CloudEvent]:
        if worker_id is None or worker_id not in self.workers:
            return []
        count = int(worker_id.rsplit("-", 1)[1])
        return [
            CloudEvent(
                id=f"{worker_id}-{k}",
                type="cmltui.worker.status-updated.v1",
                time=self.now - timedelta(minutes=k),
                subject=worker_id,
                data={"old_status": "stopped", "new_status": "running", "changed_by": "bob"},
            )
            for k in range(count)
        ][-limit:]


async def test_the_detail_follows_the_cursor_before_the_next_frame(tmp_path):
    app = make_app(_UnevenTrails([make_snapshot(n) for n in range(1, 6)]), tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        await pilot.pause()
        screen = app.main_screen
        for _ in range(3):
            # Layout requests of the pane's parts (Textual counts them on each widget).
            layouts = sum(w._layout_updates for w in screen.detail.query(Static))
            screen.table.action_cursor_down()  # what the down key runs
            # No pause: the detail was updated by the cursor's own move, not a later message.
            assert screen.detail.worker_id == screen.table.selected_id
            assert sum(w._layout_updates for w in screen.detail.query(Static)) == layouts
            await pilot.pause()


def test_the_event_block_keeps_its_height():
    heights = {len(event_lines([])), len(event_lines(_events(3))), len(event_lines(_events(25)))}
    assert heights == {EVENT_ROWS + 1}  # its title and EVENT_ROWS lines, blank after fewer
    shown = [line.plain for line in event_lines(_events(25))]
    assert "state24" in shown[-1] and "state15" in shown[1]  # the newest ten, oldest first
    assert not any("state14" in line for line in shown)
    few = [line.plain for line in event_lines(_events(3))]
    assert "state2" in few[3] and few[4:] == [""] * (EVENT_ROWS - 3)


def test_screen_rows_count_folded_lines_and_not_cut_ones():
    console = Console(width=200)
    short = [Text("a", no_wrap=True), Text("b", no_wrap=True)]
    assert screen_rows(short, 40, console) == 2
    assert screen_rows([Text("x" * 80, no_wrap=True), Text("b")], 40, console) == 2  # cut
    assert screen_rows([Text("x" * 80), Text("b")], 40, console) == 3  # folded in two
    assert screen_rows([Text("word " * 20)], 40, console) == 3  # 100 cells on words
    assert screen_rows([Text("a\nb", no_wrap=True)], 40, console) == 2


async def test_moving_between_workers_of_different_heights_lays_out_no_more(tmp_path):
    """Workers' blocks differ in height (a folding CML error, no SSH line when stopped, a
    terminated worker's audit): once the pane has shown the tallest, moving between them
    repaints the blocks alone. In columns the pane pads each column to the most it took."""
    error = "unreachable 120 min after start: system_information: connection refused " * 2
    workers = [
        make_snapshot(1),
        make_snapshot(2),  # stopped: no endpoint, no SSH line
        make_snapshot(3, last_error=error, last_error_since=NOW),
        make_snapshot(4, detached=True),
        make_snapshot(5, terminated_at=NOW, terminated_by="bob"),
    ]
    app = make_app(_UnevenTrails(workers), tmp_path)
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause()
        screen = app.main_screen
        assert screen.detail.in_columns
        for _ in range(len(workers)):  # the first pass may lay out: the heights are new
            screen.table.action_cursor_down()
            await pilot.pause()
        heights = [s.size.height for s in screen.detail.query(Static)]
        for key in ("k", "k", "j", "k", "k", "k", "j", "j", "j"):
            layouts = sum(w._layout_updates for w in screen.detail.query(Static))
            await pilot.press(key)
            await pilot.pause()
            assert screen.detail.worker_id == screen.table.selected_id
            assert sum(w._layout_updates for w in screen.detail.query(Static)) == layouts
            assert [s.size.height for s in screen.detail.query(Static)] == heights
        # The error is shown in full (folded), and gone on a worker without one.
        screen.table.select_worker("w-0003")
        await pilot.pause()
        assert error.strip() in " ".join(screen.detail.text().split())
        screen.table.select_worker("w-0001")
        await pilot.pause()
        assert "connection refused" not in screen.detail.text()


async def test_in_one_column_nothing_is_padded(tmp_path):
    workers = [make_snapshot(1), make_snapshot(2)]  # running, then stopped: fewer lines
    app = make_app(FakeFleetService(workers), tmp_path)
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause()
        pane = app.main_screen.query_one(DetailPane)
        pane.set_columns(False)
        pane.show(workers[0], [])
        await pilot.pause()
        pane.show(workers[1], [])
        await pilot.pause()
        identity = pane.query_one("#detail-identity", Static)
        drawn, rows = pane._drawn["identity"]
        assert drawn and drawn[-1].plain  # no blank line padded after the last one
        assert identity.size.height == rows


def _events(count: int) -> list[CloudEvent]:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    return [
        CloudEvent(
            id=f"e-{k}",
            type="cmltui.worker.status-updated.v1",
            time=now + timedelta(minutes=k),
            subject="w",
            data={"old_status": "stopped", "new_status": f"state{k}", "changed_by": "bob"},
        )
        for k in range(count)
    ]
