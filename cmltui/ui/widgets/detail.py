"""The selected worker in full: every attribute of the seed's model, history, cost, events.

Laid out in three columns below the table when there is room (identity, infrastructure, state
and networking | CML, telemetry, idle policy, cost and the history sparklines | error, audit and
the last events), or in one column beside or instead of the table. The lines come from
``detail_lines``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from rich.console import Group
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Container, VerticalScroll
from textual.events import Resize
from textual.widgets import Static

from cmltui.domain.events import CloudEvent
from cmltui.services.snapshot import WorkerSnapshot
from cmltui.ui.formatting import plain, status_text
from cmltui.ui.widgets.detail_lines import (
    DEFAULT_SPARK_WIDTH,
    LABEL_WIDTH,
    VALUE_WIDTH,
    Lines,
    audit_lines,
    error_lines,
    event_lines,
    identity_lines,
    screen_rows,
    service_lines,
    stacked,
)

COLUMN_IDS = ("detail-col-identity", "detail-col-service", "detail-col-audit")
#: Each column's one ``Static`` (``#detail-<name>``) and the blocks it shows, top to bottom.
STATIC_BLOCKS: dict[str, tuple[str, ...]] = {
    "identity": ("identity",),
    "service": ("service",),
    "audit": ("error", "audit", "events"),
}


class DetailColumn(VerticalScroll):
    """One column of the pane; scrolls on its own when the pane is laid out in columns."""


class DetailPane(VerticalScroll):
    """The selected worker, in three columns (below the table) or one (beside or instead of it).

    In columns each column scrolls and takes the focus; in one column the pane scrolls and
    takes it. ``set_columns`` switches; ``focus_content`` focuses whichever scrolls.
    """

    can_focus = False

    def __init__(self) -> None:
        super().__init__(id="detail")
        self.worker_id: str | None = None
        self.border_title = "Detail"
        self.in_columns = True
        #: What each block shows, kept as plain text for ``text()``.
        self._shown: dict[str, Lines] = {}
        #: What each column's ``Static`` was last given (its blocks, padded), and its height.
        self._drawn: dict[str, tuple[Lines, int]] = {}
        #: The most lines each column has drawn since the last resize (see ``_padded``).
        self._floors: dict[str, int] = {}
        #: The last worker shown, re-drawn on resize (the sparklines fit the column's width).
        self._last: tuple[WorkerSnapshot | None, Sequence[CloudEvent]] = (None, ())
        #: The clock reading the ages ("last seen 3 min ago") were worked out with.
        self._now: datetime | None = None

    def compose(self) -> ComposeResult:
        with Container(id="detail-columns"):
            with DetailColumn(id=COLUMN_IDS[0], classes="detail-column"):
                yield Static(Text("No worker selected", style="dim"), id="detail-identity")
            with DetailColumn(id=COLUMN_IDS[1], classes="detail-column"):
                yield Static(id="detail-service")
            with DetailColumn(id=COLUMN_IDS[2], classes="detail-column"):
                yield Static(id="detail-audit")

    def on_mount(self) -> None:
        self.set_columns(self.in_columns)

    def on_resize(self, event: Resize) -> None:
        self._floors.clear()  # the widths changed: the blocks are measured anew
        if self._last[0] is not None:
            self.show(*self._last, now=self._now)

    def tick(self, now: datetime) -> None:
        """The clock moved: figures that are not live say how old they are, so re-age them."""
        snapshot = self._last[0]
        if snapshot is not None and not snapshot.telemetry_live:
            self._now = now
            self._put("service", self._service_lines(snapshot))
            self._draw()

    def set_columns(self, in_columns: bool) -> None:
        """Three scrolling columns side by side, or one column that the pane scrolls."""
        if in_columns != self.in_columns:
            self._floors.clear()
        self.in_columns = in_columns
        self.set_class(in_columns, "-columns")
        self.can_focus = not in_columns
        for column in self.query(DetailColumn):
            column.can_focus = in_columns

    def focus_content(self) -> None:
        """Focus what scrolls, at once (``set_focus``): the next queued key must land here."""
        if self.in_columns:
            self.screen.set_focus(self.query_one(f"#{COLUMN_IDS[0]}", DetailColumn))
        else:
            self.screen.set_focus(self)

    def contains_focus(self) -> bool:
        focused = self.screen.focused
        return focused is not None and (focused is self or self in focused.ancestors)

    def text(self) -> str:
        """What the pane shows, as plain text (tests read it)."""
        return "\n".join(line.plain for lines in self._shown.values() for line in lines)

    def _put(self, block: str, lines: Lines) -> None:
        """Keep what ``block`` shows; ``_draw`` paints it."""
        self._shown[block] = lines

    def _draw(self) -> None:
        """Give each column's ``Static`` its blocks, where they changed."""
        for static_id, blocks in STATIC_BLOCKS.items():
            lines = stacked(*(self._shown[b] for b in blocks if self._shown.get(b)))
            static = self.query_one(f"#detail-{static_id}", Static)
            width = static.content_size.width
            if width <= 0:  # not laid out yet: the layout pass to come measures it
                self._drawn.pop(static_id, None)
                static.update(Group(*lines) if lines else "")
                continue
            drawn, rows = self._padded(static_id, lines, width)
            previous = self._drawn.get(static_id)
            if previous is not None and previous[0] == drawn:
                continue  # unchanged: no render, no layout pass (which repaints the screen)
            self._drawn[static_id] = (drawn, rows)
            static.update(
                Group(*drawn) if drawn else "",
                layout=previous is None or previous[1] != rows,
            )

    def _padded(self, static_id: str, lines: Lines, width: int) -> tuple[Lines, int]:
        """``lines`` and the screen lines they take; in columns, with blank lines after them
        up to the most screen lines this column has taken since the last resize.

        Workers' blocks differ in height (an SSH line, an error, a longer audit), and a
        ``Static`` whose height changes costs a layout pass that repaints the whole screen:
        moving the cursor between such workers cost one a key. In columns the padding is
        below the column's last line, where it shows as nothing; a column that has once
        needed its scrollbar keeps it (rather than its scrollbar coming and going, and the
        text folding anew, from worker to worker). In one column, where padding would show
        as a gap, the pane lays out instead."""
        rows = screen_rows(lines, width, self.app.console)
        if not self.in_columns:
            return lines, rows
        floor = max(self._floors.get(static_id, 0), rows)
        self._floors[static_id] = floor
        return [*lines, *(Text() for _ in range(floor - rows))], floor

    def _block_width(self, block: str) -> int | None:
        """A block's width in cells, less one: the column's scrollbar may appear after it was
        measured (None before the first layout)."""
        width = self.query_one(f"#detail-{block}", Static).content_size.width
        return width - 1 if width > 0 else None

    def _spark_width(self) -> int:
        width = self._block_width("service")
        if width is None:
            return DEFAULT_SPARK_WIDTH
        return max(4, width - LABEL_WIDTH - VALUE_WIDTH)

    def _service_lines(self, snapshot: WorkerSnapshot) -> Lines:
        return service_lines(
            snapshot, self._spark_width(), self._now, width=self._block_width("service")
        )

    def show(
        self,
        snapshot: WorkerSnapshot | None,
        events: Sequence[CloudEvent],
        *,
        now: datetime | None = None,
    ) -> None:
        if now is not None:
            self._now = now
        if snapshot is None or snapshot.id != self.worker_id:
            # Another worker: start reading it from the top.
            for scrolled in (self, *self.query(DetailColumn)):
                scrolled.scroll_home(animate=False)
        self._last = (snapshot, events)
        if snapshot is None:
            self.worker_id = None
            self.border_title = "Detail"
            self._put("identity", [Text("No worker selected", style="dim")])
            for block in ("service", "error", "audit", "events"):
                self._put(block, [])
            self._draw()
            return
        self.worker_id = snapshot.id
        title = Text("Detail: ")
        title.append_text(plain(snapshot.name, "bold"))
        title.append(" ")
        title.append_text(status_text(snapshot.status))
        if snapshot.detached:
            title.append(" ⚠ detached", style="bold yellow")
        if snapshot.problems:
            count = len(snapshot.problems)
            title.append(f" ⚠ {count} problem{'s' if count > 1 else ''}", style="bold red")
        self.border_title = title
        self._put("identity", identity_lines(snapshot, self._block_width("identity")))
        self._put("service", self._service_lines(snapshot))
        self._put("error", error_lines(snapshot))
        self._put("audit", audit_lines(snapshot))
        self._put("events", event_lines(events))
        self._draw()
