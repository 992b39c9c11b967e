"""The gateway's way to AWS: the shared state of ``AwsGateway`` and how every call is made.

Session, one client per (region, service), the thread pool, the per-region semaphores, the hooks
that count HTTP requests, ``_run`` / ``_call_in_thread`` (botocore errors become the typed errors
of ``cmltui.aws.errors``) and ``close``. The parts of the gateway (describe, launch, metrics) are
mixins over this base, each in its own module; ``cmltui.aws.gateway`` composes them.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TYPE_CHECKING, Any, Final, Literal, TypeAlias, TypeVar

import boto3
from botocore import exceptions as bce
from botocore.config import Config as BotoConfig
from botocore.parsers import ResponseParserError

from cmltui.aws.error_map import map_aws_error
from cmltui.aws.errors import AwsError, AwsRequestError
from cmltui.aws.parsing import use_calm_parsing
from cmltui.config import Config
from cmltui.domain.clock import Clock, utc_now

#: The AWS services the gateway calls (boto3's stubs type a client by its service name).
AwsService: TypeAlias = Literal["ec2", "cloudwatch"]
EC2_SERVICE: Final = "ec2"
CLOUDWATCH_SERVICE: Final = "cloudwatch"
#: Tag holding the cmltui worker id of a managed instance.
MANAGED_TAG_VALUE = "true"

#: DescribeInstances page size: real AWS's maximum (moto pages by reservation, 100 unasked).
DESCRIBE_PAGE_SIZE = 1000
#: Instance ids per Start/Stop/Terminate/Describe-by-id call.
INSTANCE_IDS_PER_CALL = 1000

T = TypeVar("T")


def chunks(items: Sequence[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(item for item in items if item))


class GatewayTransport:
    """Shared state of the gateway and its bounded, counted, error-mapped calls to AWS."""

    def __init__(
        self,
        config: Config,
        *,
        session: boto3.Session | None = None,
        clock: Clock = utc_now,
        describe_page_size: int = DESCRIBE_PAGE_SIZE,
    ) -> None:
        if not 5 <= describe_page_size <= 1000:
            raise ValueError("describe_page_size must be within 5..1000 (AWS's range)")
        self._config = config
        self._aws = config.aws
        self._session = session
        self._clock = clock
        self._describe_page_size = describe_page_size
        self._botocore_config = BotoConfig(
            retries={"mode": "standard", "total_max_attempts": self._aws.total_max_attempts},
            connect_timeout=self._aws.connect_timeout_seconds,
            read_timeout=self._aws.read_timeout_seconds,
            max_pool_connections=max(10, self._aws.max_concurrent_calls_per_region),
        )
        self._clients: dict[tuple[str, str], Any] = {}
        self._clients_lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._semaphores: dict[str, asyncio.Semaphore] = {}
        self._semaphore_loop: asyncio.AbstractEventLoop | None = None
        self._counts_lock = threading.Lock()
        self._request_counts: Counter[str] = Counter()
        self._region_request_counts: Counter[str] = Counter()
        # Per thread: the API call in progress and how many HTTP requests it has sent so far.
        self._current = threading.local()
        self._ami_names: dict[tuple[str, str], str | None] = {}
        self._ami_lock = threading.Lock()
        self._closed = False

    if TYPE_CHECKING:
        # What one part calls on another, declared here so that each part is checked alone;
        # ``cmltui.aws.gateway_describe`` implements both (mypy checks that they match).
        def _iter_instances(
            self,
            ec2: Any,
            *,
            filters: list[dict[str, Any]] | None = None,
            instance_ids: Sequence[str] | None = None,
        ) -> Iterator[dict[str, Any]]: ...
        def _ami_names_for(
            self, region: str, ec2: Any, ami_ids: Iterable[str]
        ) -> dict[str, str | None]: ...

    # -- counters -------------------------------------------------------------------------------

    @property
    def request_count(self) -> int:
        """AWS HTTP requests sent so far, retries included."""
        with self._counts_lock:
            return sum(self._request_counts.values())

    @property
    def request_counts(self) -> Counter[str]:
        """HTTP requests per operation name (e.g. ``DescribeInstances``), retries included."""
        with self._counts_lock:
            return Counter(self._request_counts)

    @property
    def region_request_counts(self) -> Counter[str]:
        with self._counts_lock:
            return Counter(self._region_request_counts)

    def _on_before_call(self, event_name: str = "", **_: Any) -> None:
        self._current.operation = event_name.rsplit(".", 1)[-1]
        self._current.attempts = 0

    def _on_before_send(self, region: str, event_name: str = "", **_: Any) -> None:
        operation = event_name.rsplit(".", 1)[-1]
        self._current.attempts = getattr(self._current, "attempts", 0) + 1
        with self._counts_lock:
            self._request_counts[operation] += 1
            self._region_request_counts[region] += 1

    # -- clients, threads, bounds ---------------------------------------------------------------

    def _client(self, region: str, service: AwsService) -> Any:
        """The (region, service) client, created once; creation is not thread-safe in boto3."""
        key = (region, service)
        client = self._clients.get(key)
        if client is not None:
            return client
        with self._clients_lock:
            client = self._clients.get(key)
            if client is None:
                if self._session is None:
                    self._session = (
                        boto3.Session(profile_name=self._aws.profile)
                        if self._aws.profile
                        else boto3.Session()
                    )
                use_calm_parsing(self._session)  # before the first client is made
                client = self._session.client(
                    service,
                    region_name=region,
                    endpoint_url=self._aws.endpoint_url or None,
                    config=self._botocore_config,
                )
                client.meta.events.register("before-call", self._on_before_call)
                client.meta.events.register("before-send", partial(self._on_before_send, region))
                self._clients[key] = client
            return client

    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            per_region = self._aws.max_concurrent_calls_per_region
            workers = max(4, per_region * max(2, len(self._config.regions)))
            self._executor = ThreadPoolExecutor(workers, thread_name_prefix="cmltui-aws")
        return self._executor

    def _semaphore(self, region: str) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if loop is not self._semaphore_loop:  # semaphores belong to one event loop
            self._semaphores = {}
            self._semaphore_loop = loop
        semaphore = self._semaphores.get(region)
        if semaphore is None:
            semaphore = asyncio.Semaphore(self._aws.max_concurrent_calls_per_region)
            self._semaphores[region] = semaphore
        return semaphore

    async def _run(self, region: str, service: AwsService, work: Callable[[Any], T]) -> T:
        """Run ``work(client)`` in the pool, within the region's bound; map botocore errors."""
        if self._closed:
            raise RuntimeError("AwsGateway is closed")
        async with self._semaphore(region):
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(
                self._pool(), self._call_in_thread, region, service, work
            )

    def _call_in_thread(self, region: str, service: AwsService, work: Callable[[Any], T]) -> T:
        self._current.operation = None
        self._current.attempts = 0
        try:
            return work(self._client(region, service))
        except AwsError:
            raise
        except (bce.BotoCoreError, bce.ClientError) as err:
            raise map_aws_error(
                err,
                region=region,
                operation=getattr(self._current, "operation", None),
                service=service,
                attempts=getattr(self._current, "attempts", None),
            ) from err
        except ResponseParserError as err:
            # An answer that is not AWS's XML at all (an HTML error page from a proxy, or for a
            # region name AWS does not know): botocore raises this outside its own hierarchy.
            operation = getattr(self._current, "operation", None) or "AWS call"
            raise AwsRequestError(
                f"{region}: AWS's answer could not be read ({operation}); is the region name "
                "right and the endpoint AWS?",
                region=region,
                operation=operation,
            ) from err
        except (KeyError, TypeError, ValueError) as err:
            # An answer of an unexpected shape (a DTO that does not validate) stops at the edge.
            operation = getattr(self._current, "operation", None) or "AWS call"
            raise AwsRequestError(
                f"{region}: unexpected answer from AWS ({type(err).__name__}) ({operation})",
                region=region,
                operation=operation,
            ) from err

    async def close(self) -> None:
        """Release the thread pool and the HTTP connections."""
        self._closed = True
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
        with self._clients_lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()
