"""The per-worker CML clients, the shared TLS settings and the global bound on requests."""

from __future__ import annotations

import asyncio
import os
import ssl

import httpx

from cmltui.cml.client import CmlApiClient
from cmltui.config import CmlConfig, Config
from cmltui.domain.clock import Clock, utc_now


def build_tls_verify(settings: CmlConfig) -> tuple[ssl.SSLContext | bool, str | None]:
    """What every client passes as ``verify``, built once: the pinned CA, the default trust
    store, or False when ``verify_tls`` is off. A CA file that cannot be loaded gives an error
    text instead, which every call then reports as a TLS error."""
    if not settings.verify_tls:
        return False, None
    try:
        if settings.ca_bundle:
            return ssl.create_default_context(cafile=os.path.expanduser(settings.ca_bundle)), None
        return httpx.create_ssl_context(), None
    except (OSError, ssl.SSLError, ValueError) as err:
        where = settings.ca_bundle or "default trust store"
        return True, f"cannot load CA bundle {where}: {getattr(err, 'strerror', None) or err}"


class CmlApiClientPool:
    """The ``CmlClientPool`` of ``cmltui.services.ports``: one client per worker id.

    ``password`` overrides the ``cml.password_env`` variable (tests, the demo); otherwise the
    variable is read at each login, so it may be set after the pool is made.
    """

    def __init__(
        self,
        config: Config | CmlConfig,
        *,
        password: str | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self._settings = config.cml if isinstance(config, Config) else config
        self._explicit_password = password
        self._clock = clock
        self._verify, self._verify_error = build_tls_verify(self._settings)
        self._limit = asyncio.Semaphore(self._settings.max_concurrent_requests)
        self._clients: dict[str, CmlApiClient] = {}
        self._closing: set[asyncio.Task[None]] = set()
        # Counts of clients already dropped, so the totals never go backwards.
        self._retired_requests = 0
        self._retired_logins = 0

    def _password(self) -> str | None:
        return self._explicit_password or self._settings.password

    @property
    def settings(self) -> CmlConfig:
        return self._settings

    @property
    def tls_insecure(self) -> bool:
        """True when certificates are not verified (``cml.verify_tls = false``)."""
        return not self._settings.verify_tls

    @property
    def request_count(self) -> int:
        return self._retired_requests + sum(c.request_count for c in self._clients.values())

    @property
    def login_count(self) -> int:
        return self._retired_logins + sum(c.login_count for c in self._clients.values())

    def client_for(self, worker_id: str, base_url: str) -> CmlApiClient:
        """The worker's client, created on first use and replaced when its base URL changes."""
        wanted = base_url.rstrip("/")
        current = self._clients.get(worker_id)
        if current is not None and current.base_url == wanted:
            return current
        if current is not None:
            self._retire(current)
        client = CmlApiClient(
            wanted,
            self._settings,
            password=self._password,
            verify=self._verify,
            verify_error=self._verify_error,
            pool_limit=self._limit,
            clock=self._clock,
        )
        self._clients[worker_id] = client
        return client

    def _retire(self, client: CmlApiClient) -> None:
        self._retired_requests += client.request_count
        self._retired_logins += client.login_count
        try:
            task = asyncio.get_running_loop().create_task(client.aclose())
        except RuntimeError:
            return  # no loop: nothing is open that needs closing from here
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def forget(self, worker_id: str) -> None:
        client = self._clients.pop(worker_id, None)
        if client is None:
            return
        self._retired_requests += client.request_count
        self._retired_logins += client.login_count
        await client.aclose()

    def worker_ids(self) -> list[str]:
        return list(self._clients)

    async def aclose(self) -> None:
        for worker_id in list(self._clients):
            await self.forget(worker_id)
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)
