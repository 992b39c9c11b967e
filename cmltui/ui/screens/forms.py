"""Forms: new worker (validated as typed) and licence register / deregister (progress shown)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, LoadingIndicator, Select, Static

from cmltui.config import Config
from cmltui.domain.enums import LicenseStatus
from cmltui.domain.names import name_key
from cmltui.services.snapshot import ActionResult, WorkerSnapshot
from cmltui.ui.formatting import license_text, message, plain, shown
from cmltui.ui.screens.dialog import Dialog, close_binding

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]*$")
_INSTANCE_TYPE = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9]+$")


class NewWorkerForm(BaseModel):
    """What the new-worker dialog sends; each field is checked as the operator types."""

    model_config = ConfigDict(frozen=True, str_strip_whitespace=True)

    name: str
    region: str
    instance_type: str
    allowed_regions: tuple[str, ...]

    @field_validator("name")
    @classmethod
    def _name_ok(cls, value: str) -> str:
        if not value:
            raise ValueError("required")
        if len(value) > 64:
            raise ValueError("at most 64 characters")
        if not _NAME.match(value):
            raise ValueError("letters, digits, space . _ - (starting with a letter or digit)")
        return value

    @field_validator("instance_type")
    @classmethod
    def _instance_type_ok(cls, value: str) -> str:
        if not _INSTANCE_TYPE.match(value):
            raise ValueError("an EC2 type such as c5.2xlarge")
        return value

    @field_validator("region")
    @classmethod
    def _region_ok(cls, value: str, info) -> str:
        allowed = info.data.get("allowed_regions") if info.data else None
        if allowed is not None and value not in allowed:
            raise ValueError("one of the configured regions")
        return value

    @classmethod
    def field_errors(cls, **values: object) -> dict[str, str]:
        """Validate; map each bad field to its message (empty when valid)."""
        try:
            cls.model_validate(values)
        except ValidationError as err:
            return {
                str(error["loc"][0]): error["msg"].removeprefix("Value error, ")
                for error in err.errors()
                if error["loc"]
            }
        return {}


def ami_for(config: Config, region: str) -> str:
    ami_id = config.cml_worker_ami_ids.get(region)
    ami_name = config.cml_worker_ami_names.get(region)
    if ami_id and ami_name:
        return f"{ami_id} ({ami_name})"
    return ami_id or (f"by name: {ami_name}" if ami_name else "none configured for this region")


@dataclass(frozen=True, slots=True)
class NewWorkerRequest:
    name: str
    region: str
    instance_type: str


#: What the form says when the name is taken (the controller refuses it with the same words).
NAME_TAKEN = "a live worker already has this name"

CreateCall = Callable[[NewWorkerRequest], Awaitable[ActionResult]]


class NewWorkerScreen(Dialog[ActionResult | None]):
    """Name, region, instance type; the AMI for the region is shown. Nothing sent until valid.

    The name is checked as typed against the live (not terminated) workers' names, compared
    as the controller compares them (``name_key``). The form sends the request itself and
    stays open, values kept, with the reason shown when it is refused or fails.
    """

    # Not a priority key: an open region list takes escape first (it closes the list).
    BINDINGS = [Binding("escape", "cancel", "Cancel", show=False)]

    def __init__(
        self,
        config: Config,
        create: CreateCall,
        live_names: Callable[[], Iterable[str]] = tuple,
    ) -> None:
        super().__init__(classes="dialog")
        self.config = config
        self.regions = tuple(config.regions)
        self._create = create
        self._live_names = live_names
        self.busy = False

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box form"):
            yield Static(Text("New CML worker", style="bold"), classes="dialog-title")
            with Horizontal(classes="form-row"):
                yield Static("Name", classes="form-label")
                yield Input(placeholder="e.g. lab-team-a", id="name")
                yield Static("", id="name-error", classes="form-error")
            with Horizontal(classes="form-row"):
                yield Static("Region", classes="form-label")
                yield Select(
                    [(region, region) for region in self.regions],
                    value=self.regions[0],
                    allow_blank=False,
                    id="region",
                )
                yield Static("", id="region-error", classes="form-error")
            with Horizontal(classes="form-row"):
                yield Static("Instance type", classes="form-label")
                yield Input(value=self.config.cml_worker_instance_type, id="instance_type")
                yield Static("", id="instance_type-error", classes="form-error")
            with Horizontal(classes="form-row"):
                yield Static("AMI", classes="form-label")
                yield Static(plain(ami_for(self.config, self.regions[0])), id="ami")
            yield LoadingIndicator(id="create-progress")
            yield Static("", id="create-status")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Create", id="create", variant="primary", disabled=True)

    def on_mount(self) -> None:
        self.query_one("#create-progress").display = False
        self.query_one("#create-status").display = False
        self.query_one("#name", Input).focus()
        self._validate()

    def _values(self) -> dict[str, object]:
        region = self.query_one("#region", Select).value
        return {
            "name": self.query_one("#name", Input).value,
            "region": region if isinstance(region, str) else "",
            "instance_type": self.query_one("#instance_type", Input).value,
            "allowed_regions": self.regions,
        }

    def _name_taken(self, name: str) -> bool:
        key = name_key(name)
        return any(name_key(live) == key for live in self._live_names())

    def _validate(self) -> dict[str, str]:
        values = self._values()
        errors = NewWorkerForm.field_errors(**values)
        name = str(values["name"])
        if "name" not in errors and self._name_taken(name):
            errors["name"] = NAME_TAKEN
        for field in ("name", "region", "instance_type"):
            problem = errors.get(field, "")
            # An empty name is not an error until the operator has typed something.
            if field == "name" and not name:
                problem = ""
            self.query_one(f"#{field}-error", Static).update(Text(problem, style="red"))
        self.query_one("#create", Button).disabled = self.busy or bool(errors)
        return errors

    def on_input_changed(self, event: Input.Changed) -> None:
        self._validate()

    def on_select_changed(self, event: Select.Changed) -> None:
        if isinstance(event.value, str):
            self.query_one("#ami", Static).update(plain(ami_for(self.config, event.value)))
        self._validate()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "create":
            self._submit()
        else:
            self.action_cancel()

    def _submit(self) -> None:
        if self.busy or self._validate():
            return
        form = NewWorkerForm.model_validate(self._values())
        self._set_busy(True)
        self._show_status(Text(f"Creating {form.name}… waiting for AWS to answer", "italic"))
        self._send(NewWorkerRequest(form.name, form.region, form.instance_type))

    def _set_busy(self, busy: bool) -> None:
        self.busy = busy
        self.query_one("#create-progress").display = busy
        for widget in (*self.query(Input), *self.query(Select), self.query_one("#cancel")):
            widget.disabled = busy
        self._validate()
        if not busy:
            self.query_one("#name", Input).focus()

    def _show_status(self, text: Text) -> None:
        status = self.query_one("#create-status", Static)
        status.update(text)
        status.display = bool(text.plain)

    @work(exclusive=True, group="create", exit_on_error=False)
    async def _send(self, request: NewWorkerRequest) -> None:
        try:
            result = await self._create(request)
        except Exception as err:  # logged; the form stays, its values kept
            self.app.log_unexpected(err, doing="create")  # type: ignore[attr-defined]
            result = ActionResult("create", failed=(f"{request.name}: {message(err)}",))
        if result.ok:
            self.close(result)
            return
        self._set_busy(False)
        self._show_status(Text(f"Not created: {message(result.summary())}", style="red"))

    def action_cancel(self) -> None:
        if self.busy:
            # The request is in flight: closing now would hide its outcome.
            self.notify("Waiting for AWS to answer…", severity="warning")
            return
        self.close(None)


LicenceCall = Callable[[], Awaitable[ActionResult]]

#: What the licence dialog offers in each state: register needs a worker without a valid
#: registration (CML refuses a second one), deregister one that has a registration to drop.
LICENCE_CHOICES: dict[LicenseStatus, tuple[str, ...]] = {
    LicenseStatus.UNREGISTERED: ("register",),
    LicenseStatus.EVALUATION: ("register",),
    LicenseStatus.REGISTERED: ("deregister",),
    LicenseStatus.EXPIRED: ("register", "deregister"),
    LicenseStatus.INVALID: ("register", "deregister"),
}

_LICENCE_ADVICE: dict[tuple[str, ...], str] = {
    ("register",): "Register it with a smart licensing token.",
    ("deregister",): "Deregister frees its licence (to register another token, deregister first).",
    ("register", "deregister"): "Register it again with a token, or deregister it.",
}


def licence_choices(status: LicenseStatus) -> tuple[str, ...]:
    return LICENCE_CHOICES.get(status, ("register", "deregister"))


class LicenceScreen(Dialog[ActionResult | None]):
    """Register with a token (masked) or deregister, whichever the licence state allows; shows
    progress until CML answers. ``demo_token`` (``--demo``) is the token the fake CML accepts."""

    BINDINGS = [close_binding("escape", "cancel", "Cancel")]

    def __init__(
        self,
        worker: WorkerSnapshot,
        register: Callable[[str], Awaitable[ActionResult]],
        deregister: LicenceCall,
        *,
        hidden: bool = False,
        demo_token: str | None = None,
    ) -> None:
        super().__init__(classes="dialog")
        self.worker = worker
        #: The worker is marked but the filter hides its row: the dialog says so.
        self.hidden = hidden
        self.demo_token = demo_token
        self.choices = licence_choices(worker.license_status)
        self._register = register
        self._deregister = deregister
        self.busy = False

    def compose(self) -> ComposeResult:
        current = Text("Current licence: ")
        current.append_text(license_text(self.worker.license_status))
        if self.worker.license_token_masked:
            current.append(f"  token {shown(self.worker.license_token_masked)}")
        with Vertical(classes="dialog-box form"):
            title = Text("Licence of ", style="bold")
            title.append_text(plain(self.worker.name, "bold"))
            yield Static(title, classes="dialog-title")
            if self.hidden:
                yield Static(
                    Text(
                        "This worker is hidden by the filter (marked before it was typed).",
                        style="bold yellow",
                    ),
                    classes="dialog-hidden",
                )
            yield Static(current)
            yield Static(Text(_LICENCE_ADVICE[self.choices], style="dim"), id="licence-advice")
            if "register" in self.choices:
                if self.demo_token:
                    hint = Text("Demo: the fake CML accepts the token ", style="cyan")
                    hint.append(self.demo_token, style="bold cyan")
                    yield Static(hint, id="licence-demo-token")
                with Horizontal(classes="form-row"):
                    yield Static("Token", classes="form-label")
                    yield Input(password=True, placeholder="smart licensing token", id="token")
                    yield Static("", id="token-error", classes="form-error")
            yield LoadingIndicator(id="licence-progress")
            yield Static("", id="licence-status")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel")
                if "deregister" in self.choices:
                    yield Button("Deregister", id="deregister", variant="warning")
                if "register" in self.choices:
                    yield Button("Register", id="register", variant="primary", disabled=True)

    def on_mount(self) -> None:
        self.query_one("#licence-progress").display = False
        if "register" in self.choices:
            self.query_one("#token", Input).focus()
        else:
            self.query_one("#deregister", Button).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        token = event.value.strip()
        problem = "" if not token or len(token) >= 8 else "too short for a token"
        self.query_one("#token-error", Static).update(Text(problem, style="red"))
        self.query_one("#register", Button).disabled = self.busy or not token or bool(problem)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if not self.query_one("#register", Button).disabled:
            self._run("register")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id in ("register", "deregister"):
            self._run(event.button.id)
        else:
            self.action_cancel()

    def _run(self, what: str) -> None:
        if self.busy or what not in self.choices:
            return
        self.busy = True
        for button in self.query(Button):
            button.disabled = True
        self.query_one("#licence-progress").display = True
        verb = "Registering" if what == "register" else "Deregistering"
        self.query_one("#licence-status", Static).update(
            Text(f"{verb}… waiting for CML to answer", style="italic")
        )
        token = self.query_one("#token", Input).value.strip() if what == "register" else ""
        self._call(what, token)

    @work(exclusive=True, group="licence", exit_on_error=False)
    async def _call(self, what: str, token: str) -> None:
        try:
            result = await (self._register(token) if what == "register" else self._deregister())
        except Exception as err:  # the app logs it; the dialog must still close
            self.app.log_unexpected(err)  # type: ignore[attr-defined]
            result = ActionResult(what, failed=(f"{self.worker.name}: {err}",))
        self.close(result)

    def action_cancel(self) -> None:
        if self.busy:
            # The request is in flight: closing now would hide its outcome.
            self.notify("Waiting for CML to answer…", severity="warning")
            return
        self.close(None)
