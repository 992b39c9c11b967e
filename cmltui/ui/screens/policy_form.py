"""The policy form: a worker's own idle threshold, schedule, maintenance window and auto-stop.

Each field is checked as typed; only the fields the operator changed are sent (the others stay
as each target has them). The form sends the change itself and stays open, values kept, with
the reason when it is refused (a schedule the config does not have, read-only mode).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Select, Static

from cmltui.domain.worker_policy import MAX_IDLE_MINUTES, UNCHANGED, PolicyChange
from cmltui.services.snapshot import ActionResult, WorkerSnapshot
from cmltui.ui.formatting import message, plain
from cmltui.ui.screens.dialog import Dialog

PolicyCall = Callable[[PolicyChange], Awaitable[ActionResult]]

_FIELDS = ("idle", "schedule", "maintenance_from", "maintenance_until")


def _instant(text: str) -> datetime:
    value = datetime.fromisoformat(text.strip())
    return value if value.tzinfo is not None else value.astimezone()


def _shown_time(when: datetime | None) -> str:
    return "" if when is None else when.astimezone().strftime("%Y-%m-%d %H:%M")


def field_problems(values: dict[str, str], known_schedules: Sequence[str]) -> dict[str, str]:
    """Each bad field's reason, as the operator types (empty fields clear a setting)."""
    problems: dict[str, str] = {}
    idle = values["idle"].strip()
    if idle and not (idle.isdigit() and 1 <= int(idle) <= MAX_IDLE_MINUTES):
        problems["idle"] = f"whole minutes, 1 to {MAX_IDLE_MINUTES} (empty: default)"
    schedule = values["schedule"].strip()
    if schedule and schedule not in known_schedules:
        known = ", ".join(known_schedules) or "none configured"
        problems["schedule"] = f"not in the config (known: {known})"
    times: dict[str, datetime] = {}
    for field in ("maintenance_from", "maintenance_until"):
        text = values[field].strip()
        if not text:
            continue
        try:
            times[field] = _instant(text)
        except ValueError:
            problems[field] = "a local time: YYYY-MM-DD HH:MM"
    has_from, has_until = (
        bool(values["maintenance_from"].strip()),
        bool(values["maintenance_until"].strip()),
    )
    if has_from != has_until and not problems.keys() & {"maintenance_from", "maintenance_until"}:
        missing = "maintenance_until" if has_from else "maintenance_from"
        problems[missing] = "both times, or neither"
    if len(times) == 2 and times["maintenance_until"] <= times["maintenance_from"]:
        problems["maintenance_until"] = "must be after the start"
    return problems


class PolicyScreen(Dialog[ActionResult | None]):
    """The targets' own policy, prefilled from the first of them."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", show=False)]

    def __init__(
        self,
        targets: Sequence[WorkerSnapshot],
        known_schedules: Sequence[str],
        send: PolicyCall,
    ) -> None:
        super().__init__(classes="dialog")
        self.targets = list(targets)
        self.known_schedules = tuple(sorted(known_schedules))
        self._send_change = send
        self.busy = False
        first = self.targets[0].policy
        self.initial = {
            "idle": str(first.idle_minutes) if first and first.idle_minutes else "",
            "schedule": (first.schedule or "") if first else "",
            "maintenance_from": _shown_time(first.maintenance_from if first else None),
            "maintenance_until": _shown_time(first.maintenance_until if first else None),
        }
        self.initial_auto_stop = "off" if self.targets[0].auto_stop_opt_out else "on"

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box form"):
            if len(self.targets) == 1:
                title = Text("Policy of ", style="bold")
                title.append_text(plain(self.targets[0].name, "bold"))
            else:
                title = Text(f"Policy of {len(self.targets)} workers", style="bold")
            yield Static(title, classes="dialog-title")
            yield Static(
                Text(
                    "Empty: the schedule's or the global setting applies; times are local. "
                    "Only the fields you change are sent.",
                    style="dim",
                )
            )
            for field, label, hint in (
                ("idle", "Idle minutes", "default"),
                ("schedule", "Schedule", ", ".join(self.known_schedules) or "none configured"),
                ("maintenance_from", "Maintenance from", "YYYY-MM-DD HH:MM"),
                ("maintenance_until", "Maintenance until", "YYYY-MM-DD HH:MM"),
            ):
                with Horizontal(classes="form-row"):
                    yield Static(label, classes="form-label")
                    yield Input(value=self.initial[field], placeholder=hint, id=field)
                    yield Static("", id=f"{field}-error", classes="form-error")
            with Horizontal(classes="form-row"):
                yield Static("Idle auto-stop", classes="form-label")
                yield Select(
                    [("on", "on"), ("off (opted out)", "off")],
                    value=self.initial_auto_stop,
                    allow_blank=False,
                    id="auto_stop",
                )
            yield Static("", id="policy-status")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Save", id="save", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#policy-status").display = False
        self.query_one("#idle", Input).focus()
        self._validate()

    def _values(self) -> dict[str, str]:
        return {field: self.query_one(f"#{field}", Input).value for field in _FIELDS}

    def _validate(self) -> dict[str, str]:
        problems = field_problems(self._values(), self.known_schedules)
        for field in _FIELDS:
            error = self.query_one(f"#{field}-error", Static)
            error.update(Text(problems.get(field, ""), style="red"))
        self.query_one("#save", Button).disabled = self.busy or bool(problems)
        return problems

    def on_input_changed(self, event: Input.Changed) -> None:
        self._validate()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "save":
            self._submit()
        else:
            self.action_cancel()

    def change(self) -> PolicyChange:
        """The fields the operator changed; the rest ``UNCHANGED``."""
        values = {field: value.strip() for field, value in self._values().items()}
        changed = {field for field in _FIELDS if values[field] != self.initial[field]}
        window_changed = changed & {"maintenance_from", "maintenance_until"}
        window = None
        if values["maintenance_from"] and values["maintenance_until"]:
            window = (_instant(values["maintenance_from"]), _instant(values["maintenance_until"]))
        auto_stop = self.query_one("#auto_stop", Select).value
        return PolicyChange(
            idle_minutes=(int(values["idle"]) if values["idle"] else None)
            if "idle" in changed
            else UNCHANGED,
            schedule=(values["schedule"] or None) if "schedule" in changed else UNCHANGED,
            maintenance=window if window_changed else UNCHANGED,
            auto_stop=UNCHANGED if auto_stop == self.initial_auto_stop else auto_stop == "on",
        )

    def _submit(self) -> None:
        if self.busy or self._validate():
            return
        change = self.change()
        if change.is_empty:
            self.close(None)
            return
        self.busy = True
        self.query_one("#save", Button).disabled = True
        self._show_status(Text("Saving…", style="italic"))
        self._send(change)

    def _show_status(self, text: Text) -> None:
        status = self.query_one("#policy-status", Static)
        status.update(text)
        status.display = bool(text.plain)

    @work(exclusive=True, group="policy", exit_on_error=False)
    async def _send(self, change: PolicyChange) -> None:
        try:
            result = await self._send_change(change)
        except Exception as err:  # logged; the form stays, its values kept
            self.app.log_unexpected(err, doing="policy")  # type: ignore[attr-defined]
            result = ActionResult("policy", failed=(message(err),))
        self.busy = False
        if result.ok:
            self.close(result)
            return
        self._validate()
        refusal = "; ".join((*result.refused, *result.failed))
        self._show_status(Text(f"Not saved: {message(refusal)}", style="red"))

    def action_cancel(self) -> None:
        if self.busy:
            self.notify("Waiting for the answer…", severity="warning")
            return
        self.close(None)
