"""The detail follows the cursor in the same turn as the cursor, and without a layout pass: a
key's whole effect (cursor and detail) is painted in one frame that repaints only what changed
(a layout pass repaints the whole screen twice: ~16 ms a key at 1,000 rows, measured with
``bench/loop_lag.py``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rich.text import Text
from textual.widgets import Static

from cmltui.domain.events import CloudEvent
from cmltui.ui.widgets.detail import EVENT_ROWS, _height_may_change, event_lines
from tests.ui.fake_service import FakeFleetService, make_snapshot
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


def test_a_height_change_is_told_apart():
    short = [Text("a", no_wrap=True), Text("b", no_wrap=True)]
    long_cut = [Text("x" * 80, no_wrap=True), Text("b", no_wrap=True)]
    long_folding = [Text("x" * 80), Text("b")]
    assert not _height_may_change(short, long_cut, 40)  # cut lines keep one screen line
    assert _height_may_change(short, long_folding, 40)  # a folding line may take two
    assert _height_may_change(short, [*short, Text("c")], 40)
    assert _height_may_change(None, short, 40)
    assert _height_may_change(short, [*short[:1], Text("a\nb", no_wrap=True)], 40)


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
