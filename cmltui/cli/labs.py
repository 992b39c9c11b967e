"""``cmltui labs WORKER`` and ``cmltui lab start|stop|wipe|delete|download|import``: a worker's
labs and the lab actions, headless, through the same labs service as the labs screen.

A LAB is a lab id, the 8-character short id the screen shows, or a title. A title that two labs
share (or that two labs show alike, ``name_key``) is ambiguous: exit 2 and the candidates with
their ids, so the operator picks one by id. Unknown labs exit 1. Every action's intent is saved
before its CML call and its result recorded in the worker's audit trail (``cmltui events``).
Lab titles and owners are remote text: printed escaped.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

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
from cmltui.cli.resolve import resolve
from cmltui.domain.names import name_key, visible
from cmltui.domain.plural import these

_COLUMNS = ("title", "owner", "state", "nodes", "modified", "id")
_ACTION_HELP = (
    ("start", "start labs"),
    ("stop", "stop labs"),
    ("wipe", "wipe stopped labs (their nodes' disks are erased)"),
    ("delete", "delete stopped, wiped labs (asks unless --yes)"),
)


def add_lab_parsers(commands: Any) -> None:
    """The ``labs`` and ``lab`` commands, added to the command line's subparsers."""
    labs = commands.add_parser("labs", help="a worker's labs: title, owner, state, nodes")
    labs.add_argument("worker", metavar="WORKER", help="worker name, id or instance id")
    labs.add_argument("--json", action="store_true")
    lab = commands.add_parser("lab", help="start, stop, wipe, delete, download or import labs")
    actions = lab.add_subparsers(dest="lab_command", metavar="ACTION", required=True)
    for name, text in _ACTION_HELP:
        action = actions.add_parser(name, help=text)
        action.add_argument("worker", metavar="WORKER")
        action.add_argument("labs", nargs="+", metavar="LAB", help="lab id or unique title")
        if name == "delete":
            action.add_argument("--yes", action="store_true", help="do not ask")
            action.add_argument(
                "--stop-and-wipe",
                action="store_true",
                help="stop and wipe each lab first (CML deletes only stopped, wiped labs)",
            )
    download = actions.add_parser("download", help="a lab's topology YAML into a file")
    download.add_argument("worker", metavar="WORKER")
    download.add_argument("lab", metavar="LAB")
    download.add_argument(
        "-o", "--output", metavar="FILE", help="default: <title>.yaml in the current folder"
    )
    download.add_argument("--overwrite", action="store_true", help="replace FILE if it exists")
    imported = actions.add_parser("import", help="a new lab from a topology YAML file")
    imported.add_argument("worker", metavar="WORKER")
    imported.add_argument("file", metavar="FILE")
    imported.add_argument("--title", help="the new lab's title (default: the file's)")


# ---------------------------------------------------------------- lab names
def _describe(lab: Any) -> str:
    return (
        f'"{shown(lab.title)}"  id {lab.id}  owner {shown(lab.owner or "-")}  {lab.state}'
        f"  nodes {lab.nodes}"
    )


def lab_candidates(labs: Sequence[Any], token: str) -> list[Any]:
    """The labs ``token`` may mean: an id, a short id (8+ characters), else a title (as is,
    as printed, or equal under ``name_key``). More than one means ambiguous."""
    by_id = [lab for lab in labs if lab.id == token]
    if by_id:
        return by_id
    if len(token) >= 8:
        by_prefix = [lab for lab in labs if lab.id.startswith(token.lower())]
        if by_prefix:
            return by_prefix
    if not token.strip():
        return []
    key = name_key(token)
    return [
        lab
        for lab in labs
        if lab.title == token
        or visible(lab.title) == token
        or name_key(lab.title) == key
        or name_key(visible(lab.title)) == key
    ]


def resolve_labs(labs: Sequence[Any], tokens: Sequence[str]) -> list[Any]:
    """The labs for ``tokens`` (each once); ``CliError`` for unknown (1) or ambiguous (2)."""
    found: list[Any] = []
    unknown: list[str] = []
    ambiguous: list[str] = []
    for token in tokens:
        candidates = lab_candidates(labs, token)
        if not candidates:
            unknown.append(token)
        elif len(candidates) > 1:
            ambiguous.append(
                f"{shown(token)!s} could mean {len(candidates)} labs; give the id of the one "
                "you mean:"
            )
            ambiguous.extend(f"  {_describe(lab)}" for lab in candidates)
        elif candidates[0] not in found:
            found.append(candidates[0])
    lines = []
    if unknown:
        lines.append(f"no such lab: {', '.join(shown(token) for token in unknown)}")
    lines.extend(ambiguous)
    if lines:
        raise CliError("\n".join(lines), EXIT_USAGE if ambiguous else EXIT_FAILED)
    return found


