"""The fleet table's own cell render gives DataTable's segments, for every column and state."""

from __future__ import annotations

from dataclasses import replace

import pytest
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.widgets import DataTable

from cmltui.ui.widgets.cell_render import render_one_line_cell
from cmltui.ui.widgets.worker_table import WorkerTable
from tests.ui.fake_service import FakeFleetService, make_app, make_snapshot


def _states() -> list[tuple[bool, bool]]:
    return [(False, False), (True, False), (False, True), (True, True)]


@pytest.mark.parametrize("size", [(200, 40), (80, 24)])
async def test_every_cell_renders_as_datatable_renders_it(tmp_path, size):
    workers = [make_snapshot(n) for n in range(1, 13)]
    # Odd remote text: long, wide characters, escapes, and a marked row.
    workers[0] = replace(workers[0], name="ｗｉｄｅ-名前-" + "x" * 80)
    workers[1] = replace(workers[1], name="tab\there [bold]not markup[/]")
    app = make_app(FakeFleetService(workers), tmp_path)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        table = app.main_screen.query_one(WorkerTable)
        table.toggle_marks([workers[3].id])
        await pilot.pause()
        compared = 0
        for row_index in range(table.row_count):
            for column_index, column in enumerate(table.ordered_columns):
                width = column.get_render_width(table)
                for cursor, hover in _states():
                    base = table._get_row_style(row_index, table.rich_style)
                    ours = table._render_text_cell(
                        row_index,
                        column_index,
                        table.get_cell_at((row_index, column_index)),
                        base,
                        width,
                        cursor,
                        hover,
                    )
                    theirs = DataTable._render_cell(
                        table, row_index, column_index, base, width, cursor, hover
                    )
                    assert ours == theirs, (row_index, column.key, cursor, hover)
                    compared += 1
        assert compared == table.row_count * len(table.columns) * 4


@pytest.mark.parametrize(
    "cell",
    [
        Text("plain"),
        Text("right", justify="right"),
        Text("centre", justify="center"),
        Text("a much longer text than the cell", overflow="ellipsis"),
        Text("folded text that wraps", no_wrap=False),
        Text.assemble(("red", "red"), " and ", ("bold", "bold"), style="italic"),
        Text("\ttabbed"),
        Text(""),
    ],
)
def test_one_line_cells_match_rich_layers(cell):
    """Against Rich's layers directly (what DataTable builds), outside any app."""
    from rich.console import Console
    from rich.padding import Padding
    from textual.renderables.styled import Styled

    console = Console(width=120, color_system="truecolor")
    pre = Style(color="white", bgcolor="blue") + Style.from_meta({"row": 0, "column": 1})
    post = Style(bold=True)
    for width in (1, 4, 12, 30):
        options = console.options.update_dimensions(width, 1).update(no_wrap=True)
        expected = console.render_lines(
            Styled(Padding(cell, (0, 0)), pre_style=pre, post_style=post), options
        )
        assert render_one_line_cell(console, options, cell, width, pre, post) == expected


def test_a_cell_of_two_lines_is_left_to_rich():
    from rich.console import Console

    console = Console(width=40)
    options = console.options.update_dimensions(10, 1)
    assert render_one_line_cell(console, options, Text("a\nb"), 10, Style(), None) is None
    assert render_one_line_cell(console, options, Text("a"), 0, Style(), None) is None
    assert isinstance(
        render_one_line_cell(console, options, Text("a"), 3, Style(), None)[0][0], Segment
    )


async def test_partial_repaints_leave_no_stale_line(tmp_path):
    """After change sets, marks, sorts, scrolls and cursor moves, the screen is what a full
    repaint of the same data shows: no line kept an older row."""
    import random

    workers = [make_snapshot(n) for n in range(1, 121)]
    service = FakeFleetService(workers)
    app = make_app(service, tmp_path)
    rng = random.Random(13)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        table = app.main_screen.query_one(WorkerTable)
        for step in range(40):
            kind = rng.choice(["change", "change", "change", "key"])
            if kind == "change":
                chosen = rng.sample(sorted(service.workers), rng.choice([1, 3, 12]))
                service.publish(
                    [
                        replace(
                            service.workers[worker_id],
                            cpu_utilization=float(rng.randrange(100)),
                            active_labs_count=rng.randrange(5),
                        )
                        for worker_id in chosen
                    ]
                )
            else:
                await pilot.press(rng.choice(["j", "k", "space", "o", "G", "g", "pagedown"]))
            await pilot.pause()
            shown = app.export_screenshot()
            table.refresh()
            await pilot.pause()
            assert app.export_screenshot() == shown, f"stale line after step {step} ({kind})"


async def test_writes_to_unknown_columns_or_rows_change_nothing(tmp_path):
    workers = [make_snapshot(n) for n in range(1, 4)]
    app = make_app(FakeFleetService(workers), tmp_path)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        table = app.main_screen.query_one(WorkerTable)
        before = {key: dict(row) for key, row in table._data.items()}
        count = table._update_count
        table.write_cells(workers[0].id, {"no-such-column": Text("x")})
        table.write_cells("no-such-worker", {"cpu": Text("99%")})
        assert {key: dict(row) for key, row in table._data.items()} == before
        assert table._update_count == count
        table.write_cells(workers[0].id, {"cpu": Text("99%")})
        assert table.get_cell(workers[0].id, "cpu").plain == "99%"
        assert table._update_count == count + 1
