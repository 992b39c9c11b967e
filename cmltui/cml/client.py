"""The async CML REST client of one worker: one keep-alive ``httpx.AsyncClient`` for its life.

Login is lazy, the JWT is cached and renewed shortly before its ``exp`` and once on any 401
(under a lock, so concurrent 401s cause a single login). Every failure leaves a public method
as one of ``cmltui.cml.errors``' typed errors with a short reason, never anything else.

Parts in their own modules, mixed in: ``auth`` (login, token renewal, the authenticated send),
``licence_calls`` (licensing, register, deregister) and ``lab_calls`` (the labs screen's calls).
This module keeps construction, counters, the bounded ``_call``, the fleet cycle's reads
(system information and stats, labs, telemetry events) and ``aclose``.
"""

from __future__ import annotations

import asyncio
import ssl
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

from cmltui.cml.auth import PasswordSource, TokenAuth
from cmltui.cml.errors import (
    CmlBadResponseError,
    CmlError,
    CmlTimeoutError,
    CmlTlsError,
    CmlUnreachableError,
)
from cmltui.cml.lab_calls import LabCalls
from cmltui.cml.licence_calls import LicenceCalls
from cmltui.cml.models import (
    ActivityCursor,
    CmlActivityEvent,
    CmlLab,
    CmlSystemInfo,
    CmlSystemStats,
)
from cmltui.cml.transport import decode_json, raise_for_status, transport_error, typed_errors
from cmltui.cml.wire import (
    TelemetryEvent,
    parse_events,
    parse_lab,
    parse_lab_ids,
    parse_system_info,
    parse_system_stats,
    shorten,
)
from cmltui.config import CmlConfig
from cmltui.domain.clock import Clock, utc_now

#: Telemetry categories that say a lab's state changed. CML 2.9 writes ``wipe_node`` (one per
#: node, with the lab id) for a wipe; ``wipe_lab`` is not a 2.9 category but is kept for
#: controllers or proxies that write it.
LAB_EVENT_CATEGORIES = frozenset({"start_lab", "stop_lab", "wipe_node", "wipe_lab", "import_lab"})
#: The telemetry category CML writes when its licence state changes.
LICENCE_EVENT_CATEGORY = "license_info"
#: Every this many ``labs`` calls, every lab's details are read again whatever the events say.
FULL_LAB_REFRESH_CALLS = 10

#: Telemetry categories that mean someone used the controller.
ACTIVITY_CATEGORIES = frozenset(
    {
        "user_activity",
        "start_lab",
        "stop_lab",
        "wipe_node",
        "wipe_lab",
        "import_lab",
        "export_lab",
        "start_node",
        "stop_node",
        "queue_node",
        "boot_node",
    }
)
#: user_activity of the built-in admin (automation, including cmltui itself) is not activity.
AUTOMATION_USER_PREFIX = "00000000-0000-"


