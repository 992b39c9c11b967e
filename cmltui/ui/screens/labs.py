"""The labs of one worker: who uses it, what runs, and the lab actions, from the keyboard.

Opened from the fleet view (``L``) on the highlighted worker; ``esc`` goes back. While it is
open, and only then, the worker's labs are read every few seconds (the service's session);
each answer arrives as a keyed diff and only changed cells are redrawn. Actions capture the
marked labs (else the highlighted one) when the key is pressed, check CML's own rules first,
ask where CML cannot undo (wipe, delete), and run in a worker task; the result is a toast.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import TYPE_CHECKING, Any, TypeVar

from rich.text import Text
from textual.app import ComposeResult
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Static

from cmltui.domain.plural import plural
from cmltui.services.lab_files import TopologyFile, default_file_name
from cmltui.services.labs import LabSnapshot, LabsService, LabsUpdate, lab_label
from cmltui.services.snapshot import ActionResult, WorkerSnapshot
from cmltui.ui.formatting import age, message, plain, seconds_between
from cmltui.ui.lab_keys import LAB_ACTIONS_BY_ID, LabCommands, lab_bindings
from cmltui.ui.screens.confirm import ConfirmScreen, Target
from cmltui.ui.screens.lab_dialogs import (
    DeleteLabsScreen,
    DownloadLabScreen,
    ImportLabScreen,
    LabsHelpScreen,
)
from cmltui.ui.screens.lists import EventTrailScreen
from cmltui.ui.widgets.lab_table import LabTable

if TYPE_CHECKING:
    from cmltui.ui.app import CmlTuiApp

F = TypeVar("F", bound=Callable[..., Any])


def lab_guarded(method: F) -> F:
    """No traceback on screen: an unexpected error is logged and toasted."""

    @wraps(method)
    def wrapper(self: LabsScreen, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except Exception as err:
            self.fleet_app.log_unexpected(err)
            return None

    return wrapper  # type: ignore[return-value]


def lab_mutating(method: F) -> F:
    """Refuse (and say why) in read-only mode; the key stays bound so it can explain."""

    @wraps(method)
    def wrapper(self: LabsScreen, *args: Any, **kwargs: Any) -> Any:
        if self.fleet_app.read_only:
            spec = LAB_ACTIONS_BY_ID[method.__name__.removeprefix("action_")]
            self.notify(
                f"Read-only mode: '{spec.description.lower()}' is disabled "
                f"({self.fleet_app.read_only_reason}).",
                severity="warning",
                markup=False,
            )
            return None
        return method(self, *args, **kwargs)

    return lab_guarded(wrapper)  # type: ignore[return-value]


class LabsChanged(Message):
    """An update from the labs session, delivered on the screen's message queue."""

    def __init__(self, update: LabsUpdate) -> None:
        super().__init__()
        self.labs_update = update


def _labels(labs: list[LabSnapshot]) -> list[Target]:
    return [Target(lab_label(lab.id, lab.title)) for lab in labs]


