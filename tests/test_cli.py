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
        ("[refresh]\nec2_seconds = 'soon'\n", "key 'refresh.ec2_seconds'"),
        ("[idle]\nauto_stop = 'maybe'\n", "key 'idle.auto_stop'"),
    ],
)
def test_bad_config_exits_2_with_one_message(tmp_path, content, expected):
    config_path = tmp_path / "config.toml"
    config_path.write_text(content, encoding="utf-8")
    result = _run("--config", str(config_path), "list")
    assert result.returncode == 2
    assert expected in result.stderr
    assert str(config_path) in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_missing_explicit_config_exits_2(tmp_path):
    result = _run("list", env={"CMLTUI_CONFIG": str(tmp_path / "nope.toml")})
    assert result.returncode == 2
    assert "no such configuration file" in result.stderr
