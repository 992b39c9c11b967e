"""The login of ``CmlApiClient``: a lazy JWT, cached, renewed shortly before its ``exp`` and once
on any 401, under a lock so that concurrent 401s cause a single login."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx

from cmltui.cml.errors import CmlAuthError
from cmltui.cml.transport import decode_json, raise_for_status, released
from cmltui.cml.wire import error_reason, parse_token, token_times
from cmltui.config import CmlConfig
from cmltui.domain.clock import Clock

#: Renew a token this long before its exp at most (10 % of its lifetime for short ones).
MAX_RENEWAL_MARGIN_SECONDS = 30.0

PasswordSource = Callable[[], str | None]


class TokenAuth:
    """Mixed into ``CmlApiClient``, whose HTTP client, settings and token state it uses."""

    _http: httpx.AsyncClient
    _settings: CmlConfig
    _password: PasswordSource
    _clock: Clock
    _login_lock: asyncio.Lock
    _token: str | None
    _renew_at: datetime | None

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
            return await self._request(method, path, params, body)
        token = await self._current_token()
        response = await self._request(method, path, params, body, token)
        if response.status_code != 401:
            return response
        token = await self._relogin(stale_token=token)
        response = await self._request(method, path, params, body, token)
        if response.status_code == 401:
            raise CmlAuthError(
                f"{what}: unauthorized after re-login ({error_reason(response)})", status_code=401
            )
        return response

    async def _request(
        self,
        method: str,
        path: str,
        params: dict[str, str] | None,
        body: dict[str, Any],
        token: str | None = None,
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else None
        return released(
            await self._http.request(method, path, params=params, headers=headers, **body)
        )

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
        response = released(
            await self._http.post(
                "authenticate", json={"username": self._settings.username, "password": password}
            )
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
