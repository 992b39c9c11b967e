"""Parsing and checking of the lab answers and topologies; a wrong shape is a typed error.

- ``labs/{id}`` is CML 2.9's ``LabResponse``. 2.9 has no ``node_counts`` on a lab (that key is
  on compute hosts); one is read when a controller sends it, else running nodes come from
  ``labs/{id}/lab_element_state``.
- ``labs/{id}/download`` is the topology as raw YAML text (Cisco's mocks, virl2-client's
  ``Lab.download``); a JSON string (what CML's OpenAPI declares) is unwrapped too.
- ``import`` answers ``{"id", "warnings"}`` (``ImportLabResponse``; gocmlclient reads both).
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
from pydantic import Field, TypeAdapter

from cmltui.cml.errors import CmlBadResponseError, CmlTopologyError
from cmltui.cml.models import RUNNING_NODE_STATES, CmlImportedLab, CmlLabDetails
from cmltui.cml.wire import _Raw, _validated, parse_timestamp
from cmltui.domain.names import unsafe_characters

#: nginx in front of CML lets an ``import`` body reach 2 MB; beyond that it answers 413.
MAX_IMPORT_BYTES = 2 * 1024 * 1024
#: A lab title holds 1 to 64 characters in CML 2.9 (``LabTitle``).
MAX_LAB_TITLE = 64
_TOP_LEVEL_KEY = re.compile(r"^(lab|nodes|links)[ \t]*:", re.MULTILINE)


class _NodeCounts(_Raw):
    running_nodes: int | None = Field(default=None, ge=0)
    total_nodes: int | None = Field(default=None, ge=0)


class _LabDetails(_Raw):
    id: str | None = None
    lab_title: str | None = None
    lab_description: str | None = None
    state: str = Field(min_length=1, max_length=64)
    owner: str | None = None
    owner_username: str | None = None
    owner_fullname: str | None = None
    node_count: int | None = Field(default=None, ge=0)
    link_count: int | None = Field(default=None, ge=0)
    node_counts: _NodeCounts | None = None
    created: str | None = None
    modified: str | None = None
    effective_permissions: list[str] | None = None


class _ElementState(_Raw):
    nodes: dict[str, str]


class _Imported(_Raw):
    id: str = Field(min_length=1)
    warnings: list[str] | None = None


_STATE = TypeAdapter(str)


def parse_lab_details(data: Any, lab_id: str, what: str) -> CmlLabDetails:
    """``LabResponse`` of ``lab_id``; an answer about another lab is a wrong answer."""
    raw = _validated(_LabDetails, data, what)
    if raw.id is not None and raw.id.lower() != lab_id.lower():
        raise CmlBadResponseError(f"{what}: the answer is about another lab")
    counts = raw.node_counts
    running = counts.running_nodes if counts is not None else None
    if running is None and raw.state != "STARTED":
        running = 0  # CML's lab state is STARTED as long as any of its nodes runs
    total = raw.node_count
    if counts is not None and counts.total_nodes is not None:
        total = counts.total_nodes
    return CmlLabDetails(
        id=raw.id or lab_id,
        title=raw.lab_title or "",
        state=raw.state,
        description=raw.lab_description or "",
        owner_id=raw.owner,
        owner_username=raw.owner_username,
        owner_fullname=raw.owner_fullname,
        node_count=total,
        running_nodes=running,
        link_count=raw.link_count,
        created=parse_timestamp(raw.created),
        modified=parse_timestamp(raw.modified),
        effective_permissions=tuple(raw.effective_permissions or ()),
    )


def with_node_states(details: CmlLabDetails, data: Any, what: str) -> CmlLabDetails:
    """``details`` with its running nodes counted from ``lab_element_state``."""
    states = _validated(_ElementState, data, what).nodes
    running = sum(1 for state in states.values() if state in RUNNING_NODE_STATES)
    total = details.node_count if details.node_count is not None else len(states)
    return details.model_copy(update={"running_nodes": running, "node_count": total})


def parse_lab_state(data: Any, what: str) -> str:
    state = _validated(_STATE, data, what)
    if not state or len(state) > 64:
        raise CmlBadResponseError(f"{what}: unexpected shape at body")
    return state


def parse_imported(data: Any, what: str) -> CmlImportedLab:
    raw = _validated(_Imported, data, what)
    return CmlImportedLab(id=raw.id, warnings=tuple(raw.warnings or ()))


def topology_problem(text: str) -> str | None:
    """Why ``text`` is not a CML topology (YAML with top-level ``lab`` and ``nodes``, or the
    same as JSON), or None. A shape check only: CML itself validates the content."""
    if not text.strip():
        return "the topology is empty"
    if "\x00" in text:
        return "the topology is not text"
    if text.lstrip().startswith(("{", "[")):
        try:
            document = json.loads(text)
        except ValueError:
            return "not a CML topology (malformed JSON)"
        if (
            isinstance(document, dict)
            and isinstance(document.get("lab"), dict)
            and isinstance(document.get("nodes"), list)
        ):
            return None
        return "not a CML topology (no 'lab' and 'nodes')"
    keys = {match.group(1) for match in _TOP_LEVEL_KEY.finditer(text)}
    if not {"lab", "nodes"} <= keys:
        return "not a CML topology (no top-level 'lab:' and 'nodes:')"
    return None


def parse_download(response: httpx.Response, what: str) -> str:
    """The topology YAML of a ``download`` answer, checked for its shape."""
    try:
        text = response.content.decode("utf-8")
    except UnicodeDecodeError:
        raise CmlBadResponseError(f"{what}: the answer is not UTF-8 text") from None
    if text.lstrip().startswith('"'):
        try:
            unwrapped = json.loads(text)
        except ValueError:
            unwrapped = None
        if isinstance(unwrapped, str):
            text = unwrapped
    problem = topology_problem(text)
    if problem is not None:
        raise CmlBadResponseError(f"{what}: {problem}")
    return text


def check_import(yaml_text: Any, title: str | None) -> bytes:
    """The body to upload, or ``CmlTopologyError`` for what CML (or nginx before it) would
    refuse anyway: not text, empty, over 2 MB, not a topology, a title CML would not take
    (1 to 64 characters) or one with invisible or text-reordering characters."""
    if not isinstance(yaml_text, str):
        raise CmlTopologyError("import: the topology must be text")
    try:
        payload = yaml_text.encode("utf-8")
    except UnicodeEncodeError:
        raise CmlTopologyError("import: the topology is not valid Unicode text") from None
    if len(payload) > MAX_IMPORT_BYTES:
        size = len(payload) / (1024 * 1024)
        raise CmlTopologyError(
            f"import: the topology is {size:.1f} MB; CML accepts at most "
            f"{MAX_IMPORT_BYTES // (1024 * 1024)} MB"
        )
    problem = topology_problem(yaml_text)
    if problem is not None:
        raise CmlTopologyError(f"import: {problem}")
    if title is not None:
        if not isinstance(title, str) or not 1 <= len(title) <= MAX_LAB_TITLE:
            raise CmlTopologyError(f"import: a lab title holds 1 to {MAX_LAB_TITLE} characters")
        if unsafe_characters(title):
            raise CmlTopologyError(
                "import: the title holds characters that cannot be seen or that reorder text"
            )
    return payload
