"""What the gateway returns: validated DTOs, never raw boto3 dictionaries."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from cmltui.domain.enums import CMLWorkerStatus


class CMLWorkerInstanceDto(BaseModel):
    """One EC2 instance as cmltui sees it (the seed's CMLWorkerInstanceDto)."""

    model_config = ConfigDict(frozen=True)

    aws_instance_id: str
    region: str
    ami_id: str | None = None
    ami_name: str | None = None
    instance_type: str | None = None
    #: Already mapped by ``status_from_ec2_state`` (the one mapping).
    state: CMLWorkerStatus = CMLWorkerStatus.UNKNOWN
    public_ip: str | None = None
    private_ip: str | None = None
    public_dns: str | None = None
    launch_time: datetime | None = None
    tags: dict[str, str] = {}
    key_pair_name: str | None = None

    @property
    def name(self) -> str:
        return self.tags.get("Name") or self.aws_instance_id

    @property
    def worker_id(self) -> str | None:
        """The cmltui worker id recorded in the managed tag, if any."""
        return self.tags.get("cmltui:worker-id")
