"""The operator's keys ([keymap]), the theme kept in the config ([ui] theme) and NO_COLOR
(issue 15 #11): the footer, help and palette show the operator's keys, the keys act, a theme
chosen in the palette is written back without touching the rest of the file, and every state
reads without colour."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.command import CommandPalette

from cmltui.config import Config, KeymapConfig, UiConfig, parse_config
from cmltui.domain.clock import FrozenClock
from cmltui.domain.enums import CMLServiceStatus, CMLWorkerStatus
from cmltui.ui.actions import ACTIONS_BY_ID
from cmltui.ui.app import CmlTuiApp
from cmltui.ui.keymap import check_keymap, check_theme
from cmltui.ui.screens.lists import HelpScreen, help_text
from tests.ui.fake_service import NOW, FakeFleetService, make_snapshot


def keymap(table: dict) -> KeymapConfig:
    return parse_config({"keymap": table}).keymap


def make_app(
    service: FakeFleetService,
    tmp_path: Path,
    *,
    config_path: Path | None = None,
    **config: object,
) -> CmlTuiApp:
    return CmlTuiApp(
        service,
        config=Config(regions=["us-east-1", "us-west-2"], **config),  # type: ignore[arg-type]
        aws_profile_label="lab-admin",
        read_only=False,
        clock=FrozenClock(NOW),
        log_path=tmp_path / "cmltui.log",
        config_path=config_path,
    )


def screen_lines(app: CmlTuiApp) -> list[str]:
    return [strip.text for strip in app.screen._compositor.render_strips()]


async def settle(app, pilot) -> None:
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()


# -- the keymap is checked -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ({"strat": "x"}, "keymap.strat is not an action of the fleet view (did you mean start?)"),
        (
            {"labs_screen": {"wipe": "W"}},
            "keymap.labs_screen.wipe is not an action of the labs screen",
        ),
        ({"start": "F5"}, "keymap.start must be Textual key names separated by commas"),
        ({"start": ""}, "keymap.start must be Textual key names separated by commas"),
        ({"start": "x,,y"}, "keymap.start must be Textual key names"),
        # "labs" is the fleet view's key to the labs screen, not the labs screen's table.
        ({"labs": "start_lab"}, "keymap.labs must be Textual key names"),
        ({"start": "Ctrl+x"}, "keymap.start must be Textual key names"),
        ({"start": "alt+x"}, "alt+x cannot be used: a terminal sends alt+ keys as esc"),
        ({"start": "ctrl+p"}, "keymap.start cannot use ctrl+p: it opens the command palette"),
        ({"start": "home"}, "keymap.start cannot use home: the table uses it itself"),
        ({"focus_detail": "x"}, "keymap.focus_detail cannot be changed"),
        (
            {"start": "S"},
            "keymap.start uses S, which is already stop's key in the fleet view",
        ),
        ({"start": "x", "stop": "x"}, "keymap.start and keymap.stop both use x in the fleet view"),
        ({"help": "?", "quit": "question_mark"}, "keymap.help and keymap.quit both use"),
        (
            {"labs_screen": {"wipe_lab": "s"}},
            "keymap.labs_screen.wipe_lab uses s, which is already start_lab's key in the labs",
        ),
    ],
)
def test_a_wrong_keymap_is_refused_with_one_sentence(table, problem):
    with pytest.raises(ValueError) as info:
        check_keymap(keymap(table))
    assert problem in str(info.value)
    assert "\n" not in str(info.value)


def test_a_keymap_may_swap_keys_and_reuse_a_key_of_another_screen():
    checked = check_keymap(
        keymap({"start": "S", "stop": "s", "filter": "f,/", "labs_screen": {"wipe_lab": "W"}})
    )
    assert checked.fleet == {"start": ("S",), "stop": ("s",), "filter": ("f", "slash")}
    # W is free on the labs screen; "w" (wipe's old key) is free now, and s stays start_lab's.
    assert checked.labs == {"wipe_lab": ("W",)}
    assert checked.binding_keymap() == {
        "start": "S",
        "stop": "s",
        "filter": "f,slash",
        "lab-wipe_lab": "W",
    }
    assert checked.fleet_spec(ACTIONS_BY_ID["filter"]).display == "f /"
    # Keeping the table's own key for the action that has it is fine.
    assert check_keymap(keymap({"cursor_down": "down,ctrl+n"})).fleet["cursor_down"] == (
        "down",
        "ctrl+n",
    )


def test_the_theme_must_be_a_textual_theme():
    assert check_theme("nord") == "nord"
    with pytest.raises(ValueError, match=r"ui.theme must be one of the Textual themes \(.*nord"):
        check_theme("neon")


# -- the footer, help and palette show the operator's keys, and the keys act ---------------


async def test_the_operators_keys_act_and_are_shown_everywhere(tmp_path):
    service = FakeFleetService([make_snapshot(1)])
    app = make_app(service, tmp_path, keymap=keymap({"start": "x", "help": "f1"}))
    async with app.run_test(size=(120, 35)) as pilot:
        await pilot.pause()
        footer = screen_lines(app)[-1]
        assert "x Start" in footer and "f1 Help" in footer
        assert "s Start" not in footer and "? Help" not in footer
        # The old key does nothing now; the new one starts the selected worker.
        await pilot.press("s")
        await settle(app, pilot)
        assert not [call for call in service.calls if call[0] == "start"]
        await pilot.press("x")
        await settle(app, pilot)
        assert ("start", ("w-0001",)) in service.calls
        # Help lists the new keys (opened by its new key).
        await pilot.press("f1")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = "\n".join(screen_lines(app))
        assert "x       Start" in text and "f1      Help" in text
        await pilot.press("escape")
        await pilot.pause()
        # The palette names the new key.
        await pilot.press("ctrl+p", *"start")
        await settle(app, pilot)
        options = [str(o.prompt) for o in app.screen.query_one("CommandList").options]
        assert any("Start (x)" in option for option in options), options
        await pilot.press("escape")
        await pilot.pause()


def test_help_without_a_keymap_shows_the_registry_keys():
    assert "s       Start" in help_text(False).plain
    remapped = check_keymap(keymap({"start": "x"}))
    from cmltui.ui.screens.lists import help_sections

    text = "\n\n".join(section.plain for section in help_sections(True, "", remapped))
    # Read-only: the note lists the operator's key for start among the refused ones.
    assert "Read-only mode: x, S," in text


# -- the theme ---------------------------------------------------------------------------------


USER_FILE = """\
# my cmltui settings
regions = ["us-east-1", "us-west-2"]   # two regions

