"""Command line: the dashboard by default, ``--demo``, ``demo-servers`` and headless commands.

Exit codes: 0 success, 1 an operation failed, 2 bad usage or configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from cmltui import __version__
from cmltui.config import Config, ConfigError, load_config

EXIT_FAILED = 1
EXIT_USAGE = 2


class CliError(Exception):
    """An operation failed: printed to stderr, exit code 1 (or ``exit_code``)."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cmltui",
        description="Terminal dashboard for fleets of Cisco Modeling Labs workers on AWS EC2. "
        "Without a command it opens the dashboard.",
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
        type=int,
        default=8,
        metavar="N",
        help="workers in the --demo fleet (default 8)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = commands.add_parser("demo-servers", help="run moto + a fake CML server with a fleet")
    demo.add_argument("--workers", type=int, default=8)
    demo.add_argument(
        "--regions",
        default="us-east-1,us-west-2",
        help="comma-separated (default us-east-1,us-west-2)",
    )
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--dir", help="folder for the generated config, CA and data (default: temp)")

    listing = commands.add_parser("list", help="the stored fleet")
    listing.add_argument("--json", action="store_true")
    listing.add_argument("--refresh", action="store_true", help="run one full refresh first")

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
    create.add_argument("--region", required=True)
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

    events = commands.add_parser("events", help="the audit trail")
    events.add_argument("worker", nargs="?", metavar="NAME_OR_ID")
    events.add_argument("--json", action="store_true")
    events.add_argument("--limit", type=int, default=200)
    return parser


# ---------------------------------------------------------------------------- helpers
def _print_json(payload: Any) -> None:
    print(json.dumps(payload, default=str, indent=None))


def _load(args: argparse.Namespace) -> Config:
    config, _path, warnings = load_config(args.config)
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return config


def _snapshot_row(s: Any) -> dict[str, Any]:
    return {
        "id": s.id,
        "name": s.name,
        "region": s.region,
        "instance_id": s.aws_instance_id,
        "instance_type": s.instance_type,
        "status": str(s.status),
        "service_status": str(s.service_status),
        "cml_version": s.cml_version,
        "license_status": str(s.license_status),
        "active_labs": s.active_labs_count,
        "cpu": s.cpu_utilization,
        "memory": s.memory_utilization,
        "idle_minutes": None if s.idle_minutes is None else round(s.idle_minutes, 1),
        "hourly_cost_usd": s.hourly_cost_usd,
        "endpoint": s.https_endpoint,
        "last_error": s.last_error,
    }


def _print_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    widths = {c: max([len(c)] + [len(_cell(r.get(c))) for r in rows]) for c in columns}
    print("  ".join(c.upper().ljust(widths[c]) for c in columns))
    for row in rows:
        print("  ".join(_cell(row.get(c)).ljust(widths[c]) for c in columns))


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}"
    return "".join(ch if ch.isprintable() else "?" for ch in str(value))


# ---------------------------------------------------------------------------- commands
async def _with_runtime(config: Config, args: argparse.Namespace, body) -> int:
    from cmltui.wiring import build_runtime, setup_logging

    setup_logging()
    runtime = build_runtime(config, read_only=args.read_only)
    for notice in runtime.notices:
        print(f"notice: {notice}", file=sys.stderr)
    try:
        await runtime.controller.load()
        return await body(runtime.controller)
    finally:
        await runtime.aclose()


def _resolve_ids(controller, names: Sequence[str]) -> list[str]:
    ids, unknown = [], []
    for name in names:
        worker = controller.find(name)
        (ids.append(worker.id) if worker else unknown.append(name))
    if unknown:
        raise CliError(f"no such worker: {', '.join(unknown)}")
    return ids


def _report(result) -> int:
    for line in result.done:
        print(f"{result.action}: {line}")
    for line in (*result.refused, *result.failed):
        print(f"{result.action} refused or failed: {line}", file=sys.stderr)
    return 0 if result.ok else EXIT_FAILED


async def _cmd_list(controller, args) -> int:
    if args.refresh:
        await controller.refresh_once()
    rows = [_snapshot_row(s) for s in sorted(controller.workers(), key=lambda s: s.name)]
    if args.json:
        _print_json(rows)
    else:
        _print_table(
            rows,
            (
                "name",
                "region",
                "status",
                "service_status",
                "cml_version",
                "license_status",
                "active_labs",
                "cpu",
                "memory",
                "idle_minutes",
            ),
        )
    return 0


