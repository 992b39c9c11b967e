"""The labs screen's action registry: its key bindings, its help and its palette entries.

Each action is a method ``action_<id>`` on ``LabsScreen``; the same ``ActionSpec`` as the fleet
view's registry (``cmltui.ui.actions``). Mutating actions are hidden from the footer and the
palette in read-only mode; their keys stay bound so they can say why nothing happens.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from typing import TYPE_CHECKING

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.command import DiscoveryHit, Hit, Hits, Provider

from cmltui.ui.actions import ActionSpec

if TYPE_CHECKING:
    from cmltui.ui.keymap import UserKeymap

LAB_ACTIONS: tuple[ActionSpec, ...] = (
    ActionSpec("cursor_down", "down,j", "↓ j", "Move down", group="navigate", palette=False),
    ActionSpec("cursor_up", "up,k", "↑ k", "Move up", group="navigate", palette=False),
    ActionSpec("cursor_top", "g", "g", "Go to the first lab", group="navigate"),
    ActionSpec("cursor_bottom", "G", "G", "Go to the last lab", group="navigate"),
    ActionSpec("toggle_mark", "space", "space", "Mark or unmark the lab", group="select"),
    ActionSpec("mark_all", "M", "M", "Mark every lab", group="select"),
    ActionSpec("unmark_all", "U", "U", "Unmark all", group="select"),
    ActionSpec("start_lab", "s", "s", "Start", mutating=True, footer=True, group="act"),
    ActionSpec("stop_lab", "S", "S", "Stop", mutating=True, footer=True, group="act"),
    ActionSpec(
        "wipe_lab", "w", "w", "Wipe (asks)", mutating=True, footer=True, group="act", short="Wipe"
    ),
    ActionSpec(
        "delete_lab",
        "ctrl+d",
        "^d",
        "Delete (type the title)",
        mutating=True,
        footer=True,
        group="act",
        short="Delete",
    ),
    ActionSpec(
        "free_lab",
        "X",
        "X",
        "Stop, wipe, delete (type the title)",
        mutating=True,
        group="act",
    ),
    ActionSpec(
        "download_lab",
        "d",
        "d",
        "Download the topology YAML to a file",
        footer=True,
        group="files",
        short="Download",
    ),
    ActionSpec(
        "import_lab",
        "i",
        "i",
        "Import a lab from a YAML file",
        mutating=True,
        footer=True,
        group="files",
        short="Import",
    ),
    ActionSpec("refresh", "r", "r", "Read the labs again now", group="general"),
    ActionSpec("events", "e", "e", "Event trail of the worker", group="general"),
    ActionSpec("help", "question_mark", "?", "Help", footer=True, group="general"),
    ActionSpec(
        "back", "escape,q", "esc", "Back to the fleet", footer=True, group="general", short="Back"
    ),
)

LAB_ACTIONS_BY_ID: dict[str, ActionSpec] = {spec.id: spec for spec in LAB_ACTIONS}

LAB_GROUP_TITLES: dict[str, str] = {
    "navigate": "Navigate",
    "select": "Marks",
    "act": "Lab actions: marked labs, else the selected one",
    "files": "Files",
    "general": "General",
}


def visible_lab_actions(read_only: bool, keymap: UserKeymap | None = None) -> list[ActionSpec]:
    """The labs screen's actions in this mode, with the operator's keys (``[keymap.labs]``)."""
    specs = [spec for spec in LAB_ACTIONS if not (read_only and spec.mutating)]
    return [keymap.lab_spec(spec) for spec in specs] if keymap else specs


def lab_bindings(read_only: bool) -> list[BindingType]:
    return [
        Binding(
            spec.keys,
            spec.id,
            spec.short or spec.description,
            show=spec.footer and not (read_only and spec.mutating),
            key_display=spec.display,
            priority=spec.priority,
            id=f"lab-{spec.id}",
        )
        for spec in LAB_ACTIONS
    ]


def lab_help_sections(read_only: bool, keymap: UserKeymap | None = None) -> list[Text]:
    """One section per group, then the notes."""
    sections: list[Text] = []
    for group, title in LAB_GROUP_TITLES.items():
        specs = [spec for spec in visible_lab_actions(read_only, keymap) if spec.group == group]
        if not specs:
            continue
        lines = [Text(title, style="bold underline")]
        for spec in specs:
            line = Text()
            line.append(f"  {spec.display:<8}", style="bold cyan")
            line.append(spec.description)
            lines.append(line)
        sections.append(Text("\n").join(lines))
    notes = [
        Text(
            "Wipe needs a stopped lab, delete a stopped and wiped one (CML's rules); X does "
            "all three after one confirmation.",
            style="dim",
        )
    ]
    if read_only:
        notes.append(Text("Read-only mode: only viewing and download work.", style="yellow"))
    sections.append(Text("\n").join(notes))
    return sections


class LabCommands(Provider):
    """Command palette entries of the labs screen (the one on top)."""

    def _specs(self) -> Iterable[ActionSpec]:
        read_only = bool(getattr(self.app, "read_only", False))
        keymap = getattr(self.app, "user_keymap", None)
        return [spec for spec in visible_lab_actions(read_only, keymap) if spec.palette]

    def _runner(self, spec: ActionSpec):
        return partial(self.screen.run_action, spec.id)

    async def discover(self) -> Hits:
        for spec in self._specs():
            yield DiscoveryHit(
                f"Labs: {spec.description} ({spec.display})", self._runner(spec), help=spec.group
            )

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for spec in self._specs():
            label = f"Labs: {spec.description} ({spec.display})"
            score = matcher.match(label)
            if score > 0:
                yield Hit(score, matcher.highlight(label), self._runner(spec), help=spec.group)