[ui]
# dark, please
theme = "textual-dark"  # the default

[idle]
threshold_minutes = 45
"""


async def choose_theme(app, pilot, theme: str) -> None:
    await pilot.press("ctrl+p", *"theme")
    await settle(app, pilot)
    options = [str(o.prompt) for o in app.screen.query_one("CommandList").options]
    assert any("Theme" in option for option in options), options  # Textual's command is offered
    await pilot.press("enter")
    await settle(app, pilot)
    assert isinstance(app.screen, CommandPalette)
    await pilot.press(*theme)
    await settle(app, pilot)
    await pilot.press("enter")
    await settle(app, pilot)


def toasts(app) -> list[str]:
    return [str(notification.message) for notification in app._notifications]


async def test_a_theme_chosen_in_the_palette_is_kept_in_the_config_file(tmp_path):
    config_file = tmp_path / "config.toml"
    config_file.write_text(USER_FILE)
    config_file.chmod(0o640)
    app = make_app(FakeFleetService([make_snapshot(1)]), tmp_path, config_path=config_file)
    async with app.run_test(size=(120, 35)) as pilot:
        await pilot.pause()
        assert app.theme == "textual-dark"
        await choose_theme(app, pilot, "nord")
        assert app.theme == "nord"
        assert config_file.read_text() == USER_FILE.replace(
            'theme = "textual-dark"  # the default', 'theme = "nord"  # the default'
        )
        assert config_file.stat().st_mode & 0o777 == 0o640
        assert any(f"Theme nord kept in {config_file}" in t for t in toasts(app))
        assert app.unexpected_errors == []
    # The next start uses it.
    config = parse_config(__import__("tomllib").loads(config_file.read_text()))
    assert config.ui.theme == "nord"
    again = make_app(FakeFleetService([make_snapshot(1)]), tmp_path, ui=config.ui)
    async with again.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert again.theme == "nord"
        assert not toasts(again)  # applying the kept theme writes nothing


async def test_a_config_file_that_cannot_be_written_is_said_and_the_theme_still_used(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    config_file = blocker / "config.toml"  # its folder is a file: cannot be written
    app = make_app(FakeFleetService([make_snapshot(1)]), tmp_path, config_path=config_file)
    async with app.run_test(size=(120, 35)) as pilot:
        await pilot.pause()
        await choose_theme(app, pilot, "gruvbox")
        assert app.theme == "gruvbox"
        said = [t for t in toasts(app) if "not kept" in t]
        assert said and str(config_file) in said[0] and "\n" not in said[0]
        assert app.unexpected_errors == []
        assert app.is_running


async def test_the_theme_of_the_config_is_applied_at_start(tmp_path):
    app = make_app(FakeFleetService([make_snapshot(1)]), tmp_path, ui=UiConfig(theme="dracula"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.theme == "dracula"
        assert app.current_theme.name == "dracula"


# -- NO_COLOR ----------------------------------------------------------------------------------


def _workers_in_every_state() -> list:
    """One worker per EC2 state, then a running one per CML service state."""
    by_state = [
        make_snapshot(index + 1, name=f"w{index + 1}", status=status)
        for index, status in enumerate(CMLWorkerStatus)
    ]
    by_service = [
        make_snapshot(
            index + 11, name=f"s{index + 1}", status=CMLWorkerStatus.RUNNING, service_status=service
        )
        for index, service in enumerate(CMLServiceStatus)
    ]
    return by_state + by_service


def _colours(app) -> set[tuple[int, int, int]]:
    """Every foreground and background colour painted on the screen, as RGB."""
    found = set()
    for strip in app.screen._compositor.render_strips():
        for segment in strip:
            style = segment.style
            if style is None:
                continue
            for colour in (style.color, style.bgcolor):
                if colour is not None and colour.triplet is not None:
                    found.add(tuple(colour.triplet))
    return found


@pytest.mark.parametrize("no_color", [False, True])
async def test_no_color_paints_grey_and_every_state_still_reads(tmp_path, monkeypatch, no_color):
    if no_color:
        monkeypatch.setenv("NO_COLOR", "1")
    else:
        monkeypatch.delenv("NO_COLOR", raising=False)
    workers = _workers_in_every_state()
    app = make_app(FakeFleetService(workers), tmp_path)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        assert app.no_color is no_color
        hued = {rgb for rgb in _colours(app) if len(set(rgb)) > 1}
        if no_color:
            assert hued == set()  # greys only: Textual's monochrome filter
        else:
            assert hued  # the check can fail: colours are there without NO_COLOR
        text = "\n".join(screen_lines(app))
        for symbol_and_word in (
            "▶ running",
            "■ stopped",
            "… pending",
            "… stopping",
            "… shutting-down",
            "✖ terminated",
            "? unknown",
        ):
            assert symbol_and_word in text, symbol_and_word
        for symbol_and_word in ("● available", "◐ starting", "○ unavailable", "✖ error"):
            assert symbol_and_word in text, symbol_and_word


def test_the_example_config_lists_every_action_id_with_its_default_keys():
    """config.example.toml documents the ids; a new action must be listed there too."""
    from cmltui.ui.lab_keys import LAB_ACTIONS
    from tests.test_config import EXAMPLE

    text = EXAMPLE.read_text()
    fleet_part, labs_part = text.split("[keymap]", 1)[1].split("[keymap.labs_screen]")
    for spec in ACTIONS_BY_ID.values():
        assert f" {spec.id} {spec.keys}" in fleet_part, spec.id
    for spec in LAB_ACTIONS:
        assert f" {spec.id} {spec.keys}" in labs_part, spec.id
