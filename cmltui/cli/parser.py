"""The command line's grammar; bad values are refused here (exit 2), never replaced by defaults."""

from __future__ import annotations

import argparse

from cmltui import __version__
from cmltui.cli.labs import add_lab_parsers
from cmltui.cli.policy import add_policy_parser
from cmltui.cli.store import add_store_parser
from cmltui.config import region_problem
from cmltui.domain.enums import CMLWorkerStatus


def count(text: str) -> int:
    """A count of things: 0 or more."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a whole number is needed, not {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {value}")
    return value


def positive(text: str) -> int:
    value = count(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def region(text: str) -> str:
    value = text.strip()
    problem = region_problem(value)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return value


def region_list(text: str) -> list[str]:
    """``a,b``: at least one region, each shaped like one, each once."""
    regions = [part.strip() for part in text.split(",")]
    if not any(regions):
        raise argparse.ArgumentTypeError('at least one region, like "us-east-1,us-west-2"')
    if not all(regions):
        raise argparse.ArgumentTypeError(f"an empty region name in {text!r}")
    for name in regions:
        problem = region_problem(name)
        if problem:
            raise argparse.ArgumentTypeError(problem)
    if len(set(regions)) != len(regions):
        raise argparse.ArgumentTypeError(f"each region once, not {text!r}")
    return regions


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cmltui",
        description="Terminal dashboard for fleets of Cisco Modeling Labs workers on AWS EC2. "
        "Without a command it opens the dashboard.",
        epilog="Exit codes: 0 everything asked succeeded; 1 an operation failed (an action, a "
        "region, a CML login); 2 bad usage or configuration; 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"cmltui {__version__}")
    parser.add_argument(
        "--config",
        metavar="PATH",
        help="configuration file (TOML); default $CMLTUI_CONFIG, then ~/.config/cmltui/config.toml",
    )
    parser.add_argument("--read-only", action="store_true", help="refuse every mutating action")
    parser.add_argument(
        "--demo",
        action="store_true",
        help="open the dashboard on the embedded demo fleet (no AWS needed)",
    )
    parser.add_argument(
        "--demo-workers",
        type=count,
        default=8,
        metavar="N",
        help="workers in the --demo fleet (default 8)",
    )
    parser.add_argument(
        "--team",
        action="store_true",
        help="with --demo: a team's fleet, the store a DynamoDB table on the demo's moto "
        "server; prints the command for a second dashboard on it",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = commands.add_parser("demo-servers", help="run moto + a fake CML server with a fleet")
    demo.add_argument("--workers", type=count, default=8, metavar="N")
    demo.add_argument(
        "--regions",
        type=region_list,
        default=["us-east-1", "us-west-2"],
        help="comma-separated (default us-east-1,us-west-2)",
    )
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--dir", help="folder for the generated config, CA and data (default: temp)")
    demo.add_argument(
        "--team", action="store_true", help="the store: a DynamoDB table on the moto server"
    )

    listing = commands.add_parser(
        "list", help="the stored fleet (filters combine: a worker must pass each one given)"
    )
    listing.add_argument("--json", action="store_true")
    listing.add_argument("--refresh", action="store_true", help="run one full refresh first")
    listing.add_argument(
        "--status",
        choices=[status.value for status in CMLWorkerStatus],
        metavar="STATUS",
        help="only workers in this EC2 state: %(choices)s",
    )
    listing.add_argument(
        "--idle",
        action="store_true",
        help="only running workers idle past [idle] threshold_minutes (no active lab)",
    )
    listing.add_argument(
        "--available",
        action="store_true",
        help="only workers that can be connected to (running, CML available, endpoint known)",
    )

    refresh = commands.add_parser("refresh", help="one full refresh cycle, then a summary")
    refresh.add_argument("--json", action="store_true")

    for name, text in (
        ("start", "start stopped workers"),
        ("stop", "stop running workers"),
        ("terminate", "terminate workers (asks unless --yes)"),
    ):
        action = commands.add_parser(name, help=text)
        action.add_argument("workers", nargs="+", metavar="NAME_OR_ID")
        action.add_argument("--yes", action="store_true", help="do not ask")

    create = commands.add_parser("create", help="create a worker")
    create.add_argument("--name", required=True)
    create.add_argument("--region", required=True, type=region)
    create.add_argument("--instance-type")

    lic = commands.add_parser("license", help="register or deregister a worker's CML licence")
    lic.add_argument("operation", choices=("register", "deregister"))
    lic.add_argument("worker", metavar="NAME_OR_ID")
    lic.add_argument(
        "--token-env",
        default="CML_LICENSE_TOKEN",
        metavar="VAR",
        help="environment variable holding the token (default CML_LICENSE_TOKEN)",
    )

    auto_stop = commands.add_parser(
        "auto-stop", help="let the idle policy stop these workers (on) or never (off)"
    )
    auto_stop.add_argument("setting", choices=("on", "off"))
    auto_stop.add_argument("workers", nargs="+", metavar="NAME_OR_ID")

    forget = commands.add_parser(
        "forget",
        help="remove terminated workers' records from the data file (their events stay in "
        "the audit trail)",
    )
    forget.add_argument("workers", nargs="+", metavar="NAME_OR_ID")

    cost = commands.add_parser(
        "cost",
        help="per worker: hours billed, cost and what auto-stops saved (default: this week)",
        description="Dates are YYYY-MM-DD in [cost] time_zone (default: this machine's zone); "
        "--since defaults to the start of this week ([cost] week_starts), --until to today.",
    )
    cost.add_argument("--json", action="store_true")
    cost.add_argument("--since", metavar="DATE", help="first local date counted")
    cost.add_argument("--until", metavar="DATE", help="last local date counted (until now)")

    connect = commands.add_parser(
        "connect",
        help="run the [connect] command (ssh by default) for a worker on this terminal; "
        "exits with the command's own status",
    )
    connect.add_argument("worker", metavar="NAME_OR_ID")

    events = commands.add_parser("events", help="the audit trail (times in UTC, marked Z)")
    events.add_argument("worker", nargs="?", metavar="NAME_OR_ID")
    events.add_argument("--json", action="store_true")
    events.add_argument("--limit", type=positive, default=200, metavar="N")
    add_lab_parsers(commands)
    add_policy_parser(commands)
    add_store_parser(commands)
    return parser
