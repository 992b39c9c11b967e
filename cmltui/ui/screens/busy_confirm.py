"""Stop and terminate of workers whose labs run: the confirmation lists those labs (title,
owner, nodes; read when the dialog opens) and offers to stop the labs first.

Stop gets a third answer, "Stop labs first" (``f``); terminate a "stop the labs first" box
under the typed name. Either way the labs are stopped, the wait lasts until CML says they are,
and only then is the worker stopped or terminated (a worker whose labs did not stop is left
alone, and the toast says why). Cancel keeps the focus, as in every confirmation.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from rich.text import Text
from textual import work
from textual.widget import Widget
from textual.widgets import Button, Checkbox, Static

from cmltui.services.labs import LabSnapshot, LabsService
from cmltui.services.snapshot import ActionResult, WorkerSnapshot
from cmltui.ui.formatting import message, plain
from cmltui.ui.screens.confirm import ConfirmScreen, Target, TerminateScreen
from cmltui.ui.screens.dialog import close_binding

#: The answer "stop the running labs first, then the worker".
LABS_FIRST = "labs-first"


def can_list_labs(service: Any) -> bool:
    """The service offers lab sessions (the in-memory test double of the fleet does not)."""
    return callable(getattr(service, "labs", None))


def labs_first(service: Any, worker_ids: list[str], action: str) -> Awaitable[ActionResult]:
    """Stop the workers' running labs, wait for them, then ``action`` (stop or terminate)."""
    then: Callable[[list[str]], Awaitable[ActionResult]] = getattr(service, f"{action}_workers")
    return service.labs().stop_labs_then(worker_ids, then, action)


def running_labs_text(
    workers: Sequence[WorkerSnapshot],
    listing: dict[str, tuple[list[LabSnapshot], str | None]] | None,
    ends: str,
) -> Text:
    """``Running labs (stopping ends them):`` and one line per lab: worker, title, owner,
    nodes; every remote part escaped."""
    lines = [Text(f"Running labs ({ends}):", style="bold yellow")]
    if listing is None:
        lines.append(Text("  reading the labs…", style="dim"))
        return Text("\n").join(lines)
    for worker in workers:
        labs, error = listing.get(worker.id, ([], None))
        if error is not None:
            line = Text("  ").append_text(plain(worker.name, "bold"))
            line.append(f": labs not read ({message(error)})", style="red")
            lines.append(line)
            continue
        for lab in labs:
            line = Text("  ").append_text(plain(worker.name, "dim"))
            line.append("  ").append_text(plain(lab.title, "bold"))
            line.append("  owner ", style="dim").append_text(plain(lab.owner))
            line.append(f"  nodes {lab.nodes}")
            lines.append(line)
    if len(lines) == 1:
        lines.append(Text("  none any more (they stopped meanwhile)", style="dim"))
    return Text("\n").join(lines)


class _RunningLabs:
    """Reads the running labs when mounted and shows them under the names."""

    busy_workers: list[WorkerSnapshot]
    labs_service: LabsService
    ends: str
    listing: dict[str, tuple[list[LabSnapshot], str | None]] | None = None

    def _mount_labs_block(self) -> None:
        block = Static(running_labs_text(self.busy_workers, None, self.ends), id="running-labs")
        names = self.query_one(".dialog-names")  # type: ignore[attr-defined]
        names.parent.mount(block, after=names)
        self._read_labs()

    @work(exclusive=True, group="running-labs", exit_on_error=False)
    async def _read_labs(self) -> None:
        ids = [worker.id for worker in self.busy_workers]
        try:
            self.listing = await self.labs_service.running_labs(ids)
        except Exception as err:  # shown in the dialog; the answer buttons still work
            self.listing = {wid: ([], f"{type(err).__name__}: {err}") for wid in ids}
        block = self.query_one("#running-labs", Static)  # type: ignore[attr-defined]
        block.update(running_labs_text(self.busy_workers, self.listing, self.ends))


class BusyStopScreen(_RunningLabs, ConfirmScreen):
    """Stop workers with running labs: Cancel, Stop labs first (f), or Stop (y)."""

    BINDINGS = [
        *ConfirmScreen.BINDINGS,
        close_binding("f", "answer_labs_first", "Stop labs first"),
    ]

    def __init__(
        self,
        title: str,
        targets: Sequence[Target | str],
        *,
        question: str,
        busy_workers: Sequence[WorkerSnapshot],
        labs: LabsService,
    ) -> None:
        super().__init__(title, targets, confirm_label="Stop", question=question)
        self.busy_workers = list(busy_workers)
        self.labs_service = labs
        self.ends = "stopping the worker ends them"

    def on_mount(self) -> None:
        super().on_mount()
        buttons = self.query_one(".dialog-buttons")
        first = Button(Text("Stop labs first (f)"), id="labs-first", variant="primary")
        buttons.mount(first, before=self.query_one("#confirm"))
        self._mount_labs_block()

    def action_answer_labs_first(self) -> None:
        self.close(LABS_FIRST)  # type: ignore[arg-type]

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "labs-first":
            self.close(LABS_FIRST)  # type: ignore[arg-type]
        else:
            super().on_button_pressed(event)


class BusyTerminateScreen(_RunningLabs, TerminateScreen):
    """Terminate workers with running labs: the name typed, and a box to stop them first."""

    def __init__(
        self,
        targets: Sequence[Target | str],
        *,
        busy_workers: Sequence[WorkerSnapshot],
        labs: LabsService,
    ) -> None:
        super().__init__(targets)
        self.busy_workers = list(busy_workers)
        self.labs_service = labs
        self.ends = "terminating the worker ends them"

    def on_mount(self) -> None:
        super().on_mount()
        box = Checkbox("Stop the running labs first (then terminate)", id="labs-first")
        buttons = self.query_one(".dialog-buttons")
        dialog = buttons.parent
        assert isinstance(dialog, Widget), "the buttons sit in the dialog's box"
        dialog.mount(box, before=buttons)
        self._mount_labs_block()

    def _answer(self) -> bool | str:
        return LABS_FIRST if self.query_one("#labs-first", Checkbox).value else True

    def on_input_submitted(self, event: Any) -> None:
        if self.confirmed:
            self.close(self._answer())  # type: ignore[arg-type]

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "confirm" and self.confirmed:
            self.close(self._answer())  # type: ignore[arg-type]
        else:
            self.close(False)
