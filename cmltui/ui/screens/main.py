"""The fleet view: header, filter, worker table, detail pane, status line, footer.

Every binding comes from the action registry; each ``action_<id>`` below is one registry entry.
Actions capture the worker ids when the key is pressed and hand them to the app, which calls the
controller from a worker task.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.events import Resize
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static

from cmltui.domain.events import (
    CMLWorkerTelemetryCompactedDomainEvent,
    CMLWorkerTelemetryUpdatedDomainEvent,
)
from cmltui.services.snapshot import ChangeSet, WorkerSnapshot
from cmltui.services.terminated_view import TerminatedView
from cmltui.ui.actions import bindings_for
from cmltui.ui.formatting import shown
from cmltui.ui.screens.acting import WorkerActions
from cmltui.ui.screens.connecting import ConnectActions
from cmltui.ui.screens.errors import ErrorsScreen
from cmltui.ui.screens.guards import guarded
from cmltui.ui.screens.labs import labs_screen_for
from cmltui.ui.screens.lists import EventTrailScreen, HelpScreen
from cmltui.ui.widgets.columns import COLUMNS_BY_KEY
from cmltui.ui.widgets.detail import DetailPane
from cmltui.ui.widgets.detail_lines import EVENT_ROWS
from cmltui.ui.widgets.header import FleetHeader, OutageBanner, StatusLine
from cmltui.ui.widgets.worker_table import WorkerTable

if TYPE_CHECKING:
    from cmltui.ui.app import CmlTuiApp

#: From this height the detail pane sits below the table (the table keeps the full width).
BELOW_MIN_HEIGHT = 30
#: Shorter but at least this wide: the pane sits beside the table (in one column).
BESIDE_MIN_WIDTH = 180
#: Below the table, the pane shows three columns side by side from this width (one below it).
COLUMNS_MIN_WIDTH = 100
#: Telemetry events (and the checkpoint retention compacts old ones into) are drawn as the
#: history bars; the detail lists what happened to the worker.
_TELEMETRY_EVENT_TYPES = frozenset(
    {
        CMLWorkerTelemetryUpdatedDomainEvent.EVENT_TYPE,
        CMLWorkerTelemetryCompactedDomainEvent.EVENT_TYPE,
    }
)


def detail_placement(width: int, height: int) -> str:
    """Where the detail pane goes: ``below`` the table, ``beside`` it, or ``replace`` it.

    The table keeps the full width whenever the terminal is tall enough, so an operator at
    120 columns sees every column; ``replace`` is the small-terminal mode (enter / esc).
    """
    if height >= BELOW_MIN_HEIGHT:
        return "below"
    if width >= BESIDE_MIN_WIDTH:
        return "beside"
    return "replace"


class MainScreen(WorkerActions, ConnectActions, Screen[None]):
    BINDINGS = bindings_for(read_only=False)

    def __init__(self) -> None:
        super().__init__(id="main")
        self.paused = False
        #: A change arrived while paused: resume re-reads the whole fleet.
        self.missed_updates = False
        #: The connect command owns the terminal: a second one waits for it to end.
        self.connecting = False  # see ConnectActions

    @property
    def fleet_app(self) -> CmlTuiApp:
        return self.app  # type: ignore[return-value]

    # -- layout -------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        app = self.fleet_app
        yield FleetHeader(
            profile_label=app.aws_profile_label,
            regions=app.config.regions,
            read_only=app.read_only,
            insecure_tls=not app.config.cml.verify_tls,
        )
        yield OutageBanner()
        with Vertical(id="body"):
            with Vertical(id="table-column"):
                with Horizontal(id="filter-bar"):
                    yield Static(Text("filter /", style="bold"), id="filter-label")
                    yield Input(placeholder="text or regex, enter keeps, esc clears", id="filter")
                yield WorkerTable(id="workers")
            yield DetailPane()
        yield StatusLine()
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.filter_bar.display = False
        self.table.on_operator_move = self._follow_cursor
        self.table.focus()
        self._update_sort_title()

    @property
    def terminated(self) -> TerminatedView:
        """Which terminated workers are hidden ([ui] terminated_visible_days, the ``t`` key)."""
        view: TerminatedView | None = getattr(self, "_terminated_view", None)
        if view is None:
            view = TerminatedView(self.fleet_app.config.ui.terminated_visible_days)
            self._terminated_view = view
        return view

    @property
    def filter_bar(self) -> Horizontal:
        return self.query_one("#filter-bar", Horizontal)

    @property
    def table(self) -> WorkerTable:
        return self.query_one(WorkerTable)

    @property
    def detail(self) -> DetailPane:
        return self.query_one(DetailPane)

    @property
    def header(self) -> FleetHeader:
        return self.query_one(FleetHeader)

    def on_resize(self, event: Resize) -> None:
        placement = detail_placement(event.size.width, event.size.height)
        for name in ("below", "beside", "replace"):
            self.set_class(placement == name, f"-{name}")
        if placement != "replace":
            self.remove_class("-detail-open")
        self.detail.set_columns(placement == "below" and event.size.width >= COLUMNS_MIN_WIDTH)

    # -- change sets --------------------------------------------------------------------------

    @guarded
    def apply_change_set(self, change_set: ChangeSet) -> None:
        """Render a change set: one batch, changed cells only.

        Paused, the table, the detail and the header's figures stay as they were (the header
        says "paused"); errors and the outage banner stay live.
        """
        now = self.fleet_app.clock()
        if self.paused:
            self.missed_updates = True
        else:
            change_set = self.terminated.filter(change_set, now)
            self.table.apply(change_set)
            self._refresh_detail_if(change_set)
            self.show_header(
                totals=change_set.totals,
                last_success_at=change_set.last_success_at,
                from_cache=change_set.from_cache,
                policy_runner=change_set.policy_runner,
                policy_runner_is_me=change_set.policy_runner_is_me,
            )
        self.query_one(StatusLine).show_errors(change_set.errors)
        self.query_one(OutageBanner).show_outage(
            change_set.all_regions_failing, now, change_set.last_success_at
        )

    def _refresh_detail_if(self, change_set: ChangeSet) -> None:
        selected = self.table.selected_id
        touched = {snapshot.id for snapshot in change_set.changed} | set(change_set.removed_ids)
        if change_set.is_full or selected != self.detail.worker_id or selected in touched:
            self.show_detail(selected)

    def sync_detail(self) -> None:
        """The detail shows the highlighted row, now: rows came and went under the cursor
        (filter, sort, refresh) and the table only says so when the cursor's index moves."""
        selected = self.table.selected_id
        if selected != self.detail.worker_id:
            self.show_detail(selected)

    def show_header(self, **changes: object) -> None:
        """Re-draw the header with the counts of the moment (shown rows, marks)."""
        self.header.show(
            now=self.fleet_app.clock(),
            shown_count=self.table.row_count,
            marked_count=len(self.table.marked),
            hidden_marked_count=len(self.table.hidden_marked),
            terminated_hidden_count=len(self.terminated.hidden_ids),
            **changes,  # type: ignore[arg-type]
        )

    def marks_changed(self) -> None:
        self.show_header()

    def tick(self) -> None:
        """Once a second: the freshness age moves even when nothing else does."""
        self.show_header()
        self.detail.tick(self.fleet_app.clock())

    def _recent_lifecycle_events(self, worker_id: str) -> list:
        """The newest lifecycle events (status, CML, licence, actions), telemetry left out."""
        recent = self.fleet_app.service.events_for(worker_id, 20 * EVENT_ROWS)
        lifecycle = [event for event in recent if event.type not in _TELEMETRY_EVENT_TYPES]
        return lifecycle[-EVENT_ROWS:]

    def show_detail(self, worker_id: str | None) -> None:
        snapshot = self.table.snapshots.get(worker_id) if worker_id else None
        events = self._recent_lifecycle_events(snapshot.id) if snapshot else []
        self.detail.show(snapshot, events, now=self.fleet_app.clock())

    @guarded
    def _follow_cursor(self) -> None:
        self.sync_detail()

    @guarded
    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        # The cursor's row now, not the message's: a message can describe a row that a later
        # sort or filter moved away (the table posts one when a row lands in an empty table,
        # before the rows are sorted), and it can arrive after a newer filter keystroke.
        self.sync_detail()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_focus_detail()

    # -- selection helpers --------------------------------------------------------------------

    def _selected(self) -> WorkerSnapshot | None:
        selected = self.table.selected_id
        return self.table.snapshots.get(selected) if selected else None

    # -- navigation ---------------------------------------------------------------------------

    # Focus moves with ``set_focus`` (now), not ``widget.focus()`` (after the queued messages):
    # keys already queued behind this one are routed to whatever has the focus when read.

    def _focus_table(self) -> None:
        """Back to the table, unless the detail is shown in its place: j/k then page workers."""
        if not self.has_class("-detail-open"):
            self.set_focus(self.table)

    @guarded
    def action_cursor_down(self) -> None:
        self._focus_table()
        self.table.action_cursor_down()

    @guarded
    def action_cursor_up(self) -> None:
        self._focus_table()
        self.table.action_cursor_up()

    @guarded
    def action_cursor_top(self) -> None:
        self._focus_table()
        if self.table.row_count:
            self.table.move_cursor(row=0, animate=False)

    @guarded
    def action_cursor_bottom(self) -> None:
        self._focus_table()
        if self.table.row_count:
            self.table.move_cursor(row=self.table.row_count - 1, animate=False)

    @guarded
    def action_focus_detail(self) -> None:
        if self.has_class("-replace"):
            self.add_class("-detail-open")
        self.detail.focus_content()

    @guarded
    def action_filter(self) -> None:
        filter_input = self.query_one("#filter", Input)
        if self.focused is filter_input:
            # "/" is a priority binding, so it reaches us even while typing a regex: type it.
            filter_input.insert_text_at_cursor("/")
            return
        self.filter_bar.display = True
        # Synchronous (priority binding): the keys queued right behind "/" are routed to the
        # focused widget when the app reads them, so the filter box must have the focus now.
        self.set_focus(filter_input)

    @guarded
    def action_clear_filter(self) -> None:
        filter_input = self.query_one("#filter", Input)
        if self.has_class("-detail-open") or self.detail.contains_focus():
            self.remove_class("-detail-open")
        elif self.filter_bar.display:
            filter_input.value = ""
            self.filter_bar.display = False
            self._filter_changed("")
        self.set_focus(self.table)

    def _filter_changed(self, text: str) -> None:
        self.table.set_filter(text)
        self._update_sort_title()
        self.sync_detail()
        self.show_header()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "filter":
            self._filter_changed(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "filter":
            if not event.value:
                self.filter_bar.display = False
            self.set_focus(self.table)

    # -- sorting and marks --------------------------------------------------------------------

    def _update_sort_title(self) -> None:
        column = COLUMNS_BY_KEY.get(self.table.sort_column)
        arrow = "▼" if self.table.sort_reverse else "▲"
        label = column.label if column else self.table.sort_column
        self.table.border_title = f"sort: {label} {arrow}"
        filter_text = self.table.filter_text
        self.table.border_subtitle = Text(f"filter: {shown(filter_text)}") if filter_text else ""

    @guarded
    def action_sort_next(self) -> None:
        self.table.set_sort(self.table.next_sort_column(), self.table.sort_reverse)
        self._update_sort_title()
        self.sync_detail()

    @guarded
    def action_sort_reverse(self) -> None:
        self.table.set_sort(self.table.sort_column, not self.table.sort_reverse)
        self._update_sort_title()
        self.sync_detail()

    @guarded
    def action_toggle_mark(self) -> None:
        selected = self.table.selected_id
        if selected:
            self.table.toggle_marks([selected])
            self.table.action_cursor_down()
            self.marks_changed()

    @guarded
    def action_mark_all(self) -> None:
        self.table.set_marks(self.table.shown_ids)
        self.marks_changed()
        self.notify(f"{len(self.table.marked)} marked.")

    @guarded
    def action_unmark_all(self) -> None:
        self.table.set_marks([])
        self.marks_changed()

    # -- general ------------------------------------------------------------------------------

    @guarded
    def action_refresh(self) -> None:
        self.fleet_app.service.request_refresh()
        self.notify("Refreshing now…", timeout=2)

    @guarded
    def action_events(self) -> None:
        worker = self._selected()
        if worker is None:
            return self._nothing_selected()
        events = self.fleet_app.service.events_for(worker.id, 200)
        self.app.push_screen(EventTrailScreen(worker.name, events))

    @guarded
    def action_labs(self) -> None:
        worker = self._selected()
        if worker is None:
            return self._nothing_selected()
        labs = getattr(self.fleet_app.service, "labs", None)
        if labs is None:
            self.notify("This service cannot list labs.", severity="warning")
            return
        self.app.push_screen(labs_screen_for(worker, labs(), read_only=self.fleet_app.read_only))

    @guarded
    def action_errors(self) -> None:
        errors = self.query_one(StatusLine).errors
        if not errors:
            self.notify("No current errors.", timeout=3)
            return
        self.app.push_screen(ErrorsScreen(errors, self.fleet_app.clock()))

    @guarded
    def action_show_terminated(self) -> None:
        """Show every terminated worker, or hide again those ended long enough ago."""
        view = self.terminated
        view.show_all = not view.show_all
        if not self.paused:
            now = self.fleet_app.clock()
            current = view.filter(self.fleet_app.service.current(), now)
            self.table.apply(current, full=True)
            self.sync_detail()
            self.show_header()
        days = view.visible_days
        limit = "at once" if days <= 0 else f"after {days:g} " + ("day" if days == 1 else "days")
        self.notify(
            "Terminated workers shown."
            if view.show_all
            else f"Terminated workers hidden {limit} ([ui] terminated_visible_days).",
            timeout=3,
        )

    @guarded
    def action_toggle_pause(self) -> None:
        self.paused = not self.paused
        if not self.paused and self.missed_updates:
            self.missed_updates = False
            current = self.terminated.filter(
                self.fleet_app.service.current(), self.fleet_app.clock()
            )
            self.table.apply(current, full=True)
            self.show_detail(self.table.selected_id)
            self.show_header(
                paused=False,
                totals=current.totals,
                last_success_at=current.last_success_at,
                from_cache=current.from_cache,
            )
        else:
            self.show_header(paused=self.paused)
        self.sync_detail()
        self.notify(
            "Paused: the table is frozen, refreshes go on."
            if self.paused
            else "Live updates resumed.",
            timeout=2,
        )

    @guarded
    def action_help(self) -> None:
        app = self.fleet_app
        self.app.push_screen(HelpScreen(app.read_only, app.read_only_reason))

    async def action_quit(self) -> None:
        await self.fleet_app.action_quit()


class ReadOnlyMainScreen(MainScreen):
    """Same screen; mutating keys are hidden from the footer (still bound, to explain)."""

    BINDINGS = bindings_for(read_only=True)
