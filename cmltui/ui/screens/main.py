"""The fleet view: header, filter, worker table, detail pane, status line, footer.

Every binding comes from the action registry; each ``action_<id>`` below is one registry entry.
Actions capture the worker ids when the key is pressed and hand them to the app, which calls the
controller from a worker task.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Any, TypeVar

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.events import Resize
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static

from cmltui.services.snapshot import ChangeSet, WorkerSnapshot
from cmltui.ui.actions import ACTIONS_BY_ID, bindings_for
from cmltui.ui.screens.confirm import ConfirmScreen, TerminateScreen
from cmltui.ui.screens.forms import LicenceScreen, NewWorkerRequest, NewWorkerScreen
from cmltui.ui.screens.lists import EventTrailScreen, HelpScreen, ImportScreen
from cmltui.ui.widgets.columns import COLUMNS_BY_KEY
from cmltui.ui.widgets.detail import DetailPane
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
#: How many events the detail pane lists.
DETAIL_EVENTS = 10
#: Telemetry events are drawn as the history bars; the detail lists what happened to the worker.
_TELEMETRY_EVENT_TYPE = "cmltui.worker.telemetry-updated.v1"

F = TypeVar("F", bound=Callable[..., Any])


def guarded(method: F) -> F:
    """Run a handler; an unexpected error is logged and toasted, never shown as a traceback."""

    @wraps(method)
    def wrapper(self: MainScreen, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except Exception as err:
            self.fleet_app.log_unexpected(err)
            return None

    return wrapper  # type: ignore[return-value]


def mutating(method: F) -> F:
    """Refuse (and say why) in read-only mode; the key stays bound so it can explain."""

    @wraps(method)
    def wrapper(self: MainScreen, *args: Any, **kwargs: Any) -> Any:
        action_id = method.__name__.removeprefix("action_")
        if self.fleet_app.read_only:
            description = ACTIONS_BY_ID[action_id].description.lower()
            self.notify(
                f"Read-only mode: '{description}' is disabled "
                "(--read-only or read_only = true in the config).",
                severity="warning",
                markup=False,
            )
            return None
        return method(self, *args, **kwargs)

    return guarded(wrapper)  # type: ignore[return-value]


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


class MainScreen(Screen[None]):
    BINDINGS = bindings_for(read_only=False)

    def __init__(self) -> None:
        super().__init__(id="main")
        self.paused = False
        #: A change arrived while paused: resume re-reads the whole fleet.
        self.missed_updates = False

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
        self.table.focus()
        self._update_sort_title()

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
        """Render a change set: one batch, changed cells only (the table is frozen when paused)."""
        now = self.fleet_app.clock()
        if self.paused:
            self.missed_updates = True
        else:
            self.table.apply(change_set)
            self._refresh_detail_if(change_set)
        self.header.show(
            now=now,
            totals=change_set.totals,
            last_success_at=change_set.last_success_at,
            from_cache=change_set.from_cache,
            shown_count=self.table.row_count,
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

    def tick(self) -> None:
        """Once a second: the freshness age moves even when nothing else does."""
        self.header.show(now=self.fleet_app.clock(), shown_count=self.table.row_count)

    def _recent_lifecycle_events(self, worker_id: str) -> list:
        """The newest lifecycle events (status, CML, licence, actions), telemetry left out."""
        recent = self.fleet_app.service.events_for(worker_id, 20 * DETAIL_EVENTS)
        lifecycle = [event for event in recent if event.type != _TELEMETRY_EVENT_TYPE]
        return lifecycle[-DETAIL_EVENTS:]

    def show_detail(self, worker_id: str | None) -> None:
        snapshot = self.table.snapshots.get(worker_id) if worker_id else None
        events = self._recent_lifecycle_events(worker_id) if snapshot else []
        self.detail.show(snapshot, events)

    @guarded
    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        worker_id = event.row_key.value if event.row_key else None
        if worker_id != self.detail.worker_id:
            self.show_detail(worker_id)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_focus_detail()

    # -- selection helpers --------------------------------------------------------------------

    def _targets(self) -> list[WorkerSnapshot]:
        """The workers an action applies to, captured now (marked rows, else the selected one)."""
        snapshots = self.table.snapshots
        return [
            snapshots[worker_id] for worker_id in self.table.target_ids() if worker_id in snapshots
        ]

    def _selected(self) -> WorkerSnapshot | None:
        selected = self.table.selected_id
        return self.table.snapshots.get(selected) if selected else None

    def _nothing_selected(self) -> None:
        self.notify("No worker selected.", severity="warning")

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
            self.table.set_filter("")
        self.set_focus(self.table)

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "filter":
            self.table.set_filter(event.value)
            self._update_sort_title()
            self.tick()

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
        self.table.border_subtitle = Text(f"filter: {filter_text}") if filter_text else ""

    @guarded
    def action_sort_next(self) -> None:
        self.table.set_sort(self.table.next_sort_column(), self.table.sort_reverse)
        self._update_sort_title()

    @guarded
    def action_sort_reverse(self) -> None:
        self.table.set_sort(self.table.sort_column, not self.table.sort_reverse)
        self._update_sort_title()

    @guarded
    def action_toggle_mark(self) -> None:
        selected = self.table.selected_id
        if selected:
            self.table.toggle_marks([selected])
            self.table.action_cursor_down()

    @guarded
    def action_mark_all(self) -> None:
        self.table.set_marks(self.table.shown_ids)
        self.notify(f"{len(self.table.marked)} marked.")

    @guarded
    def action_unmark_all(self) -> None:
        self.table.set_marks([])

    # -- lifecycle actions --------------------------------------------------------------------

    @mutating
    def action_start(self) -> None:
        targets = self._targets()
        if not targets:
            return self._nothing_selected()
        worker_ids = [t.id for t in targets]
        self.fleet_app.run_service_action(
            "start", lambda: self.fleet_app.service.start_workers(worker_ids)
        )

    @mutating
    def action_auto_stop(self) -> None:
        """Toggle the idle policy for the targets: opt them out unless all already are."""
        targets = self._targets()
        if not targets:
            return self._nothing_selected()
        worker_ids = [t.id for t in targets]
        opt_out = any(not t.auto_stop_opt_out for t in targets)
        self.fleet_app.run_service_action(
            "auto-stop",
            lambda: self.fleet_app.service.set_auto_stop_opt_out(worker_ids, opt_out),
        )

    @mutating
    def action_stop(self) -> None:
        targets = self._targets()
        if not targets:
            return self._nothing_selected()
        worker_ids = [t.id for t in targets]

        def send(confirmed: bool | None = True) -> None:
            if confirmed:
                self.fleet_app.run_service_action(
                    "stop", lambda: self.fleet_app.service.stop_workers(worker_ids)
                )

        with_labs = [t for t in targets if t.active_labs_count > 0]
        if len(targets) > 1 or with_labs:
            question = (
                f"{len(with_labs)} of them have running labs; stopping ends those labs."
                if with_labs
                else ""
            )
            title = f"Stop {len(targets)} worker{'s' if len(targets) > 1 else ''}?"
            self.app.push_screen(
                ConfirmScreen(
                    title, [t.name for t in targets], confirm_label="Stop", question=question
                ),
                send,
            )
        else:
            send()

    @mutating
    def action_terminate(self) -> None:
        targets = self._targets()
        if not targets:
            return self._nothing_selected()
        worker_ids = [t.id for t in targets]

        def send(confirmed: bool | None) -> None:
            if confirmed:
                self.fleet_app.run_service_action(
                    "terminate", lambda: self.fleet_app.service.terminate_workers(worker_ids)
                )

        self.app.push_screen(TerminateScreen([t.name for t in targets]), send)

    @mutating
    def action_new_worker(self) -> None:
        def send(request: NewWorkerRequest | None) -> None:
            if request is not None:
                self.fleet_app.run_service_action(
                    "create",
                    lambda: self.fleet_app.service.create_worker(
                        request.name, request.region, request.instance_type
                    ),
                )

        self.app.push_screen(NewWorkerScreen(self.fleet_app.config), send)

    @mutating
    def action_licence(self) -> None:
        targets = self._targets()
        if len(targets) != 1:
            self.notify(
                "Licensing works on one worker: select it (and unmark the others).",
                severity="warning",
            )
            return
        worker = targets[0]
        service = self.fleet_app.service
        self.app.push_screen(
            LicenceScreen(
                worker,
                register=lambda token: service.register_license(worker.id, token),
                deregister=lambda: service.deregister_license(worker.id),
            ),
            self.fleet_app.notify_result,
        )

    @mutating
    def action_import_instances(self) -> None:
        service = self.fleet_app.service

        def send(chosen: list | None) -> None:
            if chosen:
                picked = list(chosen)
                self.fleet_app.run_service_action(
                    "import", lambda: service.import_instances(picked)
                )

        self.app.push_screen(ImportScreen(service.discover), send)

    # -- general ------------------------------------------------------------------------------

    @guarded
    def action_refresh(self) -> None:
        self.fleet_app.service.request_refresh()
        self.notify("Refreshing now…", timeout=2)

    @guarded
    def action_copy_endpoint(self) -> None:
        worker = self._selected()
        if worker is None:
            return self._nothing_selected()
        if not worker.https_endpoint:
            self.notify(
                Text(f"{worker.name} has no endpoint yet.").plain, severity="warning", markup=False
            )
            return
        # OSC 52: reaches the operator's own clipboard through SSH (tmux: set-clipboard on).
        self.app.copy_to_clipboard(worker.https_endpoint)
        self.notify(f"Copied {worker.https_endpoint}", markup=False)

    @guarded
    def action_events(self) -> None:
        worker = self._selected()
        if worker is None:
            return self._nothing_selected()
        events = self.fleet_app.service.events_for(worker.id, 200)
        self.app.push_screen(EventTrailScreen(worker.name, events))

    @guarded
    def action_toggle_pause(self) -> None:
        self.paused = not self.paused
        if not self.paused and self.missed_updates:
            self.missed_updates = False
            current = self.fleet_app.service.current()
            self.table.apply(current, full=True)
            self.show_detail(self.table.selected_id)
        self.header.show(
            now=self.fleet_app.clock(), paused=self.paused, shown_count=self.table.row_count
        )
        self.notify(
            "Paused: the table is frozen, refreshes go on."
            if self.paused
            else "Live updates resumed.",
            timeout=2,
        )

    @guarded
    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(self.fleet_app.read_only))

    async def action_quit(self) -> None:
        await self.fleet_app.action_quit()


class ReadOnlyMainScreen(MainScreen):
    """Same screen; mutating keys are hidden from the footer (still bound, to explain)."""

    BINDINGS = bindings_for(read_only=True)
