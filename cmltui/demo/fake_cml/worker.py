"""One fake CML controller: labs, stats, licensing, telemetry and tokens, evolving with a clock.

Every public method takes the worker's lock, so the HTTP threads and a test may touch a worker
at once. Time comes from the injected clock; randomness from ``random.Random(seed)``. The state
is advanced lazily: each call first simulates the ticks that passed since the last one. The lab
endpoints live in ``lab_ops``, licensing in ``licensing``, the stats bodies in ``stats``.
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

from cmltui.demo.fake_cml import stats
from cmltui.demo.fake_cml.faults import WorkerFaults
from cmltui.demo.fake_cml.lab_ops import ADMIN_USER_ID, LabOperations, error_body
from cmltui.demo.fake_cml.labs import DEFINED_ON_CORE, STARTED, FakeLab, seed_topology
from cmltui.demo.fake_cml.licensing import DEMO_LICENSE_TOKEN, FakeLicence
from cmltui.demo.fake_cml.tokens import issue_token, verify_token
from cmltui.domain.clock import Clock, utc_now

__all__ = [
    "ADMIN_USER_ID",
    "DEMO_LICENSE_TOKEN",
    "DEMO_PASSWORD",
    "DEMO_USERNAME",
    "FakeCmlWorker",
    "FakeLab",
    "WorkerCounters",
]

#: Demo-only credentials the fake accepts (never a real secret).
DEMO_USERNAME = "admin"
DEMO_PASSWORD = "cmltui-demo-password"
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


def version_tuple(version: str) -> tuple[int, int]:
    match = _VERSION_RE.match(version)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


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


class FakeCmlWorker(LabOperations):
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
        evaluation: bool = False,
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
        self._created_at = now
        self._last_tick = now
        #: Unregistered, the controller is in evaluation mode (authorization EVAL), else INIT.
        self.evaluation = evaluation
        self._licence = FakeLicence.unregistered(evaluation=evaluation)
        if licensed:
            month_ago = now - timedelta(days=30)
            self._licence.complete_registration(month_ago, month_ago)
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
                state=DEFINED_ON_CORE,
                created=created,
                modified=created,
            )
            node_count = self._rng.randint(2, 8)
            link_count = self._rng.randint(1, 10)
            seed_topology(lab, node_count, link_count)
            self._labs[lab.id] = lab
        history_start = now - timedelta(hours=2)
        for lab in list(self._labs.values())[:running_labs]:
            started_at = history_start + timedelta(seconds=self._rng.uniform(0, 3600))
            lab.state = STARTED
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
        self._licence.settle(now, never_completes=self.faults.registration_never_completes)
        self._settle_labs(now)
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

    def _nodes_per_compute(self, *, running: bool) -> list[int]:
        """Running (or all) nodes per compute host; labs are spread over computes by id."""
        counts = [0] * len(self._compute_ids)
        for index, lab in enumerate(sorted(self._labs.values(), key=lambda item: item.id)):
            counts[index % len(counts)] += lab.running_nodes if running else lab.node_count
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
    def add_activity(self, user_id: str, category: str = "user_activity") -> None:
        """Append one telemetry event now (tests of the telemetry cursor)."""
        with self._lock:
            now = self._advance()
            self._emit(category, now, {"user_id": user_id})

    def licence_state(self) -> tuple[str, str]:
        with self._lock:
            self._advance()
            return self._licence.registration_status, self._licence.authorization_status

    def set_evaluation(self, evaluation: bool) -> None:
        """Put an unregistered controller in evaluation mode or take it out (and after a
        deregistration it returns to this)."""
        with self._lock:
            self._advance()
            self.evaluation = evaluation
            self._licence.set_evaluation(evaluation)

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
            return stats.system_stats(
                self._compute_ids,
                self._cpu_noise,
                self._memory_noise_gib,
                self._nodes_per_compute(running=True),
                self._nodes_per_compute(running=False),
            )

    def compute_hosts(self) -> list[dict[str, Any]]:
        with self._lock:
            self._advance()
            node_ids: list[list[str]] = [[] for _ in self._compute_ids]
            for index, lab in enumerate(sorted(self._labs.values(), key=lambda item: item.id)):
                node_ids[index % len(node_ids)].extend(node.id for node in lab.nodes)
            return stats.compute_hosts(
                self._compute_ids,
                node_ids,
                self._nodes_per_compute(running=True),
                ready=self.ready,
            )

    def system_health(self) -> dict[str, Any]:
        with self._lock:
            self._advance()
            return stats.system_health(
                self._compute_ids, ready=self.ready, licensed=self._licence.is_licensed
            )

    # ------------------------------------------------------------------ licensing
    def licensing(self) -> dict[str, Any]:
        with self._lock:
            self._advance()
            return self._licence.as_json(f"cml-{self.key}", self._product_uuid)

    def register(self, body: Any) -> tuple[int, Any]:
        with self._lock:
            now = self._advance()
            return self._licence.register(body, now, self.registration_seconds)

    def deregister(self) -> tuple[int, Any]:
        with self._lock:
            self._advance()
            status = self._licence.registration_status
            if status == "NOT_REGISTERED":
                return 400, error_body(400, "The product is not registered")
            if status == "IN_PROGRESS":
                return 409, error_body(409, "Deregistration cannot be requested at this time")
            self._licence = FakeLicence.unregistered(evaluation=self.evaluation)
            return (202 if self.faults.deregister_202 else 204), None

    # ------------------------------------------------------------------ telemetry
    def telemetry_events(self) -> list[dict[str, Any]]:
        with self._lock:
            self._advance()
            return [dict(event, data=dict(event["data"])) for event in self._events]
