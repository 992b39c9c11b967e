"""What the import dialog and ``cmltui import`` offer: instances cmltui could start managing.

A service type, so the UI never sees the AWS layer's DTO. Each instance says whether it can be
imported and, if not, why (its name, a duplicate of a live worker's name); copies of a managed
instance (same worker id tag) are offered too, as "copy of <name>", to import as new workers.
"""

from __future__ import annotations

from dataclasses import dataclass

from cmltui.aws.dto import CMLWorkerInstanceDto
from cmltui.domain.enums import CMLWorkerStatus
from cmltui.domain.names import name_key, name_problem, normalize_name


@dataclass(frozen=True, slots=True)
class DiscoveredInstance:
    """One importable (or, with ``problem``, not importable) EC2 instance."""

    instance: CMLWorkerInstanceDto
    #: Name of the worker whose id this instance carries (a copy of its instance), if any.
    copy_of: str | None = None
    #: Why it cannot be imported as it is (None: it can).
    problem: str | None = None

    @property
    def aws_instance_id(self) -> str:
        return self.instance.aws_instance_id

    @property
    def region(self) -> str:
        return self.instance.region

    @property
    def name(self) -> str:
        return self.instance.name

    @property
    def state(self) -> CMLWorkerStatus:
        return self.instance.state

    @property
    def instance_type(self) -> str | None:
        return self.instance.instance_type

    @property
    def ami_name(self) -> str | None:
        return self.instance.ami_name

    @property
    def importable(self) -> bool:
        return self.problem is None


def import_problem(
    instance: CMLWorkerInstanceDto, live_name_keys: set[str], batch_name_keys: set[str]
) -> str | None:
    """Why ``instance`` cannot become a worker under its Name tag, or None.

    ``live_name_keys``: names of live workers; ``batch_name_keys``: names taken earlier in the
    same import (two instances of one name cannot both come in).
    """
    if not instance.has_name:
        return "it has no Name tag: name it in EC2 first"
    name = normalize_name(instance.name)
    problem = name_problem(name)
    if problem is not None:
        return problem
    key = name_key(name)
    if key in live_name_keys:
        return "a live worker already has this name: rename it in EC2 first"
    if key in batch_name_keys:
        return "another instance in this import has the same name"
    return None
