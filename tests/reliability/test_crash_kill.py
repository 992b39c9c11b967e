"""``scripts/crash_kill.py`` with a short count: SIGKILLs at random moments lose nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "crash_kill.py"
KILLS = 15
HOLD_KILLS = 10


def test_random_sigkills_of_a_working_cmltui_lose_no_committed_event():
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--kills", str(KILLS), "--max-delay", "0.6", "--seed", "3"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads(result.stdout)
    assert summary["kills"] == KILLS
    assert summary["loads_ok"] == KILLS
    assert summary["lost"] == 0 and summary["problems"] == []
    # The children really worked between kills: cycles and events reached the disk.
    assert summary["cycles_committed"] >= KILLS
    assert summary["events_committed_and_checked"] > 0
    assert summary["event_checks"] >= summary["events_committed_and_checked"]


@pytest.mark.slow
def test_kills_while_aws_holds_the_answer_leave_no_action_without_its_actor():
    """Issue 12, intent first: stops, starts, creates and terminates, many killed after their
    call went out and before its answer; the next cmltui attributes each to who asked."""
    result = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--hold-answers",
            "--kills",
            str(HOLD_KILLS),
            "--max-delay",
            "3",
            "--seed",
            "4",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    summary = json.loads(result.stdout)
    hold = summary["hold_answers"]
    assert hold["actions_without_actor"] == 0, hold["problems"]
    assert hold["intents_without_outcome"] == 0 and hold["duplicated_events"] == 0
    assert hold["instances_without_a_live_worker"] == []
    assert summary["kills"] == summary["loads_ok"] == HOLD_KILLS
    assert summary["lost"] == 0 and summary["problems"] == [] and hold["problems"] == []
    assert result.returncode == 0, result.stdout + result.stderr
    # Not vacuous: calls went out, kills landed while AWS held an answer, and what those left
    # was completed by the next cmltui and checked against who asked.
    assert hold["actions_sent"] > 0 and hold["intents"] > 0
    assert hold["kills_while_an_answer_was_held"] > 0
    assert hold["intents_confirmed_after_a_kill"] > 0
    assert hold["status_changes_checked_against_their_intent"] > 0
