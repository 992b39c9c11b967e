"""The lab endpoints of a fake controller: CML's lab state machine, its refusals, download,
import, and the lab events it writes to the telemetry feed.

State machine (cml-api.md §4): ``DEFINED_ON_CORE -> start -> STARTED -> stop -> STOPPED ->
wipe -> DEFINED_ON_CORE``; starting a started lab or stopping a stopped one changes nothing
(204). Refusals, as JSON error bodies ``{"code", "description"}``:

- ``PUT start``: 400 "Cannot start lab" (2.9 spec) when no compute can run nodes (``ready``
  false) or with the ``lab_start_refused`` fault knob;
- ``PUT wipe`` of a started lab: 400 (the spec: "The lab must be stopped before it can be
  wiped"; the code comes from the ``default`` error, 400 per cml-api.md §10);
- ``DELETE labs/{id}`` of a lab not stopped and wiped: 400 (virl2-client ``Lab.remove``: "The
  lab must be stopped and wiped first");
- an unknown lab: 404 ``Lab not found: <id>`` (the text virl2-client's ``_sync_topology``
  looks for).

Telemetry categories are CML 2.9's ``TelemetryEventCategory``: ``start_lab``, ``stop_lab``,
``wipe_node`` (one per node: 2.9 has no ``wipe_lab``), ``import_lab``, ``export_lab``; each
action also writes a ``user_activity`` of the acting user. With the ``lab_transition_seconds``
knob, start, stop and wipe answer 204 at once and complete that many seconds later (nodes
QUEUED while a start is under way), as a real controller does.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

from cmltui.demo.fake_cml.faults import WorkerFaults
from cmltui.demo.fake_cml.labs import (
    DEFINED_ON_CORE,
    MAX_TITLE_LENGTH,
    STARTED,
    STOPPED,
    FakeLab,
    element_state,
    iso,
    lab_json,
    seed_topology,
    snapshot,
    topology_json,
)
from cmltui.demo.fake_cml.topology import (
    TopologyRejected,
    default_title,
    lab_from_topology,
    parse_topology,
    topology_yaml,
)

#: The built-in admin: telemetry consumers drop ids starting ``00000000-0000-``.
ADMIN_USER_ID = "00000000-0000-4000-a000-000000000000"
START_REFUSED = "Cannot start lab: not enough licensed node capacity to start its nodes"
NOT_READY_REFUSED = "Cannot start lab: no compute host is ready to run nodes"
WIPE_REFUSED = "The lab must be stopped before it can be wiped"
DELETE_REFUSED = "The lab must be stopped and wiped before it can be deleted"


def error_body(code: int, description: str) -> dict[str, Any]:
    return {"code": code, "description": description}


def _not_found(lab_id: str) -> tuple[int, Any]:
    return 404, error_body(404, f"Lab not found: {lab_id}")


class LabOperations:
    """Mixed into ``FakeCmlWorker``; every public method takes the worker's lock."""

    _lock: threading.RLock
    _labs: dict[str, FakeLab]
    _users: dict[str, str]
    _created_at: datetime
    faults: WorkerFaults
    ready: bool

    # Provided by the worker.
    def _advance(self) -> datetime:
        raise NotImplementedError

    def _emit(self, category: str, at: datetime, data: dict[str, Any]) -> None:
        raise NotImplementedError

    def _uuid(self) -> str:
        raise NotImplementedError

    # ------------------------------------------------------------------ state machine
    def _set_lab_state(
        self, lab: FakeLab, state: str, at: datetime, user_id: str, delay: float = 0.0
    ) -> None:
        """Move a lab towards ``state`` (at once, or ``delay`` seconds later) and write the
        telemetry events of the change now."""
        lab.modified = at
        self._emit("user_activity", at, {"user_id": user_id})
        if state == STARTED:
            self._emit("start_lab", at, {"lab_id": lab.id, "user_id": user_id})
        elif state == STOPPED:
            self._emit("stop_lab", at, {"lab_id": lab.id, "user_id": user_id})
        else:
            for node in lab.nodes:
                self._emit(
                    "wipe_node", at, {"lab_id": lab.id, "node_id": node.id, "user_id": user_id}
                )
        if delay <= 0:
            lab.state, lab.pending = state, None
            return
        if state == STARTED:
            lab.state = STARTED  # CML shows the lab started while its nodes are queued
        lab.pending = (state, at + timedelta(seconds=delay))

    def _settle_labs(self, now: datetime) -> None:
        for lab in self._labs.values():
            if lab.pending is not None and lab.pending[1] <= now:
                lab.state, lab.modified = lab.pending
                lab.pending = None

    def _pending_target(self, lab: FakeLab) -> str | None:
        return lab.pending[0] if lab.pending is not None else None

    # ------------------------------------------------------------------ reads
    def lab_ids(self, show_all: bool) -> list[str]:
        with self._lock:
            self._advance()
            return [
                lab.id for lab in self._labs.values() if show_all or lab.owner_id == ADMIN_USER_ID
            ]

    def lab(self, lab_id: str) -> tuple[int, Any]:
        with self._lock:
            self._advance()
            lab = self._labs.get(lab_id)
            return _not_found(lab_id) if lab is None else (200, lab_json(lab))

    def lab_state(self, lab_id: str) -> tuple[int, Any]:
        with self._lock:
            self._advance()
            lab = self._labs.get(lab_id)
            return _not_found(lab_id) if lab is None else (200, lab.state)

    def lab_element_state(self, lab_id: str) -> tuple[int, Any]:
        with self._lock:
            self._advance()
            lab = self._labs.get(lab_id)
            return _not_found(lab_id) if lab is None else (200, element_state(lab))

    def lab_converged(self, lab_id: str) -> tuple[int, Any]:
        with self._lock:
            self._advance()
            lab = self._labs.get(lab_id)
            return _not_found(lab_id) if lab is None else (200, lab.converged)

    def lab_topology(self, lab_id: str, *, exclude_configurations: bool) -> tuple[int, Any]:
        with self._lock:
            self._advance()
            lab = self._labs.get(lab_id)
            if lab is None:
                return _not_found(lab_id)
            return 200, topology_json(lab, exclude_configurations=exclude_configurations)

    def lab_download(self, lab_id: str) -> tuple[int, Any]:
        """200 with the topology YAML text (not JSON), or 404 with a JSON error body."""
        with self._lock:
            now = self._advance()
            lab = self._labs.get(lab_id)
            if lab is None:
                return _not_found(lab_id)
            self._emit("export_lab", now, {"lab_id": lab.id, "user_id": ADMIN_USER_ID})
            return 200, topology_yaml(lab)

    def lab_tiles(self) -> dict[str, Any]:
        """``populate_lab_tiles`` (internal to CML's UI; virl2-client's ``find_labs_by_title``
        reads ``lab_tiles[id]["lab_title"]``)."""
        with self._lock:
            self._advance()
            return {"lab_tiles": {lab.id: lab_json(lab) for lab in self._labs.values()}}

    def users(self) -> list[dict[str, Any]]:
        """``GET users`` (virl2-client resolves a lab owner's name through it)."""
        with self._lock:
            self._advance()
            everyone = {"admin": ADMIN_USER_ID, **self._users}
            return [
                {
                    "id": user_id,
                    "username": name,
                    "fullname": name.title(),
                    "description": "",
                    "email": None,
                    "admin": name == "admin",
                    "groups": [],
                    "associations": [],
                    "resource_pool": None,
                    "opt_in": None,
                    "tour_version": "",
                    "created": iso(self._created_at),
                    "modified": iso(self._created_at),
                    "directory_dn": None,
                    "labs": [lab.id for lab in self._labs.values() if lab.owner_id == user_id],
                    "pubkey_info": None,
                }
                for name, user_id in everyone.items()
            ]

    # ------------------------------------------------------------------ actions
    def lab_action(self, lab_id: str, action: str) -> tuple[int, Any]:
        """``PUT labs/{id}/start|stop|wipe`` as the admin: 204, or CML's refusal."""
        with self._lock:
            now = self._advance()
            lab = self._labs.get(lab_id)
            if lab is None:
                return _not_found(lab_id)
            delay = self.faults.lab_transition_seconds
            pending = self._pending_target(lab)
            if action == "start":
                if self.faults.lab_start_refused:
                    return 400, error_body(400, START_REFUSED)
                if not self.ready:
                    return 400, error_body(400, NOT_READY_REFUSED)
                if not lab.running or pending == STOPPED:
                    self._set_lab_state(lab, STARTED, now, ADMIN_USER_ID, delay)
            elif action == "stop":
                if lab.running and pending != STOPPED:
                    self._set_lab_state(lab, STOPPED, now, ADMIN_USER_ID, delay)
            elif action == "wipe":
                if lab.running:
                    return 400, error_body(400, WIPE_REFUSED)
                if lab.state == STOPPED and pending != DEFINED_ON_CORE:
                    self._set_lab_state(lab, DEFINED_ON_CORE, now, ADMIN_USER_ID, delay)
            return 204, None

    def delete_lab(self, lab_id: str) -> tuple[int, Any]:
        """``DELETE labs/{id}``: only a stopped and wiped lab (DEFINED_ON_CORE, nothing under
        way) may go."""
        with self._lock:
            now = self._advance()
            lab = self._labs.get(lab_id)
            if lab is None:
                return _not_found(lab_id)
            if lab.state != DEFINED_ON_CORE or lab.pending is not None:
                return 400, error_body(400, DELETE_REFUSED)
            del self._labs[lab_id]
            self._emit("user_activity", now, {"user_id": ADMIN_USER_ID})
            return 204, None

    def import_lab(self, body: bytes, title: str | None) -> tuple[int, Any]:
        """``POST import[?title=]`` with YAML (or JSON) text: 200 ``{"id", "warnings"}``, or
        400 with what is wrong. The lab is the admin's, DEFINED_ON_CORE."""
        with self._lock:
            now = self._advance()
            try:
                text = body.decode("utf-8")
                document = parse_topology(text)
                chosen = title if title is not None else document["lab"].get("title")
                if chosen is None:
                    chosen = default_title(now)
                if isinstance(chosen, int | float) and not isinstance(chosen, bool):
                    chosen = str(chosen)
                if not isinstance(chosen, str) or not 1 <= len(chosen) <= MAX_TITLE_LENGTH:
                    raise TopologyRejected(
                        f"Invalid topology: a lab title holds 1 to {MAX_TITLE_LENGTH} characters"
                    )
                lab, warnings = lab_from_topology(
                    document,
                    lab_id=self._uuid(),
                    title=chosen,
                    owner_id=ADMIN_USER_ID,
                    owner_username="admin",
                    now=now,
                )
            except UnicodeDecodeError:
                return 400, error_body(400, "Invalid topology: the body is not UTF-8 text")
            except TopologyRejected as err:
                return 400, error_body(400, str(err))
            self._labs[lab.id] = lab
            self._emit("user_activity", now, {"user_id": ADMIN_USER_ID})
            self._emit("import_lab", now, {"lab_id": lab.id, "user_id": ADMIN_USER_ID})
            return 200, {"id": lab.id, "warnings": warnings}

    # ------------------------------------------------------------------ admin helpers
    def labs_snapshot(self) -> list[FakeLab]:
        with self._lock:
            self._advance()
            return [snapshot(lab) for lab in self._labs.values()]

    def running_lab_count(self) -> int:
        return sum(1 for lab in self.labs_snapshot() if lab.running)

    def set_lab_state(self, lab_id: str, state: str) -> None:
        """Start, stop or wipe a lab now, as its owner would (with its telemetry events)."""
        with self._lock:
            now = self._advance()
            lab = self._labs[lab_id]
            self._set_lab_state(lab, state, now, lab.owner_id)

    def add_lab(
        self,
        title: str,
        *,
        owner: str = "admin",
        nodes: int = 3,
        links: int = 2,
        state: str = DEFINED_ON_CORE,
        description: str = "",
    ) -> str:
        """Add a lab now (any title, also one CML would refuse) owned by ``owner`` (a new user
        when the name is new), in ``state``; returns its id. No telemetry event."""
        with self._lock:
            now = self._advance()
            if owner == "admin":
                owner_id = ADMIN_USER_ID
            else:
                owner_id = self._users.get(owner) or self._users.setdefault(owner, self._uuid())
            lab = FakeLab(
                id=self._uuid(),
                title=title,
                owner_id=owner_id,
                owner_username=owner,
                state=state,
                created=now,
                modified=now,
                description=description,
            )
            seed_topology(lab, nodes, links)
            self._labs[lab.id] = lab
            return lab.id
