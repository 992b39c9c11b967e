"""The fleet table: one row per worker keyed by its id, updated as a diff of changed cells."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from rich.text import Text
from textual.coordinate import Coordinate
from textual.events import Resize
from textual.geometry import Region
from textual.strip import Strip
from textual.widgets.data_table import CellDoesNotExist, RowDoesNotExist

from cmltui.services.snapshot import ChangeSet, WorkerSnapshot
from cmltui.ui.formatting import SortableText
from cmltui.ui.widgets.columns import (
    COLUMNS_BY_KEY,
    GUTTER,
    MARK_WIDTH,
    Column,
    filter_fields,
    fit_columns,
    name_cell,
    natural_key,
)
from cmltui.ui.widgets.fixed_table import FixedTable

MARK_COLUMN = "mark"
#: The vertical scrollbar (one cell wide, see app.tcss) appears once rows overflow.
_SCROLLBAR_ALLOWANCE = 1
_SIDE_BORDERS = 2
#: Below this width the table drops its side borders (see ``WorkerTable.-flush`` in app.tcss).
FLUSH_BELOW_WIDTH = 100
#: Rows this far above and below the visible ones get their cells written too, so that a short
#: scroll shows written rows at once (the rest are written as they come into view).
FILL_MARGIN_ROWS = 10
#: A row's cells before it is first in view (the mark cell is always real: it carries the id).
_NOT_YET_WRITTEN = Text("")


def compile_filter(text: str) -> re.Pattern[str] | None:
    """A case-insensitive regex; text that is not a valid regex is matched literally."""
    if not text:
        return None
    try:
        return re.compile(text, re.IGNORECASE)
    except re.error:
        return re.compile(re.escape(text), re.IGNORECASE)


class WorkerTable(FixedTable):
    """Keyed DataTable of workers. The app feeds it change sets; it never fetches anything."""

    def __init__(self, **kwargs: Any) -> None:
        # No cell padding: the columns carry their own one-character gutter (see columns.py).
        super().__init__(cursor_type="row", zebra_stripes=False, cell_padding=0, **kwargs)
        #: Called when the operator moved the cursor to another row (not the table itself).
        self.on_operator_move: Callable[[], None] | None = None
        self.snapshots: dict[str, WorkerSnapshot] = {}
        self.marked: set[str] = set()
        self.sort_column: str = "name"
        self.sort_reverse: bool = False
        self._filter_text = ""
        self._filter: re.Pattern[str] | None = None
        self._columns: list[Column] = []
        self._name_width = COLUMNS_BY_KEY["name"].width
        #: Each row's sort key, with the snapshot it was made from, for the sort (column,
        #: reverse) in ``_sort_keys_for``.
        self._sort_keys: dict[str, tuple[WorkerSnapshot, tuple[Any, ...]]] = {}
        self._sort_keys_for: tuple[str, bool] | None = None
        #: The cells last written per row, so an update touches changed cells only.
        self._rendered: dict[str, dict[str, Text]] = {}
        #: Rows whose cells are older than their snapshot. Only rows in view (and a margin) are
        #: written (``_fill_visible``): at 1,000 rows, building every cell of every change set
        #: was most of the UI's work; the rest are written when they scroll into view.
        self._stale: set[str] = set()
        #: The operator put the cursor on a worker (a key, a click, ``select_worker``): from then
        #: on it stays on that worker as rows come and sort. Before that it stays on the first
        #: row: at start-up workers arrive in any order, and the first to arrive is no choice.
        self._cursor_chosen = False
        #: True while the table moves the cursor itself (a re-anchor, a clear, a removal).
        self._moving_cursor = False

    # -- public state -------------------------------------------------------------------------

    @property
    def selected_id(self) -> str | None:
        if not self.row_count:
            return None
        try:
            return self.coordinate_to_cell_key(Coordinate(self.cursor_row, 0)).row_key.value
        except CellDoesNotExist:
            return None

    @property
    def shown_ids(self) -> list[str]:
        """Worker ids of the rows in display order."""
        return [row.key.value for row in self.ordered_rows if row.key.value is not None]

    @property
    def column_keys(self) -> list[str]:
        return [column.key for column in self._columns]

    @property
    def filter_text(self) -> str:
        return self._filter_text

    def is_shown(self, worker_id: str) -> bool:
        """The worker has a row on screen (the filter lets it through)."""
        return worker_id in self._rendered

    @property
    def hidden_marked(self) -> list[str]:
        """Marked workers the filter hides: still targets, so the screen must say so."""
        return [worker_id for worker_id in self.marked if worker_id not in self._rendered]

    def target_ids(self) -> list[str]:
        """What an action applies to: the marked workers, else the selected one."""
        if self.marked:
            order = {worker_id: index for index, worker_id in enumerate(self.shown_ids)}
            return sorted(self.marked, key=lambda worker_id: order.get(worker_id, len(order)))
        selected = self.selected_id
        return [selected] if selected else []

    # -- layout -------------------------------------------------------------------------------

    def on_resize(self, event: Resize) -> None:
        # Narrow: no side borders (two more characters for a column); the top keeps the title.
        flush = event.size.width < FLUSH_BELOW_WIDTH
        self.set_class(flush, "-flush")
        # The event gives the outer size: the border is not ours to fill.
        self._fit_to(event.size.width - (0 if flush else _SIDE_BORDERS))
        # Shorter now (the detail pane grew): keep the selected worker in sight.
        self.call_after_refresh(self._keep_cursor_in_view)

    def _keep_cursor_in_view(self) -> None:
        if self.row_count:
            self._move_cursor_to(self.cursor_row)

    def _fit_to(self, width: int) -> None:
        columns, name_width = fit_columns(max(0, width - _SCROLLBAR_ALLOWANCE))
        if [c.key for c in columns] == self.column_keys and name_width == self._name_width:
            return
        self._columns = columns
        self._name_width = name_width
        if self.sort_column not in self.column_keys:
            self.sort_column = "name"
        self._rebuild()

    def _rebuild(self) -> None:
        """Re-create columns and rows (only when the column set or the filter changes)."""
        anchor = self._anchor()
        with self._table_moves_cursor():
            self.clear(columns=True)
        self._rendered.clear()
        self._stale.clear()
        self.add_column(" ", width=MARK_WIDTH, key=MARK_COLUMN)
        for column in self._columns:
            label = Text(column.label, justify="right" if column.justify == "right" else "left")
            self.add_column(label, width=self._content_width(column) + GUTTER, key=column.key)
        for snapshot in self.snapshots.values():
            if self._matches(snapshot):
                self._add(snapshot)
        self._sort()
        self._reanchor(anchor)
        self._fill_visible()

    def _content_width(self, column: Column) -> int:
        return self._name_width if column.key == "name" else column.width

    # -- change sets --------------------------------------------------------------------------

    def apply(self, change_set: ChangeSet, *, full: bool = False) -> None:
        """Apply a change set: touch only the rows and cells that changed, keep the cursor."""
        anchor = self._anchor()
        removed = set(change_set.removed_ids)
        if full or change_set.is_full:
            removed |= set(self.snapshots) - {snapshot.id for snapshot in change_set.changed}
        if not self.columns:
            # Not laid out yet: keep the data; the first resize builds the rows.
            for worker_id in removed:
                self.snapshots.pop(worker_id, None)
                self.marked.discard(worker_id)
            self.snapshots.update({snapshot.id: snapshot for snapshot in change_set.changed})
            return
        needs_sort = False
        for worker_id in removed:
            self.snapshots.pop(worker_id, None)
            self.marked.discard(worker_id)
            self._remove(worker_id)
        for snapshot in change_set.changed:
            previous = self.snapshots.get(snapshot.id)
            self.snapshots[snapshot.id] = snapshot
            visible = self._matches(snapshot)
            if visible and snapshot.id in self._rendered:
                needs_sort |= self._update(snapshot, previous)
            elif visible:
                self._add(snapshot)
                needs_sort = True
            else:
                self._remove(snapshot.id)
        if needs_sort:
            self._sort()
        self._reanchor(anchor)
        self._fill_visible()

    def _cells(self, snapshot: WorkerSnapshot, *, only_mark: bool = False) -> dict[str, Text]:
        marked = snapshot.id in self.marked
        cells: dict[str, Text] = {
            MARK_COLUMN: SortableText(
                "●" if marked else " ", worker_id=snapshot.id, style="bold magenta"
            )
        }
        if only_mark:
            return cells
        for column in self._columns:
            if column.key == "name":
                cell = name_cell(snapshot, self._name_width)
            else:
                cell = column.render(snapshot)
            # Never into the gutter: a long region or name ends in "…", one space before the next.
            cell.truncate(self._content_width(column), overflow="ellipsis")
            cells[column.key] = cell
        if marked:
            # Marked rows also read differently without colour (the ● column) and in colour.
            cells["name"] = Text.assemble(cells["name"], style="bold magenta")
        return cells

    def _add(self, snapshot: WorkerSnapshot) -> None:
        """A new row with only its mark cell written (the sort needs it); ``_fill_visible``
        writes the others once the row's place is known and in view."""
        cells: dict[str, Text] = {key: _NOT_YET_WRITTEN for key in self.column_keys}
        cells[MARK_COLUMN] = self._cells(snapshot, only_mark=True)[MARK_COLUMN]
        self._rendered[snapshot.id] = cells
        self._stale.add(snapshot.id)
        self.add_row(*[cells[key] for key in (MARK_COLUMN, *self.column_keys)], key=snapshot.id)

    def _remove(self, worker_id: str) -> None:
        self._stale.discard(worker_id)
        self._sort_keys.pop(worker_id, None)
        if self._rendered.pop(worker_id, None) is None:
            return
        try:
            with self._table_moves_cursor():
                self.remove_row(worker_id)
        except RowDoesNotExist:
            pass

    def _update(self, snapshot: WorkerSnapshot, previous: WorkerSnapshot | None) -> bool:
        """Mark the row for writing (``_fill_visible``); True when its place may have moved."""
        self._stale.add(snapshot.id)
        column = COLUMNS_BY_KEY.get(self.sort_column)
        if previous is None or column is None or column.sort_key is None:
            return True
        kept = self._current_sort_keys().get(previous.id)
        was = kept[1] if kept is not None and kept[0] is previous else None
        return was is None or was != self._sort_key_of(snapshot)

    # -- sorting ------------------------------------------------------------------------------

    @staticmethod
    def _sort_value(column: Column, snapshot: WorkerSnapshot) -> tuple[Any, ...]:
        assert column.sort_key is not None
        value = column.sort_key(snapshot)
        return (value is None, value if value is not None else 0)

    def _row_sort_key(self, mark_cell: SortableText) -> tuple[Any, ...]:
        return self._sort_key_of(self.snapshots[mark_cell.worker_id])

    def _sort_key_of(self, snapshot: WorkerSnapshot) -> tuple[Any, ...]:
        """A row's place in the order, kept while its snapshot (frozen) and the sort are the
        same: a change set re-sorts every row but changes few (at 5,000 rows, building every
        key again was most of a re-sort), and the key made to see whether a changed row moved
        is the one the sort uses."""
        kept = self._current_sort_keys().get(snapshot.id)
        if kept is not None and kept[0] is snapshot:
            return kept[1]
        column = COLUMNS_BY_KEY[self.sort_column]
        missing, value = self._sort_value(column, snapshot)
        # Missing values go last in either direction; the name then the id keep the order stable.
        key = (missing != self.sort_reverse, value, natural_key(snapshot.name), snapshot.id)
        self._sort_keys[snapshot.id] = (snapshot, key)
        return key

    def _current_sort_keys(self) -> dict[str, tuple[WorkerSnapshot, tuple[Any, ...]]]:
        """The kept sort keys, emptied first if they were made for another sort."""
        if (self.sort_column, self.sort_reverse) != self._sort_keys_for:
            self._sort_keys.clear()
            self._sort_keys_for = (self.sort_column, self.sort_reverse)
        return self._sort_keys

    def _sort(self) -> None:
        if self.row_count:
            self.sort(MARK_COLUMN, key=self._row_sort_key, reverse=self.sort_reverse)

    def set_sort(self, column_key: str, reverse: bool) -> None:
        anchor = self._anchor()
        self.sort_column = column_key
        self.sort_reverse = reverse
        self._sort()
        self._reanchor(anchor)

    def next_sort_column(self) -> str:
        sortable = [c.key for c in self._columns if c.sort_key is not None]
        if not sortable:
            return self.sort_column
        index = sortable.index(self.sort_column) if self.sort_column in sortable else -1
        return sortable[(index + 1) % len(sortable)]

    # -- cursor -------------------------------------------------------------------------------

    @contextmanager
    def _table_moves_cursor(self) -> Iterator[None]:
        """Cursor moves made inside are the table's own, not the operator's choice."""
        moving, self._moving_cursor = self._moving_cursor, True
        try:
            yield
        finally:
            self._moving_cursor = moving

    def _move_cursor_to(self, row: int) -> None:
        with self._table_moves_cursor():
            self.move_cursor(row=row, animate=False)

    def watch_cursor_coordinate(
        self, old_coordinate: Coordinate, new_coordinate: Coordinate
    ) -> None:
        super().watch_cursor_coordinate(old_coordinate, new_coordinate)
        if not self._moving_cursor and old_coordinate.row != new_coordinate.row:
            self._cursor_chosen = True
            if self.on_operator_move is not None:
                # Now, not on the RowHighlighted message: what follows the cursor (the detail)
                # is then painted in the same frame as the cursor, one frame (~17 ms) sooner.
                self.on_operator_move()

    def _anchor(self) -> str | None:
        """The worker the cursor must stay on through a change; None: stay on the first row."""
        return self.selected_id if self._cursor_chosen else None

    def _reanchor(self, worker_id: str | None) -> None:
        """Put the cursor back on the same worker (DataTable keeps the index, not the row);
        without a chosen worker, on the first row."""
        if worker_id is None or worker_id not in self._rendered:
            if not self._cursor_chosen and self.row_count and self.cursor_row != 0:
                self._move_cursor_to(0)
            return
        try:
            index = self.get_row_index(worker_id)
        except RowDoesNotExist:
            return
        if index != self.cursor_row:
            self._move_cursor_to(index)

    def select_worker(self, worker_id: str) -> None:
        self._cursor_chosen = True
        self._reanchor(worker_id)

    # -- filter and marks ---------------------------------------------------------------------

    def _matches(self, snapshot: WorkerSnapshot) -> bool:
        if self._filter is None:
            return True
        return any(self._filter.search(field) for field in filter_fields(snapshot))

    def set_filter(self, text: str) -> None:
        if text == self._filter_text:
            return
        self._filter_text = text
        self._filter = compile_filter(text)
        self._refill()

    def _refill(self) -> None:
        """Add and remove rows to match the filter (kept rows are untouched)."""
        anchor = self._anchor()
        added = False
        for snapshot in self.snapshots.values():
            visible = self._matches(snapshot)
            if visible and snapshot.id not in self._rendered:
                self._add(snapshot)
                added = True
            elif not visible:
                self._remove(snapshot.id)
        if added:
            self._sort()
        self._reanchor(anchor)

    def toggle_marks(self, worker_ids: Iterable[str]) -> None:
        for worker_id in worker_ids:
            if worker_id in self.marked:
                self.marked.discard(worker_id)
            else:
                self.marked.add(worker_id)
            self._redraw_row(worker_id)

    def set_marks(self, worker_ids: Sequence[str]) -> None:
        changed = self.marked.symmetric_difference(worker_ids)
        self.marked = set(worker_ids)
        for worker_id in changed:
            self._redraw_row(worker_id)

    def _redraw_row(self, worker_id: str) -> None:
        if worker_id in self._rendered:
            self._stale.add(worker_id)
            self._fill_visible()

    # -- writing the rows in view -------------------------------------------------------------

    def _write_cells(self, worker_id: str) -> None:
        """Write the row's cells that differ from what it shows."""
        self._stale.discard(worker_id)
        snapshot = self.snapshots.get(worker_id)
        old_cells = self._rendered.get(worker_id)
        if snapshot is None or old_cells is None:
            return
        new_cells = self._cells(snapshot)
        self.write_cells(
            worker_id, {key: cell for key, cell in new_cells.items() if old_cells.get(key) != cell}
        )
        self._rendered[worker_id] = new_cells

    def _rows_in_view(self) -> range:
        """Row indexes on screen, with FILL_MARGIN_ROWS either side (a screenful before the
        first layout)."""
        height = self.size.height or 60
        top = int(self.scroll_y)
        return range(
            max(0, top - FILL_MARGIN_ROWS), min(self.row_count, top + height + FILL_MARGIN_ROWS)
        )

    def _fill_visible(self) -> None:
        if not self._stale or not self.columns:
            return
        for index in self._rows_in_view():
            try:
                worker_id = self.coordinate_to_cell_key(Coordinate(index, 0)).row_key.value
            except CellDoesNotExist:
                continue
            if worker_id in self._stale:
                self._write_cells(worker_id)
        self.repaint_written()

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        self._fill_visible()

    def render_lines(self, crop: Region) -> list[Strip]:
        # Whatever moved a row into view (a scroll, a sort, a resize), it is written before it
        # is painted: a row never shows cells older than its snapshot.
        self._fill_visible()
        return super().render_lines(crop)
