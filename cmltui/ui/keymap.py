"""The operator's keys and theme: ``[keymap]`` and ``[ui]`` of the config, checked at load.

``[keymap]`` maps action ids of the fleet view's registry (``cmltui.ui.actions``) to Textual key
names, comma-separated; ``[keymap.labs_screen]`` does the same for the labs screen
(``cmltui.ui.lab_keys``). The checked map becomes Textual's keymap (``App.set_keymap``, by the
registry's binding ids), so the footer shows the new keys; help and the palette ask
``UserKeymap`` for the specs with the operator's keys.

Every problem is one sentence that follows the file name: "keymap.start uses x, already ...".
"""

from __future__ import annotations

import difflib
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from textual.keys import KEY_NAME_REPLACEMENTS, REPLACED_KEYS, Keys, format_key, key_to_character
from textual.theme import BUILTIN_THEMES

from cmltui.config import Config, KeymapConfig
from cmltui.ui.actions import ACTIONS, ActionSpec
from cmltui.ui.lab_keys import LAB_ACTIONS

#: Modifiers a Textual key name may carry. ``alt`` is refused on its own (see ``normalize_key``).
MODIFIERS = ("ctrl", "shift", "meta", "super", "hyper")
#: Named keys (``f5``, ``home``, ``escape``...); character keys are checked by their names.
NAMED_KEYS = frozenset(key.value for key in Keys if "+" not in key.value and "<" not in key.value)
#: Keys an action cannot take, and why: Textual's own, or the focused table's.
RESERVED_KEYS: dict[str, str] = {
    "ctrl+q": "it quits cmltui",
    "ctrl+c": "it tells how to quit",
    "ctrl+p": "it opens the command palette",
    "tab": "it moves the focus",
    "shift+tab": "it moves the focus",
}
#: The table handles these itself when it has the focus: a screen binding would never fire.
TABLE_KEYS = frozenset(
    {"enter", "up", "down", "left", "right", "pageup", "pagedown", "home", "end"}
    | {"ctrl+home", "ctrl+end"}
)
#: Binding ids of the labs screen's registry are its action ids with this prefix.
LAB_BINDING_PREFIX = "lab-"
EXAMPLE_KEYS = '"s" or "ctrl+s,f5"'


def _character_key(character: str) -> str:
    """A typed character as Textual names it: ``?`` -> ``question_mark``, ``a`` -> ``a``."""
    if character.isalnum():
        return character
    try:
        name = unicodedata.name(character).lower().replace("-", "_").replace(" ", "_")
    except ValueError:
        return character
    return KEY_NAME_REPLACEMENTS.get(name, name)


def normalize_key(text: str) -> str:
    """One key in Textual's long form (``ctrl+question_mark``); ValueError says what is wrong."""
    key = text.strip()
    if len(key) == 1:
        if not key.isprintable():
            raise ValueError(f"{key!r} is not a key name")
        return _character_key(key)
    *modifiers, base = key.split("+")
    if "alt" in modifiers:
        raise ValueError(
            f"{key} cannot be used: a terminal sends alt+ keys as esc and the key, which cmltui "
            "reads as two keys"
        )
    unknown = [modifier for modifier in modifiers if modifier not in MODIFIERS]
    if unknown or len(set(modifiers)) != len(modifiers):
        raise ValueError(f"{key!r} is not a key name (modifiers: {', '.join(MODIFIERS)})")
    if len(base) == 1 and base.isprintable() and base != "+":
        base = _character_key(base)
    elif base not in NAMED_KEYS and key_to_character(REPLACED_KEYS.get(base, base)) is None:
        raise ValueError(f"{key!r} is not a key name")
    return "+".join([*modifiers, base])


def normalize_keys(text: str) -> tuple[str, ...]:
    """Comma-separated keys in long form, each once; ValueError when one is wrong or none given."""
    if not text.strip():
        raise ValueError("no key")
    keys: list[str] = []
    for part in text.split(","):
        if not part.strip():
            raise ValueError(f"{text!r} has an empty key between commas")
        key = normalize_key(part)
        if key not in keys:
            keys.append(key)
    return tuple(keys)


def key_display(key: str) -> str:
    """How the footer writes a key (``ctrl+d`` -> ``^d``, ``question_mark`` -> ``?``)."""
    *modifiers, base = key.split("+") if len(key) > 1 else [key]
    shown = format_key(base)
    if "ctrl" in modifiers:
        modifiers.remove("ctrl")
        shown = f"^{shown}"
    return "+".join([*modifiers, shown])


