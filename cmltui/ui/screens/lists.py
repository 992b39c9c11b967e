"""Read-mostly screens: import discovered instances, the event trail, and help."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, LoadingIndicator, SelectionList, Static
from textual.widgets.selection_list import Selection

from cmltui.domain.events import CloudEvent, CMLWorkerTelemetryUpdatedDomainEvent
from cmltui.domain.plural import plural
from cmltui.services.discovery import DiscoveredInstance
from cmltui.ui.actions import ACTIONS, GROUP_TITLES, visible_actions
from cmltui.ui.formatting import message, plain, shown
from cmltui.ui.keymap import UserKeymap
from cmltui.ui.screens.dialog import Dialog, close_binding
from cmltui.ui.widgets.detail_lines import describe_event


def instance_label(instance: DiscoveredInstance) -> Text:
    """Name, then why it matters (a copy, or why it cannot be imported), then the details."""
    label = plain(instance.name, "bold")
    if instance.copy_of is not None:
        label.append("  copy of ", style="yellow")
        label.append(shown(instance.copy_of), style="bold yellow")
    if instance.problem is not None:
        label.append(f"  ✖ {shown(instance.problem)}", style="red")
    label.append(
        f"  {shown(instance.aws_instance_id)}  {shown(instance.region)}  {instance.state.value}"
        f"  {shown(instance.instance_type)}  {shown(instance.ami_name)}"
    )
    return label


def import_status(
    instances: Sequence[DiscoveredInstance], failures: Sequence[str], regions: Sequence[str]
) -> Text:
    """What the import dialog says once discovery answered: every failure first (a region
    that could not be searched is never "nothing to import"), then what was found."""
    status = Text()
    for line in failures:
        status.append(f"Discovery failed: {shown(line)}\n", style="red")
    if not instances:
        failed = {r for r in regions for line in failures if line.startswith(f"{r} discovery:")}
        if not failures:
            status.append("Nothing to import: every CML-looking instance is managed.")
        elif regions and failed >= set(regions):
            status.append("No region could be searched: nothing is known about what to import.")
        else:
            status.append("Nothing to import in the regions that answered.")
        return status
    importable = sum(1 for inst in instances if inst.importable)
    status.append(
        f"{plural(len(instances), 'instance')} found, {importable} can be imported. "
        "space picks, enter imports the picked ones."
    )
    return status


class ImportList(SelectionList[int]):
    """The instances to pick: space toggles one, enter imports the picked ones (as the hint
    says; a plain ``SelectionList`` toggles on enter too)."""

    BINDINGS = [Binding("enter", "screen.import_selected", "Import selected", show=False)]


class ImportScreen(Dialog[list[DiscoveredInstance] | None]):
    """Lists what ``discover()`` finds; the operator picks which instances to manage.

    Copies of a managed instance (same worker id tag) are offered as "copy of <name>", to
    import as new workers; an instance that cannot be imported as it stands says why and
    cannot be picked. Regions whose discovery failed are named, never "nothing to import".
    """

    BINDINGS = [close_binding("escape", "cancel", "Cancel")]

    def __init__(
        self,
        discover: Callable[[], Awaitable[list[DiscoveredInstance]]],
        discovery_errors: Callable[[], list[str]] = list,
        regions: Sequence[str] = (),
    ) -> None:
        super().__init__(classes="dialog")
        self._regions = tuple(regions)
        self._discover = discover
        self._discovery_errors = discovery_errors
        self.instances: list[DiscoveredInstance] = []

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box wide"):
            yield Static(Text("Import discovered instances", style="bold"), classes="dialog-title")
            yield Static(Text("Looking for CML workers not managed yet…"), id="import-status")
            yield LoadingIndicator(id="import-progress")
            yield ImportList(id="import-list")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Import selected", id="import", variant="primary", disabled=True)

    def on_mount(self) -> None:
        self.query_one("#import-list").display = False
        self._load()

    @work(exclusive=True, group="discover", exit_on_error=False)
    async def _load(self) -> None:
        try:
            self.instances = await self._discover()
        except Exception as err:
            self.app.log_unexpected(err)  # type: ignore[attr-defined]
            self.query_one("#import-status", Static).update(
                Text(f"Discovery failed: {message(err)}", style="red")
            )
            self.query_one("#import-progress").display = False
            return
        self.query_one("#import-progress").display = False
        self.query_one("#import-status", Static).update(
            import_status(self.instances, self._discovery_errors(), self._regions)
        )
        if not self.instances:
            return
        selection_list = self.query_one("#import-list", SelectionList)
        selection_list.add_options(
            [
                Selection(instance_label(inst), index, disabled=not inst.importable)
                for index, inst in enumerate(self.instances)
            ]
        )
        selection_list.display = True
        selection_list.highlighted = 0
        selection_list.focus()

    def on_selection_list_selected_changed(self, event: SelectionList.SelectedChanged) -> None:
        self.query_one("#import", Button).disabled = not event.selection_list.selected

    def action_import_selected(self) -> None:
        """enter in the list: import what space picked (nothing picked: say how to pick)."""
        if self.chosen:
            self.close(self.chosen)
        elif self.instances:
            self.notify("Nothing picked yet: space picks an instance.", severity="warning")

    @property
    def chosen(self) -> list[DiscoveredInstance]:
        indexes = self.query_one("#import-list", SelectionList).selected
        return [self.instances[index] for index in sorted(indexes)]

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "import" and self.chosen:
            self.close(self.chosen)
        else:
            self.close(None)

    def action_cancel(self) -> None:
        self.close(None)


_TELEMETRY_TYPE = CMLWorkerTelemetryUpdatedDomainEvent.EVENT_TYPE


def trail_lines(events: Sequence[CloudEvent]) -> list[Text]:
    """One line per event, except that a run of telemetry updates (one per CML cycle, most of
    a trail) is one line: its first and last time, how many, and the last one's figures."""
    lines: list[Text] = []
    index = 0
    while index < len(events):
        end = index
        while end + 1 < len(events) and events[end + 1].type == events[index].type:
            end += 1
        if events[index].type != _TELEMETRY_TYPE or end == index:
            lines.extend(describe_event(event) for event in events[index : end + 1])
        else:
            last = describe_event(events[end])
            line = Text(no_wrap=True)
            line.append(events[index].time.strftime("%m-%d %H:%M:%S"), style="dim")
            line.append(events[end].time.strftime("–%H:%M:%S "), style="dim")
            line.append(f"{end - index + 1} × ", style="bold")
            # The last update's kind and figures: what it said most recently.
            line.append_text(last[len(events[end].time.strftime("%m-%d %H:%M:%S ")) :])
            lines.append(line)
        index = end + 1
    return lines


