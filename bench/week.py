"""A simulated week on the demo fleet: what cmltui's schedules and idle policy bill, against no
policy and the original web service's rule, and whether any class was let down.

    .venv/bin/python bench/week.py [--seed N] [--json]
    .venv/bin/python bench/week.py --seeds 0..9 [--jobs 2]   # the spread over ten weeks

20 workers (10 on a Europe/Berlin class schedule, 8 on an America/New_York one with a holiday,
2 ad-hoc), labs started and stopped during classes by a seeded generator, evening use, one
maintenance window (``_week_trace``). cmltui's own ``FleetController`` (its EC2 and CML cycles,
the schedule and idle runners) runs against moto in server mode and the project's fake CML over
HTTPS, with an injected clock moved from one event to the next (``_week_sim``: which cycles run
when). Each CML is "not ready" for its boot time after its instance starts.

Figures: worker-hours billed and their cost for (a) no policy (every worker up all week),
(b) the original rule (stop after 60 idle minutes, checked every 30 minutes; computed on the
same usage, ``_week_rules``), (c) cmltui, from the lifecycle events it recorded through its own
cost code (``FleetController.cost_in``, ``domain.billing.BillingTrail``); hours billed over the
ideal (billed only while a lab runs or inside a window: class or maintenance); and the counts
that must be 0: stops while a lab was started, class openings with a worker whose CML was not
ready. Target: cmltui's hours over the ideal at most 5 % of the ideal and at most a quarter of
the original rule's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import print_table
from _week_excess import SOURCES, add_up, covered_minutes, excess_by_source
from _week_fleet import HOURLY_USD
from _week_rules import (
    covered_seconds,
    excess_minutes,
    intervals_outside,
    original_rule,
    span_minutes,
    worker_needs,
)
from _week_sim import Settings, WeekSim
from _week_trace import WEEK_START, draw_week

DEFAULT_SEED = 2025
#: cmltui's excess over the ideal: at most this share of the ideal, and of the original's.
TARGET_OF_IDEAL = 0.05
TARGET_OF_ORIGINAL = 0.25


def _billed_intervals(controller: Any, worker_id: str, end: Any) -> list[tuple[Any, Any]]:
    """The worker's billed intervals from its recorded lifecycle events (cmltui's billing)."""
    from cmltui.domain.billing import BILLING_EVENT_TYPES, BillingTrail
    from cmltui.domain.events import event_from_cloudevent

    events = [
        event_from_cloudevent(envelope)
        for envelope in controller.events_for(worker_id, limit=1_000_000)
        if envelope.type in BILLING_EVENT_TYPES
    ]
    return [(a, b or end) for a, b in BillingTrail(events).intervals]


def _ready_margins(
    ready: list[Any], windows: list[tuple[Any, Any]], intervals: list[tuple[Any, Any]]
) -> list[float]:
    """Minutes from CML ready to the opening, for each opening the worker was started for
    (a billed interval begins before the opening and reaches it)."""
    margins = []
    for opens, _ in windows:
        for start, end in intervals:
            if start < opens <= end:
                ready_at = [at for at in ready if start <= at <= opens]
                if ready_at:
                    margins.append((opens - ready_at[0]).total_seconds() / 60.0)
                break
    return margins


def _spread_of(values: list[float]) -> dict[str, float]:
    import statistics

    if not values:
        return {"count": 0, "min": 0.0, "median": 0.0, "max": 0.0}
    return {
        "count": len(values),
        "min": round(min(values), 2),
        "median": round(statistics.median(values), 2),
        "max": round(max(values), 2),
    }


def _figures(hours: float, ideal: float, over: float, short: float) -> dict[str, float]:
    return {
        "worker_hours": round(hours, 2),
        "cost_usd": round(hours * HOURLY_USD, 2),
        "over_ideal_hours": round(over, 2),
        "over_ideal_percent": round(100.0 * over / ideal, 2) if ideal else 0.0,
        "ideal_missed_hours": round(short, 2),
    }


def measure(sim: WeekSim) -> dict[str, Any]:
    """Every figure of the run (the sim has run; its controller is still open)."""
    trace, controller = sim.trace, sim.controller
    needs = worker_needs(trace, controller.schedules)
    ideal_minutes = sum(sum(n.ideal) for n in needs)
    ideal = ideal_minutes / 60.0
    span_hours = span_minutes(trace) / 60.0
    workers = trace.workers
    # (a) no policy: nobody stops a worker; up all week.
    no_policy = _figures(workers * span_hours, ideal, workers * span_hours - ideal, 0.0)
    # (b) the original rule, on the same usage.
    original = original_rule(trace, needs)
    over_b = short_b = billed_b = 0
    sources_b = []
    for billed, marks in zip(original.billed, needs, strict=True):
        over, short = excess_minutes(billed, marks.ideal)
        over_b, short_b, billed_b = over_b + over, short_b + short, billed_b + sum(billed)
        sources_b.append(excess_by_source(covered_minutes(billed), marks))
    original_figures = _figures(billed_b / 60.0, ideal, over_b / 60.0, short_b / 60.0)
    original_figures["stops_in_window"] = original.stops_in_window
    original_figures["stops_in_maintenance"] = original.stops_in_maintenance
    # (c) cmltui: its own cost figures and billed intervals, from the events it recorded.
    first, last = WEEK_START.date(), (trace.end - timedelta(days=1)).date()
    _, rows = controller.cost_in(first, last)
    ledger_hours = sum(figures.billed_hours for _, figures in rows)
    ledger_cost = sum(figures.cost_usd for _, figures in rows)
    saved_hours = sum(figures.saved_hours for _, figures in rows)
    over_c = short_c = truth_hours = truth_over = 0.0
    sources_c = []
    ready_margins: list[float] = []
    for index, marks in enumerate(needs):
        intervals = _billed_intervals(controller, sim.worker_ids[index], trace.end)
        over, short = intervals_outside(intervals, marks.ideal)
        sources_c.append(excess_by_source(covered_seconds(intervals, len(marks.ideal)), marks))
        ready_margins += _ready_margins(sim.ready_log[index], marks.windows, intervals)
        over_c, short_c = over_c + over, short_c + short
        truth = sim.power_intervals(index)
        truth_hours += sum((b - a).total_seconds() for a, b in truth) / 3600.0
        truth_over += intervals_outside(truth, marks.ideal)[0]
    cmltui = _figures(ledger_hours, ideal, over_c, short_c)
    cmltui["cost_usd"] = round(ledger_cost, 2)
    cmltui["saved_by_auto_stop_hours"] = round(saved_hours, 2)
    cmltui["ec2_truth_hours"] = round(truth_hours, 2)
    cmltui["ec2_truth_over_ideal_hours"] = round(truth_over, 2)
    cmltui["excess_by_source"] = add_up(sources_c)
    original_figures["excess_by_source"] = add_up(sources_b)
    # Of the lead before a window: how long each worker's CML was ready before the opening.
    cmltui["ready_before_opening_minutes"] = _spread_of(ready_margins)
    cmltui["ready_before_opening_hours"] = round(sum(ready_margins) / 60.0, 2)
    counts = sim.counts
    targets = {
        "over_ideal_at_most_5_percent_of_ideal": over_c <= TARGET_OF_IDEAL * ideal,
        "over_ideal_at_most_a_quarter_of_original": over_c <= TARGET_OF_ORIGINAL * over_b / 60.0,
        "no_stop_during_a_started_lab": counts.stops_during_started_lab == 0,
        "no_class_start_without_ready_cml": counts.class_starts_not_ready == 0,
    }
    return {
        "seed": trace.seed,
        "days": round(span_hours / 24.0, 2),
        "workers": workers,
        "hourly_usd": HOURLY_USD,
        "ideal_hours": round(ideal, 2),
        "no_policy": no_policy,
        "original_rule": original_figures,
        "cmltui": cmltui,
        "stops_during_started_lab": counts.stops_during_started_lab,
        "class_starts_not_ready": counts.class_starts_not_ready,
        "lab_starts_not_ready": counts.lab_starts_not_ready,
        "stops_in_maintenance": counts.stops_in_maintenance,
        "stops_in_window": counts.stops_in_window,
        "engine": {
            "cycles": counts.cycles,
            "ec2_refreshes": counts.ec2_refreshes,
            "auto_starts": counts.engine_starts,
            "auto_stops": counts.engine_stops,
            "hand_starts": counts.hand_starts,
        },
        "labs": len(trace.labs),
        "sessions": len(trace.arrivals),
        "targets": targets,
        "targets_met": all(targets.values()),
        "details": counts.details,
    }


async def simulate(
    seed: int,
    *,
    days: int = 7,
    emea: int = 10,
    amer: int = 8,
    adhoc: int = 2,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Draw the week for ``seed``, run it through cmltui, return every figure."""
    trace = draw_week(seed, days=days, emea=emea, amer=amer, adhoc=adhoc)
    sim = WeekSim(trace, settings)
    try:
        run = await sim.run()
        result = measure(sim)
    finally:
        await sim.close()
    result["wall_seconds"] = round(run["seconds"], 1)
    return result


