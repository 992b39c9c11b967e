"""Which workers a command means: by id, instance id or name, and never a guess.

An id or an instance id matches exactly. A name matches a worker whose name is the same, whose
name as printed (``visible``) is the same, or whose name is equal under ``name_key`` (trimmed,
case-folded, NFKC): two live workers that a person cannot tell apart are *ambiguous*, and the
command stops with exit code 2 and lists them with their ids, so the operator picks one by id.
Live workers come first: a terminated worker answers to its name only when no live one does.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from cmltui.cli.output import EXIT_FAILED, EXIT_USAGE, CliError, shown
from cmltui.domain.enums import CMLWorkerStatus
from cmltui.domain.names import name_key, visible
from cmltui.services.snapshot import WorkerSnapshot


def _live(snapshot: WorkerSnapshot) -> bool:
    return snapshot.status != CMLWorkerStatus.TERMINATED


def _prefer_live(candidates: list[WorkerSnapshot]) -> list[WorkerSnapshot]:
    live = [s for s in candidates if _live(s)]
    return live or candidates


def _name_matches(snapshot: WorkerSnapshot, token: str, token_key: str) -> bool:
    name = snapshot.name
    return (
        name == token
        or visible(name) == token
        or name_key(name) == token_key
        or name_key(visible(name)) == token_key
    )


def candidates_for(snapshots: Sequence[WorkerSnapshot], token: str) -> list[WorkerSnapshot]:
    """The workers ``token`` may mean, best first; more than one means ambiguous."""
    by_id = [s for s in snapshots if s.id == token]
    if by_id:
        return by_id
    by_instance = [s for s in snapshots if s.aws_instance_id and s.aws_instance_id == token]
    if by_instance:
        return _prefer_live(by_instance)
    if not token.strip():
        return []
    token_key = name_key(token)
    by_name = [s for s in snapshots if _name_matches(s, token, token_key)]
    return _prefer_live(by_name)


def describe(snapshot: WorkerSnapshot) -> str:
    """One line naming a worker so that it can be told from any other."""
    return (
        f"{shown(snapshot.name)}  id {snapshot.id}  instance {snapshot.aws_instance_id or '-'}"
        f"  {snapshot.region}  {snapshot.status}"
    )


def resolve(snapshots: Iterable[WorkerSnapshot], tokens: Sequence[str]) -> list[str]:
    """Worker ids for ``tokens`` (each once, in order); ``CliError`` for unknown or ambiguous.

    Unknown names exit 1 (nothing was found); ambiguous names exit 2 (say which one).
    """
    snapshots = list(snapshots)
    ids: list[str] = []
    unknown: list[str] = []
    ambiguous: list[str] = []
    for token in tokens:
        found = candidates_for(snapshots, token)
        if not found:
            unknown.append(token)
        elif len(found) > 1:
            ambiguous.append(
                f"{shown(token)!s} could mean {len(found)} workers; give the id or instance id "
                "of the one you mean:"
            )
            ambiguous.extend(f"  {describe(s)}" for s in sorted(found, key=lambda s: s.id))
        elif found[0].id not in ids:
            ids.append(found[0].id)
    lines = []
    if unknown:
        lines.append(f"no such worker: {', '.join(shown(t) for t in unknown)}")
    lines.extend(ambiguous)
    if lines:
        raise CliError("\n".join(lines), EXIT_USAGE if ambiguous else EXIT_FAILED)
    return ids
