"""A tiny run of bench/team.py (issue 17 #5): two cmltui engines on one DynamoDB table with
conflicting actions, a SIGKILL and a throttle stretch, then one operator's baseline. The script's
checks must pass and its figures be there; timings are never asserted (speed lives in bench/)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: The issue's checks (lost/duplicated events, replay, automatic actions, lease) and clean stops.
#: The script also fails on defects in the engines (a loop or an action method raising): known
#: races, reproduced in tests/services/test_team_auto_stop_race.py, that a short run may not hit.
CHECKS = ("events", "replay", "automatic", "lease", "clean_stop")


@pytest.mark.slow
def test_two_engines_on_one_table_pass_the_team_checks() -> None:
    completed = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "team.py"),
            *("--processes", "2", "--workers", "5", "--seconds", "30"),
            *("--baseline-seconds", "14", "--measure-seconds", "8", "--kill-every", "6"),
            *("--seed", "3", "--json"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 1, completed.stdout[-2000:] + completed.stderr[-3000:]
    result = json.loads(lines[0])
    team, baseline = result["team"], result["baseline"]
    for run in (team, baseline):
        failed = {name: run["checks"][name] for name in CHECKS if not run["checks"][name]["ok"]}
        assert not failed, failed
    assert completed.returncode == (0 if result["checks_ok"] else 1), completed.stderr[-3000:]
    assert {"engine_errors", "action_errors"} <= set(team["checks"])
    # The figures: events the engines committed are all in the table, every record replayed.
    events = team["checks"]["events"]
    assert events["committed_logged"] > 0
    assert events["lost"] == 0 and events["duplicated_ids"] == 0
    assert team["checks"]["replay"]["workers"] == 5
    assert team["checks"]["replay"]["problem_count"] == 0
    # The chaos happened: an engine was killed and restarted, DynamoDB was throttled.
    assert team["chaos"]["kills"] >= 1
    assert team["chaos"]["throttle_stretches"] >= 1
    assert max(e["starts"] for e in team["checks"]["clean_stop"]["engines"]) >= 2
    # The CML comparison is there (met or missed is a target, not a check).
    target = result["cml_target"]
    assert target["team"]["cml_requests"] > 0 and target["one_operator"]["cml_requests"] > 0
    assert target["ratio"] is not None and isinstance(target["met"], bool)