def print_report(result: dict[str, Any]) -> None:
    rows = []
    for key, label in (
        ("no_policy", "(a) no policy (up all week)"),
        ("original_rule", "(b) original rule (60 min idle, checked /30 min)"),
        ("cmltui", "(c) cmltui (schedules + idle policy)"),
    ):
        figures = result[key]
        rows.append(
            (
                label,
                f"{figures['worker_hours']:.1f}",
                f"{figures['cost_usd']:,.0f}",
                f"{figures['over_ideal_hours']:.1f}",
                f"{figures['over_ideal_percent']:.1f}",
                f"{figures['ideal_missed_hours']:.1f}",
            )
        )
    rows.append(
        (
            "ideal (a lab runs, or inside a window)",
            f"{result['ideal_hours']:.1f}",
            f"{result['ideal_hours'] * result['hourly_usd']:,.0f}",
            "0.0",
            "0.0",
            "0.0",
        )
    )
    print(
        f"Simulated week, seed {result['seed']}: {result['workers']} workers, "
        f"{result['labs']} labs, {result['sessions']} hand starts planned, "
        f"${result['hourly_usd']}/h"
    )
    print_table(
        rows, ("policy", "worker-h", "cost $", "over ideal h", "over ideal %", "ideal missed h")
    )
    cm = result["cmltui"]
    print(
        f"  cmltui from EC2's own states: {cm['ec2_truth_hours']:.1f} worker-h "
        f"({cm['ec2_truth_over_ideal_hours']:.1f} over the ideal); auto-stops saved "
        f"{cm['saved_by_auto_stop_hours']:.1f} h"
    )
    margins = cm["ready_before_opening_minutes"]
    print(
        f"  cmltui's CML ready before a class opening: {margins['min']:.1f} / "
        f"{margins['median']:.1f} / {margins['max']:.1f} min (min / median / max of "
        f"{margins['count']}), {cm['ready_before_opening_hours']:.1f} h in all"
    )
    print_table(
        [
            (
                source,
                f"{cm['excess_by_source'][source]:.2f}",
                f"{result['original_rule']['excess_by_source'][source]:.2f}",
            )
            for source in SOURCES
        ],
        ("over the ideal, by source", "(c) cmltui h", "(b) original h"),
    )
    for key, words in (
        ("stops_during_started_lab", "stops while a lab was started (must be 0)"),
        (
            "class_starts_not_ready",
            "class openings with a worker whose CML was not ready (must be 0)",
        ),
        ("stops_in_maintenance", "stops inside a maintenance window"),
        ("stops_in_window", "stops inside a class window"),
        (
            "lab_starts_not_ready",
            "labs whose user found the worker stopped or booting (back after the idle threshold)",
        ),
    ):
        print(f"  {words}: {result[key]}")
    original = result["original_rule"]
    print(
        f"  original rule, for comparison: {original['stops_in_window']} stops inside a class "
        f"window, {original['stops_in_maintenance']} in maintenance"
    )
    engine = result["engine"]
    print(
        f"  engine: {engine['cycles']} cycles, {engine['auto_starts']} automatic starts, "
        f"{engine['auto_stops']} automatic stops; {result['wall_seconds']} s"
    )
    for line in result["details"]:
        print(f"  ! {line}")
    for key, met in result["targets"].items():
        print(f"  target {key}: {'met' if met else 'NOT MET'}")


