"""FixedTable's one-line geometry: the same regions, offsets and order as DataTable's own."""

from __future__ import annotations

import pytest
from rich.text import Text
from textual.app import App, ComposeResult
from textual.coordinate import Coordinate
from textual.widgets import DataTable

from cmltui.ui.widgets.fixed_table import FixedTable


class _TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield FixedTable(id="table")


def _expected_order(table: FixedTable) -> list[str]:
    """The row keys in display order, read from DataTable's own index map."""
    return [table._row_locations.get_key(index).value for index in range(table.row_count)]


def _assert_geometry_is_datatables(table: FixedTable) -> None:
    order = _expected_order(table)
    assert [row.key.value for row in table.ordered_rows] == order
    assert table._total_row_height == len(order)
    header = table.header_height if table.show_header else 0
    for y in range(header + len(order)):
        assert table._get_offsets(y) == DataTable._get_offsets(table, y), y
    with pytest.raises(LookupError):
        table._get_offsets(header + len(order))
    for index in [-1, 0, 1, len(order) // 2, len(order) - 1, len(order)]:
        assert table._get_row_region(index) == DataTable._get_row_region(table, index), index
        for column in [0, 2, len(table.columns) - 1]:
            coordinate = Coordinate(index, column)
            assert table._get_cell_region(coordinate) == DataTable._get_cell_region(
                table, coordinate
            ), coordinate
    assert table._get_fixed_offset() == DataTable._get_fixed_offset(table)


@pytest.mark.parametrize("show_header", [True, False])
async def test_geometry_matches_datatable_through_sorts_removals_and_additions(show_header):
    app = _TableApp()
    async with app.run_test(size=(80, 20)) as pilot:
        table = app.query_one(FixedTable)
        table.show_header = show_header
        for key, width in [("name", 12), ("region", 10), ("cpu", 6)]:
            table.add_column(key, width=width, key=key)
        for number in range(60):
            table.add_row(
                Text(f"w{(number * 37) % 60:02}"),
                Text(f"r{number % 4}"),
                Text(str(number)),
                key=f"id{number}",
            )
        await pilot.pause()
        _assert_geometry_is_datatables(table)
        table.sort("name", key=lambda cell: cell.plain)
        _assert_geometry_is_datatables(table)
        table.remove_row("id7")
        table.remove_row("id31")
        _assert_geometry_is_datatables(table)
        table.add_row(Text("late"), Text("r9"), Text("9"), key="late")
        _assert_geometry_is_datatables(table)
        table.sort("region", "name", key=lambda cells: [c.plain for c in cells], reverse=True)
        table.fixed_rows = 2
        _assert_geometry_is_datatables(table)
        table.clear()
        _assert_geometry_is_datatables(table)
        table.add_row(Text("again"), Text("r1"), Text("1"), key="again")
        _assert_geometry_is_datatables(table)


async def test_a_cell_write_keeps_the_row_order_and_a_sort_renews_it():
    app = _TableApp()
    async with app.run_test(size=(80, 20)) as pilot:
        table = app.query_one(FixedTable)
        table.add_column("name", width=10, key="name")
        for number in range(5):
            table.add_row(Text(f"w{4 - number}"), key=f"id{number}")
        await pilot.pause()
        before = table.ordered_rows
        table.write_cells("id2", {"name": Text("renamed")})
        # A write does not move a row: the order is not rebuilt (it was O(rows) per write).
        assert table.ordered_rows is before
        table.sort("name", key=lambda cell: cell.plain)
        assert [row.key.value for row in table.ordered_rows] == ["id2", "id4", "id3", "id1", "id0"]
        assert _expected_order(table) == ["id2", "id4", "id3", "id1", "id0"]


async def test_a_row_higher_than_one_line_is_refused():
    app = _TableApp()
    async with app.run_test(size=(80, 20)):
        table = app.query_one(FixedTable)
        table.add_column("name", width=10, key="name")
        with pytest.raises(ValueError, match="one line"):
            table.add_row(Text("tall"), height=2)
        with pytest.raises(ValueError, match="one line"):
            table.add_row(Text("auto"), height=None)
        assert table.row_count == 0
