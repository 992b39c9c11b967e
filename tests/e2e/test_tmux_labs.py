"""The labs screen as a person uses it: ``cmltui --demo`` in tmux, ``L`` on a busy worker,
``S`` on a running lab, and the lab's state changes on screen (read off tmux's pane)."""

from __future__ import annotations

import time

from tests.e2e.test_tmux_demo import _screen, _tmux, _wait_for, demo_session  # noqa: F401


def _wait_for_line(session: str, *parts: str, timeout: float = 60.0) -> str:
    """Until one line of the screen holds every part; returns that line."""
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = _screen(session)
        for line in screen.splitlines():
            if all(part in line for part in parts):
                return line
        time.sleep(0.25)
    raise AssertionError(f"no line with {parts!r}; last screen:\n{screen}")


def test_open_the_labs_screen_stop_a_lab_and_see_it_stopped(demo_session, tmp_path):  # noqa: F811
    session = demo_session(120, 35)
    _wait_for(session, "cml-lab-08")
    _wait_for_line(session, "cml-lab-01", "running")
    _tmux("send-keys", "-t", session, "g")
    _tmux("send-keys", "-t", session, "L")
    _wait_for(session, "Labs on cml-lab-01")
    # The first lab in title order: one of the demo's running labs, owned by its user.
    row = _wait_for_line(session, "BGP Peering", "STARTED")
    assert "/" in row  # running/total nodes
    busy = _wait_for_line(session, "busy:", "labs run")
    assert "the idle policy never stops a worker while a lab runs" in busy
    _wait_for_line(session, "Exam prep: OSPF areas", "dave", "STARTED")
    _tmux("send-keys", "-t", session, "S")
    _wait_for_line(session, "stop lab:", "BGP Peering")
    stopped = _wait_for_line(session, "BGP Peering", "STOPPED")
    assert "0/" in stopped
    assert "Traceback" not in _screen(session)
    _tmux("send-keys", "-t", session, "Escape")
    _wait_for(session, "sort:")
    _tmux("send-keys", "-t", session, "q")
    marker = tmp_path / f"{session}.exit"
    deadline = time.monotonic() + 20
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert marker.exists(), f"the app did not quit; screen:\n{_screen(session)}"
    assert marker.read_text().strip() == "0"