class LabsScreen(Screen[None]):
    BINDINGS = lab_bindings(read_only=False)
    COMMANDS = {LabCommands}
    DEFAULT_CSS = """
    LabsScreen #labs-header { height: 1; background: $panel; padding: 0 1; }
    LabsScreen #labs-busy { height: 1; padding: 0 1; }
    LabsScreen #labs-busy.-busy { background: $warning 20%; }
    LabsScreen #labs-status { height: 1; padding: 0 1; background: $error 30%; display: none; }
    LabsScreen #labs-status.-shown { display: block; }
    LabsScreen LabTable {
        height: 1fr; border: round $primary; border-title-align: left;
        scrollbar-size-vertical: 1;
    }
    """

    def __init__(self, worker: WorkerSnapshot, labs: LabsService) -> None:
        super().__init__(id=f"labs-{worker.id}")
        self.worker = worker
        self.labs_service = labs
        self.session = labs.session(worker.id)
        self.last_update: LabsUpdate | None = None

    @property
    def fleet_app(self) -> CmlTuiApp:
        return self.app  # type: ignore[return-value]

    @property
    def table(self) -> LabTable:
        return self.query_one(LabTable)

    # -- layout and updates -------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static(id="labs-header")
        yield Static(id="labs-busy")
        yield LabTable(id="labs-table")
        yield Static(id="labs-status")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.table.border_title = "labs: title order; space marks"
        self.table.focus()
        self._show_header()
        self.session.open(self._labs_listener)
        self.set_interval(1.0, self._show_header)

    async def on_unmount(self) -> None:
        await self.session.close()

    def _labs_listener(self, update: LabsUpdate) -> None:
        """The session's listener: hand over to the message queue, touch no widget here."""
        self.post_message(LabsChanged(update))

    @lab_guarded
    def on_labs_changed(self, event: LabsChanged) -> None:
        update = event.labs_update
        self.last_update = update
        if update.worker is not None:
            self.worker = update.worker
        with self.app.batch_update():
            self.table.apply(update)
            self._show_header()

    def _show_header(self) -> None:
        update = self.last_update
        header = Text("Labs on ", style="bold").append_text(plain(self.worker.name, "bold"))
        header.append(f"  {self.worker.region}", style="dim")
        if update is None or not update.loaded:
            header.append("  reading the labs…" if update is None or not update.error else "")
        else:
            header.append(
                f"  {plural(update.total, 'lab')} · {update.started} started · "
                f"{update.running_nodes}/{update.node_count} nodes running"
            )
            fetched = seconds_between(self.fleet_app.clock(), update.fetched_at)
            header.append(f" · read {age(fetched)} ago", style="dim")
        marked = len(self.table.marked)
        if marked:
            header.append(f" · {marked} marked", style="bold yellow")
        self.query_one("#labs-header", Static).update(header)
        busy = self.query_one("#labs-busy", Static)
        if update is not None:
            style = "bold yellow" if update.busy.busy else "green"
            busy.update(Text(message(update.busy.reason), style=style))
            busy.set_class(update.busy.busy, "-busy")
        status = self.query_one("#labs-status", Static)
        error = update.error if update is not None else None
        status.set_class(error is not None, "-shown")
        if error is not None:
            since = seconds_between(self.fleet_app.clock(), update.error_since) if update else None
            what = "labs not read" if update and update.loaded else "cannot read the labs"
            status.update(Text(f"{what}: {message(error)} (for {age(since)})"))

    # -- helpers ------------------------------------------------------------------------------

    def _targets(self) -> list[LabSnapshot]:
        return self.table.targets()

    def _nothing_selected(self) -> None:
        self.notify("No lab selected.", severity="warning")

    def _send(self, label: str, call: Callable[[], Awaitable[ActionResult]]) -> None:
        """Marks done their job; the call runs in a worker task; the result is a toast."""
        if self.table.marked:
            self.table.set_marks([])
        self.fleet_app.run_service_action(label, call)
        self._show_header()

    def _refused(self, labs: list[LabSnapshot], action: str) -> bool:
        """Say (once, naming each lab) when CML's own rules refuse ``action``."""
        lines = [
            f"{lab_label(lab.id, lab.title)}: {why}"
            for lab in labs
            if (why := lab.refusal(action)) is not None
        ]
        if lines:
            self.notify(message("; ".join(lines)), severity="warning", markup=False, timeout=8)
        return bool(lines)

    def _ask(self, title: str, labs: list[LabSnapshot], label: str, question: str, send) -> None:
        self.app.push_screen(
            ConfirmScreen(title, _labels(labs), confirm_label=label, question=question), send
        )

    # -- navigation and marks -----------------------------------------------------------------

    @lab_guarded
    def action_cursor_down(self) -> None:
        self.table.action_cursor_down()

    @lab_guarded
    def action_cursor_up(self) -> None:
        self.table.action_cursor_up()

    @lab_guarded
    def action_cursor_top(self) -> None:
        if self.table.row_count:
            self.table.move_cursor(row=0, animate=False)

    @lab_guarded
    def action_cursor_bottom(self) -> None:
        if self.table.row_count:
            self.table.move_cursor(row=self.table.row_count - 1, animate=False)

    @lab_guarded
    def action_toggle_mark(self) -> None:
        selected = self.table.selected_id
        if selected:
            self.table.toggle_mark(selected)
            self.table.action_cursor_down()
            self._show_header()

    @lab_guarded
    def action_mark_all(self) -> None:
        self.table.set_marks(self.table.shown_ids)
        self._show_header()

    @lab_guarded
    def action_unmark_all(self) -> None:
        self.table.set_marks([])
        self._show_header()

    # -- lab actions --------------------------------------------------------------------------

    def _act(self, action: str, labs: list[LabSnapshot]) -> None:
        ids = [lab.id for lab in labs]
        service, worker_id = self.labs_service, self.worker.id
        self._send(f"{action} lab", lambda: service.act(worker_id, action, ids))

    @lab_mutating
    def action_start_lab(self) -> None:
        labs = self._targets()
        if not labs:
            return self._nothing_selected()
        self._act("start", labs)

    @lab_mutating
    def action_stop_lab(self) -> None:
        labs = self._targets()
        if not labs:
            return self._nothing_selected()
        if len(labs) == 1:
            return self._act("stop", labs)

        def send(confirmed: bool | None) -> None:
            if confirmed:
                self._act("stop", labs)

        question = "Stopping a lab ends its nodes (its users lose their sessions)."
        self._ask(f"Stop {plural(len(labs), 'lab')}?", labs, "Stop", question, send)

    @lab_mutating
    def action_wipe_lab(self) -> None:
        labs = self._targets()
        if not labs:
            return self._nothing_selected()
        if self._refused(labs, "wipe"):
            return

        def send(confirmed: bool | None) -> None:
            if confirmed:
                self._act("wipe", labs)

        question = "Wiping erases the nodes' disks: configurations not saved in CML are lost."
        self._ask(f"Wipe {plural(len(labs), 'lab')}?", labs, "Wipe", question, send)

    def _delete(self, labs: list[LabSnapshot], free: bool) -> None:
        service, worker_id = self.labs_service, self.worker.id
        ids = [lab.id for lab in labs]

        def send(confirmed: bool | None) -> None:
            if not confirmed:
                return
            if free:
                label = "stop, wipe and delete lab"
                self._send(label, lambda: service.stop_wipe_delete(worker_id, ids))
            else:
                self._act("delete", labs)

        self.app.push_screen(DeleteLabsScreen(labs, free=free), send)

    @lab_mutating
    def action_delete_lab(self) -> None:
        """Delete; a lab CML would not delete yet is offered stop, wipe and delete instead."""
        labs = self._targets()
        if not labs:
            return self._nothing_selected()
        self._delete(labs, free=any(lab.refusal("delete") for lab in labs))

    @lab_mutating
    def action_free_lab(self) -> None:
        labs = self._targets()
        if not labs:
            return self._nothing_selected()
        self._delete(labs, free=True)

    @lab_guarded
    def action_download_lab(self) -> None:
        labs = self._targets()
        if len(labs) != 1:
            if not labs:
                return self._nothing_selected()
            self.notify("Download works on one lab: unmark the others.", severity="warning")
            return
        lab = labs[0]
        service, worker_id = self.labs_service, self.worker.id

        def send(answer: tuple | None) -> None:
            if answer is not None:
                path, overwrite = answer
                self._send(
                    "download lab",
                    lambda: service.download(worker_id, lab.id, path, overwrite=overwrite),
                )

        default = default_file_name(lab.title, lab.id)
        self.app.push_screen(DownloadLabScreen(lab, default, service.check_download), send)

    @lab_mutating
    def action_import_lab(self) -> None:
        service, worker_id = self.labs_service, self.worker.id

        def send(answer: tuple[TopologyFile, str | None] | None) -> None:
            if answer is not None:
                topology, title = answer
                self._send(
                    "import lab", lambda: service.import_topology(worker_id, topology, title)
                )

        self.app.push_screen(ImportLabScreen(self.worker.name, service.check_topology_file), send)

    # -- general ------------------------------------------------------------------------------

    @lab_guarded
    def action_refresh(self) -> None:
        self.session.request_refresh()
        self.notify("Reading the labs now…", timeout=2)

    @lab_guarded
    def action_events(self) -> None:
        events = self.fleet_app.service.events_for(self.worker.id, 200)
        self.app.push_screen(EventTrailScreen(self.worker.name, events))

    @lab_guarded
    def action_help(self) -> None:
        self.app.push_screen(LabsHelpScreen(self.fleet_app.read_only))

    @lab_guarded
    def action_back(self) -> None:
        if self.app.screen is self:
            self.dismiss(None)


class ReadOnlyLabsScreen(LabsScreen):
    """Same screen; mutating keys are hidden from the footer (still bound, to explain)."""

    BINDINGS = lab_bindings(read_only=True)


def labs_screen_for(worker: WorkerSnapshot, labs: LabsService, *, read_only: bool) -> LabsScreen:
    return (ReadOnlyLabsScreen if read_only else LabsScreen)(worker, labs)
