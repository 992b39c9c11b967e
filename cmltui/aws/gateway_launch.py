"""What the gateway changes in EC2: launching a worker, and starting, stopping, terminating.

Terminated instances: real EC2 refuses StartInstances on them, moto does not. So
``start_instances`` first describes the ids it was given (one DescribeInstances per 1,000 ids, an
operator action is rare enough) and refuses the whole batch, as EC2 does, with
``InvalidStateError`` when one of them is terminated or shutting down.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

from cmltui.aws.dto import WORKER_ID_TAG, CMLWorkerInstanceDto
from cmltui.aws.errors import AmiNotFoundError, AwsRequestError, InvalidStateError
from cmltui.aws.gateway_transport import (
    EC2_SERVICE,
    INSTANCE_IDS_PER_CALL,
    MANAGED_TAG_VALUE,
    GatewayTransport,
    chunks,
    unique,
)
from cmltui.aws.mapping import instance_to_dto, tags_to_list
from cmltui.aws.placement import subnet_for_launch
from cmltui.domain.enums import CMLWorkerStatus, status_from_ec2_state
from cmltui.domain.plural import noun_form

_UNSTARTABLE = frozenset({CMLWorkerStatus.TERMINATED, CMLWorkerStatus.SHUTTING_DOWN})


def client_token_for(worker_id: str) -> str:
    """RunInstances' idempotency token for a worker (at most 64 ASCII characters)."""
    return f"cmltui-{worker_id}"[:64]


def _format_tag_value(value: str, **fields: str) -> str:
    """Fill ``{worker_id}`` / ``{name}`` in a configured tag; leave other text as it is."""
    try:
        return value.format(**fields)
    except (KeyError, IndexError, ValueError):
        return value


class LaunchMixin(GatewayTransport):
    """Launch workers; start, stop and terminate instances (part of ``AwsGateway``)."""

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
        """Start many instances; refuses the batch if one is terminated (see this module's doc)."""
        ids = unique(instance_ids)
        if not ids:
            return

        def work(ec2: Any) -> None:
            for chunk in chunks(ids, INSTANCE_IDS_PER_CALL):
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
        ids = unique(instance_ids)
        if not ids:
            return

        def work(ec2: Any) -> None:
            for chunk in chunks(ids, INSTANCE_IDS_PER_CALL):
                getattr(ec2, method)(InstanceIds=chunk)

        await self._run(region, EC2_SERVICE, work)

    async def start_instance(self, region: str, instance_id: str) -> None:
        await self.start_instances(region, [instance_id])

    async def stop_instance(self, region: str, instance_id: str) -> None:
        await self.stop_instances(region, [instance_id])

    async def terminate_instance(self, region: str, instance_id: str) -> None:
        await self.terminate_instances(region, [instance_id])