def keys_display(keys: Sequence[str]) -> str:
    return " ".join(key_display(key) for key in keys)


@dataclass(frozen=True, slots=True)
class UserKeymap:
    """The operator's keys, checked: action id -> keys in Textual's long form."""

    fleet: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    labs: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def fleet_spec(self, spec: ActionSpec) -> ActionSpec:
        """The fleet view's ``spec`` with the operator's keys (itself when not remapped)."""
        return _with_keys(spec, self.fleet.get(spec.id))

    def lab_spec(self, spec: ActionSpec) -> ActionSpec:
        return _with_keys(spec, self.labs.get(spec.id))

    def binding_keymap(self) -> dict[str, str]:
        """For ``App.set_keymap``: binding id -> keys (the registries' binding ids)."""
        keymap = {action_id: ",".join(keys) for action_id, keys in self.fleet.items()}
        for action_id, keys in self.labs.items():
            keymap[LAB_BINDING_PREFIX + action_id] = ",".join(keys)
        return keymap


def _with_keys(spec: ActionSpec, keys: tuple[str, ...] | None) -> ActionSpec:
    if keys is None:
        return spec
    return replace(spec, keys=",".join(keys), display=keys_display(keys))


def _default_keys(spec: ActionSpec) -> tuple[str, ...]:
    return tuple(normalize_key(key) for key in spec.keys.split(","))


def _check_scope(
    given: Mapping[str, str], specs: Sequence[ActionSpec], prefix: str, scope: str
) -> dict[str, tuple[str, ...]]:
    """The scope's checked keys; ValueError with one sentence naming the key of the config."""
    by_id = {spec.id: spec for spec in specs}
    checked: dict[str, tuple[str, ...]] = {}
    for action_id, text in given.items():
        name = f"{prefix}.{action_id}"
        spec = by_id.get(action_id)
        if spec is None:
            close = difflib.get_close_matches(action_id, list(by_id), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ValueError(
                f"{name} is not an action of the {scope}{hint}; config.example.toml lists the ids"
            )
        if spec.native:
            raise ValueError(f"{name} cannot be changed: {spec.display} is the table's own key")
        try:
            keys = normalize_keys(text)
        except ValueError as err:
            raise ValueError(
                f"{name} must be Textual key names separated by commas, like {EXAMPLE_KEYS} ({err})"
            ) from None
        defaults = _default_keys(spec)
        for key in keys:
            why = RESERVED_KEYS.get(key)
            if why is None and key in TABLE_KEYS and key not in defaults:
                why = "the table uses it itself"
            if why:
                raise ValueError(f"{name} cannot use {key}: {why}")
        checked[action_id] = keys
    _check_clashes(checked, specs, prefix, scope)
    return checked


def _check_clashes(
    checked: Mapping[str, tuple[str, ...]], specs: Sequence[ActionSpec], prefix: str, scope: str
) -> None:
    """Two actions of one screen on one key: refused, naming both."""
    owner: dict[str, str] = {}
    for spec in specs:
        if spec.id in checked:
            continue
        for key in _default_keys(spec):
            owner.setdefault(key, spec.id)
    for action_id, keys in checked.items():
        for key in keys:
            other = owner.get(key)
            if other is None:
                owner[key] = action_id
                continue
            if other in checked:
                raise ValueError(
                    f"{prefix}.{other} and {prefix}.{action_id} both use {key} in the {scope}: "
                    "give each action its own key"
                )
            raise ValueError(
                f"{prefix}.{action_id} uses {key}, which is already {other}'s key in the "
                f"{scope}: choose another key, or give {other} another key too"
            )


def check_keymap(keymap: KeymapConfig) -> UserKeymap:
    """The checked keymap; ValueError (one sentence, key of the config first) when it is wrong."""
    return UserKeymap(
        fleet=_check_scope(keymap.fleet, ACTIONS, "keymap", "fleet view"),
        labs=_check_scope(keymap.labs_screen, LAB_ACTIONS, "keymap.labs_screen", "labs screen"),
    )


def theme_names() -> list[str]:
    return list(BUILTIN_THEMES)


def check_theme(theme: str) -> str:
    if theme not in BUILTIN_THEMES:
        raise ValueError(
            f"ui.theme must be one of the Textual themes ({', '.join(theme_names())}) "
            f"(got {theme!r})"
        )
    return theme


def check_ui_settings(config: Config) -> UserKeymap:
    """Check ``[ui]`` and ``[keymap]``; ValueError (one sentence) names the first problem."""
    check_theme(config.ui.theme)
    return check_keymap(config.keymap)
