"""Rendering rules checked on the in-memory service: safe text, freshness, errors, columns."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from rich.text import Text
from textual.command import CommandPalette

from cmltui.domain.enums import CMLWorkerStatus
from cmltui.services.snapshot import SourceHealth
from cmltui.ui.app import CmlTuiApp
from cmltui.ui.formatting import message, shown, status_text
from cmltui.ui.widgets.detail import DetailPane
from cmltui.ui.widgets.header import FleetHeader, OutageBanner, StatusLine
from cmltui.ui.widgets.worker_table import WorkerTable, compile_filter
from tests.ui.fake_service import NOW, FakeFleetService, make_app, make_snapshot


def test_terminal_controls_are_escaped_not_removed():
    assert shown("evil\x1b[2J\x07name\u202e") == "evil\\x1b[2J\\x07name\\u202e"
    assert shown(None) == "—"
    # A message reads its line breaks as spaces; every other control is still escaped.
    assert message("boom\r\nat line 2\x9b31m") == "boom at line 2\\x9b31m"


def test_states_differ_without_colour():
    symbols = {status_text(status).plain.split()[0] for status in CMLWorkerStatus}
    assert {"▶", "■", "…", "✖"} <= symbols


def test_invalid_regex_is_plain_text():
    assert compile_filter("w[1").search("cml-w[1")
    assert compile_filter("^cml-(1|2)$").search("cml-2")
    assert not compile_filter("^cml-(1|2)$").search("cml-3")


async def test_remote_strings_are_literal_and_controls_escaped(tmp_path):
    worker = make_snapshot(
        1,
        name="[bold red]boom[/]\x1b]52;c;AAAA\x07",
        cml_version="[@click=app.quit]2.9",
        last_error="[blink]bad[/]",
    )
    service = FakeFleetService([worker])
    service.errors = (SourceHealth("us-east-1", "[red]throttled[/]", NOW, 8.0),)
    app = make_app(service, tmp_path)
    async with app.run_test(size=(200, 40)) as pilot:
        await pilot.pause()
        table = app.main_screen.query_one(WorkerTable)
        name_cell = table.get_cell(worker.id, "name")
        # Escaped (longer than the name column: its start and end around an ellipsis; the
        # detail has it whole).
        assert name_cell.plain == "[bold red]boom…b]52;c;AAAA\\x07"
        assert "[bold red]boom[/]\\x1b]52;c;AAAA\\x07" in (
            app.main_screen.query_one(DetailPane).text()
        )
        # Wider than its column: cut with an ellipsis (literal); the detail pane has it whole.
        assert table.get_cell(worker.id, "version").plain == "[@click…"
        assert "[@click=app.quit]2.9" in app.main_screen.query_one(DetailPane).text()
        status_line = app.main_screen.query_one(StatusLine)
        assert status_line.display
        assert "us-east-1: [red]throttled[/], retrying in 8 s" in str(status_line.render())
        fields = app.main_screen.query_one(DetailPane).text()
        assert "[blink]bad[/]" in fields
        await pilot.click("#workers")  # a click on the text must not run app.quit
        assert app.is_running
        assert "\x1b]52" not in app.export_screenshot()


async def test_freshness_cached_then_live_and_outage_banner(tmp_path):
    service = FakeFleetService([make_snapshot(1)])
    service.from_cache = True
    service.last_success_at = NOW - timedelta(minutes=5)
    app = make_app(service, tmp_path)
    async with app.run_test() as pilot:
        await pilot.pause()
        header = app.main_screen.query_one(FleetHeader)
        assert "cached, 5 min old" in header.render_text(NOW).plain
        service.from_cache = False
        service.all_regions_failing = True
        service.publish([make_snapshot(1, cpu_utilization=99.0)])
        await pilot.pause()
        banner = app.main_screen.query_one(OutageBanner)
        assert banner.display and "5 min ago" in str(banner.render())
        assert "updated 5 min ago" in header.render_text(NOW).plain
        service.all_regions_failing = False
        service.last_success_at = NOW
        service.errors = ()
        service.publish([make_snapshot(1)])
        await pilot.pause()
        assert not banner.display
        assert not app.main_screen.query_one(StatusLine).display


async def test_changed_cells_only_and_marks_cleared_when_workers_disappear(tmp_path):
    workers = [make_snapshot(n) for n in range(1, 5)]
    service = FakeFleetService(workers)
    app = make_app(service, tmp_path)
    async with app.run_test() as pilot:
        await pilot.pause()
        table = app.main_screen.query_one(WorkerTable)
        await pilot.press("M")
        assert len(table.marked) == 4
        before = _cells_by_key(table)
        service.publish([replace(workers[0], cpu_utilization=5.0)], removed=[workers[3].id])
        await pilot.pause()
        after = _cells_by_key(table)
        # Cells are replaced, never mutated: a new object is a written cell.
        written = [key for key, cell in after.items() if before.get(key) is not cell]
        assert written == [(workers[0].id, "cpu")]
        assert workers[3].id not in table.marked and len(table.marked) == 3
        assert table.row_count == 3


def _cells_by_key(table: WorkerTable) -> dict[tuple[str | None, str | None], object]:
    return {
        (row_key.value, column_key.value): cell
        for row_key, row in table._data.items()
        for column_key, cell in row.items()
    }


async def test_a_changed_row_repaints_its_line_only(tmp_path):
    """A change set touching one row in view re-renders that row's line, not the table's."""
    workers = [make_snapshot(n) for n in range(1, 9)]
    service = FakeFleetService(workers)
    app = make_app(service, tmp_path)
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause()
        table = app.main_screen.query_one(WorkerTable)
        painted: list[int] = []
        original = table.render_line

        def counting(y: int):
            painted.append(y)
            return original(y)

        table.render_line = counting  # type: ignore[method-assign]
        service.publish([replace(workers[2], cpu_utilization=61.0)])
        await pilot.pause()
        await pilot.pause()
        line = table.get_row_index(workers[2].id) + table.header_height
        assert painted == [line]
        assert "61" in table.render_line(line).text


@pytest.mark.parametrize(
    ("width", "height", "dropped"),
    [(80, 24, "uptime"), (120, 35, None), (160, 45, None), (200, 24, None)],
)
async def test_columns_dropped_by_priority(tmp_path, width, height, dropped):
    app = make_app(FakeFleetService([make_snapshot(1)]), tmp_path)
    async with app.run_test(size=(width, height)) as pilot:
        await pilot.pause()
        keys = app.main_screen.query_one(WorkerTable).column_keys
        assert {"name", "state"} <= set(keys)
        if dropped:
            assert dropped not in keys
        else:
            assert len(keys) == 12


async def _palette_searched(app, pilot) -> None:
    """Until the palette has taken every key typed and its search workers have finished."""
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()


async def test_palette_lists_only_allowed_actions(tmp_path):
    app = make_app(FakeFleetService([make_snapshot(1)]), tmp_path, read_only=True)
    async with app.run_test(size=(120, 35)) as pilot:
        await pilot.press("ctrl+p")
        assert isinstance(app.screen, CommandPalette)
        await pilot.press(*"refresh")
        await _palette_searched(app, pilot)
        options = [str(o.prompt) for o in app.screen.query_one("CommandList").options]
        assert any("Refresh now" in o for o in options), options  # the search does answer
        await pilot.press(*["backspace"] * len("refresh"), *"termin")
        await _palette_searched(app, pilot)
        terminate_hits = [
            option
            for option in app.screen.query_one("CommandList").options
            if "Terminate" in str(option.prompt)
        ]
        assert terminate_hits == []
        await pilot.press("escape")


async def test_palette_runs_a_registry_action(tmp_path):
    service = FakeFleetService([make_snapshot(1)])
    app = make_app(service, tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        await pilot.press("ctrl+p", *"refresh now")
        await _palette_searched(app, pilot)
        options = [str(o.prompt) for o in app.screen.query_one("CommandList").options]
        assert any("Refresh now" in o for o in options), options
        assert ("refresh", ()) not in service.calls
        await pilot.press("enter")
        await pilot.pause()
        assert ("refresh", ()) in service.calls


async def test_insecure_tls_badge(tmp_path):
    from cmltui.config import CmlConfig

    app = make_app(FakeFleetService(), tmp_path, cml=CmlConfig(verify_tls=False))
    async with app.run_test() as pilot:
        await pilot.pause()
        assert "INSECURE TLS" in app.main_screen.query_one(FleetHeader).render_text(NOW).plain


async def test_unexpected_error_is_logged_and_toasted(tmp_path):
    class Broken(FakeFleetService):
        def events_for(self, worker_id, limit=200):
            raise RuntimeError("store exploded")

    app = make_app(Broken([make_snapshot(1)]), tmp_path)
    async with app.run_test() as pilot:
        await pilot.press("e")
        await pilot.pause()
        assert app.is_running
        assert [str(e) for e in app.unexpected_errors][-1] == "store exploded"
        log_file = tmp_path / "cmltui.log"
        assert "store exploded" in log_file.read_text()
        assert log_file.stat().st_mode & 0o777 == 0o600
        app.unexpected_errors.clear()


def test_sortable_cells_are_text():
    assert isinstance(status_text(CMLWorkerStatus.RUNNING), Text)


def send_burst(app: CmlTuiApp, keys: str) -> None:
    """Queue key events back to back, as a paste or ``tmux send-keys`` delivers them.

    ``Pilot.press`` waits for the app to go idle after every key, which hides races; this does
    not wait at all between keys.
    """
    from textual import events
    from textual.keys import _character_to_key

    for character in keys:
        if character == "\x1b":
            key = "escape"
        else:
            key = character if character.isalnum() else _character_to_key(character)
        event = events.Key(key, character)
        event.set_sender(app)
        app._driver.send_message(event)


async def test_filter_typed_in_a_burst_lands_in_the_filter(tmp_path):
    service = FakeFleetService([make_snapshot(n) for n in range(1, 13)])
    app = make_app(service, tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        await pilot.pause()
        table = app.main_screen.query_one(WorkerTable)
        # "c", "l" and "e" are bindings of the table (copy, licence, events): in a burst they
        # must reach the filter box, not the table.
        typed = "cml-worker-1[12]"
        send_burst(app, "/" + typed)
        await pilot.pause()
        await pilot.pause()
        assert app.screen is app.main_screen  # no dialog opened by a stray key
        assert app.main_screen.query_one("#filter").value == typed
        assert sorted(table.shown_ids) == ["w-0011", "w-0012"]
        assert app.clipboard == ""
        # "/" is a priority key; typed inside the filter it is text (a regex may need it).
        await pilot.press("slash")
        assert app.main_screen.query_one("#filter").value == typed + "/"


@pytest.mark.parametrize(
    ("size", "placement", "in_columns"),
    [((80, 24), "replace", False), ((120, 35), "below", True), ((200, 24), "beside", False)],
)
async def test_detail_pane_placement_and_focus(tmp_path, size, placement, in_columns):
    app = make_app(FakeFleetService([make_snapshot(n) for n in range(1, 4)]), tmp_path)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        screen = app.main_screen
        table = screen.query_one(WorkerTable)
        detail = screen.query_one(DetailPane)
        assert screen.has_class(f"-{placement}")
        assert detail.in_columns is in_columns
        assert detail.display == (placement != "replace")
        await pilot.press("j", "enter")
        assert detail.contains_focus() and detail.display
        assert detail.worker_id == table.selected_id == "w-0002"
        # The table stays on screen unless the pane replaces it.
        assert table.parent.display == (placement != "replace")
        if in_columns:
            # Three columns side by side, each its own scroll and focus stop.
            columns = list(detail.query(".detail-column"))
            assert len({column.region.x for column in columns}) == 3
            assert {column.region.y for column in columns} == {columns[0].region.y}
            await pilot.press("tab")
            assert app.focused is columns[1]
        await pilot.press("escape")
        assert app.focused is table and table.parent.display


def test_detail_placement_rules():
    from cmltui.ui.screens.main import detail_placement

    assert detail_placement(80, 24) == "replace"
    assert detail_placement(120, 30) == "below"
    assert detail_placement(179, 29) == "replace"
    assert detail_placement(180, 29) == "beside"


def test_glued_escape_is_split_back():
    from cmltui.ui.keys import split_glued_escape

    assert split_glued_escape("alt+shift+g", "G") == [("escape", "\x1b"), ("G", "G")]
    assert split_glued_escape("alt+q", "q") == [("escape", "\x1b"), ("q", "q")]
    assert split_glued_escape("G", "G") is None
    assert split_glued_escape("alt+up", None) is None


async def test_keys_right_after_esc_reach_the_main_view(tmp_path):
    """``esc G q`` in one burst: the help closes, G goes to the last row, q quits."""
    from textual import events

    from cmltui.ui.screens.lists import HelpScreen

    service = FakeFleetService([make_snapshot(n) for n in range(1, 6)])
    app = make_app(service, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        # What a terminal delivers for esc then G: one alt key.
        app._driver.send_message(events.Key("alt+shift+g", "G"))
        await pilot.pause()
        assert app.screen is app.main_screen
        assert app.main_screen.query_one(WorkerTable).cursor_row == 4
        # The same through the filter: esc closes it, the keys behind act on the table.
        await pilot.press("slash", "x")
        send_burst(app, "\x1bg")
        await pilot.pause()
        assert app.main_screen.query_one("#filter").value == ""
        assert app.main_screen.query_one(WorkerTable).cursor_row == 0
        send_burst(app, "q")
        await pilot.pause()
        await pilot.pause()
    assert service.stopped


async def test_large_change_sets_are_applied_in_slices_in_arrival_order(tmp_path):
    from cmltui.ui.app import CHANGE_SET_SLICE_ROWS

    count = CHANGE_SET_SLICE_ROWS * 2 + 50
    workers = [make_snapshot(n) for n in range(1, count + 1)]
    service = FakeFleetService(workers)
    app = make_app(service, tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        await pilot.pause()
        table = app.main_screen.query_one(WorkerTable)
        assert table.row_count == count
        applied: list[int] = []
        original = app.main_screen.apply_change_set

        def spy(change_set):
            applied.append(len(change_set.changed))
            return original(change_set)

        app.main_screen.apply_change_set = spy  # type: ignore[method-assign]
        # Every row changes (a slow first set), then one row changes again right behind it:
        # the second set must land after every slice of the first.
        service.publish([replace(w, cpu_utilization=50.0) for w in workers])
        service.publish([replace(workers[-1], cpu_utilization=7.0)])
        for _ in range(10):
            await pilot.pause()
        assert applied == [CHANGE_SET_SLICE_ROWS, CHANGE_SET_SLICE_ROWS, 50, 1]
        assert table.snapshots[workers[0].id].cpu_utilization == 50.0
        assert table.snapshots[workers[-1].id].cpu_utilization == 7.0
        assert table.row_count == count


async def test_the_first_fleet_is_applied_whole_and_later_ones_in_slices(tmp_path):
    """The stored fleet arriving after mount (the engine loads it on its own thread) is applied
    in one piece: nothing is on screen yet, and each slice would sort the table again."""
    from cmltui.ui.app import CHANGE_SET_SLICE_ROWS

    count = CHANGE_SET_SLICE_ROWS * 2 + 50
    workers = [make_snapshot(n) for n in range(1, count + 1)]
    service = FakeFleetService([])
    app = make_app(service, tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        await pilot.pause()
        table = app.main_screen.query_one(WorkerTable)
        assert table.row_count == 0
        applied: list[int] = []
        original = app.main_screen.apply_change_set

        def spy(change_set):
            applied.append(len(change_set.changed))
            return original(change_set)

        app.main_screen.apply_change_set = spy  # type: ignore[method-assign]
        service.publish(workers)
        for _ in range(5):
            await pilot.pause()
        assert applied == [count]
        assert table.row_count == count
        assert table.get_row_at(0)[1].plain == workers[0].name
        service.publish([replace(w, cpu_utilization=50.0) for w in workers])
        for _ in range(10):
            await pilot.pause()
        assert applied == [count, CHANGE_SET_SLICE_ROWS, CHANGE_SET_SLICE_ROWS, 50]


async def test_detail_lists_lifecycle_events_not_telemetry(tmp_path):
    from cmltui.domain.events import CloudEvent

    class NoisyService(FakeFleetService):
        def events_for(self, worker_id, limit=200):
            lifecycle = super().events_for(worker_id, limit)
            telemetry = [
                CloudEvent(
                    id=f"t{k}",
                    type="cmltui.worker.telemetry-updated.v1",
                    time=NOW - timedelta(seconds=k),
                    subject=worker_id,
                    data={"active_labs_count": 7},
                )
                for k in range(50)
            ]
            return (lifecycle + telemetry)[-limit:]

    service = NoisyService([make_snapshot(1)])
    app = make_app(service, tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        await pilot.pause()
        shown = app.main_screen.query_one(DetailPane).text()
        assert "status-updated" in shown
        assert "telemetry-updated" not in shown


async def test_refresh_loops_are_held_until_the_stored_fleet_is_painted(tmp_path):
    service = FakeFleetService([make_snapshot(n) for n in range(1, 600)])
    app = make_app(service, tmp_path)
    async with app.run_test() as pilot:
        for _ in range(50):
            if service.loops_released:
                break
            await pilot.pause(0.02)
        assert service.started and service.loops_held
        assert service.loops_released
        # Released only once every stored row is in the table.
        assert app.main_screen.table.row_count == 599
