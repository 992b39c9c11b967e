"""The labs table: one row per lab keyed by its id, updated as a diff of changed cells.

Titles and owners are remote text: ``plain`` renders them literally (``[bold]`` stays
``[bold]``) with control and bidi characters shown escaped. States read without colour too.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from rich.text import Text
from textual.coordinate import Coordinate
from textual.events import Resize
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist

from cmltui.services.labs import LabSnapshot, LabsUpdate, sorted_labs
from cmltui.ui.formatting import plain

#: Each state has a symbol so it reads without colour, as the worker table's states do.
_STATE_LOOK: dict[str, tuple[str, str]] = {
    "STARTED": ("▶", "bold green"),
    "STOPPED": ("■", "yellow"),
    "DEFINED_ON_CORE": ("○", "dim"),
}
#: From this width the table shows when each lab was created, and full dates.
CREATED_MIN_WIDTH = 110
FULL_DATES_MIN_WIDTH = 100
#: The outer width holds two border cells and one for the vertical scrollbar.
_BORDERS_AND_SCROLLBAR = 3
_MIN_TITLE = 12


def columns_for(width: int) -> list[tuple[str, str, int]]:
    """(key, label, width) of each column at this outer width; the title takes what is left.
    With ``cell_padding=1`` each column costs two cells more than its width."""
    full = width >= FULL_DATES_MIN_WIDTH
    stamp = 17 if full else 12
    fixed = [
        ("mark", "", 1),
        ("owner", "owner", 12 if full else 10),
        ("state", "state", 17),
        ("nodes", "nodes", 7 if full else 5),
    ]
    if width >= CREATED_MIN_WIDTH:
        fixed.append(("created", "created", stamp))
    fixed.append(("modified", "modified", stamp))
    used = _BORDERS_AND_SCROLLBAR + sum(w + 2 for _, _, w in fixed) + 2
    fixed.insert(1, ("title", "title", max(_MIN_TITLE, width - used)))
    return fixed


def state_text(state: str) -> Text:
    symbol, style = _STATE_LOOK.get(state, ("?", ""))
    return Text(f"{symbol} ", style=style, no_wrap=True).append_text(plain(state, style))


def nodes_text(lab: LabSnapshot) -> Text:
    style = "bold green" if lab.running_nodes else "dim"
    return Text(lab.nodes, style=style, justify="right", no_wrap=True)


def when_text(when: datetime | None, *, full: bool = True) -> Text:
    if when is None:
        return Text("—", style="dim")
    stamp = when.astimezone(UTC).strftime("%Y-%m-%d %H:%MZ" if full else "%m-%d %H:%MZ")
    return Text(stamp, no_wrap=True)


def lab_cells(lab: LabSnapshot, marked: bool, *, full_dates: bool = True) -> dict[str, Text]:
    return {
        "mark": Text("●" if marked else " ", style="bold yellow"),
        "title": plain(lab.title, "bold" if lab.is_active else ""),
        "owner": plain(lab.owner),
        "state": state_text(lab.state),
        "nodes": nodes_text(lab),
        "created": when_text(lab.created, full=full_dates),
        "modified": when_text(lab.modified, full=full_dates),
    }


class LabTable(DataTable):
    """Keyed DataTable of one worker's labs; fed ``LabsUpdate``s, it fetches nothing."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, cell_padding=1, **kwargs)
        self.labs: dict[str, LabSnapshot] = {}
        self.marked: set[str] = set()
        self._keys: list[str] = []
        self._rendered: dict[str, dict[str, Text]] = {}
        self._width: int | None = None
        self._full_dates = True

    # -- state --------------------------------------------------------------------------------

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
        return [row.key.value for row in self.ordered_rows if row.key.value is not None]

    def target_ids(self) -> list[str]:
        """Marked labs (in table order), else the selected one."""
        if self.marked:
            return [lab_id for lab_id in self.shown_ids if lab_id in self.marked]
        selected = self.selected_id
        return [selected] if selected else []

    def targets(self) -> list[LabSnapshot]:
        return [self.labs[lab_id] for lab_id in self.target_ids() if lab_id in self.labs]

    # -- columns ------------------------------------------------------------------------------

    def on_resize(self, event: Resize) -> None:
        if event.size.width != self._width:
            self._width = event.size.width
            self._build_columns(event.size.width)

    def _build_columns(self, width: int) -> None:
        columns = columns_for(width)
        selected = self.selected_id
        self.clear(columns=True)
        self._rendered.clear()
        self._full_dates = width >= FULL_DATES_MIN_WIDTH
        for key, label, column_width in columns:
            self.add_column(label, width=column_width, key=key)
        self._keys = [key for key, _, _ in columns]
        self._add_rows(sorted_labs(self.labs.values()))
        self._reselect(selected)

    # -- updates ------------------------------------------------------------------------------

    def apply(self, update: LabsUpdate) -> None:
        """Touch only the rows (and cells) that changed; keep the cursor on its lab."""
        selected = self.selected_id
        if update.is_full:
            gone = set(self.labs) - {lab.id for lab in update.changed}
        else:
            gone = set(update.removed_ids)
        for lab_id in gone:
            self.labs.pop(lab_id, None)
            self.marked.discard(lab_id)
            if lab_id in self._rendered:
                self.remove_row(lab_id)
                del self._rendered[lab_id]
        added: list[LabSnapshot] = []
        renamed = False
        for lab in update.changed:
            previous = self.labs.get(lab.id)
            renamed = renamed or (previous is not None and previous.title != lab.title)
            self.labs[lab.id] = lab
            if lab.id in self._rendered:
                self._update_row(lab)
            else:
                added.append(lab)
        if not self._keys:
            return  # no columns yet: the first resize adds every row
        self._add_rows(added)
        if added or gone or renamed:
            self.sort("title", key=lambda cell: (cell.plain.casefold(), cell.plain))
        self._reselect(selected)

    def _add_rows(self, labs: Iterable[LabSnapshot]) -> None:
        for lab in labs:
            cells = lab_cells(lab, lab.id in self.marked, full_dates=self._full_dates)
            self.add_row(*(cells[key] for key in self._keys), key=lab.id)
            self._rendered[lab.id] = cells

    def _update_row(self, lab: LabSnapshot) -> None:
        cells = lab_cells(lab, lab.id in self.marked, full_dates=self._full_dates)
        old = self._rendered[lab.id]
        for key in self._keys:
            if old.get(key) != cells[key]:
                self.update_cell(lab.id, key, cells[key])
        self._rendered[lab.id] = cells

    def _reselect(self, lab_id: str | None) -> None:
        if lab_id is not None and lab_id in self._rendered:
            self.move_cursor(row=self.get_row_index(lab_id), animate=False)

    # -- marks --------------------------------------------------------------------------------

    def set_marks(self, lab_ids: Iterable[str]) -> None:
        previous, self.marked = self.marked, {i for i in lab_ids if i in self.labs}
        for lab_id in previous ^ self.marked:
            if lab_id in self._rendered:
                self._update_row(self.labs[lab_id])

    def toggle_mark(self, lab_id: str) -> None:
        self.set_marks(self.marked ^ {lab_id})
