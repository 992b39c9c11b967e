"""The headless commands: each takes the loaded controller and the arguments, returns an exit code.

Exit codes: 0 only when everything asked succeeded; 1 when an operation failed (an action, a
region, a CML login: the errors on stderr, the summary still on stdout); 2 for bad usage.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from cmltui.cli.cost import cmd_cost
from cmltui.cli.labs import cmd_lab, cmd_labs
from cmltui.cli.output import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    CliError,
    err,
    iso,
    out,
    print_json,
    print_table,
    shown,
    zoned,
)
from cmltui.cli.policy import cmd_policy
from cmltui.cli.resolve import candidates_for, describe, resolve
from cmltui.domain.enums import CMLWorkerStatus
from cmltui.domain.names import name_key, name_problem, normalize_name
from cmltui.domain.plural import these
from cmltui.services.connect import plan_connect, run_connect

_LIST_COLUMNS = (
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
)


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
        # The seed's queries, defined in the domain: idle (running, no active lab, no activity
        # for [idle] threshold_minutes) and can_connect (with the reason when not).
        "is_idle": s.is_idle,
        "can_connect": s.can_connect,
        "connect_refusal": s.connect_refusal,
        "ssh": s.ssh_login,
        "hourly_cost_usd": s.hourly_cost_usd,
        "endpoint": s.https_endpoint,
        "last_error": s.last_error,
        "problems": list(getattr(s, "problems", ())),
        "detached": bool(getattr(s, "detached", False)),
        "telemetry_live": bool(getattr(s, "telemetry_live", True)),
        "telemetry_at": iso(getattr(s, "telemetry_at", None)),
        "last_activity_at": iso(s.last_activity_at),
        "created_at": iso(s.created_at),
        "updated_at": iso(s.updated_at),
        "terminated_at": iso(s.terminated_at),
    }


def _errors(controller) -> list[str]:
    """Every error the controller shows now (regions, CML logins, the store), safe to print."""
    return [f"{shown(h.source)}: {shown(h.error)}" for h in controller.current().errors]


def _report_errors(errors: list[str]) -> int:
    for line in errors:
        err(f"cmltui: error: {line}")
    return EXIT_FAILED if errors else EXIT_OK


def _report(result) -> int:
    for line in result.done:
        out(f"{result.action}: {shown(line)}")
    for line in (*result.refused, *result.failed):
        err(f"{result.action} refused or failed: {shown(line)}")
    return EXIT_OK if result.ok else EXIT_FAILED


async def _refresh_ec2_for_action(controller) -> None:
    """Act on EC2's current view; a region that does not answer is said, not hidden."""
    await controller.refresh_ec2()
    for line in _errors(controller):
        err(f"warning: {line} (acting on the last known state)")


def _wanted(snapshot: Any, args: Any) -> bool:
    """``list``'s filters (the seed's get_by_status, get_idle_workers and "available"): each
    one given must hold."""
    if args.status and str(snapshot.status) != args.status:
        return False
    if args.idle and not snapshot.is_idle:
        return False
    return not (args.available and not snapshot.can_connect)


async def cmd_list(controller, args) -> int:
    errors: list[str] = []
    if args.refresh:
        await controller.refresh_once()
        errors = _errors(controller)
    snapshots = sorted(controller.workers(), key=lambda s: (name_key(s.name), s.name, s.id))
    rows = [_snapshot_row(s) for s in snapshots if _wanted(s, args)]
    if args.json:
        print_json(rows)
    else:
        print_table(rows, _LIST_COLUMNS)
    return _report_errors(errors)


async def cmd_refresh(controller, args) -> int:
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
        print_json(payload)
    else:
        for key, value in payload.items():
            out(f"{key}: {len(value) if key == 'errors' else value}")
    return _report_errors([shown(line) for line in summary.errors])


def _confirm_terminate(controller, ids: list[str]) -> int | None:
    """Ask on the terminal; an exit code when the answer is not yes."""
    if not sys.stdin.isatty():
        raise CliError("terminate needs --yes when no terminal can ask", EXIT_USAGE)
    by_id = {s.id: s for s in controller.workers()}
    for worker_id in ids:
        err(f"  {describe(by_id[worker_id])}")
    try:
        question = f"Terminate {these(len(ids), 'worker')}? This cannot be undone."
        answer = input(f"{question} Type 'yes': ")
    except EOFError:
        answer = ""
    if answer.strip().lower() != "yes":
        err("cancelled")
        return EXIT_FAILED
    return None


async def cmd_lifecycle(controller, args) -> int:
    await _refresh_ec2_for_action(controller)
    ids = resolve(controller.workers(), args.workers)
    if args.command == "terminate" and not args.yes:
        cancelled = _confirm_terminate(controller, ids)
        if cancelled is not None:
            return cancelled
    action = {
        "start": controller.start_workers,
        "stop": controller.stop_workers,
        "terminate": controller.terminate_workers,
    }[args.command]
    return _report(await action(ids))


