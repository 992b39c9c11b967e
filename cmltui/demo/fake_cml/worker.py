"""One fake CML controller: labs, stats, licensing, telemetry and tokens, evolving with a clock.

Every public method takes the worker's lock, so the HTTP threads and a test may touch a worker
at once. Time comes from the injected clock; randomness from ``random.Random(seed)``. The state
is advanced lazily: each call first simulates the ticks that passed since the last one.
"""

from __future__ import annotations

import dataclasses
import random
import re
import threading
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cmltui.demo.fake_cml.faults import WorkerFaults
from cmltui.demo.fake_cml.tokens import issue_token, verify_token
from cmltui.domain.clock import Clock, utc_now

#: Demo-only credentials the fake accepts (never a real secret).
DEMO_USERNAME = "admin"
DEMO_PASSWORD = "cmltui-demo-password"
#: The one licence token the fake accepts; any other token fails registration.
DEMO_LICENSE_TOKEN = "CMLTUI-DEMO-LICENSE-TOKEN-0001"
#: The built-in admin: telemetry consumers drop ids starting ``00000000-0000-``.
ADMIN_USER_ID = "00000000-0000-4000-a000-000000000000"

GIB = 1024**3
KIB_PER_GIB = 1024 * 1024
#: Simulated resources of one compute host and what each running node takes.
COMPUTE_MEMORY_BYTES = 64 * GIB
COMPUTE_DISK_BYTES = 200 * GIB
COMPUTE_CPUS = 16
NODE_MEMORY_GIB = 2
NODE_CPU_PERCENT = 2.5
#: The simulation never replays more than this many ticks at once (a clock jump of days).
MAX_TICKS_PER_ADVANCE = 720
#: The fake keeps this many telemetry events (a real controller keeps all of them).
MAX_TELEMETRY_EVENTS = 10_000

_USER_NAMES = ("alice", "bob", "carol", "dave", "erin")
_LAB_TITLES = (
    "CCNA Routing Lab",
    "BGP Peering",
    "OSPF Multi-Area",
    "Firewall Sandbox",
    "SD-WAN Pilot",
    "MPLS Core",
    "Campus Switching",
    "Automation Playground",
)
_VERSION_RE = re.compile(r"^(\d+)\.(\d+)\.(\d+)")
_FEATURE_ENT = "regid.2019-10.com.cisco.CML_ENT_BASE,1.0_cmltui-demo"
_FEATURE_NODES = "regid.2019-10.com.cisco.CML_NODE_COUNT,1.0_cmltui-demo"
_SSMS = "https://smartreceiver.cisco.com/licservice/license"


def _iso(when: datetime | None) -> str | None:
    return None if when is None else when.astimezone(UTC).replace(microsecond=0).isoformat()


def version_tuple(version: str) -> tuple[int, int]:
    match = _VERSION_RE.match(version)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


def _error(code: int, description: str) -> dict[str, Any]:
    return {"code": code, "description": description}


@dataclass
class FakeLab:
    id: str
    title: str
    owner_id: str
    owner_username: str
    node_count: int
    link_count: int
    state: str
    created: datetime
    modified: datetime

    @property
    def running(self) -> bool:
        return self.state == "STARTED"


@dataclass
class _TimeInfo:
    succeeded: datetime | None = None
    attempted: datetime | None = None
    scheduled: datetime | None = None
    status: str | None = None
    failure: str | None = None
    success: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "succeeded": _iso(self.succeeded),
            "attempted": _iso(self.attempted),
            "scheduled": _iso(self.scheduled),
            "status": self.status,
            "failure": self.failure,
            "success": self.success,
        }