class EventTrailScreen(Dialog[None]):
    """The audit trail of one worker (newest last), as recorded by the controller."""

    BINDINGS = [close_binding("escape,q,e", "close")]

    def __init__(self, title: str, events: Sequence[CloudEvent]) -> None:
        super().__init__(classes="dialog")
        self.title_text = title
        self.events = list(events)

    def compose(self) -> ComposeResult:
        lines = trail_lines(self.events)
        with Vertical(classes="dialog-box wide tall"):
            heading = Text("Event trail: ", style="bold")
            heading.append_text(plain(self.title_text, "bold"))
            heading.append(f"  ({plural(len(self.events), 'event')}, newest last)", style="dim")
            yield Static(heading, classes="dialog-title")
            with VerticalScroll(id="event-trail"):
                yield Static(Text("\n").join(lines) if lines else Text("No events.", style="dim"))
            yield Static(Text("esc closes", style="dim"), classes="dialog-hint")

    def on_mount(self) -> None:
        trail = self.query_one("#event-trail", VerticalScroll)
        trail.focus()
        trail.scroll_end(animate=False)

    def action_close(self) -> None:
        self.close(None)


def read_only_note(reason: str = "", keymap: UserKeymap | None = None) -> Text:
    """Which keys read-only mode refuses (every mutating action of the registry), and why."""
    specs = [keymap.fleet_spec(spec) if keymap else spec for spec in ACTIONS]
    keys = [spec.display for spec in specs if spec.mutating]
    listed = f"{', '.join(keys[:-1])} and {keys[-1]}" if len(keys) > 1 else "".join(keys)
    note = f"Read-only mode: {listed} are off (they change the fleet)."
    if reason:
        note += f"\nWhy: {reason}."
    return Text(note, style="yellow")


def help_sections(
    read_only: bool, reason: str = "", keymap: UserKeymap | None = None
) -> list[Text]:
    """Every binding from the registry (with the operator's keys), one section per group;
    read-only lists what works."""
    sections: list[Text] = []
    for group, title in GROUP_TITLES.items():
        specs = [spec for spec in visible_actions(read_only, keymap) if spec.group == group]
        if not specs:
            continue
        lines = [Text(title, style="bold underline")]
        for spec in specs:
            line = Text()
            line.append(f"  {spec.display:<8}", style="bold cyan")
            line.append(spec.description)
            lines.append(line)
        sections.append(Text("\n").join(lines))
    notes = []
    if read_only:
        notes.append(read_only_note(reason, keymap))
    notes.append(Text("ctrl+p opens the command palette.", style="dim"))
    sections.append(Text("\n").join(notes))
    return sections


def help_text(read_only: bool, reason: str = "") -> Text:
    return Text("\n\n").join(help_sections(read_only, reason))


#: From this terminal width the help is shown in two columns (it then fits 35 rows).
HELP_TWO_COLUMNS_MIN_WIDTH = 100


class HelpScreen(Dialog[None]):
    BINDINGS = [close_binding("escape,q,question_mark", "close")]

    def __init__(self, read_only: bool, reason: str = "") -> None:
        super().__init__(classes="dialog")
        self.read_only = read_only
        self.reason = reason

    def compose(self) -> ComposeResult:
        sections = help_sections(
            self.read_only, self.reason, getattr(self.app, "user_keymap", None)
        )
        with Vertical(classes="dialog-box wide", id="help-box"):
            yield Static(Text("cmltui keys", style="bold"), classes="dialog-title")
            with VerticalScroll(id="help-body"):
                if self.app.size.width >= HELP_TWO_COLUMNS_MIN_WIDTH:
                    # Navigation, filter and marks left; actions and general right.
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
