"""``AwsGateway``: EC2 and CloudWatch for every configured region, through boto3.

Shape of every call: ``await gateway.op(region, ...)`` takes the region's semaphore (at most
``aws.max_concurrent_calls_per_region`` calls in flight per region), then runs the blocking
boto3 code in the gateway's own thread pool, so the event loop never blocks and a slow region
only holds its own slots. botocore does the retrying (standard mode, ``total_max_attempts``);
whatever still fails leaves the gateway as one of the typed errors of ``cmltui.aws.errors``.

Cost of the regular refresh for N managed workers in R regions: R x ceil(N/1000)
DescribeInstances pages, plus R x ceil(N/500) GetMetricData calls, plus one DescribeImages per
region whenever unseen AMI ids appear (names are cached per AMI id).

Terminated instances: real EC2 refuses StartInstances on them, moto does not. So
``start_instances`` first describes the ids it was given (one DescribeInstances per 1,000 ids, an
operator action is rare enough) and refuses the whole batch, as EC2 does, with
``InvalidStateError`` when one of them is terminated or shutting down.
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Final, Literal, TypeAlias, TypeVar

import boto3
from botocore import exceptions as bce
from botocore.config import Config as BotoConfig
from botocore.parsers import ResponseParserError

from cmltui.aws.dto import (
    WORKER_ID_TAG,
    CMLWorkerInstanceDto,
    FleetDescription,
    InstanceProblem,
)
from cmltui.aws.error_map import map_aws_error
from cmltui.aws.errors import AmiNotFoundError, AwsError, AwsRequestError, InvalidStateError
from cmltui.aws.mapping import instance_to_dto, tags_to_dict, tags_to_list
from cmltui.aws.placement import subnet_for_launch
from cmltui.config import Config
from cmltui.domain.clock import Clock, utc_now
from cmltui.domain.enums import CMLWorkerStatus, status_from_ec2_state
from cmltui.domain.plural import noun_form

log = logging.getLogger(__name__)

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
#: Values per EC2 filter (real AWS caps the number of filter values).
FILTER_VALUES_PER_CALL = 200
#: GetMetricData accepts at most 500 MetricDataQueries per call.
METRIC_QUERIES_PER_CALL = 500
CPU_PERIOD_SECONDS = 300  # basic EC2 monitoring; a multiple of 60 as the API requires
CPU_WINDOW = timedelta(minutes=15)

#: States in which an instance exists for discovery (terminated ones cannot be imported).
_DISCOVERABLE_STATES = ["pending", "running", "stopping", "stopped"]
_UNSTARTABLE = frozenset({CMLWorkerStatus.TERMINATED, CMLWorkerStatus.SHUTTING_DOWN})

T = TypeVar("T")


def client_token_for(worker_id: str) -> str:
    """RunInstances' idempotency token for a worker (at most 64 ASCII characters)."""
    return f"cmltui-{worker_id}"[:64]


def _image_id(raw: Any) -> str:
    image_id = raw.get("ImageId", "") if isinstance(raw, dict) else ""
    return image_id if isinstance(image_id, str) else ""


