"""A team on one DynamoDB table (issue 17 #5): three cmltui engines on one shared store for a few
minutes, with conflicting operator actions, random SIGKILLs and throttled DynamoDB answers; then
the proof that nothing went wrong, and one operator's CML load to compare with.

    python bench/team.py [--seconds 180] [--processes 3] [--workers 12] [--seed 1] [--json]

The demo servers (moto in server mode with EC2, CloudWatch and DynamoDB; the fake CML over
HTTPS) run in a child process with the team demo's table (as ``cmltui store init`` makes it);
each engine is a child process running cmltui's own runtime (``build_runtime`` and the
controller's loops, the engine the dashboard runs), as ``op<N>@bench``, with short intervals
(EC2 3 s, CML 3 s, CloudWatch 10 s) and an idle policy that fires (1 min, no snooze). See
``_team_run`` for the timeline, ``_team_checks`` for the checks. Exit 1 when a check fails:

1. no lost event, no duplicated event (ids unique, per worker versions 1..N);
2. every worker's replay of its stored events equals its stored record;
3. no automatic action taken twice, and the auto-stops match EC2's StopInstances requests;
4. the lease moved: a killed holder's lease ended within one lease period and a successor took
   it at its next CML cycles; every engine stopped cleanly at the end;
5. no engine logged an unexpected error (a loop that "failed unexpectedly") and no action
   method raised instead of returning its result: each is a defect.

Then a target (printed met or missed; ``--require-target`` makes a miss fail the run): the
team's CML requests per CML interval in the quiet window at the end, against one operator's
(the same run with one engine, its share of the actions, no kills), per polled worker, within
``--target-percent`` (10 %).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import emit, print_table, use_demo_credentials
from _team_plan import RunSettings
from _team_run import TeamRun

REFRESH = {
    "ec2_seconds": 3.0,
    "cloudwatch_seconds": 10.0,
    "cml_seconds": 3.0,
    "cml_license_seconds": 30.0,
}
#: The checks of the issue (1-4) and that every engine stopped cleanly.
TABLE_CHECKS = ("events", "replay", "automatic", "lease", "clean_stop")
#: Defects seen in the engines: a loop that failed unexpectedly, an action method that raised.
CHECKS = (*TABLE_CHECKS, "engine_errors", "action_errors")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=180.0, help="the team run (s)")
    parser.add_argument(
        "--baseline-seconds",
        type=float,
        default=None,
        help="the one-operator run (s; default the same)",
    )
    parser.add_argument("--measure-seconds", type=float, default=45.0, help="the quiet window")
    parser.add_argument("--processes", type=int, default=3)
    parser.add_argument("--workers", type=int, default=12)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--kill-every", type=float, default=25.0, help="mean seconds between SIGKILLs"
    )
    parser.add_argument("--target-percent", type=float, default=10.0)
    parser.add_argument("--require-target", action="store_true")
    parser.add_argument("--no-baseline", action="store_true", help="skip the one-operator run")
    parser.add_argument("--json", action="store_true", help="one JSON object")
    args = parser.parse_args(argv)
    if args.processes < 1 or args.workers < 1:
        parser.error("--processes and --workers must be at least 1")
    if args.measure_seconds <= 0 or args.seconds <= args.measure_seconds:
        parser.error("--seconds must be longer than --measure-seconds")
    if args.baseline_seconds is None:
        args.baseline_seconds = args.seconds
    if args.baseline_seconds <= args.measure_seconds:
        parser.error("--baseline-seconds must be longer than --measure-seconds")
    return args


def settings(args: argparse.Namespace, *, team: bool) -> RunSettings:
    return RunSettings(
        processes=args.processes if team else 1,
        workers=args.workers,
        seconds=args.seconds if team else args.baseline_seconds,
        measure_seconds=args.measure_seconds,
        seed=args.seed,
        kills=team,
        throttles=True,
        refresh=dict(REFRESH),
        plan_processes=None if team else 1,
        kill_every=(0.7 * args.kill_every, 1.3 * args.kill_every),
    )


def cml_target(
    team: dict[str, Any], baseline: dict[str, Any] | None, percent: float
) -> dict[str, Any]:
    mine = team.get("cml_window") or {}
    theirs = (baseline or {}).get("cml_window") or {}
    result: dict[str, Any] = {"target_percent": percent, "team": mine, "one_operator": theirs}
    if mine.get("per_worker_cycle") and theirs.get("per_worker_cycle"):
        ratio = mine["per_worker_cycle"] / theirs["per_worker_cycle"]
        result["ratio"] = round(ratio, 3)
        result["ratio_per_cycle"] = (
            round(mine["per_cycle"] / theirs["per_cycle"], 3) if theirs.get("per_cycle") else None
        )
        result["met"] = ratio <= 1 + percent / 100
    else:
        result["ratio"] = None
        result["met"] = False
    return result


def print_human(payload: dict[str, Any]) -> None:
    team = payload["team"]
    chaos = team["chaos"]
    print(
        f"team: {team['processes']} engines, {payload['seconds']:.0f} s, "
        f"{chaos['kills']} SIGKILLs ({chaos['holder_kills']} of the lease holder), "
        f"{chaos['throttle_stretches']} DynamoDB throttle stretches "
        f"({chaos['throttled_seconds']} s), actions: {chaos['actions']}"
    )
    rows = []
    for label in ("team", "baseline"):
        run = payload.get(label)
        if not run:
            continue
        checks = run["checks"]
        events, automatic, lease = checks["events"], checks["automatic"], checks["lease"]
        rows.append(
            [
                label,
                events["committed_logged"],
                events["stored_events"],
                events["lost"],
                events["duplicated_ids"],
                checks["replay"]["workers"],
                checks["replay"]["problem_count"],
                automatic["auto_stops"],
                automatic["stop_requests_at_ec2"],
                ",".join(str(t) for t in lease["takeover_seconds"]) or "-",
                "ok" if all(checks[c]["ok"] for c in CHECKS) else "FAILED",
            ]
        )
    print_table(
        rows,
        [
            "run",
            "committed",
            "stored",
            "lost",
            "dup ids",
            "replayed",
            "replay diffs",
            "auto-stops",
            "StopInstances",
            "takeover s",
            "checks",
        ],
    )
    for label in ("team", "baseline"):
        run = payload.get(label)
        for name in CHECKS if run else ():
            check = run["checks"][name]
            if not check["ok"]:
                print(f"  {label} {name} FAILED: {check}")
    target = payload["cml_target"]
    mine, theirs = target["team"], target["one_operator"]
    if theirs:
        print(
            f"CML requests per {REFRESH['cml_seconds']:.0f}-s cycle in the last "
            f"{mine.get('seconds')} s: team {mine.get('per_cycle')} "
            f"({mine.get('workers_polled')} workers polled), one operator "
            f"{theirs.get('per_cycle')} ({theirs.get('workers_polled')}); per polled worker "
            f"{mine.get('per_worker_cycle')} vs {theirs.get('per_worker_cycle')}: "
            f"ratio {target['ratio']} (target <= {1 + target['target_percent'] / 100:.2f}: "
            f"{'met' if target['met'] else 'MISSED'})"
        )
    print(f"result: {'ok' if payload['ok'] else 'FAILED'} ({payload['wall_seconds']:.0f} s)")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    use_demo_credentials()
    started = time.time()
    team = TeamRun(settings(args, team=True), "team").run()
    baseline = None if args.no_baseline else TeamRun(settings(args, team=False), "one").run()
    target = cml_target(team, baseline, args.target_percent)
    checks_ok = all(run["checks"][name]["ok"] for run in (team, baseline) if run for name in CHECKS)
    ok = checks_ok and (target["met"] or not args.require_target)
    payload = {
        "seed": args.seed,
        "seconds": args.seconds,
        "baseline_seconds": args.baseline_seconds,
        "processes": args.processes,
        "workers": args.workers,
        "refresh": REFRESH,
        "team": team,
        "baseline": baseline,
        "cml_target": target,
        "checks_ok": checks_ok,
        "ok": ok,
        "wall_seconds": round(time.time() - started, 1),
    }
    if args.json:
        emit(payload, True)
    else:
        print_human(payload)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