async def cmd_create(controller, args) -> int:
    name = normalize_name(args.name)
    problem = name_problem(name)
    if problem:
        raise CliError(f"--name {shown(args.name)!s}: {problem}", EXIT_USAGE)
    if args.region not in controller.config.regions:
        configured = ", ".join(controller.config.regions)
        raise CliError(
            f"--region {args.region} is not among the configured regions ({configured})",
            EXIT_USAGE,
        )
    await _refresh_ec2_for_action(controller)
    same = [
        s
        for s in controller.workers()
        if s.status != CMLWorkerStatus.TERMINATED and name_key(s.name) == name_key(name)
    ]
    if same:
        lines = "\n".join(f"  {describe(s)}" for s in same)
        raise CliError(f"a live worker already has the name {shown(name)}:\n{lines}", EXIT_USAGE)
    return _report(await controller.create_worker(name, args.region, args.instance_type))


async def cmd_license(controller, args) -> int:
    await _refresh_ec2_for_action(controller)
    await controller.refresh_cml()
    worker_id = resolve(controller.workers(), [args.worker])[0]
    if args.operation == "deregister":
        return _report(await controller.deregister_license(worker_id))
    token = os.environ.get(args.token_env, "").strip()
    if not token:
        raise CliError(
            f"set the licence token in ${args.token_env} (never on the command line)", EXIT_USAGE
        )
    return _report(await controller.register_license(worker_id, token))


async def cmd_auto_stop(controller, args) -> int:
    ids = resolve(controller.workers(), args.workers)
    return _report(await controller.set_auto_stop_opt_out(ids, args.setting == "off"))


async def cmd_forget(controller, args) -> int:
    """Remove terminated workers' records (their events stay in the audit trail). A name means
    the terminated worker of that name first (a live one may have taken the name since)."""
    workers = controller.workers()
    terminated = [s for s in workers if s.status == CMLWorkerStatus.TERMINATED]
    ids: list[str] = []
    for token in args.workers:
        pool = terminated if candidates_for(terminated, token) else workers
        ids.extend(i for i in resolve(pool, [token]) if i not in ids)
    return _report(await controller.forget_workers(ids))


async def cmd_connect(controller, args) -> int:
    """The worker's [connect] command on this terminal, with EC2's current addresses and CML's
    current state; the exit code is the command's own (2 when it cannot be started)."""
    await _refresh_ec2_for_action(controller)
    await controller.refresh_cml()
    worker_id = resolve(controller.workers(), [args.worker])[0]
    worker = next(s for s in controller.workers() if s.id == worker_id)
    plan = plan_connect(worker, controller.config)
    if plan.refusal is not None:
        raise CliError(f"cannot connect to {shown(worker.name)}: {plan.refusal}", EXIT_FAILED)
    err(f"cmltui: connecting to {shown(worker.name)}: {plan.shown_command()}")
    outcome = await run_connect(plan.argv)
    if not outcome.ok:
        err(f"cmltui: {shown(outcome.summary())}")
    return outcome.exit_code


def _detail(data: dict[str, Any]) -> str:
    parts = []
    for key, value in data.items():
        if key == "aggregate_id":
            continue
        if not isinstance(value, str):
            value = json.dumps(value, default=str, ensure_ascii=False)
        parts.append(f"{shown(key)}={shown(value)}")
    return " ".join(parts)


async def cmd_events(controller, args) -> int:
    worker_id = resolve(controller.workers(), [args.worker])[0] if args.worker else None
    envelopes = controller.events_for(worker_id, limit=args.limit)
    if args.json:
        print_json([e.model_dump(mode="json") for e in envelopes])
        return EXIT_OK
    names = {s.id: s.name for s in controller.workers()}
    for envelope in envelopes:
        out(
            f"{zoned(envelope.time)}  {shown(names.get(envelope.subject, envelope.subject))}"
            f"  {shown(envelope.type)}  {_detail(envelope.data)}"
        )
    return EXIT_OK


HEADLESS = {
    "list": cmd_list,
    "refresh": cmd_refresh,
    "start": cmd_lifecycle,
    "stop": cmd_lifecycle,
    "terminate": cmd_lifecycle,
    "create": cmd_create,
    "license": cmd_license,
    "events": cmd_events,
    "cost": cmd_cost,
    "auto-stop": cmd_auto_stop,
    "connect": cmd_connect,
    "forget": cmd_forget,
    "labs": cmd_labs,
    "lab": cmd_lab,
    "policy": cmd_policy,
}
