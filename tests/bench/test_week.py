"""bench/week.py's core on a short span: one day, four workers (two on the Berlin class, one on
the New York class, one ad-hoc), cmltui's controller on moto's server and the fake CML over
HTTPS with an injected clock, in its own process (moto's backends are per process). The
figures' sizes are the bench's business; here: the JSON has them, nothing stopped a started
lab, no class opened on a worker whose CML was not ready."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARGS = ("--days", "1", "--groups", "2,1,1", "--seed", "3", "--json")


@pytest.mark.slow
def test_one_day_on_four_workers_keeps_classes_whole_and_prints_the_figures() -> None:
    completed = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "week.py"), *ARGS],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode in (0, 1), completed.stderr[-3000:]  # 1: a target not met
    lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 1, completed.stdout[-2000:]
    result = json.loads(lines[0])
    assert result["workers"] == 4 and result["days"] == 1.0
    assert result["stops_during_started_lab"] == 0, result["details"]
    assert result["class_starts_not_ready"] == 0, result["details"]
    for key in ("no_policy", "original_rule", "cmltui"):
        figures = result[key]
        assert set(figures) >= {
            "worker_hours",
            "cost_usd",
            "over_ideal_hours",
            "over_ideal_percent",
            "ideal_missed_hours",
        }
    assert result["ideal_hours"] > 0
    # cmltui's hours come from its recorded events and agree with what EC2 ran.
    cmltui = result["cmltui"]
    assert abs(cmltui["worker_hours"] - cmltui["ec2_truth_hours"]) < 0.1
    assert result["engine"]["auto_starts"] >= 3  # each class worker started for its class
    assert set(result["targets"]) == {
        "over_ideal_at_most_5_percent_of_ideal",
        "over_ideal_at_most_a_quarter_of_original",
        "no_stop_during_a_started_lab",
        "no_class_start_without_ready_cml",
    }
    assert result["targets_met"] == all(result["targets"].values())