# ---------------------------------------------------------------- commands
async def _read_labs(controller: Any, worker_token: str) -> tuple[str, list[Any]]:
    """EC2's current view (where the worker's CML is), then the worker's labs."""
    await controller.refresh_ec2()
    for health in controller.current().errors:
        err(f"cmltui: warning: {shown(health.source)}: {shown(health.error)}")
    worker_id = resolve(controller.workers(), [worker_token])[0]
    update = await controller.labs().session(worker_id).refresh()
    if update.error is not None:
        raise CliError(f"labs not read: {shown(update.error)}", EXIT_FAILED)
    from cmltui.services.labs import sorted_labs

    return worker_id, sorted_labs(update.changed)


def _row(lab: Any) -> dict[str, Any]:
    return {
        "id": lab.id,
        "title": lab.title,
        "owner": lab.owner,
        "owner_fullname": lab.owner_fullname,
        "state": lab.state,
        "nodes": lab.nodes,
        "running_nodes": lab.running_nodes,
        "node_count": lab.node_count,
        "link_count": lab.link_count,
        "created": iso(lab.created),
        "modified": iso(lab.modified),
    }


async def cmd_labs(controller: Any, args: argparse.Namespace) -> int:
    _, labs = await _read_labs(controller, args.worker)
    rows = [_row(lab) for lab in labs]
    if args.json:
        print_json(rows)
        return EXIT_OK
    for row, lab in zip(rows, labs, strict=True):
        row["modified"] = zoned(lab.modified)
    print_table(rows, _COLUMNS)
    return EXIT_OK


def _report(result: Any) -> int:
    for line in result.done:
        out(f"{result.action}: {shown(line)}")
    for line in (*result.refused, *result.failed):
        err(f"{result.action} refused or failed: {shown(line)}")
    return EXIT_OK if result.ok else EXIT_FAILED


def _confirm_delete(labs: Sequence[Any], free: bool) -> int | None:
    """Ask on the terminal; an exit code when the answer is not yes."""
    if not sys.stdin.isatty():
        raise CliError("lab delete needs --yes when no terminal can ask", EXIT_USAGE)
    for lab in labs:
        err(f"  {_describe(lab)}")
    what = "Stop, wipe and delete" if free else "Delete"
    try:
        answer = input(f"{what} {these(len(labs), 'lab')}? This cannot be undone. Type 'yes': ")
    except EOFError:
        answer = ""
    if answer.strip().lower() != "yes":
        err("cancelled")
        return EXIT_FAILED
    return None


async def cmd_lab(controller: Any, args: argparse.Namespace) -> int:
    action = args.lab_command
    service = controller.labs()
    if action == "import":
        await controller.refresh_ec2()
        worker_id = resolve(controller.workers(), [args.worker])[0]
        return _report(await service.import_topology(worker_id, args.file, args.title))
    worker_id, labs = await _read_labs(controller, args.worker)
    if action == "download":
        from cmltui.services.lab_files import default_file_name

        (lab,) = resolve_labs(labs, [args.lab])
        path = args.output or default_file_name(lab.title, lab.id)
        result = await service.download(worker_id, lab.id, path, overwrite=args.overwrite)
        if any(line.endswith(" exists") for line in result.refused):
            err("cmltui: the file is there already: --overwrite replaces it, -o names another")
        return _report(result)
    chosen = resolve_labs(labs, args.labs)
    ids = [lab.id for lab in chosen]
    if action == "delete":
        free = args.stop_and_wipe
        if not args.yes:
            cancelled = _confirm_delete(chosen, free)
            if cancelled is not None:
                return cancelled
        if free:
            return _report(await service.stop_wipe_delete(worker_id, ids))
        code = _report(await service.act(worker_id, "delete", ids))
        if code and any(lab.refusal("delete") for lab in chosen):
            err("cmltui: --stop-and-wipe stops and wipes them first")
        return code
    return _report(await service.act(worker_id, action, ids))


LAB_COMMANDS = {"labs": cmd_labs, "lab": cmd_lab}
