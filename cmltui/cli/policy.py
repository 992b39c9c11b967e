"""``cmltui policy NAME...``: show a worker's policy and where each part comes from, or set its
own idle threshold, schedule, maintenance window and auto-stop (saved with the operator's name).

Precedence (``cmltui.domain.policy``): the worker's own setting > its schedule (its setting,
else its ``cmltui:schedule`` tag) > the global ``[idle]`` section. A maintenance window is
``FROM..UNTIL`` in ISO 8601 (``2026-03-10T18:00..2026-03-10T22:00``); times without a zone are
this computer's local time.
"""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any

from cmltui.cli.output import EXIT_FAILED, EXIT_OK, err, iso, out, print_json, shown, zoned
from cmltui.cli.resolve import resolve
from cmltui.domain.worker_policy import (
    MAX_IDLE_MINUTES,
    UNCHANGED,
    PolicyChange,
)
from cmltui.services.policy_view import PolicyView


def idle_minutes_arg(text: str) -> int | None:
    """``N`` minutes, or ``default`` (clears the worker's own threshold)."""
    if text.strip().lower() == "default":
        return None
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"a whole number of minutes or 'default' is needed, not {text!r}"
        ) from None
    if not 1 <= value <= MAX_IDLE_MINUTES:
        raise argparse.ArgumentTypeError(f"must be from 1 to {MAX_IDLE_MINUTES}, not {value}")
    return value


def schedule_arg(text: str) -> str | None:
    """A schedule name, or ``none`` (clears the worker's own schedule; its tag applies)."""
    name = text.strip()
    if not name:
        raise argparse.ArgumentTypeError("a schedule name or 'none' is needed")
    return None if name.lower() == "none" else name


def _instant(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 time like 2026-03-10T18:00"
        ) from None
    return value if value.tzinfo is not None else value.astimezone()


def maintenance_arg(text: str) -> tuple[datetime, datetime] | None:
    """``FROM..UNTIL`` (ISO 8601, local time unless a zone is given), or ``none``."""
    if text.strip().lower() == "none":
        return None
    starts, sep, ends = text.partition("..")
    if not sep:
        raise argparse.ArgumentTypeError(
            "FROM..UNTIL is needed, like 2026-03-10T18:00..2026-03-10T22:00, or 'none'"
        )
    window = (_instant(starts), _instant(ends))
    if window[1] <= window[0]:
        raise argparse.ArgumentTypeError("the maintenance window must end after it starts")
    return window


def add_policy_parser(commands: Any) -> None:
    """The ``policy`` command, added to the command line's subparsers."""
    policy = commands.add_parser(
        "policy",
        help="show a worker's policy (and where each part comes from), or set its own",
    )
    policy.add_argument("workers", nargs="+", metavar="NAME_OR_ID")
    policy.add_argument(
        "--idle-minutes",
        type=idle_minutes_arg,
        default=UNCHANGED,
        metavar="N|default",
        help="idle minutes before auto-stop, over the schedule's and [idle]'s ('default' clears)",
    )
    policy.add_argument(
        "--schedule",
        type=schedule_arg,
        default=UNCHANGED,
        metavar="NAME|none",
        help="the [schedules.NAME] it follows, over its cmltui:schedule tag ('none' clears)",
    )
    policy.add_argument(
        "--maintenance",
        type=maintenance_arg,
        default=UNCHANGED,
        metavar="FROM..UNTIL|none",
        help="no automatic stop in this window (ISO 8601 times; 'none' clears)",
    )
    policy.add_argument(
        "--auto-stop", choices=("on", "off"), help="idle auto-stop for these workers"
    )
    policy.add_argument("--json", action="store_true", help="print the policies as JSON")


def _change(args: Any) -> PolicyChange:
    auto_stop = UNCHANGED if args.auto_stop is None else args.auto_stop == "on"
    return PolicyChange(
        idle_minutes=args.idle_minutes,
        schedule=args.schedule,
        maintenance=args.maintenance,
        auto_stop=auto_stop,
    )


_THRESHOLD_FROM = {
    "worker": "the worker's own setting",
    "schedule": "its schedule",
    "global": "[idle] threshold_minutes",
}


def policy_json(name: str, worker_id: str, view: PolicyView) -> dict[str, Any]:
    effective = view.effective
    return {
        "id": worker_id,
        "name": name,
        "idle_minutes": effective.idle_minutes,
        "idle_minutes_from": effective.source,
        "schedule": effective.schedule,
        "schedule_from": effective.schedule_source,
        "schedule_known": effective.schedule_known,
        "schedule_tag": view.schedule_tag,
        "auto_stop": effective.auto_stop,
        "auto_stop_off_by": effective.auto_stop_off_by,
        "maintenance_from": iso(view.maintenance_from),
        "maintenance_until": iso(view.maintenance_until),
        "in_maintenance": effective.maintenance_until is not None,
        "own": {
            "idle_minutes": view.idle_minutes,
            "schedule": view.schedule,
            "auto_stop_opt_out": view.auto_stop_opt_out,
        },
        "next": list(view.lines),
    }


def _print_policy(name: str, view: PolicyView) -> None:
    e = view.effective
    out(shown(name))
    threshold = _THRESHOLD_FROM[e.source]
    if e.source == "schedule":
        threshold = f"schedule {e.schedule}"
    out(f"  idle threshold: {e.idle_minutes} min (from {shown(threshold)})")
    if e.schedule is None:
        out("  schedule: none")
    else:
        where = "the worker's own setting" if e.schedule_source == "worker" else "its tag"
        unknown = "" if e.schedule_known else ", not in the config: none applies"
        out(f"  schedule: {shown(e.schedule)} (from {where}{unknown})")
    if e.auto_stop:
        out("  auto-stop: on")
    else:
        why = "opted out" if e.auto_stop_off_by == "worker" else "[idle] auto_stop is off"
        out(f"  auto-stop: off ({why})")
    if view.maintenance_from and view.maintenance_until:
        state = " (in force)" if e.maintenance_until else ""
        window = f"{zoned(view.maintenance_from)} until {zoned(view.maintenance_until)}"
        out(f"  maintenance: {window}{state}")
    else:
        out("  maintenance: none")
    for line in view.lines:
        out(f"  next: {shown(line)}")


async def cmd_policy(controller, args) -> int:
    """Set the workers' own policy when an option is given, then show each one's policy."""
    # EC2's current tags name each worker's schedule; a region that fails is said, not hidden.
    await controller.refresh_ec2()
    for health in controller.current().errors:
        err(f"warning: {shown(health.source)}: {shown(health.error)} (its last known state)")
    ids = resolve(controller.workers(), args.workers)
    code = EXIT_OK
    change = _change(args)
    if not change.is_empty:
        result = await controller.set_policy(ids, change)
        for line in result.done:
            err(f"policy set: {shown(line)}")
        for line in (*result.refused, *result.failed):
            err(f"policy refused: {shown(line)}")
        code = EXIT_OK if result.ok else EXIT_FAILED
    by_id = {s.id: s for s in controller.workers()}
    shown_workers = [(by_id[i].name, i, by_id[i].policy) for i in ids if by_id[i].policy]
    if args.json:
        print_json([policy_json(name, i, view) for name, i, view in shown_workers])
    else:
        for name, _, view in shown_workers:
            _print_policy(name, view)
    return code