async def _cmd_refresh(controller, args) -> int:
    summary = await controller.refresh_once()
    payload = {
        "workers_seen": summary.workers_seen,
        "aws_requests": summary.aws_requests,
        "cml_requests": summary.cml_requests,
        "cml_logins": summary.cml_logins,
        "seconds": round(summary.seconds, 3),
        "errors": list(summary.errors),
    }
    if args.json:
        _print_json(payload)
    else:
        for key, value in payload.items():
            print(f"{key}: {value}")
    return 0


async def _cmd_lifecycle(controller, args) -> int:
    await controller.refresh_ec2()  # act on EC2's current view, not a stale store
    ids = _resolve_ids(controller, args.workers)
    if args.command == "terminate" and not args.yes:
        names = ", ".join(controller.find(i).name for i in ids)
        if not sys.stdin.isatty():
            raise CliError("terminate needs --yes when no terminal can ask", EXIT_USAGE)
        answer = input(f"Terminate {names}? This cannot be undone. Type 'yes': ")
        if answer.strip().lower() != "yes":
            print("cancelled", file=sys.stderr)
            return EXIT_FAILED
    action = {
        "start": controller.start_workers,
        "stop": controller.stop_workers,
        "terminate": controller.terminate_workers,
    }[args.command]
    return _report(await action(ids))


async def _cmd_create(controller, args) -> int:
    return _report(await controller.create_worker(args.name, args.region, args.instance_type))


async def _cmd_license(controller, args) -> int:
    await controller.refresh_ec2()
    await controller.refresh_cml()
    worker_id = _resolve_ids(controller, [args.worker])[0]
    if args.operation == "deregister":
        return _report(await controller.deregister_license(worker_id))
    token = os.environ.get(args.token_env, "").strip()
    if not token:
        raise CliError(
            f"set the licence token in ${args.token_env} (never on the command line)", EXIT_USAGE
        )
    return _report(await controller.register_license(worker_id, token))


async def _cmd_auto_stop(controller, args) -> int:
    ids = _resolve_ids(controller, args.workers)
    return _report(await controller.set_auto_stop_opt_out(ids, args.setting == "off"))


async def _cmd_events(controller, args) -> int:
    worker_id = _resolve_ids(controller, [args.worker])[0] if args.worker else None
    envelopes = controller.events_for(worker_id, limit=args.limit)
    if args.json:
        _print_json([e.model_dump(mode="json") for e in envelopes])
        return 0
    names = {s.id: s.name for s in controller.workers()}
    for envelope in envelopes:
        detail = {k: v for k, v in envelope.data.items() if k != "aggregate_id"}
        print(
            f"{envelope.time:%Y-%m-%d %H:%M:%S}  {names.get(envelope.subject, envelope.subject)}"
            f"  {envelope.type}  {_cell(json.dumps(detail, default=str))}"
        )
    return 0


_HEADLESS = {
    "list": _cmd_list,
    "refresh": _cmd_refresh,
    "start": _cmd_lifecycle,
    "stop": _cmd_lifecycle,
    "terminate": _cmd_lifecycle,
    "create": _cmd_create,
    "license": _cmd_license,
    "events": _cmd_events,
    "auto-stop": _cmd_auto_stop,
}


def _run_dashboard(config: Config, args: argparse.Namespace) -> int:
    from cmltui.launch import run_dashboard

    return run_dashboard(config, read_only=args.read_only)


def _run_demo(args: argparse.Namespace) -> int:
    from cmltui.demo.fleet import run_demo_dashboard

    return run_demo_dashboard(workers=args.demo_workers, read_only=args.read_only)


def _run_demo_servers(args: argparse.Namespace) -> int:
    from cmltui.demo.fleet import serve_demo_fleet

    regions = [r.strip() for r in args.regions.split(",") if r.strip()]
    return serve_demo_fleet(workers=args.workers, regions=regions, seed=args.seed, folder=args.dir)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "demo-servers":
            return _run_demo_servers(args)
        if args.demo:
            return _run_demo(args)
        config = _load(args)
        if args.command is None:
            return _run_dashboard(config, args)
        body = _HEADLESS[args.command]
        return asyncio.run(_with_runtime(config, args, lambda c: body(c, args)))
    except ConfigError as err:
        print(f"cmltui: configuration error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except CliError as err:
        print(f"cmltui: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        return 130
    except Exception as err:  # the last line of defence: a message, never a traceback
        import logging

        logging.getLogger("cmltui").exception("unexpected error")
        print(
            f"cmltui: unexpected error: {type(err).__name__}: {err} (details in the log)",
            file=sys.stderr,
        )
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
