"""What the gateway returns: validated DTOs, never raw boto3 dictionaries."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from cmltui.domain.enums import CMLWorkerStatus

#: The tag holding the cmltui worker id of a managed instance.
WORKER_ID_TAG = "cmltui:worker-id"
#: The tag naming the schedule a worker follows (a preference, not proof of anything).
SCHEDULE_TAG = "cmltui:schedule"


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
        """The Name tag without surrounding white space; the instance id when it is blank."""
        return (self.tags.get("Name") or "").strip() or self.aws_instance_id

    @property
    def has_name(self) -> bool:
        return bool((self.tags.get("Name") or "").strip())

    @property
    def worker_id(self) -> str | None:
        """The cmltui worker id recorded in the managed tag, if any."""
        return self.tags.get(WORKER_ID_TAG)

    @property
    def schedule_tag(self) -> str | None:
        """The schedule named by the ``cmltui:schedule`` tag (stripped), None when absent."""
        return (self.tags.get(SCHEDULE_TAG) or "").strip() or None


@dataclass(frozen=True, slots=True)
class InstanceProblem:
    """An instance whose EC2 record could not be read: the rest of the region still is."""

    region: str
    aws_instance_id: str | None
    problem: str


@dataclass(frozen=True, slots=True)
class FleetDescription:
    """One region's answer: the instances that mapped, and a problem per one that did not."""

    region: str
    instances: list[CMLWorkerInstanceDto] = field(default_factory=list)
    problems: list[InstanceProblem] = field(default_factory=list)