class CmlApiClient(TokenAuth, LicenceCalls, LabCalls):
    """The ``CmlClient`` of one worker (see ``cmltui.services.ports``).

    Normally made by ``CmlApiClientPool.client_for``; ``verify`` is the pool's shared SSL
    context (or False), ``pool_limit`` its global semaphore.
    """

    def __init__(
        self,
        base_url: str,
        settings: CmlConfig,
        *,
        password: PasswordSource,
        verify: ssl.SSLContext | bool = True,
        verify_error: str | None = None,
        pool_limit: asyncio.Semaphore | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._settings = settings
        self._password = password
        self._verify_error = verify_error
        self._clock = clock
        self._worker_limit = asyncio.Semaphore(settings.max_concurrent_requests_per_worker)
        self._pool_limit = pool_limit or asyncio.Semaphore(settings.max_concurrent_requests)
        self._login_lock = asyncio.Lock()
        self._token: str | None = None
        self._renew_at: datetime | None = None
        self._request_count = 0
        self._login_count = 0
        self._cursor = ActivityCursor()
        self._closed = False
        # Lab details are fetched again only when they may have changed (see ``labs``).
        self._lab_cache: dict[str, CmlLab] = {}
        self._stale_lab_ids: set[str] = set()
        self._lab_events_trusted = False
        self._labs_calls_since_full = 0
        self._labs_read_once = False
        # A ``license_info`` telemetry event since the last licence read: read it again.
        self._licence_event_seen = False
        # Titles of the labs seen so far, so that lab errors can name a lab by its title.
        self._lab_titles: dict[str, str] = {}
        per_worker = settings.max_concurrent_requests_per_worker
        self._http = httpx.AsyncClient(
            base_url=self.base_url + "/api/v0/",
            verify=verify,
            timeout=httpx.Timeout(
                connect=settings.connect_timeout_seconds,
                read=settings.read_timeout_seconds,
                write=settings.read_timeout_seconds,
                pool=settings.total_timeout_seconds,
            ),
            limits=httpx.Limits(
                max_connections=per_worker,
                max_keepalive_connections=per_worker,
                keepalive_expiry=settings.keepalive_seconds,
            ),
            headers={"Accept": "application/json"},
            event_hooks={"request": [self._count_request]},
        )

    # ------------------------------------------------------------------ counters
    async def _count_request(self, request: httpx.Request) -> None:
        self._request_count += 1
        if request.url.path.endswith("/authenticate"):
            self._login_count += 1

    @property
    def request_count(self) -> int:
        return self._request_count

    @property
    def login_count(self) -> int:
        return self._login_count

    @property
    def cursor(self) -> ActivityCursor:
        """Where ``new_activity_events`` stopped; persist it and set it back after a restart."""
        return self._cursor

    @cursor.setter
    def cursor(self, value: ActivityCursor) -> None:
        self._cursor = value

    # ------------------------------------------------------------------ transport
    async def _call(
        self,
        method: str,
        path: str,
        *,
        what: str,
        params: dict[str, str] | None = None,
        json_body: Any = None,
        content: bytes | None = None,
        auth: bool = True,
        refused_is_not_ready: bool = False,
    ) -> httpx.Response:
        """One request within the total timeout and both concurrency bounds, login and a
        single re-login on 401 included. Returns any answer but a persisting 401.

        ``content`` is sent as it is, with no Content-Type (as virl2-client sends a topology
        to ``import``); otherwise ``json_body`` is sent as JSON."""
        if self._closed:
            raise CmlUnreachableError(f"{what}: client closed")
        if self._verify_error:
            raise CmlTlsError(self._verify_error)
        body: dict[str, Any] = {"content": content} if content is not None else {"json": json_body}
        total = self._settings.total_timeout_seconds
        try:
            async with asyncio.timeout(total), self._worker_limit, self._pool_limit:
                return await self._send(method, path, params, body, auth=auth, what=what)
        except CmlError:
            raise
        except TimeoutError:
            raise CmlTimeoutError(f"{what}: no answer within {total:g} s") from None
        except httpx.HTTPError as err:
            raise transport_error(err, what, refused_is_not_ready=refused_is_not_ready) from err
        except Exception as err:  # the promise: nothing but a CmlError leaves this client
            raise CmlBadResponseError(
                f"{what}: {type(err).__name__}: {shorten(str(err), 80)}"
            ) from err

    @property
    def labs_may_have_changed(self) -> bool:
        """True when the labs list should be read again this cycle: never read yet, a lab
        event named a lab since, or lab events cannot be trusted (the activity feed unread or
        failing, or a lab event without a lab id)."""
        return not self._labs_read_once or not self._lab_events_trusted or bool(self._stale_lab_ids)

    # ------------------------------------------------------------------ calls
    @typed_errors
    async def system_information(self) -> CmlSystemInfo:
        """Version and readiness, without login; 502/503/504 or refused = not ready."""
        response = await self._call(
            "GET",
            "system_information",
            what="system_information",
            auth=False,
            refused_is_not_ready=True,
        )
        raise_for_status(response, "system_information")
        return parse_system_info(decode_json(response, "system_information"))

    @typed_errors
    async def system_stats(self) -> CmlSystemStats:
        response = await self._call("GET", "system_stats", what="system_stats")
        raise_for_status(response, "system_stats")
        return parse_system_stats(decode_json(response, "system_stats"))

    async def _lab(self, lab_id: str) -> CmlLab | None:
        what = f"lab {lab_id}"
        response = await self._call("GET", f"labs/{quote(lab_id, safe='')}", what=what)
        if response.status_code == 404:
            return None  # removed between the list and this call
        raise_for_status(response, what)
        return parse_lab(decode_json(response, what), lab_id)

    @typed_errors
    async def labs(self) -> list[CmlLab]:
        """Every lab: ``labs?show_all=true``, then the details of each lab that may have changed.

        A lab's details are fetched when its id is new, when a telemetry lab event named it
        since the last call (``new_activity_events`` marks it), and for every lab when lab events
        cannot be trusted (telemetry unread or failing, or a lab event without a lab id) and
        every ``FULL_LAB_REFRESH_CALLS`` calls anyway, so a missed event heals itself.
        """
        response = await self._call("GET", "labs", what="labs", params={"show_all": "true"})
        raise_for_status(response, "labs")
        lab_ids = parse_lab_ids(decode_json(response, "labs"))
        self._labs_calls_since_full += 1
        full = not self._lab_events_trusted or self._labs_calls_since_full >= FULL_LAB_REFRESH_CALLS
        to_fetch = [
            lab_id
            for lab_id in lab_ids
            if full or lab_id not in self._lab_cache or lab_id in self._stale_lab_ids
        ]
        results = await asyncio.gather(
            *(self._lab(lab_id) for lab_id in to_fetch), return_exceptions=True
        )
        fetched: dict[str, CmlLab | None] = {}
        for lab_id, result in zip(to_fetch, results, strict=True):
            if isinstance(result, CmlError):
                raise result
            if isinstance(result, BaseException):
                raise CmlBadResponseError(f"labs: {type(result).__name__}") from result
            fetched[lab_id] = result
        if full:
            self._labs_calls_since_full = 0
        self._stale_lab_ids.difference_update(to_fetch)
        self._lab_cache = {
            lab_id: lab
            for lab_id in lab_ids
            if (lab := fetched[lab_id] if lab_id in fetched else self._lab_cache.get(lab_id))
        }
        self._lab_titles.update((lab.id, lab.title) for lab in self._lab_cache.values())
        self._labs_read_once = True
        return list(self._lab_cache.values())

    @typed_errors
    async def new_activity_events(self) -> list[CmlActivityEvent]:
        """Activity events newer than the cursor, oldest first; the cursor then moves on.

        ``telemetry/events`` returns the whole history: the cursor (newest timestamp seen and
        fingerprints of the events at that instant) keeps an event from counting twice.
        """
        self._lab_events_trusted = False  # until this call has succeeded
        response = await self._call("GET", "telemetry/events", what="telemetry/events")
        raise_for_status(response, "telemetry/events")
        events = parse_events(decode_json(response, "telemetry/events"))
        cursor = self._cursor
        seen_at_newest = set(cursor.fingerprints_at_newest)

        def is_new(event: TelemetryEvent) -> bool:
            if cursor.newest is None or event.timestamp > cursor.newest:
                return True
            return event.timestamp == cursor.newest and event.fingerprint not in seen_at_newest

        fresh = [event for event in events if is_new(event)]
        if fresh:
            newest = max(event.timestamp for event in fresh)
            at_newest = {event.fingerprint for event in fresh if event.timestamp == newest}
            if newest == cursor.newest:
                at_newest |= seen_at_newest
            self._cursor = ActivityCursor(
                newest=newest, fingerprints_at_newest=tuple(sorted(at_newest))
            )
        lab_events = [event for event in fresh if event.category in LAB_EVENT_CATEGORIES]
        self._stale_lab_ids.update(event.lab_id for event in lab_events if event.lab_id)
        # A lab event that names no lab leaves every lab in doubt: fetch all next time.
        self._lab_events_trusted = all(event.lab_id for event in lab_events)
        if any(event.category == LICENCE_EVENT_CATEGORY for event in fresh):
            self._licence_event_seen = True
        activity = [
            CmlActivityEvent(
                category=event.category, timestamp=event.timestamp, user_id=event.user_id
            )
            for event in fresh
            if event.category in ACTIVITY_CATEGORIES
            and not (
                event.category == "user_activity"
                and (event.user_id or "").startswith(AUTOMATION_USER_PREFIX)
            )
        ]
        return sorted(activity, key=lambda event: event.timestamp)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            await self._http.aclose()
        except Exception:  # closing a broken connection must not fail the caller
            pass
