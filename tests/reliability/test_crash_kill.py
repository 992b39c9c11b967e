"""``scripts/crash_kill.py`` with a short count: SIGKILLs at random moments lose nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "crash_kill.py"
KILLS = 15


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
