"""Confirmation dialogs: Cancel is focused; terminate needs the name (or the count) typed.

Every target is listed (the list scrolls), the ones the filter hides first and flagged, so an
action never reaches a worker the operator cannot see named.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Input, Static

from cmltui.ui.formatting import plain, shown
from cmltui.ui.screens.dialog import Dialog, close_binding


@dataclass(frozen=True, slots=True)
class Target:
    """A worker an action will touch, by name, and whether the filter hides its row."""

    name: str
    hidden: bool = False


def as_targets(targets: Sequence[Target | str]) -> list[Target]:
    return [t if isinstance(t, Target) else Target(t) for t in targets]


def names_block(targets: Sequence[Target | str]) -> Text:
    """The workers an action will touch, one per line, as literal text; hidden ones first."""
    ordered = sorted(as_targets(targets), key=lambda t: not t.hidden)
    lines = []
    for target in ordered:
        line = Text("  • ").append_text(plain(target.name))
        if target.hidden:
            line.append("  (hidden by the filter)", style="bold yellow")
        lines.append(line)
    return Text("\n").join(lines)


def hidden_note(targets: Sequence[Target | str]) -> str:
    """``2 of these 5 are hidden by the filter ...``, or "" when every target is in sight."""
    listed = as_targets(targets)
    hidden = sum(1 for t in listed if t.hidden)
    if not hidden:
        return ""
    if len(listed) == 1:
        return "It is hidden by the filter (marked before it was typed): the action reaches it."
    verb, them = ("is", "it") if hidden == 1 else ("are", "them")
    return (
        f"{hidden} of these {len(listed)} {verb} hidden by the filter "
        f"(marked before it was typed): the action reaches {them} too."
    )


def names_list(targets: Sequence[Target | str]) -> VerticalScroll:
    """Every target, scrolling when there are more than the dialog has rows for."""
    return VerticalScroll(Static(names_block(targets)), classes="dialog-names")


class ConfirmScreen(Dialog[bool]):
    """Yes/no with the names of the workers concerned. ``y`` confirms, ``n``/``esc`` cancel."""

    BINDINGS = [
        close_binding("y", "answer(True)", "Yes"),
        close_binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(
        self,
        title: str,
        targets: Sequence[Target | str],
        *,
        confirm_label: str,
        question: str = "",
    ) -> None:
        super().__init__(classes="dialog")
        self.title_text = title
        self.targets = as_targets(targets)
        self.names = [t.name for t in self.targets]
        self.confirm_label = confirm_label
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Static(Text(self.title_text, style="bold"), classes="dialog-title")
            if self.question:
                yield Static(Text(self.question))
            note = hidden_note(self.targets)
            if note:
                yield Static(Text(note, style="bold yellow"), classes="dialog-hidden")
            yield names_list(self.targets)
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
    """Red; the field has the focus (what is typed is never dropped), Enter does nothing until
    the name matches, esc cancels, and Terminate stays disabled until then."""

    BINDINGS = [close_binding("escape", "cancel", "Cancel")]

    def __init__(self, targets: Sequence[Target | str]) -> None:
        super().__init__(classes="dialog danger")
        self.targets = as_targets(targets)
        self.names = [t.name for t in self.targets]
        # One worker: its name exactly as shown (escapes and all; the spaces around it cannot
        # be seen, so they are not asked for). Several: how many (typing every name would be
        # absurd).
        name = shown(self.names[0], missing="").strip() if len(self.names) == 1 else ""
        #: Type the count, not a name: several workers, or a name that shows as nothing.
        self.by_count = not name
        self.expected = name or str(len(self.names))

    def compose(self) -> ComposeResult:
        several = len(self.names) > 1
        what = f"{len(self.names)} workers" if several else "this worker"
        prompt = (
            f"Type {len(self.names)} (the number of workers) to confirm:"
            if self.by_count
            else "Type the worker's name, as shown above, to confirm:"
        )
        with Vertical(classes="dialog-box"):
            yield Static(
                Text(f"Terminate {what}? This cannot be undone.", style="bold"),
                classes="dialog-title",
            )
            note = hidden_note(self.targets)
            if note:
                yield Static(Text(note, style="bold yellow"), classes="dialog-hidden")
            yield names_list(self.targets)
            yield Static(Text(prompt))
            # The placeholder says what to type without being the answer (a field that shows
            # the name looks filled in).
            placeholder = "the number of workers" if self.by_count else "the name shown above"
            yield Input(placeholder=placeholder, id="confirm-text")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel", variant="default")
                yield Button("Terminate", id="confirm", variant="error", disabled=True)

    def on_mount(self) -> None:
        self.query_one("#confirm-text", Input).focus()

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
