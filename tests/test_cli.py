"""The command line's contract: version, help, and exit code 2 with one clear line on bad config."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from cmltui import __version__


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "cmltui", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=full_env,
        check=False,
    )


def test_version_and_help():
    version = _run("--version")
    assert version.returncode == 0
    assert version.stdout.strip() == f"cmltui {__version__}"
    help_text = _run("--help")
    assert help_text.returncode == 0
    for command in ("demo-servers", "list", "refresh", "terminate", "license", "events"):
        assert command in help_text.stdout


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("regions = [\n", "TOML syntax error"),
        ("bogus_key = 1\n", "unknown key 'bogus_key'"),
        ("[refresh]\ncml_seconds = 'abc'\n", "refresh.cml_seconds must be a number (got 'abc')"),
        (
            "[idle]\nthreshold_minutes = 'x'\n",
            "idle.threshold_minutes must be a whole number (got 'x')",
        ),
        ("[idle]\nauto_stop = 'maybe'\n", "idle.auto_stop must be true or false (got 'maybe')"),
        ("[cml]\nusername = 7\n", "cml.username must be text in quotes (got 7)"),
        ("[refresh]\nec2_seconds = 0\n", "refresh.ec2_seconds must be at least 1 (got 0)"),
        ("[log]\nbackup_count = 101\n", "log.backup_count must be at most 100 (got 101)"),
        (
            "[cml]\nread_timeout_seconds = 0\n",
            "cml.read_timeout_seconds must be more than 0 (got 0)",
        ),
        ("[idle]\nsurprise = 1\n", "unknown key 'idle.surprise'"),
        ("regions = []\n", "regions must name at least one region"),
        # The keymap and the theme are checked at load too (issue 15 #11).
        ("[keymap]\nstrat = 'x'\n", "keymap.strat is not an action of the fleet view"),
        ("[keymap]\nstart = 'S'\n", "keymap.start uses S, which is already stop's key"),
        ("[keymap]\nstart = 'F5'\n", "keymap.start must be Textual key names"),
        ("[keymap.labs_screen]\nwipe_lab = 1\n", "keymap.labs_screen.wipe_lab must be text"),
        ("[ui]\ntheme = 'neon'\n", "ui.theme must be one of the Textual themes"),
    ],
)
def test_bad_config_exits_2_with_one_message(tmp_path, content, expected):
    """One plain sentence naming the file and the key (issue 15 #8), never pydantic's words."""
    config_path = tmp_path / "config.toml"
    config_path.write_text(content, encoding="utf-8")
    result = _run("--config", str(config_path), "list")
    assert result.returncode == 2
    assert f"{config_path}: {expected}" in result.stderr
    assert "Traceback" not in result.stderr
    assert "Input should" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_missing_explicit_config_exits_2(tmp_path):
    result = _run("list", env={"CMLTUI_CONFIG": str(tmp_path / "nope.toml")})
    assert result.returncode == 2
    assert "no such configuration file" in result.stderr
