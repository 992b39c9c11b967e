"""The README's first command as a person runs it: `cmltui --demo` in tmux, read off the screen."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid

import pytest

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


#: A tmux server of our own: the tests never touch the operator's sessions or options.
_SOCKET = f"cmltui-tests-{os.getpid()}"


def _tmux(*args: str) -> str:
    result = subprocess.run(
        ["tmux", "-L", _SOCKET, *args], capture_output=True, text=True, timeout=30, check=False
    )
    return result.stdout


def _screen(session: str) -> str:
    return _tmux("capture-pane", "-t", session, "-p")


def _wait_for(session: str, text: str, timeout: float = 40.0) -> str:
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = _screen(session)
        if text in screen:
            return screen
        time.sleep(0.25)
    raise AssertionError(f"{text!r} never appeared; last screen:\n{screen}")


def _wait_until_gone(session: str, text: str, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    screen = _screen(session)
    while text in screen and time.monotonic() < deadline:
        time.sleep(0.25)
        screen = _screen(session)
    assert text not in screen, f"{text!r} stayed on screen:\n{screen}"
    return screen


@pytest.fixture
def demo_session(tmp_path):
    """``cmltui --demo`` in a detached tmux session; yields (session, size) and cleans up."""
    sessions: list[str] = []

    def start(width: int, height: int) -> str:
        session = f"cmltui-test-{uuid.uuid4().hex[:8]}"
        marker = tmp_path / f"{session}.exit"
        # COLUMNS/LINES (set by pytest's workers) would override the window's size in the app.
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("TMUX") and k not in ("COLUMNS", "LINES")
        }
        command = f"{sys.executable} -m cmltui --demo; echo $? > {marker}"
        subprocess.run(
            [
                "tmux",
                "-L",
                _SOCKET,
                "new-session",
                "-d",
                "-s",
                session,
                "-x",
                str(width),
                "-y",
                str(height),
                "-e",
                f"XDG_DATA_HOME={tmp_path / 'xdg-data'}",
                "-e",
                f"XDG_STATE_HOME={tmp_path / 'xdg-state'}",
                command,
            ],
            check=True,
            env=env,
            timeout=30,
        )
        sessions.append(session)
        # Without this, tmux holds a lone Escape for 500 ms and glues it to the next key.
        _tmux("set-option", "-s", "escape-time", "0")
        return session

    yield start
    for session in sessions:
        _tmux("kill-session", "-t", session)
    _tmux("kill-server")


@pytest.mark.parametrize(("width", "height"), [(80, 24), (120, 35)])
def test_demo_fleet_appears_and_quits_cleanly(demo_session, tmp_path, width, height):
    session = demo_session(width, height)
    # Regions answer one by one: wait for a worker of each.
    _wait_for(session, "cml-lab-08")
    screen = _wait_for(session, "cml-lab-01")
    assert "running" in screen and "stopped" in screen
    assert "Traceback" not in screen
    # Every line fits the terminal (nothing wraps past the width).
    assert all(len(line) <= width for line in screen.splitlines())
    # A marked row the filter hides is counted on screen and named before an action.
    _tmux("send-keys", "-t", session, "g", "space")
    _wait_for(session, "1 marked")
    _tmux("send-keys", "-t", session, "/", "lab-0[2-8]", "Enter")
    _wait_for(session, "1 marked, 1 hidden")
    _tmux("send-keys", "-t", session, "S")
    screen = _wait_for(session, "cml-lab-01  (hidden by the filter)")
    assert "It is hidden by the filter" in screen
    _tmux("send-keys", "-t", session, "n")  # cancelled: nothing stopped, the mark stays
    _tmux("send-keys", "-t", session, "/", "Escape", "U")
    _wait_until_gone(session, "marked")
    _tmux("send-keys", "-t", session, "?")
    _wait_for(session, "cmltui keys")  # the help screen
    _tmux("send-keys", "-t", session, "Escape")
    _tmux("send-keys", "-t", session, "G")
    _tmux("send-keys", "-t", session, "q")
    marker = tmp_path / f"{session}.exit"
    deadline = time.monotonic() + 20
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert marker.exists(), f"the app did not quit; screen:\n{_screen(session)}"
    assert marker.read_text().strip() == "0"
