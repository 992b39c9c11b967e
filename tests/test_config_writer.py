"""Writing one setting back into the operator's config file: one line changes, the rest of the
text stays, the file is replaced atomically, and anything it cannot edit safely is refused."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest

from cmltui.config_writer import ConfigWriteError, save_setting, with_setting


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("", '[ui]\ntheme = "nord"\n'),
        ("regions = ['eu-west-1']", "regions = ['eu-west-1']\n\n[ui]\ntheme = \"nord\"\n"),
        (
            "# mine\n[ui]\n# a comment\n\n[idle]\nauto_stop = true\n",
            '# mine\n[ui]\ntheme = "nord"\n# a comment\n\n[idle]\nauto_stop = true\n',
        ),
        (
            "[ui]\ntheme = 'dracula'   # keep me\n[idle]\n",
            '[ui]\ntheme = "nord"   # keep me\n[idle]\n',
        ),
        (
            '[idle]\nauto_stop = true\n\n[ ui ]  # look\n  theme   =   "x"\n',
            '[idle]\nauto_stop = true\n\n[ ui ]  # look\n  theme   =   "nord"\n',
        ),
        ("[ui]\r\ntheme = 'x'\r\n[idle]\r\n", '[ui]\r\ntheme = "nord"\r\n[idle]\r\n'),
        ("[ui.more]\na = 1\n", '[ui.more]\na = 1\n\n[ui]\ntheme = "nord"\n'),
    ],
)
def test_only_the_one_setting_changes(before, after):
    assert with_setting(before, "ui", "theme", "nord") == after


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("ui.theme = 'x'\n", "in a form cmltui does not edit"),
        ("ui = { theme = 'x' }\n", "in a form cmltui does not edit"),
        ("ui = 5\n", "ui is not a table there"),
        ("regions = [\n", "it is not valid TOML"),
    ],
)
def test_a_file_it_cannot_edit_safely_is_left_alone(tmp_path, text, why):
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigWriteError) as info:
        save_setting(path, "ui", "theme", "nord")
    assert str(path) in str(info.value) and why in str(info.value)
    assert "\n" not in str(info.value)
    assert path.read_text() == text


def test_the_file_is_replaced_atomically_keeping_its_mode_and_link(tmp_path):
    real = tmp_path / "dotfiles" / "cmltui.toml"
    real.parent.mkdir()
    real.write_text("[idle]\nauto_stop = true\n")
    real.chmod(0o640)
    link = tmp_path / "config.toml"
    link.symlink_to(real)
    save_setting(link, "ui", "theme", "nord")
    assert link.is_symlink()  # the link stays; the file it points to changed
    assert tomllib.loads(real.read_text()) == {"idle": {"auto_stop": True}, "ui": {"theme": "nord"}}
    assert real.stat().st_mode & 0o777 == 0o640
    assert sorted(os.listdir(real.parent)) == ["cmltui.toml"]  # no temporary file left


def test_a_missing_file_is_created_private(tmp_path):
    path = tmp_path / "new" / "config.toml"
    save_setting(path, "ui", "theme", "nord")
    assert path.read_text() == '[ui]\ntheme = "nord"\n'
    assert path.stat().st_mode & 0o777 == 0o600


def test_a_file_that_cannot_be_written_raises_one_line(tmp_path):
    # Absent, so it reads as empty; /proc takes no new file, not even from root.
    path = Path("/proc/cmltui-test-config.toml")
    with pytest.raises(ConfigWriteError, match=r"cannot be written \(") as info:
        save_setting(path, "ui", "theme", "nord")
    assert str(path) in str(info.value) and "\n" not in str(info.value)
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ConfigWriteError, match=r"cannot be read \(Not a directory\)"):
        save_setting(blocker / "config.toml", "ui", "theme", "nord")


def test_what_is_written_reads_back(tmp_path):
    path = Path(tmp_path / "c.toml")
    path.write_text('theme = "top-level key, not ui"\n[ui]\n')
    save_setting(path, "ui", "theme", 'odd "name"\\')
    assert tomllib.loads(path.read_text()) == {
        "theme": "top-level key, not ui",
        "ui": {"theme": 'odd "name"\\'},
    }
