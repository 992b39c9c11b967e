"""Every current error in full: what the status line cuts to one line and ``+N more``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static

from cmltui.services.snapshot import SourceHealth
from cmltui.ui.formatting import age, message, seconds_between, shown, timestamp
from cmltui.ui.screens.dialog import Dialog, close_binding


def error_entry(health: SourceHealth, now: datetime) -> Text:
    """Source, then the whole message (it wraps), then since when and the next retry."""
    entry = Text()
    entry.append(shown(health.source), style="bold")
    entry.append("\n  ")
    entry.append(message(health.error), style="red")
    since = f"since {timestamp(health.since)} ({age(seconds_between(now, health.since))} ago)"
    if health.retry_in_seconds is not None:
        since += f", retrying in {health.retry_in_seconds:.0f} s"
    entry.append(f"\n  {since}", style="dim")
    return entry


class ErrorsScreen(Dialog[None]):
    """The errors of the last change set, one entry each, as of when it was opened."""

    BINDINGS = [close_binding("escape,q,E", "close")]

    def __init__(self, errors: Sequence[SourceHealth], now: datetime) -> None:
        super().__init__(classes="dialog")
        self.errors = list(errors)
        self.now = now

    def compose(self) -> ComposeResult:
        count = len(self.errors)
        with Vertical(classes="dialog-box wide", id="errors-box"):
            heading = Text(f"Current errors ({count})", style="bold")
            heading.append(f"  as of {timestamp(self.now)}", style="dim")
            yield Static(heading, classes="dialog-title")
            with VerticalScroll(id="errors-body"):
                entries = [error_entry(health, self.now) for health in self.errors]
                yield Static(
                    Text("\n\n").join(entries) if entries else Text("No errors.", style="dim")
                )
            yield Static(Text("esc closes", style="dim"), classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one("#errors-body").focus()

    def action_close(self) -> None:
        self.close(None)
