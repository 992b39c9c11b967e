"""Tiny runs of the bench scripts: each prints one JSON object with its figures and request
counts that follow from the fleet. Timings are never asserted (speed belongs in bench/)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_bench(name: str, *args: str) -> dict:
    completed = subprocess.run(
        [sys.executable, str(ROOT / "bench" / f"{name}.py"), *args, "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 1, completed.stdout[-2000:]
    return json.loads(lines[0])


def test_refresh_counts_both_sides_on_the_servers() -> None:
    result = run_bench("refresh", "--workers", "4", "--regions", "2", "--cycles", "1")
    cmltui, baseline = result["cmltui"], result["baseline"]
    running = sum(cmltui["running_by_region"].values())
    assert sum(cmltui["workers_by_region"].values()) == 4
    assert running >= 1
    steady = cmltui["steady"]
    # The controller's own counts match what the servers saw.
    assert steady["counts_agree"] is True
    assert cmltui["import_cycle"]["counts_agree"] is True
    # One describe per region plus one CloudWatch call per region with running workers.
    assert steady["aws_by_action"] == {
        "ec2:DescribeInstances": 2,
        "cloudwatch:GetMetricData": len(cmltui["running_by_region"]),
    }
    assert steady["cml_logins"] == 0
    assert cmltui["import_cycle"]["cml_logins"] >= 1
    # The baseline: four EC2 calls per worker, three more per running worker.
    assert baseline["aws_requests"] == 4 * 4 + 3 * running
    assert baseline["aws_by_action"]["cloudwatch:GetMetricStatistics"] == 2 * running
    # A fresh login per running worker with CML, every cycle.
    assert baseline["cml_logins"] == baseline["cml_by_path"]["system_information"] == running
    assert result["targets"]["aws_within_bound"] is True
    assert set(result["ratios_cmltui_over_baseline"]) == {
        "seconds",
        "aws_requests",
        "cml_requests",
        "cml_logins",
    }


def test_loop_lag_reports_lag_and_the_all_rows_change_set() -> None:
    result = run_bench(
        "loop_lag",
        "--workers",
        "4",
        "--regions",
        "1",
        "--seconds",
        "1",
        "--idle-seconds",
        "2",
        "--give-up-after",
        "200",
    )
    assert result["rows_shown"] == 4
    assert result["keys_idle"]["presses"] > 0  # keys timed with the engine idle too
    assert result["unexpected_errors"] == 0
    assert result["back_to_back"]["cycles"] >= 1
    assert result["back_to_back"]["samples"] > 0
    assert {"p50_ms", "p99_ms", "max_ms"} <= set(result["back_to_back"])
    assert result["change_set_all_rows"]["rows"] == 4
    assert result["change_set_all_rows"]["rounds"] == 5


def test_startup_paints_every_stored_worker() -> None:
    result = run_bench(
        "startup", "--workers", "6", "--regions", "2", "--runs", "1", "--events-per-worker", "2"
    )
    assert [run["rows"] for run in result["runs"]] == [6]
    assert result["targets"]["all_rows_shown"] is True
    assert result["store_bytes"] > 0


def test_soak_keeps_every_loop_alive_under_faults() -> None:
    result = run_bench(
        "soak",
        "--workers",
        "4",
        "--regions",
        "1",
        "--minutes",
        "0.25",
        "--interval",
        "1",
        "--sample-seconds",
        "3",
        "--fault-seconds",
        "1",
        "--faults",
    )
    assert result["loops_alive"] == {"ec2": True, "cloudwatch": True, "cml": True}
    assert len(result["samples"]) >= 2
    assert sum(result["faults_armed"].values()) >= 1


def test_labs_screen_shows_every_lab_and_a_closed_screen_costs_nothing() -> None:
    result = run_bench("labs_screen", "--labs", "12", "--running", "4", "--runs", "1")
    assert result["labs_shown"] == 12 and result["labs_started"] == 4
    # One poll: the list, each lab, and the node states of each started lab.
    assert result["poll_requests"] == 1 + 12 + 4
    assert result["steady_cycle_cml_requests_after"] == result["steady_cycle_cml_requests_before"]
    assert result["sessions_open_after_close"] == 0
    assert len(result["runs"]) == 1 and result["unexpected_errors"] == 0