def _chunks(items: Sequence[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(item for item in items if item))


def _format_tag_value(value: str, **fields: str) -> str:
    """Fill ``{worker_id}`` / ``{name}`` in a configured tag; leave other text as it is."""
    try:
        return value.format(**fields)
    except (KeyError, IndexError, ValueError):
        return value


class AwsGateway:
    """EC2 + CloudWatch for every region (implements ``cmltui.services.ports.FleetGateway``)."""

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

    # -- describe -------------------------------------------------------------------------------

    def _managed_filter(self) -> dict[str, Any]:
        return {"Name": f"tag:{self._aws.managed_tag_key}", "Values": [MANAGED_TAG_VALUE]}

    def _iter_instances(
        self,
        ec2: Any,
        *,
        filters: list[dict[str, Any]] | None = None,
        instance_ids: Sequence[str] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every instance matching, across all pages (moto pages even when not asked)."""
        paginator = ec2.get_paginator("describe_instances")
        kwargs: dict[str, Any] = {}
        if filters:
            kwargs["Filters"] = filters
        if instance_ids:
            kwargs["InstanceIds"] = list(instance_ids)  # AWS refuses MaxResults with ids
        else:
            kwargs["PaginationConfig"] = {"PageSize": self._describe_page_size}
        for page in paginator.paginate(**kwargs):
            if "Reservations" not in page:
                # botocore reads an HTML page answered with 200 as an empty answer; taken as
                # "no instances", it would make every worker look gone.
                raise AwsRequestError(
                    "AWS's answer could not be read (DescribeInstances): it holds no "
                    "reservation list; is the endpoint AWS?",
                    operation="DescribeInstances",
                )
            for reservation in page.get("Reservations", []):
                yield from reservation.get("Instances", [])

    def _ami_names_for(
        self, region: str, ec2: Any, ami_ids: Iterable[str]
    ) -> dict[str, str | None]:
        """AMI names by id; only ids never seen before are asked for, in one call per 200."""
        wanted = _unique(ami_ids)
        with self._ami_lock:
            unknown = [ami for ami in wanted if (region, ami) not in self._ami_names]
        if unknown:
            found: dict[str, str | None] = dict.fromkeys(unknown)
            try:
                for chunk in _chunks(unknown, FILTER_VALUES_PER_CALL):
                    # A filter, not ImageIds: unknown ids then just do not match instead of
                    # failing the whole call with InvalidAMIID.NotFound.
                    reply = ec2.describe_images(Filters=[{"Name": "image-id", "Values": chunk}])
                    for image in reply.get("Images", []):
                        found[image["ImageId"]] = image.get("Name")
            except (bce.BotoCoreError, bce.ClientError) as err:
                # Names are a nicety: never fail a describe for them, and ask again next time.
                log.warning("%s: AMI names unavailable: %s", region, err)
                found = {}
            with self._ami_lock:
                for ami, name in found.items():
                    self._ami_names[(region, ami)] = name
        with self._ami_lock:
            return {ami: self._ami_names.get((region, ami)) for ami in wanted}

    def _to_dtos(
        self, region: str, ec2: Any, raws: list[dict[str, Any]]
    ) -> list[CMLWorkerInstanceDto]:
        names = self._ami_names_for(region, ec2, (raw.get("ImageId", "") for raw in raws))
        return [
            instance_to_dto(raw, region=region, ami_name=names.get(raw.get("ImageId", "")))
            for raw in raws
        ]

    def _to_description(
        self, region: str, ec2: Any, raws: list[dict[str, Any]]
    ) -> FleetDescription:
        """DTOs of the instances that map, and one problem per instance that does not."""
        names = self._ami_names_for(region, ec2, (_image_id(raw) for raw in raws))
        instances: list[CMLWorkerInstanceDto] = []
        problems: list[InstanceProblem] = []
        for raw in raws:
            try:
                ami_name = names.get(_image_id(raw))
                instances.append(instance_to_dto(raw, region=region, ami_name=ami_name))
            except AwsError as err:
                instance_id = raw.get("InstanceId") if isinstance(raw, dict) else None
                problems.append(
                    InstanceProblem(
                        region=region,
                        aws_instance_id=instance_id if isinstance(instance_id, str) else None,
                        problem=str(err).removeprefix(f"{region}: "),
                    )
                )
        return FleetDescription(region=region, instances=instances, problems=problems)

    async def describe_managed(self, region: str) -> FleetDescription:
        """Every managed instance of the region, terminated ones included; an instance whose
        record does not map is a problem of its own, never a failure of the whole region."""

        def work(ec2: Any) -> FleetDescription:
            raws = list(self._iter_instances(ec2, filters=[self._managed_filter()]))
            return self._to_description(region, ec2, raws)

        return await self._run(region, EC2_SERVICE, work)

    async def describe_fleet(self, region: str) -> list[CMLWorkerInstanceDto]:
        """Every managed instance of the region that maps (see ``describe_managed``)."""
        return (await self.describe_managed(region)).instances

    async def lookup_instances(self, region: str, instance_ids: Sequence[str]) -> FleetDescription:
        """These instances, managed or not, by id; an id EC2 no longer knows is simply absent.

        A filter on ``instance-id`` rather than ``InstanceIds``: one unknown id would fail the
        whole call with InvalidInstanceID.NotFound. One call per 200 ids.
        """
        ids = _unique(instance_ids)
        if not ids:
            return FleetDescription(region=region)

        def work(ec2: Any) -> FleetDescription:
            raws = [
                raw
                for chunk in _chunks(ids, FILTER_VALUES_PER_CALL)
                for raw in self._iter_instances(
                    ec2, filters=[{"Name": "instance-id", "Values": chunk}]
                )
            ]
            return self._to_description(region, ec2, raws)

        return await self._run(region, EC2_SERVICE, work)

    async def describe_instances(
        self, region: str, instance_ids: Sequence[str]
    ) -> list[CMLWorkerInstanceDto]:
        """These instances (managed or not); ``InstanceNotFoundError`` if one does not exist."""
        ids = _unique(instance_ids)
        if not ids:
            return []

        def work(ec2: Any) -> list[CMLWorkerInstanceDto]:
            raws = [
                raw
                for chunk in _chunks(ids, INSTANCE_IDS_PER_CALL)
                for raw in self._iter_instances(ec2, instance_ids=chunk)
            ]
            return self._to_dtos(region, ec2, raws)

        return await self._run(region, EC2_SERVICE, work)

    async def discover(self, region: str) -> list[CMLWorkerInstanceDto]:
        """Unmanaged, non-terminated instances whose AMI name or tags say "CML worker"."""
        patterns = list(self._aws.discovery_ami_name_patterns)
        tag_keys = set(self._aws.discovery_tag_keys)
        managed_key = self._aws.managed_tag_key

        def looks_like_cml(dto: CMLWorkerInstanceDto) -> bool:
            if dto.tags.get(managed_key) == MANAGED_TAG_VALUE:
                return False
            if tag_keys & dto.tags.keys():
                return True
            name = dto.ami_name or ""
            return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)

        def work(ec2: Any) -> list[CMLWorkerInstanceDto]:
            state_filter = {"Name": "instance-state-name", "Values": _DISCOVERABLE_STATES}
            raws = list(self._iter_instances(ec2, filters=[state_filter]))
            unmanaged = [
                raw
                for raw in raws
                if tags_to_dict(raw.get("Tags")).get(managed_key) != MANAGED_TAG_VALUE
            ]
            # An instance whose record does not map is left out, never the whole discovery.
            described = self._to_description(region, ec2, unmanaged)
            for problem in described.problems:
                log.warning("%s: discovery skipped %s", region, problem.problem)
            return [dto for dto in described.instances if looks_like_cml(dto)]

        return await self._run(region, EC2_SERVICE, work)

    async def adopt_instances(
        self,
        region: str,
        instance_ids: Sequence[str],
        worker_ids: Mapping[str, str] | None = None,
    ) -> dict[str, str]:
        """Tag instances as managed; returns instance id -> worker id (new uuid unless given).

        One CreateTags per instance, since each carries its own worker id; managed tag and
        worker id go in the same call so an instance is never managed without an id.
        """
        given = dict(worker_ids or {})
        assigned = {iid: given.get(iid) or str(uuid.uuid4()) for iid in _unique(instance_ids)}

        def tag_one(instance_id: str, worker_id: str, ec2: Any) -> None:
            ec2.create_tags(
                Resources=[instance_id],
                Tags=tags_to_list(
                    {self._aws.managed_tag_key: MANAGED_TAG_VALUE, WORKER_ID_TAG: worker_id}
                ),
            )

        await asyncio.gather(
            *(
                self._run(region, EC2_SERVICE, partial(tag_one, iid, wid))
                for iid, wid in assigned.items()
            )
        )
        return assigned

    # -- create ---------------------------------------------------------------------------------

    def _resolve_ami(self, region: str, ec2: Any) -> tuple[str, str | None]:
        """(AMI id, AMI name) for the region: configured id, else newest image of that name."""
        ami_id = self._config.cml_worker_ami_ids.get(region)
        if ami_id:
            return ami_id, self._ami_names_for(region, ec2, [ami_id]).get(ami_id)
        ami_name = self._config.cml_worker_ami_names.get(region)
        if not ami_name:
            raise AmiNotFoundError(
                f"{region}: no CML AMI configured; set cml_worker_ami_ids or "
                f"cml_worker_ami_names for {region}",
                region=region,
                operation="RunInstances",
            )
        images = ec2.describe_images(Filters=[{"Name": "name", "Values": [ami_name]}]).get(
            "Images", []
        )
        if not images:
            raise AmiNotFoundError(
                f"{region}: no AMI named '{ami_name}' visible to this account; check "
                f"cml_worker_ami_names.{region} (DescribeImages)",
                region=region,
                operation="DescribeImages",
            )
        newest = max(images, key=lambda image: image.get("CreationDate") or "")
        with self._ami_lock:
            self._ami_names[(region, newest["ImageId"])] = newest.get("Name")
        return newest["ImageId"], newest.get("Name")

    def _security_group_ids(self, region: str, ec2: Any) -> list[str]:
        if self._config.cml_worker_security_group_ids:
            return list(self._config.cml_worker_security_group_ids)
        names = list(self._config.cml_worker_security_group_names)
        if not names:
            return []
        filters = [{"Name": "group-name", "Values": names}]
        if self._config.cml_worker_vpc_id:
            filters.append({"Name": "vpc-id", "Values": [self._config.cml_worker_vpc_id]})
        groups = ec2.describe_security_groups(Filters=filters).get("SecurityGroups", [])
        by_name = {group["GroupName"]: group["GroupId"] for group in groups}
        missing = [name for name in names if name not in by_name]
        if missing:
            raise AwsRequestError(
                f"{region}: {noun_form(len(missing), 'security group')} not found: "
                f"{', '.join(missing)}; check "
                f"cml_worker_security_group_names (DescribeSecurityGroups)",
                region=region,
                operation="DescribeSecurityGroups",
            )
        return [by_name[name] for name in names]

    def worker_tags(self, worker_id: str, name: str | None) -> dict[str, str]:
        """The tags a new worker gets: defaults (formatted), its Name, and the managed tags."""
        display_name = name or f"cml-worker-{worker_id}"
        tags = {
            key: _format_tag_value(value, worker_id=worker_id, name=display_name)
            for key, value in self._config.cml_worker_default_tags.items()
        }
        tags["Name"] = display_name
        tags[self._aws.managed_tag_key] = MANAGED_TAG_VALUE
        tags[WORKER_ID_TAG] = worker_id
        return tags

    async def resolve_image(self, region: str) -> tuple[str, str | None]:
        """(AMI id, AMI name) a new worker of ``region`` would launch from."""
        return await self._run(region, EC2_SERVICE, partial(self._resolve_ami, region))

    async def create_instance(
        self,
        region: str,
        worker_id: str,
        name: str | None,
        instance_type: str | None = None,
        *,
        image: tuple[str, str | None] | None = None,
    ) -> CMLWorkerInstanceDto:
        """Launch one CML worker; ``name`` empty means ``cml-worker-{worker_id}``.

        ``image``: the (AMI id, name) from ``resolve_image``; looked up when not given. The
        ClientToken is ``client_token_for(worker_id)``: a retried or repeated RunInstances for
        the same worker cannot launch a second instance.
        """
        tags = tags_to_list(self.worker_tags(worker_id, name))

        def work(ec2: Any) -> CMLWorkerInstanceDto:
            ami_id, ami_name = image or self._resolve_ami(region, ec2)
            params: dict[str, Any] = {
                "ImageId": ami_id,
                "InstanceType": instance_type or self._config.cml_worker_instance_type,
                "MinCount": 1,
                "MaxCount": 1,
                # Idempotent: a retried RunInstances cannot launch a second worker.
                "ClientToken": client_token_for(worker_id),
                "TagSpecifications": [
                    {"ResourceType": "instance", "Tags": tags},
                    {"ResourceType": "volume", "Tags": tags},
                ],
            }
            group_ids = self._security_group_ids(region, ec2)
            if group_ids:
                params["SecurityGroupIds"] = group_ids
            subnet_id = subnet_for_launch(self._config, region, ec2)
            if subnet_id:
                params["SubnetId"] = subnet_id
            if self._config.cml_worker_key_name:
                params["KeyName"] = self._config.cml_worker_key_name
            reply = ec2.run_instances(**params)
            return instance_to_dto(reply["Instances"][0], region=region, ami_name=ami_name)

        return await self._run(region, EC2_SERVICE, work)

    # -- start / stop / terminate ---------------------------------------------------------------

    async def start_instances(self, region: str, instance_ids: Sequence[str]) -> None:
        """Start many instances; refuses the batch if one is terminated (see module doc)."""
        ids = _unique(instance_ids)
        if not ids:
            return

        def work(ec2: Any) -> None:
            for chunk in _chunks(ids, INSTANCE_IDS_PER_CALL):
                refused = [
                    raw["InstanceId"]
                    for raw in self._iter_instances(ec2, instance_ids=chunk)
                    if status_from_ec2_state((raw.get("State") or {}).get("Name")) in _UNSTARTABLE
                ]
                if refused:
                    raise InvalidStateError(
                        f"{region}: cannot start terminated "
                        f"{noun_form(len(refused), 'instance')} {', '.join(refused)} "
                        f"(StartInstances)",
                        region=region,
                        operation="StartInstances",
                    )
                ec2.start_instances(InstanceIds=chunk)

        await self._run(region, EC2_SERVICE, work)

    async def stop_instances(self, region: str, instance_ids: Sequence[str]) -> None:
        await self._batch(region, instance_ids, "stop_instances")

    async def terminate_instances(self, region: str, instance_ids: Sequence[str]) -> None:
        await self._batch(region, instance_ids, "terminate_instances")

    async def _batch(self, region: str, instance_ids: Sequence[str], method: str) -> None:
        ids = _unique(instance_ids)
        if not ids:
            return

        def work(ec2: Any) -> None:
            for chunk in _chunks(ids, INSTANCE_IDS_PER_CALL):
                getattr(ec2, method)(InstanceIds=chunk)

        await self._run(region, EC2_SERVICE, work)

    async def start_instance(self, region: str, instance_id: str) -> None:
        await self.start_instances(region, [instance_id])

    async def stop_instance(self, region: str, instance_id: str) -> None:
        await self.stop_instances(region, [instance_id])

    async def terminate_instance(self, region: str, instance_id: str) -> None:
        await self.terminate_instances(region, [instance_id])

    # -- CloudWatch -----------------------------------------------------------------------------

    async def cpu_utilization(self, region: str, instance_ids: Sequence[str]) -> dict[str, float]:
        """Newest average CPUUtilization per instance over the last 15 minutes.

        At most ``METRIC_QUERIES_PER_CALL`` queries per GetMetricData call; instances without a
        datapoint are absent from the result.
        """
        ids = _unique(instance_ids)
        if not ids:
            return {}
        end = self._clock()
        start = end - CPU_WINDOW
        parts = await asyncio.gather(
            *(
                self._run(region, CLOUDWATCH_SERVICE, partial(self._cpu_chunk, chunk, start, end))
                for chunk in _chunks(ids, METRIC_QUERIES_PER_CALL)
            )
        )
        merged: dict[str, float] = {}
        for part in parts:
            merged.update(part)
        return merged

    @staticmethod
    def _cpu_chunk(
        instance_ids: list[str], start: datetime, end: datetime, cloudwatch: Any
    ) -> dict[str, float]:
        queries = [
            {
                "Id": f"c{index}",
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/EC2",
                        "MetricName": "CPUUtilization",
                        "Dimensions": [{"Name": "InstanceId", "Value": instance_id}],
                    },
                    "Period": CPU_PERIOD_SECONDS,
                    "Stat": "Average",
                },
                "ReturnData": True,
            }
            for index, instance_id in enumerate(instance_ids)
        ]
        newest: dict[str, tuple[datetime, float]] = {}
        paginator = cloudwatch.get_paginator("get_metric_data")
        pages = paginator.paginate(
            MetricDataQueries=queries, StartTime=start, EndTime=end, ScanBy="TimestampDescending"
        )
        for page in pages:
            for result in page.get("MetricDataResults", []):
                query_id = result.get("Id", "")
                if not query_id.startswith("c") or not query_id[1:].isdigit():
                    continue
                instance_id = instance_ids[int(query_id[1:])]
                for when, value in zip(
                    result.get("Timestamps", []), result.get("Values", []), strict=False
                ):
                    if instance_id not in newest or when > newest[instance_id][0]:
                        newest[instance_id] = (when, float(value))
        return {instance_id: value for instance_id, (_, value) in newest.items()}