#: The figures of the spread over seeds: (label, how to read it from one result).
SPREAD_FIGURES: tuple[tuple[str, Any], ...] = (
    ("ideal worker-h", lambda r: r["ideal_hours"]),
    ("(b) original worker-h", lambda r: r["original_rule"]["worker_hours"]),
    ("(b) original cost $", lambda r: r["original_rule"]["cost_usd"]),
    ("(b) original over ideal h", lambda r: r["original_rule"]["over_ideal_hours"]),
    ("(c) cmltui worker-h", lambda r: r["cmltui"]["worker_hours"]),
    ("(c) cmltui cost $", lambda r: r["cmltui"]["cost_usd"]),
    ("(c) cmltui over ideal h", lambda r: r["cmltui"]["over_ideal_hours"]),
    ("(c) cmltui over ideal % of ideal", lambda r: r["cmltui"]["over_ideal_percent"]),
    (
        "(c) over ideal / (b) over ideal",
        lambda r: round(
            r["cmltui"]["over_ideal_hours"] / max(r["original_rule"]["over_ideal_hours"], 1e-9), 3
        ),
    ),
    ("stops while a lab was started", lambda r: r["stops_during_started_lab"]),
    ("class openings, CML not ready", lambda r: r["class_starts_not_ready"]),
    ("labs finding the worker stopped/booting", lambda r: r["lab_starts_not_ready"]),
    ("wall seconds", lambda r: r["wall_seconds"]),
)