@dataclass
class _Licence:
    registration_status: str = "NOT_REGISTERED"
    authorization_status: str = "EVAL"
    registration_expires: datetime | None = None
    authorization_expires: datetime | None = None
    register_time: _TimeInfo = field(default_factory=_TimeInfo)
    renew_time: _TimeInfo = field(default_factory=_TimeInfo)
    auth_renew_time: _TimeInfo = field(default_factory=_TimeInfo)
    smart_account: str | None = None
    virtual_account: str | None = None
    #: The registration in flight: its token and when it ends.
    pending_token: str | None = None
    pending_until: datetime | None = None


@dataclass
class WorkerCounters:
    """What a test or benchmark may count (a copy; the live one is behind the lock)."""

    request_count: int = 0
    login_count: int = 0
    requests_by_path: Counter[str] = field(default_factory=Counter)
    responses_by_status: Counter[int] = field(default_factory=Counter)
    #: Requests being answered right now, and the most there ever were at once.
    in_flight: int = 0
    max_in_flight: int = 0


class FakeCmlWorker:
    """State of one fake controller. Create it with ``FakeCmlServer.add_worker``."""

    def __init__(
        self,
        key: str,
        *,
        secret: bytes,
        username: str = DEMO_USERNAME,
        password: str = DEMO_PASSWORD,
        version: str = "2.9.0",
        labs: int = 3,
        running_labs: int = 1,
        licensed: bool = True,
        ready: bool = True,
        seed: int = 0,
        clock: Clock = utc_now,
        token_ttl_seconds: float = 3600.0,
        registration_seconds: float = 3.0,
        computes: int = 1,
        tick_seconds: float = 10.0,
        evolve: bool = True,
    ) -> None:
        if running_labs > labs:
            raise ValueError("running_labs cannot exceed labs")
        self.key = key
        self._lock = threading.RLock()
        self._secret = secret
        self._username = username
        self._password = password
        self._clock = clock
        self._rng = random.Random(seed)
        self.version = version
        self.ready = ready
        self.token_ttl_seconds = token_ttl_seconds
        self.registration_seconds = registration_seconds
        self.tick_seconds = tick_seconds
        self.evolve = evolve
        self.faults = WorkerFaults()
        self._counters = WorkerCounters()
        self._tokens: dict[str, float] = {}  # jti -> exp (epoch seconds)
        self._product_uuid = self._uuid()
        self._compute_ids = [self._uuid() for _ in range(max(1, computes))]
        self._cpu_noise = [self._rng.uniform(1.0, 6.0) for _ in self._compute_ids]
        self._memory_noise_gib = [self._rng.uniform(2.0, 4.0) for _ in self._compute_ids]
        self._users = {name: self._uuid() for name in _USER_NAMES}
        self._labs: dict[str, FakeLab] = {}
        self._events: list[dict[str, Any]] = []
        self._last_event_at: datetime | None = None
        now = self._clock()
        self._last_tick = now
        self._licence = _Licence()
        if licensed:
            self._complete_registration(now - timedelta(days=30), now - timedelta(days=30))
        self._seed_labs(now, labs, running_labs)

    # ------------------------------------------------------------------ helpers
    def _uuid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def _seed_labs(self, now: datetime, labs: int, running_labs: int) -> None:
        names = list(self._users)
        for index in range(labs):
            owner = names[index % len(names)] if index else "admin"
            created = now - timedelta(days=self._rng.randint(1, 60))
            lab = FakeLab(
                id=self._uuid(),
                title=_LAB_TITLES[index % len(_LAB_TITLES)],
                owner_id=ADMIN_USER_ID if owner == "admin" else self._users[owner],
                owner_username=owner,
                node_count=self._rng.randint(2, 8),
                link_count=self._rng.randint(1, 10),
                state="DEFINED_ON_CORE",
                created=created,
                modified=created,
            )
            self._labs[lab.id] = lab
        history_start = now - timedelta(hours=2)
        for lab in list(self._labs.values())[:running_labs]:
            started_at = history_start + timedelta(seconds=self._rng.uniform(0, 3600))
            lab.state = "STARTED"
            lab.modified = started_at
        # A short history so that a fresh client has something to read.
        for lab in sorted(self._labs.values(), key=lambda item: item.modified):
            if lab.running:
                self._emit("user_activity", lab.modified, {"user_id": lab.owner_id})
                self._emit("start_lab", lab.modified, {"lab_id": lab.id, "user_id": lab.owner_id})

    def _emit(self, category: str, at: datetime, data: dict[str, Any]) -> None:
        # Real controllers mix shapes: fraction or not (microsecond 0), "Z" or no zone.
        # The stamp never lies after ``at`` (an event is not from the future).
        at = at.astimezone(UTC)
        if self._rng.random() < 0.25:
            when = at.replace(microsecond=0)
        else:
            when = at - timedelta(microseconds=self._rng.randrange(1, 1_000_000))
        if self._last_event_at is not None and when <= self._last_event_at:
            when = self._last_event_at + timedelta(microseconds=1)
        self._last_event_at = when
        naive = when.replace(tzinfo=None).isoformat()
        stamp = naive + "Z" if category == "user_activity" else naive
        self._events.append({"category": category, "timestamp": stamp, "data": data})
        if len(self._events) > MAX_TELEMETRY_EVENTS:
            del self._events[: len(self._events) - MAX_TELEMETRY_EVENTS]

    def _advance(self) -> datetime:
        """Simulate the ticks between the last call and now; return now."""
        now = self._clock()
        self._settle_registration(now)
        if not self.evolve:
            self._last_tick = now
            return now
        due = int((now - self._last_tick).total_seconds() // self.tick_seconds)
        if due <= 0:
            return now
        replayed = min(due, MAX_TICKS_PER_ADVANCE)
        first = self._last_tick + timedelta(seconds=self.tick_seconds * (due - replayed))
        for step in range(1, replayed + 1):
            self._tick(first + timedelta(seconds=self.tick_seconds * step))
        self._last_tick += timedelta(seconds=self.tick_seconds * due)
        return now

    def _tick(self, at: datetime) -> None:
        rng = self._rng
        scale = self.tick_seconds / 10.0  # probabilities are per 10 s of simulated time
        for lab in self._labs.values():
            if lab.running and rng.random() < 0.004 * scale:
                self._set_lab_state(lab, "STOPPED", at, lab.owner_id)
            elif not lab.running and rng.random() < 0.002 * scale:
                self._set_lab_state(lab, "STARTED", at, lab.owner_id)
        running = [lab for lab in self._labs.values() if lab.running]
        if rng.random() < (0.3 if running else 0.02) * scale:
            user_id = (
                rng.choice(running).owner_id if running else rng.choice(list(self._users.values()))
            )
            self._emit("user_activity", at, {"user_id": user_id})
        for index in range(len(self._compute_ids)):
            self._cpu_noise[index] = min(max(self._cpu_noise[index] + rng.gauss(0, 1.0), 0.5), 10.0)
            self._memory_noise_gib[index] = min(
                max(self._memory_noise_gib[index] + rng.gauss(0, 0.2), 1.5), 6.0
            )

    def _set_lab_state(self, lab: FakeLab, state: str, at: datetime, user_id: str) -> None:
        category = {"STARTED": "start_lab", "STOPPED": "stop_lab", "DEFINED_ON_CORE": "wipe_lab"}
        lab.state = state
        lab.modified = at
        self._emit("user_activity", at, {"user_id": user_id})
        self._emit(category[state], at, {"lab_id": lab.id, "user_id": user_id})

    def _running_nodes_per_compute(self) -> list[int]:
        counts = [0] * len(self._compute_ids)
        for index, lab in enumerate(sorted(self._labs.values(), key=lambda item: item.id)):
            if lab.running:
                counts[index % len(counts)] += lab.node_count
        return counts

    def _defined_nodes_per_compute(self) -> list[int]:
        counts = [0] * len(self._compute_ids)
        for index, lab in enumerate(sorted(self._labs.values(), key=lambda item: item.id)):
            counts[index % len(counts)] += lab.node_count
        return counts

    # ------------------------------------------------------------------ counters
    def count_request(self, api_path: str, *, is_login: bool) -> None:
        with self._lock:
            self._counters.request_count += 1
            self._counters.requests_by_path[api_path] += 1
            if is_login:
                self._counters.login_count += 1

    def enter(self) -> None:
        with self._lock:
            self._counters.in_flight += 1
            self._counters.max_in_flight = max(
                self._counters.max_in_flight, self._counters.in_flight
            )

    def leave(self) -> None:
        with self._lock:
            self._counters.in_flight -= 1

    def count_response(self, status: int) -> None:
        with self._lock:
            self._counters.responses_by_status[status] += 1

    @property
    def counters(self) -> WorkerCounters:
        with self._lock:
            return WorkerCounters(
                request_count=self._counters.request_count,
                login_count=self._counters.login_count,
                requests_by_path=Counter(self._counters.requests_by_path),
                responses_by_status=Counter(self._counters.responses_by_status),
                in_flight=self._counters.in_flight,
                max_in_flight=self._counters.max_in_flight,
            )

    @property
    def request_count(self) -> int:
        return self.counters.request_count

    @property
    def login_count(self) -> int:
        return self.counters.login_count

    def reset_counters(self) -> None:
        with self._lock:
            self._counters = WorkerCounters()

    # ------------------------------------------------------------------ fault knobs
    def set_faults(self, **knobs: Any) -> WorkerFaults:
        """Replace some knobs at once (thread-safe), e.g. ``set_faults(http_500=True)``."""
        with self._lock:
            if "only_paths" in knobs and knobs["only_paths"] is not None:
                knobs["only_paths"] = frozenset(knobs["only_paths"])
            self.faults = dataclasses.replace(self.faults, **knobs)
            return self.faults

    def clear_faults(self) -> None:
        with self._lock:
            self.faults = WorkerFaults()

    def current_faults(self) -> WorkerFaults:
        with self._lock:
            return self.faults

    def revoke_tokens(self) -> None:
        """Every token issued so far answers 401 from now on."""
        with self._lock:
            self._tokens.clear()

    # ------------------------------------------------------------------ admin helpers
    def labs_snapshot(self) -> list[FakeLab]:
        with self._lock:
            self._advance()
            return [dataclasses.replace(lab) for lab in self._labs.values()]

    def running_lab_count(self) -> int:
        return sum(1 for lab in self.labs_snapshot() if lab.running)

    def add_activity(self, user_id: str, category: str = "user_activity") -> None:
        """Append one telemetry event now (tests of the telemetry cursor)."""
        with self._lock:
            now = self._advance()
            self._emit(category, now, {"user_id": user_id})

    def set_lab_state(self, lab_id: str, state: str) -> None:
        """Start or stop a lab now, as its owner would (with its telemetry events)."""
        with self._lock:
            now = self._advance()
            lab = self._labs[lab_id]
            self._set_lab_state(lab, state, now, lab.owner_id)

    def licence_state(self) -> tuple[str, str]:
        with self._lock:
            self._advance()
            return self._licence.registration_status, self._licence.authorization_status

    @property
    def user_ids(self) -> dict[str, str]:
        return dict(self._users)

    # ------------------------------------------------------------------ auth
    def authenticate(self, username: Any, password: Any) -> str | None:
        with self._lock:
            now = self._advance()
            if username != self._username or password != self._password:
                return None
            token, jti = issue_token(
                self._secret,
                user_id=ADMIN_USER_ID,
                issued_at=now.timestamp(),
                ttl_seconds=self.token_ttl_seconds,
            )
            self._tokens[jti] = now.timestamp() + self.token_ttl_seconds
            return token

    def token_is_valid(self, token: str) -> bool:
        with self._lock:
            payload = verify_token(self._secret, token)
            if payload is None:
                return False
            expires_at = self._tokens.get(str(payload.get("jti")))
            return expires_at is not None and self._clock().timestamp() < expires_at

    # ------------------------------------------------------------------ API bodies
    def system_information(self) -> dict[str, Any]:
        with self._lock:
            self._advance()
            body: dict[str, Any] = {"version": self.version, "ready": self.ready}
            major_minor = version_tuple(self.version)
            if major_minor >= (2, 9):
                body["allow_ssh_pubkey_auth"] = False
            if major_minor >= (2, 8):
                body["oui"] = "52:54:00:00:00:00"
            return body

    def system_stats(self) -> dict[str, Any]:
        with self._lock:
            self._advance()
            running = self._running_nodes_per_compute()
            defined = self._defined_nodes_per_compute()
            computes: dict[str, Any] = {}
            totals = {"memory": [0, 0, 0], "disk": [0, 0, 0]}
            percents: list[float] = []
            for index, compute_id in enumerate(self._compute_ids):
                percent = round(
                    min(self._cpu_noise[index] + running[index] * NODE_CPU_PERCENT, 100.0), 2
                )
                percents.append(percent)
                mem_used = int(
                    min(
                        (self._memory_noise_gib[index] + running[index] * NODE_MEMORY_GIB) * GIB,
                        COMPUTE_MEMORY_BYTES,
                    )
                )
                disk_used = (20 + defined[index]) * GIB
                memory = {
                    "total": COMPUTE_MEMORY_BYTES,
                    "free": COMPUTE_MEMORY_BYTES - mem_used,
                    "used": mem_used,
                }
                disk = {
                    "total": COMPUTE_DISK_BYTES,
                    "free": COMPUTE_DISK_BYTES - disk_used,
                    "used": disk_used,
                }
                for name, values in (("memory", memory), ("disk", disk)):
                    totals[name][0] += values["total"]
                    totals[name][1] += values["free"]
                    totals[name][2] += values["used"]
                load = round(percent * COMPUTE_CPUS / 100.0, 2)
                computes[compute_id] = {
                    "hostname": "cml-controller" if index == 0 else f"cml-compute-{index}",
                    "is_controller": index == 0,
                    "stats": {
                        "cpu": {
                            "count": COMPUTE_CPUS,
                            "percent": percent,
                            "model": "Intel(R) Xeon(R) Platinum 8124M CPU @ 3.00GHz",
                            "predicted": COMPUTE_CPUS,
                            "load": [load, round(load * 0.9, 2), round(load * 0.8, 2)],
                        },
                        "memory": memory,
                        "disk": disk,
                        "dominfo": {
                            "allocated_cpus": running[index],
                            "allocated_memory": running[index] * NODE_MEMORY_GIB * KIB_PER_GIB,
                            "total_nodes": defined[index],
                            "total_orphans": 0,
                            "running_nodes": running[index],
                            "running_orphans": 0,
                        },
                    },
                }
            controller_disk = computes[self._compute_ids[0]]["stats"]["disk"]

            def triple(name: str) -> dict[str, int]:
                total, free, used = totals[name]
                return {"total": total, "free": free, "used": used}

            return {
                "computes": computes,
                "all": {
                    "cpu": {
                        "count": COMPUTE_CPUS * len(self._compute_ids),
                        "percent": round(sum(percents) / len(percents), 2),
                    },
                    "memory": triple("memory"),
                    "disk": triple("disk"),
                },
                "controller": {"disk": dict(controller_disk)},
            }

    def system_health(self) -> dict[str, Any]:
        with self._lock:
            self._advance()
            computes = {
                compute_id: {
                    "hostname": "cml-controller" if index == 0 else f"cml-compute-{index}",
                    "is_controller": index == 0,
                    "admission_state": "READY" if self.ready else "ONLINE",
                    "kvm_vmx_enabled": True,
                    "enough_cpus": True,
                    "lld_connected": self.ready,
                    "lld_synced": self.ready,
                    "libvirt": True,
                    "fabric": True,
                    "device_mux": True,
                    "refplat_images_available": True,
                    "docker_shim": True,
                    "valid": self.ready,
                }
                for index, compute_id in enumerate(self._compute_ids)
            }
            return {
                "valid": self.ready,
                "is_licensed": self._is_licensed(),
                "is_enterprise": True,
                "controller": {
                    "core_connected": True,
                    "nodes_loaded": self.ready,
                    "images_loaded": self.ready,
                    "valid": self.ready,
                },
                "computes": computes,
            }

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
            if lab is None:
                return 404, _error(404, f"Lab not found: {lab_id}")
            return 200, {
                "id": lab.id,
                "lab_title": lab.title,
                "lab_description": "",
                "lab_notes": "",
                "state": lab.state,
                "created": _iso(lab.created),
                "modified": _iso(lab.modified),
                "owner": lab.owner_id,
                "owner_username": lab.owner_username,
                "owner_fullname": lab.owner_username.title(),
                "node_count": lab.node_count,
                "link_count": lab.link_count,
                "groups": [],
                "effective_permissions": ["lab_admin", "lab_edit", "lab_exec", "lab_view"],
            }

    def lab_state(self, lab_id: str) -> tuple[int, Any]:
        with self._lock:
            self._advance()
            lab = self._labs.get(lab_id)
            if lab is None:
                return 404, _error(404, f"Lab not found: {lab_id}")
            return 200, lab.state

    def lab_action(self, lab_id: str, action: str) -> tuple[int, Any]:
        """start / stop / wipe: DEFINED_ON_CORE -> STARTED -> STOPPED -> DEFINED_ON_CORE."""
        with self._lock:
            now = self._advance()
            lab = self._labs.get(lab_id)
            if lab is None:
                return 404, _error(404, f"Lab not found: {lab_id}")
            if action == "start" and not lab.running:
                self._set_lab_state(lab, "STARTED", now, ADMIN_USER_ID)
            elif action == "stop" and lab.running:
                self._set_lab_state(lab, "STOPPED", now, ADMIN_USER_ID)
            elif action == "wipe":
                if lab.running:
                    return 400, _error(400, "Lab must be stopped before it can be wiped")
                if lab.state != "DEFINED_ON_CORE":
                    self._set_lab_state(lab, "DEFINED_ON_CORE", now, ADMIN_USER_ID)
            return 204, None

    # ------------------------------------------------------------------ licensing
    def _is_licensed(self) -> bool:
        return (
            self._licence.registration_status == "COMPLETED"
            and self._licence.authorization_status == "IN_COMPLIANCE"
        )

    def _complete_registration(self, attempted: datetime, now: datetime) -> None:
        lic = self._licence
        lic.registration_status = "COMPLETED"
        lic.authorization_status = "IN_COMPLIANCE"
        lic.registration_expires = now + timedelta(days=365)
        lic.authorization_expires = now + timedelta(days=90)
        lic.smart_account = "cmltui-demo"
        lic.virtual_account = "Labs"
        lic.register_time = _TimeInfo(succeeded=now, attempted=attempted, success="SUCCESS")
        lic.renew_time = _TimeInfo(scheduled=now + timedelta(days=180))
        lic.auth_renew_time = _TimeInfo(
            succeeded=now,
            attempted=now,
            scheduled=now + timedelta(days=30),
            status="SUCCEEDED",
            success="SUCCESS",
        )

    def _settle_registration(self, now: datetime) -> None:
        lic = self._licence
        if lic.registration_status != "IN_PROGRESS" or lic.pending_until is None:
            return
        if self.faults.registration_never_completes or now < lic.pending_until:
            return
        token, attempted = lic.pending_token or "", lic.register_time.attempted or now
        lic.pending_token = lic.pending_until = None
        if token == DEMO_LICENSE_TOKEN:
            self._complete_registration(attempted, now)
            return
        lic.registration_status = "FAILED"
        lic.authorization_status = "EVAL"
        lic.register_time = _TimeInfo(
            attempted=attempted,
            failure=f"Failed to register: the product registration token '{token}' is not valid.",
            success="FAILED",
            status="NOT STARTED",
        )

    def licensing(self) -> dict[str, Any]:
        with self._lock:
            self._advance()
            lic = self._licence
            licensed = self._is_licensed()
            return {
                "udi": {"hostname": f"cml-{self.key}", "product_uuid": self._product_uuid},
                "registration": {
                    "status": lic.registration_status,
                    "smart_account": lic.smart_account,
                    "virtual_account": lic.virtual_account,
                    "expires": _iso(lic.registration_expires),
                    "register_time": lic.register_time.as_json(),
                    "renew_time": lic.renew_time.as_json(),
                },
                "authorization": {
                    "status": lic.authorization_status,
                    "expires": _iso(lic.authorization_expires),
                    "renew_time": lic.auth_renew_time.as_json(),
                },
                "reservation_mode": False,
                "features": [
                    {
                        "id": _FEATURE_ENT,
                        "name": "CML - Enterprise License",
                        "description": "Cisco Modeling Labs - Enterprise License with 20 nodes "
                        "capacity included",
                        "version": "1.0",
                        "in_use": 1 if licensed else 0,
                        "status": "IN_COMPLIANCE" if licensed else "INIT",
                        "min": 0,
                        "max": 1,
                        "minEndDate": None,
                        "maxEndDate": None,
                    },
                    {
                        "id": _FEATURE_NODES,
                        "name": "CML – Expansion Nodes",
                        "description": "Cisco Modeling Labs - Expansion Nodes",
                        "version": "1.0",
                        "in_use": 0,
                        "status": "IN_COMPLIANCE" if licensed else "INIT",
                        "min": 0,
                        "max": 300,
                        "minEndDate": None,
                        "maxEndDate": None,
                    },
                ],
                "product_license": {"active": "CML_Enterprise", "is_enterprise": True},
                "transport": {
                    "ssms": _SSMS,
                    "proxy": {"server": None, "port": None},
                    "default_ssms": _SSMS,
                },
            }

    def register(self, body: Any) -> tuple[int, Any]:
        with self._lock:
            now = self._advance()
            if (
                not isinstance(body, dict)
                or not isinstance(body.get("token"), str)
                or not body["token"]
            ):
                return 400, _error(400, "Invalid input: 'token' must be a non-empty string")
            reregister = body.get("reregister", False)
            if not isinstance(reregister, bool):
                return 400, _error(400, "Invalid input: 'reregister' must be a boolean")
            lic = self._licence
            if lic.registration_status == "IN_PROGRESS" or (
                lic.registration_status == "COMPLETED" and not reregister
            ):
                why = (
                    "a registration is in progress"
                    if lic.registration_status == "IN_PROGRESS"
                    else ("the product is already registered")
                )
                return 409, _error(409, f"Registration cannot be requested at this time: {why}")
            lic.registration_status = "IN_PROGRESS"
            lic.pending_token = body["token"]
            lic.pending_until = now + timedelta(seconds=self.registration_seconds)
            lic.register_time = _TimeInfo(attempted=now)
            return 204, None

    def deregister(self) -> tuple[int, Any]:
        with self._lock:
            self._advance()
            lic = self._licence
            if lic.registration_status == "NOT_REGISTERED":
                return 400, _error(400, "The product is not registered")
            if lic.registration_status == "IN_PROGRESS":
                return 409, _error(409, "Deregistration cannot be requested at this time")
            self._licence = _Licence()
            return (202 if self.faults.deregister_202 else 204), None

    # ------------------------------------------------------------------ telemetry
    def telemetry_events(self) -> list[dict[str, Any]]:
        with self._lock:
            self._advance()
            return [dict(event, data=dict(event["data"])) for event in self._events]
