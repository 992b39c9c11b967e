"""boto3 response dictionaries -> DTOs. Nothing past the gateway sees a raw boto3 dict."""

from __future__ import annotations

from typing import Any

from cmltui.aws.dto import CMLWorkerInstanceDto
from cmltui.aws.errors import AwsRequestError
from cmltui.domain.enums import status_from_ec2_state
from cmltui.domain.names import visible


def tags_to_dict(tags: list[dict[str, str]] | None) -> dict[str, str]:
    """EC2's ``[{"Key": k, "Value": v}]`` as a plain dict."""
    return {tag["Key"]: tag.get("Value", "") for tag in tags or [] if "Key" in tag}


def tags_to_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in tags.items()]


def instance_to_dto(
    raw: dict[str, Any], *, region: str, ami_name: str | None = None
) -> CMLWorkerInstanceDto:
    """One ``Instances[]`` entry of describe_instances / run_instances as a DTO.

    An entry of an unexpected shape (a field missing or of the wrong type) raises
    ``AwsRequestError``: nothing else leaves the AWS layer.
    """
    try:
        return _instance_to_dto(raw, region=region, ami_name=ami_name)
    except (AttributeError, KeyError, TypeError, ValueError) as err:  # ValidationError too
        instance_id = raw.get("InstanceId") if isinstance(raw, dict) else None
        what = (
            f"instance {visible(instance_id)}"  # remote text: shown escaped
            if isinstance(instance_id, str) and instance_id
            else "an instance"
        )
        raise AwsRequestError(
            f"{region}: unexpected answer from AWS for {what} ({type(err).__name__})",
            region=region,
        ) from err


def _instance_to_dto(
    raw: dict[str, Any], *, region: str, ami_name: str | None
) -> CMLWorkerInstanceDto:
    instance_id = raw["InstanceId"]
    if not isinstance(instance_id, str) or not instance_id.strip():
        # Nothing could be asked of or done to it: a bad record, not a worker.
        raise ValueError("an instance without an id")
    return CMLWorkerInstanceDto(
        aws_instance_id=instance_id,
        region=region,
        ami_id=raw.get("ImageId") or None,
        ami_name=ami_name,
        instance_type=raw.get("InstanceType") or None,
        state=status_from_ec2_state((raw.get("State") or {}).get("Name")),
        public_ip=raw.get("PublicIpAddress") or None,
        private_ip=raw.get("PrivateIpAddress") or None,
        public_dns=raw.get("PublicDnsName") or None,
        launch_time=raw.get("LaunchTime"),
        tags=tags_to_dict(raw.get("Tags")),
        key_pair_name=raw.get("KeyName") or None,
    )
