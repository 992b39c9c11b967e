"""The async CML REST client of one worker: one keep-alive ``httpx.AsyncClient`` for its life.

Login is lazy, the JWT is cached and renewed shortly before its ``exp`` and once on any 401
(under a lock, so concurrent 401s cause a single login). Every failure leaves a public method
as one of ``cmltui.cml.errors``' typed errors with a short reason, never anything else.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx

from cmltui.cml.errors import (
    CmlAuthError,
    CmlBadResponseError,
    CmlError,
    CmlTimeoutError,
    CmlTlsError,
    CmlUnreachableError,
)
from cmltui.cml.lab_calls import LabCalls
from cmltui.cml.models import (
    ActivityCursor,
    CmlActivityEvent,
    CmlLab,
    CmlLicensing,
    CmlSystemInfo,
    CmlSystemStats,
    LicenseDeregistrationResult,
    LicenseRegistrationResult,
)
from cmltui.cml.transport import decode_json, raise_for_status, transport_error, typed_errors
from cmltui.cml.wire import (
    TelemetryEvent,
    error_reason,
    parse_events,
    parse_lab,
    parse_lab_ids,
    parse_licensing,
    parse_system_info,
    parse_system_stats,
    parse_token,
    shorten,
    token_times,
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
#: Renew a token this long before its exp at most (10 % of its lifetime for short ones).
MAX_RENEWAL_MARGIN_SECONDS = 30.0

PasswordSource = Callable[[], str | None]


class CmlApiClient(LabCalls):
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

    async def _send(
        self,
        method: str,
        path: str,
        params: dict[str, str] | None,
        body: dict[str, Any],
        *,
        auth: bool,
        what: str,
    ) -> httpx.Response:
        if not auth:
            return await self._http.request(method, path, params=params, **body)
        token = await self._current_token()
        response = await self._http.request(
            method, path, params=params, headers={"Authorization": f"Bearer {token}"}, **body
        )
        if response.status_code != 401:
            return response
        token = await self._relogin(stale_token=token)
        response = await self._http.request(
            method, path, params=params, headers={"Authorization": f"Bearer {token}"}, **body
        )
        if response.status_code == 401:
            raise CmlAuthError(
                f"{what}: unauthorized after re-login ({error_reason(response)})", status_code=401
            )
        return response

    # ------------------------------------------------------------------ authentication
    def _token_is_fresh(self) -> bool:
        if self._token is None:
            return False
        return self._renew_at is None or self._clock() < self._renew_at

    async def _current_token(self) -> str:
        if self._token is not None and self._token_is_fresh():
            return self._token
        async with self._login_lock:
            if self._token is not None and self._token_is_fresh():
                return self._token
            return await self._login()

    async def _relogin(self, *, stale_token: str) -> str:
        async with self._login_lock:
            # Another request already replaced the token while this one waited.
            if self._token is not None and self._token != stale_token and self._token_is_fresh():
                return self._token
            self._token = None
            return await self._login()

    async def _login(self) -> str:
        password = self._password()
        if not password:
            raise CmlAuthError(f"login: no CML password (set ${self._settings.password_env})")
        response = await self._http.post(
            "authenticate", json={"username": self._settings.username, "password": password}
        )
        if response.status_code == 403:
            raise CmlAuthError(f"login refused: {error_reason(response)}", status_code=403)
        raise_for_status(response, "login")
        token = parse_token(decode_json(response, "login"))
        issued_at, expires_at = token_times(token)
        self._renew_at = None
        if expires_at is not None:
            lifetime = expires_at - issued_at if issued_at is not None else None
            margin = MAX_RENEWAL_MARGIN_SECONDS
            if lifetime is not None and lifetime > 0:
                margin = min(margin, lifetime * 0.1)
            try:
                self._renew_at = datetime.fromtimestamp(expires_at - margin, UTC)
            except (OverflowError, OSError, ValueError):
                self._renew_at = None
        self._token = token
        return token

    @property
    def labs_may_have_changed(self) -> bool:
        """True when the labs list should be read again this cycle: never read yet, a lab
        event named a lab since, or lab events cannot be trusted (the activity feed unread or
        failing, or a lab event without a lab id)."""
        return not self._labs_read_once or not self._lab_events_trusted or bool(self._stale_lab_ids)

    @property
    def licence_may_have_changed(self) -> bool:
        """True when a ``license_info`` telemetry event arrived since the last licence read."""
        return self._licence_event_seen

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
    async def licensing(self) -> CmlLicensing:
        response = await self._call("GET", "licensing", what="licensing")
        raise_for_status(response, "licensing")
        licensing = parse_licensing(decode_json(response, "licensing"))
        self._licence_event_seen = False
        return licensing

    @typed_errors
    async def register_license(
        self, token: str, *, reregister: bool = False
    ) -> LicenseRegistrationResult:
        """POST the token, then poll ``licensing`` until it is registered, failed, or the
        configured time limit passes. 400/409 from the POST are a failure with CML's reason."""
        what = "licence registration"
        response = await self._call(
            "POST",
            "licensing/registration",
            what=what,
            json_body={"token": token, "reregister": reregister},
        )
        if response.status_code in (400, 409):
            return LicenseRegistrationResult(outcome="failed", reason=error_reason(response))
        raise_for_status(response, what)
        return await self._wait_for_registration()

    async def _wait_for_registration(self) -> LicenseRegistrationResult:
        limit = self._settings.license_timeout_seconds
        latest: CmlLicensing | None = None
        last_error: str | None = None
        try:
            async with asyncio.timeout(limit):
                while True:
                    await asyncio.sleep(self._settings.license_poll_seconds)
                    try:
                        latest = await self.licensing()
                    except CmlAuthError:
                        raise
                    except CmlError as err:  # a transient failure while polling: keep polling
                        last_error = err.reason
                        continue
                    registration = (latest.registration_status or "").upper()
                    authorization = (latest.authorization_status or "").upper()
                    if registration == "COMPLETED" and authorization in (
                        "IN_COMPLIANCE",
                        "AUTHORIZED",
                    ):
                        return LicenseRegistrationResult(outcome="registered", licensing=latest)
                    if registration in ("FAILED", "RETRY_IN_PROGRESS"):
                        return LicenseRegistrationResult(
                            outcome="failed",
                            licensing=latest,
                            reason=latest.failure_reason or f"registration {registration}",
                        )
                    last_error = None
        except TimeoutError:
            state = latest.registration_status if latest else "unknown"
            reason = last_error or f"still {state} after {limit:g} s"
            return LicenseRegistrationResult(outcome="timeout", licensing=latest, reason=reason)

    @typed_errors
    async def deregister_license(self) -> LicenseDeregistrationResult:
        """204 deregistered; 202 deregistered locally only; 400 was not registered; 409 busy."""
        what = "licence deregistration"
        response = await self._call("DELETE", "licensing/deregistration", what=what)
        code = response.status_code
        if code == 202:
            return LicenseDeregistrationResult(
                outcome="local-only",
                status_code=code,
                reason="deregistered locally; the licensing server was not told",
            )
        if code == 400:
            return LicenseDeregistrationResult(
                outcome="not-registered", status_code=code, reason=error_reason(response)
            )
        if code == 409:
            return LicenseDeregistrationResult(
                outcome="busy", status_code=code, reason=error_reason(response)
            )
        raise_for_status(response, what)
        return LicenseDeregistrationResult(outcome="deregistered", status_code=code)

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
