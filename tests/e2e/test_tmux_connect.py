"""The connect key (issue 16 #3) as a person uses it: ``cmltui --demo --config FILE`` in tmux,
whose ``[connect]`` command is a stand-in for ssh. ``C`` hands it the terminal; it prints, waits
for a key; the dashboard comes back and says how it ended."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.e2e.test_tmux_demo import _SOCKET, _screen, _tmux, _wait_for, pytestmark  # noqa: F401

_STAND_IN = """\
import json, sys
open({out!r}, "w").write(json.dumps(sys.argv[1:]))
print("STAND-IN got", " | ".join(sys.argv[1:]))
input("press enter to leave: ")
sys.exit(7)
"""


def _start_demo(tmp_path: Path, config: Path | None) -> tuple[str, Path]:
    """``cmltui --demo [--config FILE]`` in a tmux session: (session, exit-status file)."""
    session = f"cmltui-connect-{uuid.uuid4().hex[:8]}"
    marker = tmp_path / "exit"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("TMUX") and k not in ("COLUMNS", "LINES")
    }
    with_config = f" --config {config}" if config is not None else ""
    shell_command = f"{sys.executable} -m cmltui --demo{with_config}; echo $? > {marker}"
    folders = [
        *("-e", f"XDG_DATA_HOME={tmp_path / 'xdg-data'}"),
        *("-e", f"XDG_STATE_HOME={tmp_path / 'xdg-state'}"),
    ]
    window = ["-s", session, "-x", "100", "-y", "30"]
    subprocess.run(
        ["tmux", "-L", _SOCKET, "new-session", "-d", *window, *folders, shell_command],
        check=True,
        env=env,
        timeout=30,
    )
    _tmux("set-option", "-s", "escape-time", "0")
    return session, marker


@pytest.fixture
def connect_demo(tmp_path):
    """``cmltui --demo --config FILE`` in tmux, FILE holding a ``[connect]`` stand-in."""
    out = tmp_path / "argv.json"
    script = tmp_path / "stand_in_ssh.py"
    script.write_text(_STAND_IN.format(out=str(out)))
    config = tmp_path / "config.toml"
    command = json.dumps([sys.executable, str(script), "{name}", "{username}@{host}"])
    config.write_text(f"[connect]\ncommand = {command}\n")
    session, marker = _start_demo(tmp_path, config)
    try:
        yield session, out, marker
    finally:
        _tmux("kill-session", "-t", session)
        _tmux("kill-server")


@pytest.fixture
def plain_demo(tmp_path):
    """``cmltui --demo`` in tmux, with the demo's own connect command."""
    session, marker = _start_demo(tmp_path, None)
    try:
        yield session, marker
    finally:
        _tmux("kill-session", "-t", session)
        _tmux("kill-server")


def _press_c_until_it_connects(
    session: str, timeout: float = 60.0, waiting: str = "press enter to leave"
) -> str:
    """CML of a demo worker becomes available a few seconds after the start: until then ``C``
    is refused (and says so); press it again until the stand-in has the terminal."""
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        _tmux("send-keys", "-t", session, "C")
        time.sleep(1.5)
        screen = _screen(session)
        if waiting in screen:
            return screen
        assert "Traceback" not in screen
    raise AssertionError(f"the stand-in never ran; last screen:\n{screen}")


def test_c_hands_the_terminal_to_the_connect_command_and_comes_back(connect_demo):
    session, out, marker = connect_demo
    _wait_for(session, "cml-lab-08", timeout=60)
    _wait_for(session, "cml-lab-01")
    # A stopped worker is refused with the reason; the command does not run.
    _tmux("send-keys", "-t", session, "g", "j", "j")  # cml-lab-03, stopped in the demo
    _wait_for(session, "Detail: cml-lab-03")
    _tmux("send-keys", "-t", session, "C")
    _wait_for(session, "Cannot connect to cml-lab-03: it is stopped.")
    assert not out.exists()

    _tmux("send-keys", "-t", session, "g")
    _wait_for(session, "Detail: cml-lab-01")
    screen = _press_c_until_it_connects(session)
    # The stand-in owns the terminal: the dashboard is gone from the screen. cmltui said
    # first what it runs (ssh prints nothing while it connects).
    assert "cmltui: connecting to cml-lab-01: " in screen
    assert "STAND-IN got cml-lab-01 | admin@" in screen
    assert "Detail:" not in screen and "Quit" not in screen
    name, login = json.loads(out.read_text())
    assert name == "cml-lab-01" and login.startswith("admin@")
    time.sleep(3)  # the dashboard's loops go on meanwhile; nothing of it is painted over
    assert "Detail:" not in _screen(session)

    _tmux("send-keys", "-t", session, "Enter")
    program = Path(sys.executable).name
    screen = _wait_for(session, f"cml-lab-01: {program} exited with 7")
    assert "Detail: cml-lab-01" in screen and "press enter to leave" not in screen
    assert "Traceback" not in screen

    _tmux("send-keys", "-t", session, "q")
    deadline = time.monotonic() + 20
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert marker.exists(), f"the app did not quit; screen:\n{_screen(session)}"
    assert marker.read_text().strip() == "0"


def test_the_demo_connects_to_a_stand_in_that_says_what_a_real_fleet_would_run(plain_demo):
    """The demo's instances have made-up addresses (ssh would hang until its timeout): its
    connect command says what would run and waits for Enter."""
    session, marker = plain_demo
    _wait_for(session, "cml-lab-08", timeout=60)
    _tmux("send-keys", "-t", session, "g")
    _wait_for(session, "Detail: cml-lab-01")
    screen = _press_c_until_it_connects(session, waiting="Press Enter to return")
    assert "cml-lab-01 is a simulated worker" in screen
    assert "the default is: ssh admin@" in screen
    assert "Detail:" not in screen
    _tmux("send-keys", "-t", session, "Enter")
    program = Path(sys.executable).name
    screen = _wait_for(session, f"cml-lab-01: {program} exited with 0")
    assert "Detail: cml-lab-01" in screen and "Traceback" not in screen
    _tmux("send-keys", "-t", session, "q")
    deadline = time.monotonic() + 20
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert marker.read_text().strip() == "0"
