"""What the gateway reads of EC2: managed instances, instances by id, discovery, adoption.

Cost for N managed workers in a region: ceil(N/1000) DescribeInstances pages, plus one
DescribeImages per 200 AMI ids never seen before (names are cached per AMI id).
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from functools import partial
from typing import Any

from botocore import exceptions as bce

from cmltui.aws.dto import (
    WORKER_ID_TAG,
    CMLWorkerInstanceDto,
    FleetDescription,
    InstanceProblem,
)
from cmltui.aws.errors import AwsError, AwsRequestError
from cmltui.aws.gateway_transport import (
    EC2_SERVICE,
    INSTANCE_IDS_PER_CALL,
    MANAGED_TAG_VALUE,
    GatewayTransport,
    chunks,
    unique,
)
from cmltui.aws.mapping import instance_to_dto, tags_to_dict, tags_to_list

log = logging.getLogger("cmltui.aws.gateway")

#: Values per EC2 filter (real AWS caps the number of filter values).
FILTER_VALUES_PER_CALL = 200

#: States in which an instance exists for discovery (terminated ones cannot be imported).
_DISCOVERABLE_STATES = ["pending", "running", "stopping", "stopped"]


def _image_id(raw: Any) -> str:
    image_id = raw.get("ImageId", "") if isinstance(raw, dict) else ""
    return image_id if isinstance(image_id, str) else ""


class DescribeMixin(GatewayTransport):
    """Describe, look up, discover and adopt instances (part of ``AwsGateway``)."""

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
        wanted = unique(ami_ids)
        with self._ami_lock:
            unknown = [ami for ami in wanted if (region, ami) not in self._ami_names]
        if unknown:
            found: dict[str, str | None] = dict.fromkeys(unknown)
            try:
                for chunk in chunks(unknown, FILTER_VALUES_PER_CALL):
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
        ids = unique(instance_ids)
        if not ids:
            return FleetDescription(region=region)

        def work(ec2: Any) -> FleetDescription:
            raws = [
                raw
                for chunk in chunks(ids, FILTER_VALUES_PER_CALL)
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
        ids = unique(instance_ids)
        if not ids:
            return []

        def work(ec2: Any) -> list[CMLWorkerInstanceDto]:
            raws = [
                raw
                for chunk in chunks(ids, INSTANCE_IDS_PER_CALL)
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
        assigned = {iid: given.get(iid) or str(uuid.uuid4()) for iid in unique(instance_ids)}

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
