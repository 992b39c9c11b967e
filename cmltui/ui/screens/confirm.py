"""Confirmation dialogs: Cancel is focused; terminate needs the name (or the count) typed."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Static

from cmltui.ui.formatting import plain
from cmltui.ui.screens.dialog import Dialog, close_binding

#: At most this many names are listed; the rest are counted.
MAX_NAMES_LISTED = 12


def names_block(names: Sequence[str]) -> Text:
    """The workers an action will touch, one per line, as literal text."""
    lines = [Text("  • ").append_text(plain(name)) for name in names[:MAX_NAMES_LISTED]]
    if len(names) > MAX_NAMES_LISTED:
        lines.append(Text(f"  … and {len(names) - MAX_NAMES_LISTED} more", style="dim"))
    return Text("\n").join(lines)


class ConfirmScreen(Dialog[bool]):
    """Yes/no with the names of the workers concerned. ``y`` confirms, ``n``/``esc`` cancel."""

    BINDINGS = [
        close_binding("y", "answer(True)", "Yes"),
        close_binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(
        self, title: str, names: Sequence[str], *, confirm_label: str, question: str = ""
    ) -> None:
        super().__init__(classes="dialog")
        self.title_text = title
        self.names = list(names)
        self.confirm_label = confirm_label
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Static(Text(self.title_text, style="bold"), classes="dialog-title")
            if self.question:
                yield Static(Text(self.question))
            yield Static(names_block(self.names), classes="dialog-names")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel (n)", id="cancel", variant="default")
                yield Button(Text(f"{self.confirm_label} (y)"), id="confirm", variant="warning")

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    def action_answer(self, answer: bool) -> None:
        self.close(answer)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.close(event.button.id == "confirm")


class TerminateScreen(Dialog[bool]):
    """Red, Cancel focused, and the Terminate button stays disabled until the name is typed."""

    BINDINGS = [close_binding("escape", "cancel", "Cancel")]

    def __init__(self, names: Sequence[str]) -> None:
        super().__init__(classes="dialog danger")
        self.names = list(names)
        # One worker: its name. Several: how many (typing every name would be absurd).
        self.expected = self.names[0] if len(self.names) == 1 else str(len(self.names))

    def compose(self) -> ComposeResult:
        several = len(self.names) > 1
        what = f"{len(self.names)} workers" if several else "this worker"
        prompt = (
            f"Type {len(self.names)} (the number of workers) to confirm:"
            if several
            else "Type the worker's name to confirm:"
        )
        with Vertical(classes="dialog-box"):
            yield Static(
                Text(f"Terminate {what}? This cannot be undone.", style="bold"),
                classes="dialog-title",
            )
            yield Static(names_block(self.names), classes="dialog-names")
            yield Static(Text(prompt))
            yield Input(placeholder=self.expected, id="confirm-text")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel", variant="default")
                yield Button("Terminate", id="confirm", variant="error", disabled=True)

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
