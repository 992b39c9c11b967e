"""The labs screen's dialogs: delete (type the title), download (a path; never over a file
without asking) and import (a path, checked before anything is sent), and its help.

Cancel has the focus in each; titles, owners and paths are shown literally, escaped.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Input, Static

from cmltui.services.lab_files import LabFileError, TopologyFile, resolve_path, title_problem
from cmltui.services.labs import LabSnapshot
from cmltui.ui.formatting import message, plain, shown
from cmltui.ui.lab_keys import lab_help_sections
from cmltui.ui.screens.dialog import Dialog, close_binding


def lab_line(lab: LabSnapshot) -> Text:
    """``  • "Title"  owner alice  STARTED  nodes 3/5``, every remote part escaped."""
    line = Text("  • ").append_text(plain(lab.title, "bold"))
    line.append("  owner ", style="dim").append_text(plain(lab.owner))
    line.append(f"  {lab.state}  ", style="dim")
    line.append(f"nodes {lab.nodes}")
    return line


def labs_block(labs: Sequence[LabSnapshot]) -> VerticalScroll:
    return VerticalScroll(
        Static(Text("\n").join(lab_line(lab) for lab in labs)), classes="dialog-names"
    )


def free_note(labs: Sequence[LabSnapshot]) -> str:
    """What "stop, wipe and delete" will do to these labs, by state."""
    started = sum(1 for lab in labs if lab.state == "STARTED")
    stopped = sum(1 for lab in labs if lab.state == "STOPPED")
    steps = []
    if started:
        steps.append(f"{started} running: stopped, then wiped")
    if stopped:
        steps.append(f"{stopped} stopped: wiped")
    if not steps:
        return "Every one is already stopped and wiped."
    return "CML deletes only stopped and wiped labs, so first " + "; ".join(steps) + "."


class DeleteLabsScreen(Dialog[bool]):
    """Red, Cancel focused; Delete stays disabled until the title (or the count) is typed.

    ``free``: the labs are stopped and wiped first (CML deletes only stopped, wiped labs)."""

    BINDINGS = [close_binding("escape", "cancel", "Cancel")]

    def __init__(self, labs: Sequence[LabSnapshot], *, free: bool) -> None:
        super().__init__(classes="dialog danger")
        self.labs = list(labs)
        self.free = free
        title = shown(self.labs[0].title, missing="").strip() if len(self.labs) == 1 else ""
        self.by_count = not title
        self.expected = title or str(len(self.labs))

    def compose(self) -> ComposeResult:
        count = len(self.labs)
        what = f"{count} labs" if count > 1 else "this lab"
        verb = "Stop, wipe and delete" if self.free else "Delete"
        prompt = (
            f"Type {count} (the number of labs) to confirm:"
            if self.by_count
            else "Type the lab's title, as shown above, to confirm:"
        )
        with Vertical(classes="dialog-box wide"):
            heading = f"{verb} {what}? Its nodes and their disks go: this cannot be undone."
            yield Static(Text(heading, style="bold"), classes="dialog-title")
            if self.free:
                yield Static(Text(free_note(self.labs), style="yellow"))
            yield labs_block(self.labs)
            yield Static(Text(prompt))
            yield Input(placeholder=self.expected, id="confirm-text")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel", variant="default")
                yield Button(verb, id="confirm", variant="error", disabled=True)

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    @property
    def confirmed(self) -> bool:
        return self.query_one("#confirm-text", Input).value.strip() == self.expected

    def on_input_changed(self, event: Input.Changed) -> None:
        self.query_one("#confirm", Button).disabled = not self.confirmed

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if self.confirmed:
            self.close(True)

    def action_cancel(self) -> None:
        self.close(False)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.close(event.button.id == "confirm" and self.confirmed)


class DownloadLabScreen(Dialog[tuple[Path, bool] | None]):
    """A path for the topology YAML; a file already there is replaced only when asked."""

    BINDINGS = [close_binding("escape", "cancel", "Cancel")]

    def __init__(
        self,
        lab: LabSnapshot,
        default_path: str,
        check: Callable[..., Awaitable[Path]],
    ) -> None:
        super().__init__(classes="dialog")
        self.lab = lab
        self.default_path = default_path
        self._check = check
        #: The path found to exist: Overwrite replaces exactly this one.
        self.existing: Path | None = None

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box wide"):
            heading = Text("Download the topology of ", style="bold")
            yield Static(heading.append_text(plain(self.lab.title, "bold")), classes="dialog-title")
            yield Static(Text("Save as (relative to the current folder):"))
            yield Input(value=self.default_path, id="download-path")
            yield Static(Text(""), id="download-status")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel", variant="default")
                yield Button("Overwrite", id="overwrite", variant="error", disabled=True)
                yield Button("Save", id="save", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#overwrite").display = False
        self.query_one("#cancel", Button).focus()

    def _status(self, text: str, style: str = "") -> None:
        self.query_one("#download-status", Static).update(Text(text, style=style))

    def on_input_changed(self, event: Input.Changed) -> None:
        if self.existing is not None:  # another path now: ask again
            self.existing = None
            self.query_one("#overwrite").display = False
            self._status("")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._try(event.value)

    @work(exclusive=True, group="download-check", exit_on_error=False)
    async def _try(self, text: str) -> None:
        try:
            path = await self._check(text)
        except LabFileError as err:
            if err.exists:
                self.existing = resolve_path(text)
                self._status(f"{message(err.reason)}: replace it? (Overwrite)", "bold yellow")
                overwrite = self.query_one("#overwrite", Button)
                overwrite.display = True
                overwrite.disabled = False
                self.query_one("#cancel", Button).focus()
            else:
                self._status(message(err.reason), "bold red")
            return
        self.close((path, False))

    def action_cancel(self) -> None:
        self.close(None)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "save":
            self._try(self.query_one("#download-path", Input).value)
        elif event.button.id == "overwrite" and self.existing is not None:
            self.close((self.existing, True))
        else:
            self.close(None)


class ImportLabScreen(Dialog[tuple[TopologyFile, str | None] | None]):
    """A topology file (read, decoded and checked before anything is sent) and a title."""

    BINDINGS = [close_binding("escape", "cancel", "Cancel")]

    def __init__(self, worker_name: str, check: Callable[[str], Awaitable[TopologyFile]]) -> None:
        super().__init__(classes="dialog")
        self.worker_name = worker_name
        self._check = check

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box wide"):
            heading = Text("Import a lab into ", style="bold")
            heading.append_text(plain(self.worker_name, "bold"))
            yield Static(heading, classes="dialog-title")
            yield Static(Text("Topology file (YAML, at most 2 MB):"))
            yield Input(placeholder="path/to/lab.yaml", id="import-path")
            yield Static(Text("Title (empty: the one in the file):"))
            yield Input(placeholder="as in the file", id="import-title")
            yield Static(Text(""), id="import-status")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel", variant="default")
                yield Button("Import", id="import", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#import-path", Input).focus()

    def _status(self, text: str, style: str = "") -> None:
        self.query_one("#import-status", Static).update(Text(text, style=style))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._try()

    @work(exclusive=True, group="import-check", exit_on_error=False)
    async def _try(self) -> None:
        title = self.query_one("#import-title", Input).value.strip() or None
        if title is not None and (problem := title_problem(title)):
            self._status(f"Title: {problem}", "bold red")
            return
        path = self.query_one("#import-path", Input).value
        try:
            topology = await self._check(path)
        except LabFileError as err:
            self._status(message(err.reason), "bold red")
            return
        self.close((topology, title))

    def action_cancel(self) -> None:
        self.close(None)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "import":
            self._try()
        else:
            self.close(None)


class LabsHelpScreen(Dialog[None]):
    BINDINGS = [close_binding("escape,q,question_mark", "close")]

    def __init__(self, read_only: bool) -> None:
        super().__init__(classes="dialog")
        self.read_only = read_only

    def compose(self) -> ComposeResult:
        sections = lab_help_sections(self.read_only, getattr(self.app, "user_keymap", None))
        # The fleet help's ids: the same sizing rules (app.tcss) apply.
        with Vertical(classes="dialog-box wide", id="help-box"):
            yield Static(Text("Labs screen keys", style="bold"), classes="dialog-title")
            with VerticalScroll(id="help-body"):
                if self.app.size.width >= 100:
                    # Navigation, marks and actions left; files, general and notes right.
                    with Horizontal(id="help-columns"):
                        yield Static(Text("\n\n").join(sections[:3]), classes="help-column")
                        yield Static(Text("\n\n").join(sections[3:]), classes="help-column")
                else:
                    yield Static(Text("\n\n").join(sections))
            yield Static(Text("esc closes", style="dim"), classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one("#help-body").focus()

    def action_close(self) -> None:
        self.close(None)
