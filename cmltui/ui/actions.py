"""The one action registry: key bindings, the help screen and the command palette come from here.

Each action is a method ``action_<id>`` on ``MainScreen``. Mutating actions are absent from the
footer and the palette in read-only mode; their keys stay bound so they can say why nothing
happens.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from textual.binding import Binding, BindingType
from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from cmltui.ui.app import CmlTuiApp
    from cmltui.ui.keymap import UserKeymap


@dataclass(frozen=True, slots=True)
class ActionSpec:
    """One operator action and the key that runs it."""

    id: str
    #: Textual key names, comma-separated (e.g. ``"down,j"``).
    keys: str
    #: How the key is written in the footer and the help screen.
    display: str
    description: str
    #: Changes the fleet (hidden and refused in read-only mode).
    mutating: bool = False
    #: Shown in the footer (the rest are in help and the palette).
    footer: bool = False
    #: Offered in the command palette.
    palette: bool = True
    #: A key the focused table handles itself (arrows, enter): listed, not bound again.
    native: bool = False
    group: str = "general"
    #: The footer's label (short, so the footer fits in 80 columns); defaults to description.
    short: str = ""
    #: Run by the app as soon as the key arrives, before the keys queued behind it are routed.
    #: ``/`` needs it: in a burst (paste, ``tmux send-keys``) the text typed after it must reach
    #: the filter box, not the table that had the focus when the burst arrived.
    priority: bool = False


ACTIONS: tuple[ActionSpec, ...] = (
    ActionSpec("cursor_down", "down,j", "↓ j", "Move down", group="navigate", palette=False),
    ActionSpec("cursor_up", "up,k", "↑ k", "Move up", group="navigate", palette=False),
    ActionSpec("cursor_top", "g", "g", "Go to the first worker", group="navigate"),
    ActionSpec("cursor_bottom", "G", "G", "Go to the last worker", group="navigate"),
    ActionSpec(
        "focus_detail", "enter", "enter", "Focus the detail pane", group="navigate", native=True
    ),
    ActionSpec(
        "filter",
        "slash",
        "/",
        "Filter (text or regex)",
        footer=True,
        group="view",
        short="Filter",
        priority=True,
    ),
    ActionSpec(
        "clear_filter",
        "escape",
        "esc",
        "Clear the filter / back",
        group="view",
        palette=False,
        # Priority too: keys typed right after esc must not land in the filter being closed.
        priority=True,
    ),
    ActionSpec("sort_next", "o", "o", "Sort by the next column", group="view", short="Sort"),
    ActionSpec("sort_reverse", "O", "O", "Reverse the sort", group="view"),
    ActionSpec("toggle_mark", "space", "space", "Mark or unmark the row", group="select"),
    ActionSpec("mark_all", "M", "M", "Mark every row the filter shows", group="select"),
    ActionSpec("unmark_all", "U", "U", "Unmark all", group="select"),
    ActionSpec("start", "s", "s", "Start", mutating=True, footer=True, group="act"),
    ActionSpec("stop", "S", "S", "Stop", mutating=True, footer=True, group="act"),
    ActionSpec("terminate", "ctrl+d", "^d", "Terminate", mutating=True, footer=True, group="act"),
    ActionSpec(
        "new_worker", "n", "n", "New worker", mutating=True, footer=True, group="act", short="New"
    ),
    ActionSpec("licence", "l", "l", "Licence: register or deregister", mutating=True, group="act"),
    ActionSpec(
        "import_instances", "i", "i", "Import discovered instances", mutating=True, group="act"
    ),
    ActionSpec(
        "auto_stop", "a", "a", "Idle auto-stop: opt out (or back in)", mutating=True, group="act"
    ),
    ActionSpec(
        "policy",
        "P",
        "P",
        "Policy: idle minutes, schedule, maintenance window",
        mutating=True,
        group="act",
    ),
    ActionSpec(
        "retag",
        "T",
        "T",
        "Re-tag a detached worker (tags removed)",
        mutating=True,
        group="act",
    ),
    ActionSpec("refresh", "r", "r", "Refresh now", group="general", short="Refresh"),
    ActionSpec("copy_endpoint", "c", "c", "Copy the endpoint URL", group="general"),
    ActionSpec(
        "connect", "C", "C", "Connect to the worker (ssh)", group="general", short="Connect"
    ),
    ActionSpec("events", "e", "e", "Event trail of the worker", group="general", short="Events"),
    ActionSpec("labs", "L", "L", "Labs of the worker: who uses it", group="general", short="Labs"),
    ActionSpec("errors", "E", "E", "Every current error, in full", group="general", short="Errors"),
    ActionSpec("show_terminated", "t", "t", "Show or hide terminated workers", group="view"),
    ActionSpec(
        "forget",
        "F",
        "F",
        "Forget a terminated worker's record (events kept)",
        mutating=True,
        group="act",
    ),
    ActionSpec("toggle_pause", "p", "p", "Pause or resume live updates", short="Pause"),
    ActionSpec("help", "question_mark", "?", "Help", footer=True, group="general"),
    ActionSpec("quit", "q", "q", "Quit", footer=True, group="general"),
)

ACTIONS_BY_ID: dict[str, ActionSpec] = {spec.id: spec for spec in ACTIONS}

#: Extra footer entries when the mutating ones are hidden.
READ_ONLY_FOOTER = frozenset({"events", "refresh", "toggle_pause", "sort_next"})

GROUP_TITLES: dict[str, str] = {
    "navigate": "Navigate",
    "view": "Filter and sort",
    "select": "Marks",
    "act": "Actions: marked rows, else the selected one",
    "general": "General",
}


def visible_actions(read_only: bool, keymap: UserKeymap | None = None) -> list[ActionSpec]:
    """The actions an operator can use in this mode (for help and the palette), with the
    operator's keys when a ``keymap`` is given."""
    specs = [spec for spec in ACTIONS if not (read_only and spec.mutating)]
    return [keymap.fleet_spec(spec) for spec in specs] if keymap else specs


def bindings_for(read_only: bool) -> list[BindingType]:
    """Textual bindings generated from the registry."""
    bindings: list[BindingType] = []
    for spec in ACTIONS:
        if spec.native:
            continue
        hidden = read_only and spec.mutating
        # Read-only mode has room in the footer for the safe actions instead.
        footer = spec.footer or (read_only and spec.id in READ_ONLY_FOOTER)
        bindings.append(
            Binding(
                spec.keys,
                spec.id,
                spec.short or spec.description,
                show=footer and not hidden,
                key_display=spec.display,
                priority=spec.priority,
                id=spec.id,
            )
        )
    return bindings


class FleetCommands(Provider):
    """Command palette entries: every registry action allowed in the current mode."""

    def _specs(self) -> Iterable[ActionSpec]:
        app: CmlTuiApp = self.app  # type: ignore[assignment]
        return [spec for spec in visible_actions(app.read_only, app.user_keymap) if spec.palette]

    def _runner(self, spec: ActionSpec):
        app: CmlTuiApp = self.app  # type: ignore[assignment]
        return partial(app.run_fleet_action, spec.id)

    async def discover(self) -> Hits:
        for spec in self._specs():
            yield DiscoveryHit(
                f"{spec.description} ({spec.display})", self._runner(spec), help=spec.group
            )

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for spec in self._specs():
            label = f"{spec.description} ({spec.display})"
            score = matcher.match(label)
            if score > 0:
                yield Hit(score, matcher.highlight(label), self._runner(spec), help=spec.group)
