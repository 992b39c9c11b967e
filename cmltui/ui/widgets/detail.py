"""The selected worker in full: every attribute of the seed's model, history, cost, events."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Sparkline, Static

from cmltui.domain.events import CloudEvent
from cmltui.services.snapshot import WorkerSnapshot
from cmltui.ui.formatting import (
    clean,
    duration,
    license_text,
    money,
    percent_text,
    plain,
    service_text,
    status_text,
    timestamp,
)

LABEL_WIDTH = 15


def _field(label: str, value: Text | str | None) -> Text:
    line = Text(f"{label:<{LABEL_WIDTH}}", style="dim", no_wrap=True, overflow="ellipsis")
    line.append_text(value if isinstance(value, Text) else plain(value))
    return line


def _group(title: str, rows: Sequence[Text]) -> Text:
    heading = Text(title, style="bold underline")
    return Text("\n").join([heading, *rows])


def idle_countdown(snapshot: WorkerSnapshot) -> Text:
    if snapshot.auto_stop_opt_out:
        return Text("auto-stop: opted out", style="dim")
    if snapshot.auto_stop_in_minutes is None:
        return Text("auto-stop: not scheduled", style="dim")
    minutes = snapshot.auto_stop_in_minutes
    style = "bold red" if minutes < 5 else "yellow"
    return Text(f"auto-stop in {duration(minutes * 60)}", style=style)


def describe_event(event: CloudEvent) -> Text:
    """One line per event: time, short type, and the fields that say what happened."""
    kind = event.type.removeprefix("cmltui.worker.").removesuffix(".v1")
    data = event.data
    details: list[str] = []
    for old, new in (("old_status", "new_status"), ("old_service_status", "new_service_status")):
        if old in data and new in data:
            details.append(f"{data[old]}→{data[new]}")
    for key in ("license_status", "reason", "changed_by", "created_by", "terminated_by", "name"):
        if data.get(key):
            details.append(f"{key}={data[key]}")
    if "active_labs_count" in data:
        details.append(f"labs={data['active_labs_count']}")
    line = Text(event.time.strftime("%m-%d %H:%M:%S "), style="dim", no_wrap=True)
    line.append(kind, style="bold")
    if details:
        line.append(" ")
        line.append(clean(" ".join(details)))
    return line


def _idle_duration(snapshot: WorkerSnapshot) -> str:
    return duration(None if snapshot.idle_minutes is None else snapshot.idle_minutes * 60)


def worker_fields(snapshot: WorkerSnapshot) -> Text:
    """The seed's attributes in the seed's groups, plus cmltui's idle and cost figures."""
    insecure = Text(" (TLS not verified)", style="bold red") if snapshot.tls_insecure else Text()
    version = plain(snapshot.cml_version)
    if snapshot.cml_version and not snapshot.cml_version_supported:
        version.append(" (unsupported)", style="red")
    endpoint = plain(snapshot.https_endpoint)
    endpoint.append_text(insecure)
    groups = [
        _group(
            "Identity & infrastructure",
            [
                _field("id", snapshot.id),
                _field("name", snapshot.name),
                _field("region", snapshot.region),
                _field("instance id", snapshot.aws_instance_id),
                _field("instance type", snapshot.instance_type),
                _field("AMI id", snapshot.ami_id),
                _field("AMI name", snapshot.ami_name),
            ],
        ),
        _group(
            "State",
            [
                _field("EC2", status_text(snapshot.status)),
                _field("CML service", service_text(snapshot.service_status)),
                _field("uptime", duration(snapshot.uptime_seconds)),
            ],
        ),
        _group(
            "CML",
            [
                _field("version", version),
                _field("licence", license_text(snapshot.license_status)),
                _field("licence token", snapshot.license_token_masked),
                _field("endpoint", endpoint),
            ],
        ),
        _group(
            "Networking",
            [_field("public IP", snapshot.public_ip), _field("private IP", snapshot.private_ip)],
        ),
        _group(
            "Telemetry",
            [
                _field("active labs", str(snapshot.active_labs_count)),
                _field("CPU", percent_text(snapshot.cpu_utilization)),
                _field("memory", percent_text(snapshot.memory_utilization)),
                _field("last activity", timestamp(snapshot.last_activity_at)),
                _field(
                    "idle for",
                    Text(
                        _idle_duration(snapshot) + (" (idle)" if snapshot.is_idle else ""),
                        style="yellow" if snapshot.is_idle else "",
                    ),
                ),
                _field("idle policy", idle_countdown(snapshot)),
            ],
        ),
        _group(
            "Cost",
            [
                _field("per hour", money(snapshot.hourly_cost_usd, per_hour=True)),
                _field("so far", money(snapshot.cost_so_far_usd)),
            ],
        ),
        _group(
            "Audit",
            [
                _field("created", timestamp(snapshot.created_at)),
                _field("created by", snapshot.created_by),
                _field("updated", timestamp(snapshot.updated_at)),
                _field("last started", timestamp(snapshot.last_started_at)),
                _field("terminated", timestamp(snapshot.terminated_at)),
                _field("terminated by", snapshot.terminated_by),
            ],
        ),
    ]
    if snapshot.last_error:
        since = timestamp(snapshot.last_error_since)
        groups.insert(
            0,
            _group(
                "Error",
                [Text(f"{clean(snapshot.last_error)} (since {since})", style="bold red")],
            ),
        )
    return Text("\n\n").join(groups)


class DetailPane(VerticalScroll):
    """Scrollable; focusable with ``enter`` so the keyboard can read it all."""

    can_focus = True

    def __init__(self) -> None:
        super().__init__(id="detail")
        self.worker_id: str | None = None
        self.border_title = "Detail"

    def compose(self) -> ComposeResult:
        yield Static(Text("No worker selected", style="dim"), id="detail-title")
        yield Static(id="detail-fields")
        yield Static(Text("CPU % history", style="bold"), classes="spark-label")
        yield Sparkline([], id="spark-cpu")
        yield Static(Text("Memory % history", style="bold"), classes="spark-label")
        yield Sparkline([], id="spark-mem")
        yield Static(Text("Labs history", style="bold"), classes="spark-label")
        yield Sparkline([], id="spark-labs")
        yield Static(id="detail-events")

    def show(self, snapshot: WorkerSnapshot | None, events: Sequence[CloudEvent]) -> None:
        title = self.query_one("#detail-title", Static)
        if snapshot is None:
            self.worker_id = None
            title.update(Text("No worker selected", style="dim"))
            for selector in ("#detail-fields", "#detail-events"):
                self.query_one(selector, Static).update("")
            for spark in self.query(Sparkline):
                spark.data = []
            return
        self.worker_id = snapshot.id
        heading = plain(snapshot.name, "bold")
        heading.append("  ")
        heading.append_text(status_text(snapshot.status))
        title.update(heading)
        self.query_one("#detail-fields", Static).update(worker_fields(snapshot))
        self.query_one("#spark-cpu", Sparkline).data = list(snapshot.cpu_history)
        self.query_one("#spark-mem", Sparkline).data = list(snapshot.memory_history)
        self.query_one("#spark-labs", Sparkline).data = [float(n) for n in snapshot.labs_history]
        lines = [describe_event(event) for event in events] or [Text("none yet", style="dim")]
        self.query_one("#detail-events", Static).update(
            Text("\n").join([Text("Last events", style="bold underline"), *lines])
        )