def spread(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Min, median and max of each figure over several seeds, and the seeds missing a target."""
    import statistics

    figures = {}
    for label, read in SPREAD_FIGURES:
        values = [read(result) for result in results]
        figures[label] = {
            "min": min(values),
            "median": round(statistics.median(values), 3),
            "max": max(values),
        }
    return {
        "seeds": [result["seed"] for result in results],
        "figures": figures,
        "seeds_missing_a_target": [r["seed"] for r in results if not r["targets_met"]],
    }


def print_spread(summary: dict[str, Any]) -> None:
    seeds = summary["seeds"]
    print(f"Spread over {len(seeds)} seeds ({seeds[0]}..{seeds[-1]})")
    rows = [
        (label, f"{v['min']:g}", f"{v['median']:g}", f"{v['max']:g}")
        for label, v in summary["figures"].items()
    ]
    print_table(rows, ("figure", "min", "median", "max"))
    missing = summary["seeds_missing_a_target"]
    print(f"  seeds missing a target: {', '.join(map(str, missing)) if missing else 'none'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="which week to draw")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--seeds", help="A..B: run each seed A to B and print the spread of the figures"
    )
    parser.add_argument(
        "--jobs", type=int, default=1, help="with --seeds: how many weeks run at once"
    )
    parser.add_argument("--days", type=int, default=7, help="a shorter span (1-7 days)")
    parser.add_argument(
        "--groups",
        default="10,8,2",
        help="workers on emea-class, amer-class and ad-hoc (default 10,8,2)",
    )
    args = parser.parse_args(argv)
    try:
        emea, amer, adhoc = (int(part) for part in args.groups.split(","))
    except ValueError:
        parser.error(f"--groups {args.groups!r}: three whole numbers like 10,8,2")
    if not 1 <= args.days <= 7 or min(emea, amer, adhoc) < 1:
        parser.error("--days must be 1..7 and each of --groups at least 1")
    from _common import use_demo_credentials

    use_demo_credentials()
    if args.seeds:
        seeds = _seed_range(parser, args.seeds)
        try:
            results = run_seeds(seeds, args, quiet=args.json)
        except RuntimeError as err:
            print(f"week.py: {err}", file=sys.stderr)
            return 2
        summary = spread(results)
        if args.json:
            print(json.dumps({**summary, "results": results}))
        else:
            print_spread(summary)
        return 0 if not summary["seeds_missing_a_target"] else 1
    result = asyncio.run(simulate(args.seed, days=args.days, emea=emea, amer=amer, adhoc=adhoc))
    if args.json:
        print(json.dumps(result))
    else:
        print_report(result)
    return 0 if result["targets_met"] else 1


def run_seeds(seeds: list[int], args: argparse.Namespace, *, quiet: bool) -> list[dict[str, Any]]:
    """Each seed's week in a child process of its own (moto's backends live in the process:
    a second week in one process would find the first one's instances), ``--jobs`` at once."""
    import subprocess
    from concurrent.futures import ThreadPoolExecutor

    def one(seed: int) -> dict[str, Any]:
        command = [sys.executable, str(Path(__file__).resolve()), "--seed", str(seed), "--json"]
        command += ["--days", str(args.days), "--groups", args.groups]
        done = subprocess.run(  # noqa: S603 (this interpreter, this script)
            command, capture_output=True, text=True, check=False
        )
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        if done.returncode not in (0, 1) or len(lines) != 1:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise RuntimeError(f"seed {seed} failed (exit {done.returncode}): {last}")
        result: dict[str, Any] = json.loads(lines[0])
        if not quiet:
            print_seed_line(result)
        return result

    with ThreadPoolExecutor(max_workers=max(args.jobs, 1)) as pool:
        return list(pool.map(one, seeds))


def _seed_range(parser: argparse.ArgumentParser, text: str) -> list[int]:
    first, sep, last = text.partition("..")
    try:
        seeds = list(range(int(first), int(last) + 1)) if sep else [int(first)]
    except ValueError:
        parser.error(f"--seeds {text!r}: A..B with whole numbers, like 0..9")
    if not seeds:
        parser.error(f"--seeds {text!r}: B must not be below A")
    return seeds


def print_seed_line(result: dict[str, Any]) -> None:
    """One seed's headline figures, as the seeds run."""
    cm, original = result["cmltui"], result["original_rule"]
    ratio = cm["over_ideal_hours"] / max(original["over_ideal_hours"], 1e-9)
    print(
        f"seed {result['seed']}: ideal {result['ideal_hours']:.1f} h; original "
        f"{original['worker_hours']:.1f} h (+{original['over_ideal_hours']:.1f}); cmltui "
        f"{cm['worker_hours']:.1f} h (+{cm['over_ideal_hours']:.2f}, "
        f"{cm['over_ideal_percent']:.2f} %, {ratio:.3f} of the original's); stops in a lab "
        f"{result['stops_during_started_lab']}, openings not ready "
        f"{result['class_starts_not_ready']}; {result['wall_seconds']} s"
        + ("" if result["targets_met"] else "  TARGET MISSED"),
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
