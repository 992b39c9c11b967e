"""DataTable for fixed-width columns of one-line Text cells, painted as little as it can be.

The fleet table repaints while every refresh runs; DataTable's general paths cost it most of the
UI loop's time (bench/loop_lag.py, profiled): any ``update_cell`` repaints every line in view,
every cell is rendered again after any change, and each render goes through four layers of
Rich renderables. A ``FixedTable`` writes cells without repainting (``write_cells``), repaints
the written rows (``repaint_written``), keeps rendered cells while the cell object is the same,
and renders a one-line Text cell directly (``cell_render``). Every row is one line, so where a
row sits on screen is its index: DataTable finds it by summing the heights of the rows above and
rebuilds its list of rows in order after every write, which is O(rows) per repaint, per row
repainted and per cursor move (at 5,000 rows, tens of milliseconds of a frame). Private API of
the pinned Textual; tests/ui/test_cell_render.py and the screenshots in tests/ui cover it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.cache import LRUCache
from textual.coordinate import Coordinate
from textual.geometry import Region, Size, Spacing
from textual.widgets import DataTable
from textual.widgets.data_table import CellType, ColumnKey, Row, RowDoesNotExist, RowKey

from cmltui.ui.widgets.cell_render import render_one_line_cell

#: Rendered cells kept (a few screens of a wide table).
CELL_CACHE_SIZE = 8000
#: More written rows than this in one repaint: the whole table is repainted at once (one
#: region is cheaper for the compositor than dozens of one-line ones).
ROW_REPAINT_LIMIT = 8


class FixedTable(DataTable):
    """A DataTable whose columns have fixed widths and whose rows are one line high."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        #: Rendered cells, reused while the cell object is the same (see ``_render_cell``).
        self._cell_lines: LRUCache[tuple[Any, ...], tuple[Any, list[list[Segment]]]] = LRUCache(
            CELL_CACHE_SIZE
        )
        #: Rows written since the last repaint.
        self._written_rows: set[str] = set()
        #: ``ordered_rows`` for one row order: the order's own object (DataTable replaces it on
        #: every sort, removal and clear; an added row only appends) and the row count.
        self._rows_in_order: tuple[object, int, list[Row]] | None = None

    def add_row(
        self,
        *cells: CellType,
        height: int | None = 1,
        key: str | None = None,
        label: Any = None,
    ) -> RowKey:
        """DataTable's ``add_row``; every row is one line high (the geometry below needs it)."""
        if height != 1:
            raise ValueError(f"a FixedTable row is one line high, not {height!r}")
        return super().add_row(*cells, height=1, key=key, label=label)

    # -- geometry of one-line rows: O(1) where DataTable's is O(rows) -------------------------

    @property
    def ordered_rows(self) -> list[Row]:
        """The rows in display order, rebuilt only when the order changed, not per write."""
        order = self._row_locations
        kept = self._rows_in_order
        if kept is not None and kept[0] is order and kept[1] == self.row_count:
            return kept[2]
        keys = [order.get_key(index) for index in range(self.row_count)]
        rows = [self.rows[key] for key in keys if key is not None]
        self._rows_in_order = (order, self.row_count, rows)
        return rows

    @property
    def _total_row_height(self) -> int:
        return self.row_count

    def _header_lines(self) -> int:
        return self.header_height if self.show_header else 0

    def _x_of(self, column_index: int) -> int:
        """Where the column at this index starts (past the row labels)."""
        return (
            sum(column.get_render_width(self) for column in self.ordered_columns[:column_index])
            + self._row_label_column_width
        )

    def _get_offsets(self, y: int) -> tuple[RowKey, int]:
        header = self._header_lines()
        if y < header:
            return self._header_row_key, y
        row_key = self._row_locations.get_key(y - header)
        if row_key is None:
            raise LookupError(f"Y coord {y!r} is greater than total height")
        return row_key, 0

    def _get_row_region(self, row_index: int) -> Region:
        if not self.is_valid_row_index(row_index):
            return Region(0, 0, 0, 0)
        row_width = self._x_of(len(self.columns))
        return Region(0, row_index + self._header_lines(), max(self.size.width, row_width), 1)

    def _get_cell_region(self, coordinate: Coordinate) -> Region:
        if not self.is_valid_coordinate(coordinate):
            return Region(0, 0, 0, 0)
        row_index, column_index = coordinate
        width = self.ordered_columns[column_index].get_render_width(self)
        return Region(self._x_of(column_index), row_index + self._header_lines(), width, 1)

    def _get_fixed_offset(self) -> Spacing:
        top = self._header_lines() + min(self.fixed_rows, self.row_count)
        return Spacing(top, 0, 0, self._x_of(self.fixed_columns))

    def write_cells(self, row_key: str, cells: Mapping[str, Any]) -> None:
        """Put new cell values in a row without repainting; ``repaint_written`` repaints.

        ``update_cell`` repaints the whole table for each cell (``refresh()``): while the fleet
        refreshes, every change set re-rendered every line in view, though most touch a few
        of them. Widths are fixed, so nothing is re-measured."""
        row = self._data.get(RowKey(row_key))
        written = {ColumnKey(key): cell for key, cell in cells.items() if key in self.columns}
        if row is None or not written:
            return
        row.update(written)
        # DataTable's line and row caches are keyed on this counter: they are stale now.
        self._update_count += 1
        self._written_rows.add(row_key)

    def repaint_written(self) -> None:
        """Repaint the rows written since the last call: their lines only, when few."""
        written, self._written_rows = self._written_rows, set()
        if not written:
            return
        if len(written) > ROW_REPAINT_LIMIT:
            self.refresh()
            return
        for row_key in written:
            try:
                self.refresh_row(self.get_row_index(row_key))
            except RowDoesNotExist:
                self.refresh()
                return

    def _render_cell(
        self,
        row_index: int,
        column_index: int,
        base_style: Style,
        width: int,
        cursor: bool = False,
        hover: bool = False,
    ) -> list[list[Segment]]:
        """DataTable's cell render, reused while the cell object is unchanged.

        DataTable keys its cell cache on a counter that every ``update_cell`` bumps, so one
        changed cell re-renders every cell in view (~35 rows x 14 columns per frame while the
        fleet refreshes). Our cells are replaced, never mutated, when they change: the cell
        object itself says whether a render is still good. (Private API of the pinned Textual;
        the screenshots in tests/ui cover it.)"""
        if row_index < 0 or column_index < 0:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        row_key = self._row_locations.get_key(row_index)
        column_key = self._column_locations.get_key(column_index)
        if row_key is None or column_key is None:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        cell = self._data.get(row_key, {}).get(column_key)
        key = (
            row_key,
            column_key,
            row_index,
            base_style,
            width,
            cursor,
            hover,
            self._show_hover_cursor,
            self._pseudo_class_state,
        )
        cached = self._cell_lines.get(key)
        if cached is not None and cached[0] is cell:
            return cached[1]
        lines = None
        if isinstance(cell, Text) and self.cell_padding == 0:
            lines = self._render_text_cell(
                row_index, column_index, cell, base_style, width, cursor, hover
            )
        if lines is None:
            lines = super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        self._cell_lines[key] = (cell, lines)
        return lines

    def _render_text_cell(
        self,
        row_index: int,
        column_index: int,
        cell: Text,
        base_style: Style,
        width: int,
        cursor: bool,
        hover: bool,
    ) -> list[list[Segment]] | None:
        """DataTable's ``_render_cell`` for a one-line Text cell, the same styles (and the
        row/column meta a click needs), rendered by ``render_one_line_cell``."""
        row_key = self._row_locations.get_key(row_index)
        if row_key is None or self.rows[row_key].height != 1:
            return None
        fixed = row_index < self.fixed_rows or column_index < self.fixed_columns
        component_style, post_style = self._get_styles_to_render_cell(
            False,
            False,
            fixed,
            hover,
            cursor,
            self.show_cursor,
            self._show_hover_cursor,
            self.cursor_foreground_priority == "css",
            self.cursor_background_priority == "css",
        )
        pre_style = base_style + Style.from_meta({"row": row_index, "column": column_index})
        return render_one_line_cell(
            self.app.console,
            self.app.console_options,
            cell,
            width,
            pre_style + component_style,
            post_style,
        )

    def _update_dimensions(self, new_rows: Iterable[Any]) -> None:
        """Every column has a fixed width and every row one line: nothing to measure.

        DataTable measures each cell of each new row to size auto-width columns (ours are
        fixed, so the result is unused); that cost ~0.5 s at 5,000 rows. Only the virtual size
        is kept up to date. (Private API of the pinned Textual; tests/ui cover the table.)"""
        width = sum(column.get_render_width(self) for column in self.columns.values())
        header = self.header_height if self.show_header else 0
        self.virtual_size = Size(width, self.row_count + header)
