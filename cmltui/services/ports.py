"""The small interfaces between the controller and its adapters (and the UI).

The controller depends on these protocols only; ``cmltui.aws.gateway.AwsGateway``,
``cmltui.cml.pool.CmlClientPool`` and ``cmltui.store`` implement them.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Protocol

from cmltui.aws.dto import CMLWorkerInstanceDto, FleetDescription
from cmltui.cml.models import (
    CmlActivityEvent,
    CmlImportedLab,
    CmlLab,
    CmlLabDetails,
    CmlLicensing,
    CmlSystemInfo,
    CmlSystemStats,
    LicenseDeregistrationResult,
    LicenseRegistrationResult,
)
from cmltui.domain.events import CloudEvent
from cmltui.domain.lease import LeaseView, PollMark
from cmltui.domain.worker import CMLWorker, CMLWorkerState
from cmltui.domain.worker_policy import PolicyChange
from cmltui.services.discovery import DiscoveredInstance
from cmltui.services.snapshot import ActionResult, ChangeSet, RefreshSummary

if TYPE_CHECKING:
    from cmltui.services.labs import LabsService


class FleetGateway(Protocol):
    """EC2 + CloudWatch for every configured region. Every method runs boto3 in a thread."""

    @property
    def request_count(self) -> int:
        """AWS HTTP requests sent so far (counted with a botocore event hook, retries included)."""

    async def describe_fleet(self, region: str) -> list[CMLWorkerInstanceDto]:
        """Every managed instance of the region (paginated; terminated ones included)."""

    async def describe_managed(self, region: str) -> FleetDescription:
        """As ``describe_fleet``, with a problem per instance whose record does not map."""

    async def lookup_instances(self, region: str, instance_ids: Sequence[str]) -> FleetDescription:
        """These instances by id, managed or not; ids EC2 no longer knows are absent."""

    async def discover(self, region: str) -> list[CMLWorkerInstanceDto]:
        """Instances that look like CML workers but are not managed yet."""

    async def resolve_image(self, region: str) -> tuple[str, str | None]:
        """(AMI id, AMI name) a new worker of ``region`` would launch from."""

    async def create_instance(
        self,
        region: str,
        worker_id: str,
        name: str,
        instance_type: str | None = None,
        *,
        image: tuple[str, str | None] | None = None,
    ) -> CMLWorkerInstanceDto:
        """Launch one worker; idempotent per worker id (RunInstances' ClientToken)."""

    async def start_instances(self, region: str, instance_ids: Sequence[str]) -> None: ...

    async def stop_instances(self, region: str, instance_ids: Sequence[str]) -> None: ...

    async def terminate_instances(self, region: str, instance_ids: Sequence[str]) -> None: ...

    async def adopt_instances(
        self,
        region: str,
        instance_ids: Sequence[str],
        worker_ids: Mapping[str, str] | None = None,
    ) -> dict[str, str]:
        """Tag discovered instances as managed (import); returns instance id -> worker id."""

    async def cpu_utilization(self, region: str, instance_ids: Sequence[str]) -> dict[str, float]:
        """Latest CloudWatch CPUUtilization per instance id (missing = no datapoint)."""

    async def close(self) -> None: ...


class FleetStore(Protocol):
    """The repository as the controller uses it (``cmltui.store.TinyDbWorkerRepository``)."""

    notices: list[str]

    @property
    def read_only(self) -> bool:
        """True when this process only reads the data file (asked, or it cannot be written)."""

    @property
    def read_only_reason(self) -> str:
        """Why it refuses writes when not asked to (a newer schema, a damaged file)."""

    @property
    def pending_write(self) -> bool:
        """True when memory holds changes the data file does not (a failed write)."""

    async def get_all_async(self) -> list[CMLWorker]: ...

    async def save_many_async(self, entities: list[CMLWorker]) -> int:
        """Save workers and their new events in one transaction (merged with other writers)."""

    async def flush_async(self) -> bool: ...

    async def delete_async(self, worker_id: str, worker: CMLWorker | None = None) -> bool: ...

    async def sync_async(self) -> None:
        """Catch up with what other processes wrote to the data file."""

    def take_refreshed(self) -> tuple[list[CMLWorkerState], set[str]]:
        """Worker states other processes changed since the last call, and workers they forgot."""

    async def claim_lease_async(self, holder: str, ttl: timedelta) -> LeaseView:
        """Take or renew the automatic-policy lease (one process at a time runs policies)."""

    def release_lease(self, holder: str) -> None: ...

    async def poll_mark_async(self) -> PollMark | None:
        """The policy runner's last CML poll mark (None: none yet, or unreadable)."""

    async def put_poll_mark_async(self, mark: PollMark) -> None:
        """Store this process's poll mark (it holds the lease); a viewer stores nothing."""

    def events(self, worker_id: str | None = None, limit: int | None = None) -> list[CloudEvent]:
        """The audit trail, oldest first (a shared table's is a network read)."""

    def cached_events(self, worker_id: str, limit: int | None = None) -> list[CloudEvent] | None:
        """A worker's newest events from memory, never waiting on the network; None when its
        trail has not been read yet (``load_trails``)."""

    def cached_events_of_types(
        self, worker_id: str, types: Container[str]
    ) -> list[CloudEvent] | None:
        """``cached_events`` of these types only, oldest first (the others are not validated)."""

    def load_trails(self, worker_ids: Iterable[str]) -> None:
        """Read these workers' trails into memory (may block on the network: a worker thread)."""


class CmlClient(Protocol):
    """One long-lived client per worker endpoint (keep-alive, cached token)."""

    @property
    def request_count(self) -> int: ...

    @property
    def login_count(self) -> int: ...

    @property
    def labs_may_have_changed(self) -> bool:
        """The labs list is due again (never read, a lab event since, or events untrusted)."""

    @property
    def licence_may_have_changed(self) -> bool:
        """A licence telemetry event arrived since the last licence read."""

    async def system_information(self) -> CmlSystemInfo: ...

    async def system_stats(self) -> CmlSystemStats: ...

    async def labs(self) -> list[CmlLab]:
        """Every lab (``/labs?show_all=true`` then each lab, concurrently)."""

    async def licensing(self) -> CmlLicensing: ...

    async def register_license(self, token: str) -> LicenseRegistrationResult: ...

    async def deregister_license(self) -> LicenseDeregistrationResult: ...

    async def new_activity_events(self) -> list[CmlActivityEvent]:
        """User-activity events not returned before (a cursor remembers the newest seen)."""

    # Lab calls: never part of the fleet's cycle; the labs screen and the lab commands only.
    async def lab_details(self, lab_id: str) -> CmlLabDetails:
        """One lab (``labs/{id}``, plus its node states when it runs)."""

    async def labs_with_details(self) -> list[CmlLabDetails]:
        """Every lab with its details: 1 + labs + started labs requests."""

    async def lab_state(self, lab_id: str, *, title: str | None = None) -> str:
        """DEFINED_ON_CORE, STOPPED or STARTED (one cheap request)."""

    async def start_lab(self, lab_id: str, *, title: str | None = None) -> None: ...

    async def stop_lab(self, lab_id: str, *, title: str | None = None) -> None: ...

    async def wipe_lab(self, lab_id: str, *, title: str | None = None) -> None: ...

    async def delete_lab(self, lab_id: str, *, title: str | None = None) -> None: ...

    async def download_lab_yaml(self, lab_id: str, *, title: str | None = None) -> str: ...

    async def import_lab_yaml(self, yaml_text: str, title: str | None = None) -> CmlImportedLab:
        """The new lab's id and CML's warnings; the text is checked before it is sent."""

    async def aclose(self) -> None: ...


class CmlClientPool(Protocol):
    """Owns the per-worker clients and the global bound on concurrent CML requests."""

    @property
    def request_count(self) -> int: ...

    @property
    def login_count(self) -> int: ...

    @property
    def tls_insecure(self) -> bool: ...

    def client_for(self, worker_id: str, base_url: str) -> CmlClient:
        """The worker's client, created on first use and kept while its base URL holds."""

    async def forget(self, worker_id: str) -> None:
        """Close and drop a worker's client (terminated, or its endpoint changed)."""

    async def aclose(self) -> None: ...


ChangeSetListener = Callable[[ChangeSet], None]


class FleetService(Protocol):
    """What the UI (and the headless CLI) may ask of the controller. No Textual here."""

    read_only: bool

    def subscribe(self, listener: ChangeSetListener) -> None:
        """Call ``listener`` with every change set (from the event loop's thread)."""

    def current(self) -> ChangeSet:
        """A full change set of the fleet as it stands."""

    async def start(self, *, hold_loops: bool = False) -> None:
        """Load the stored fleet, publish it at once, then start the refresh loops.

        ``hold_loops``: the loops wait for ``release_loops`` (the dashboard calls it once the
        stored fleet is painted, so that the first paint does not share the CPU with the first
        refresh), or ``LOOP_HOLD_MAX_SECONDS`` at most."""

    def release_loops(self) -> None:
        """Let held loops run (see ``start``); nothing when they run already."""

    async def stop(self) -> None: ...

    def request_refresh(self) -> None:
        """Run EC2, CloudWatch and CML refreshes now (without waiting for them)."""

    async def refresh_once(self) -> RefreshSummary: ...

    async def start_workers(self, worker_ids: Sequence[str]) -> ActionResult: ...

    async def stop_workers(self, worker_ids: Sequence[str]) -> ActionResult: ...

    async def terminate_workers(self, worker_ids: Sequence[str]) -> ActionResult: ...

    async def create_worker(
        self, name: str, region: str, instance_type: str | None = None
    ) -> ActionResult: ...

    async def register_license(self, worker_id: str, token: str) -> ActionResult: ...

    async def deregister_license(self, worker_id: str) -> ActionResult: ...

    async def discover(self) -> list[DiscoveredInstance]: ...

    def discovery_errors(self) -> list[str]:
        """The regions whose last discovery failed, as "region discovery: reason" lines."""

    async def import_instances(
        self, instances: Sequence[DiscoveredInstance | CMLWorkerInstanceDto]
    ) -> ActionResult: ...

    async def reattach_workers(self, worker_ids: Sequence[str]) -> ActionResult:
        """Put the managed tags back on detached workers' instances."""

    def name_problem(self, name: str) -> str | None:
        """Why ``name`` cannot name a new worker, or None (checked as the operator types)."""

    async def set_auto_stop_opt_out(
        self, worker_ids: Sequence[str], opt_out: bool
    ) -> ActionResult: ...

    async def set_policy(self, worker_ids: Sequence[str], change: PolicyChange) -> ActionResult:
        """Set the workers' own policy (idle threshold, schedule, maintenance, auto-stop)."""

    async def forget_workers(self, worker_ids: Sequence[str]) -> ActionResult:
        """Remove terminated workers' records (their events stay in the audit trail)."""

    def events_for(self, worker_id: str | None, limit: int = 200) -> list[CloudEvent]:
        """The audit trail (newest last), for one worker or all."""

    def labs(self) -> LabsService:
        """The labs of each worker: sessions polled only while open, lab actions, files."""
