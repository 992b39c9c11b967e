"""The detail pane's lines: every attribute of a worker, its history and events, as Text.

Pure: a snapshot (and the clock's now) in, lines out. ``DetailPane`` (detail.py) lays them out.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from rich.console import Console
from rich.text import Text

from cmltui.domain.events import CloudEvent
from cmltui.services.snapshot import WorkerSnapshot
from cmltui.ui.formatting import (
    age,
    duration,
    license_text,
    message,
    money,
    percent_text,
    plain,
    seconds_between,
    status_text,
    timestamp,
)
from cmltui.ui.widgets.columns import service_cell

#: "licence token", "terminated by": the longest labels, plus one space.
LABEL_WIDTH = 14

#: A block of the pane: one ``Text`` per screen line, each cut (or folded) on its own.
Lines = list[Text]


def screen_rows(lines: Lines, width: int, console: Console) -> int:
    """How many screen lines ``lines`` take in a block ``width`` cells wide."""
    return sum(len(line.wrap(console, width)) if _may_fold(line, width) else 1 for line in lines)


def _may_fold(line: Text, width: int) -> bool:
    """Whether a line may take more than one screen line (a cut line, ``no_wrap``, never)."""
    return "\n" in line.plain or (not line.no_wrap and line.cell_len > width)


def _field(label: str, value: Text | str | None) -> Text:
    line = Text(no_wrap=True, overflow="ellipsis")
    line.append(f"{label:<{LABEL_WIDTH}}", style="dim")
    line.append_text(value if isinstance(value, Text) else plain(value))
    return line


def _group(title: str, rows: Sequence[Text]) -> Lines:
    return [Text(title, style="bold underline", no_wrap=True, overflow="ellipsis"), *rows]


def stacked(*groups: Lines) -> Lines:
    """Groups one after the other with a blank line between them."""
    lines: Lines = []
    for group in groups:
        if lines:
            lines.append(Text())
        lines.extend(group)
    return lines


_BARS = "▁▂▃▄▅▆▇█"
#: Room for the value before the sparkline on a telemetry row ("100% ").
VALUE_WIDTH = 6
#: Sparkline width when the column's width is not known yet.
DEFAULT_SPARK_WIDTH = 20


def sparkline(values: Sequence[float], width: int, *, top: float | None = None) -> Text:
    """The newest ``width`` samples as bars (oldest left); ``top`` fixes the scale (100 for %).

    Drawn as text so it sits on the value's own row: three history widgets would take rows
    the pane below the table does not have.
    """
    recent = list(values)[-max(1, width) :]
    if not recent:
        return Text("no history yet", style="dim")
    high = top if top is not None else max(max(recent), 1.0)
    bars = Text(no_wrap=True)
    for value in recent:
        level = min(len(_BARS) - 1, max(0, int(value / high * len(_BARS)))) if high else 0
        if top is not None and value >= 90:
            style = "red"
        elif top is not None and value >= 70:
            style = "yellow"
        else:
            style = "green"
        bars.append(_BARS[level], style=style)
    return bars


def _with_history(value: Text, history: Text) -> Text:
    padded = value.copy()
    padded.justify = None
    padded.pad_right(max(1, VALUE_WIDTH - padded.cell_len))
    return Text.assemble(padded, history)


def idle_countdown(snapshot: WorkerSnapshot) -> Text:
    """Short: it shares a row with its label in a third of the pane."""
    if snapshot.auto_stop_opt_out:
        return Text("opted out of auto-stop", style="dim")
    if snapshot.auto_stop_in_minutes is None:
        return Text("no auto-stop due", style="dim")
    minutes = snapshot.auto_stop_in_minutes
    style = "bold red" if minutes < 5 else "yellow"
    return Text(f"auto-stop in {duration(minutes * 60)}", style=style)


def policy_lines(snapshot: WorkerSnapshot) -> tuple[str, ...]:
    """What the worker's policy does next ("stops at 18:12 UTC if still idle ...")."""
    return snapshot.policy.lines if snapshot.policy is not None else ()


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
    # Intents, their outcomes and lab actions: what, on which lab, by whom, how it went.
    for key in ("action", "target", "lab_title", "requested_by", "outcome", "detail"):
        if data.get(key):
            details.append(f"{key}={data[key]}")
    if "active_labs_count" in data:
        details.append(f"labs={data['active_labs_count']}")
    line = Text(no_wrap=True)
    line.append(event.time.strftime("%m-%d %H:%M:%S "), style="dim")
    line.append(kind, style="bold")
    if details:
        line.append(" ")
        line.append(message(" ".join(details)))
    return line


def _idle_duration(snapshot: WorkerSnapshot) -> str:
    return duration(None if snapshot.idle_minutes is None else snapshot.idle_minutes * 60)


def identity_lines(snapshot: WorkerSnapshot, width: int | None = None) -> Lines:
    """First column: identity & infrastructure, state, networking. ``width``: the column's
    width in cells (None: not known yet)."""
    networking = [
        _field("public IP", snapshot.public_ip),
        _field("private IP", snapshot.private_ip),
    ]
    if snapshot.ssh_login:  # cml_worker_username at the worker's address
        networking.append(_field("SSH", snapshot.ssh_login))
    return stacked(
        _group(
            "Identity & infrastructure",
            [
                _field("id", snapshot.id),
                *long_field_rows("name", plain(snapshot.name), width, whole=True),
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
                _field("CML service", service_cell(snapshot)),
                _field("uptime", duration(snapshot.uptime_seconds)),
            ],
        ),
        _group("Networking", networking),
    )


def telemetry_age(snapshot: WorkerSnapshot, now: datetime | None) -> Text:
    """When the figures below were taken, for figures that are not live."""
    if snapshot.telemetry_at is None:
        return Text("never seen", style="yellow")
    seconds = seconds_between(now, snapshot.telemetry_at) if now is not None else None
    when = f"{age(seconds)} ago" if seconds is not None else timestamp(snapshot.telemetry_at)
    return Text(f"last seen {when}", style="yellow")


def telemetry_rows(
    snapshot: WorkerSnapshot, spark_width: int, now: datetime | None = None
) -> Lines:
    """Labs, CPU and memory with their history: live, or the last seen figures (dim) and when
    they were seen. Never the old figures as if they were current."""
    live = snapshot.telemetry_live
    labs = snapshot.active_labs_count if live else snapshot.seen_active_labs_count
    cpu = snapshot.cpu_utilization if live else snapshot.seen_cpu_utilization
    memory = snapshot.memory_utilization if live else snapshot.seen_memory_utilization
    rows: Lines = []
    if live:
        values = (Text(str(labs)), percent_text(cpu), percent_text(memory))
    else:
        rows.append(_field("figures", telemetry_age(snapshot, now)))
        # History: no threshold colours (they would read as an alarm now), dim.
        seen = snapshot.telemetry_at is not None
        values = (
            Text(str(labs) if seen else "—", style="dim"),
            Text("—" if cpu is None else f"{cpu:.0f}%", style="dim"),
            Text("—" if memory is None else f"{memory:.0f}%", style="dim"),
        )
    rows += [
        _field(
            "active labs",
            _with_history(
                values[0], sparkline([float(n) for n in snapshot.labs_history], spark_width)
            ),
        ),
        _field(
            "CPU",
            _with_history(values[1], sparkline(snapshot.cpu_history, spark_width, top=100.0)),
        ),
        _field(
            "memory",
            _with_history(values[2], sparkline(snapshot.memory_history, spark_width, top=100.0)),
        ),
    ]
    return rows


def long_field_rows(label: str, value: Text, width: int | None, *, whole: bool) -> Lines:
    """A value beside its label when it fits in ``width`` cells, else on a line of its own
    below the label: a name or a URL is never broken after its first characters. On its own
    line a longer value folds onto more lines (``whole``: a name is read whole there) or ends
    in "…" (the endpoint: ``c`` copies it whole)."""
    if width is None or LABEL_WIDTH + value.cell_len <= width:
        return [_field(label, value)]
    value.no_wrap = not whole
    value.overflow = "fold" if whole else "ellipsis"
    return [_field(label, Text()), value]


def service_lines(
    snapshot: WorkerSnapshot,
    spark_width: int = DEFAULT_SPARK_WIDTH,
    now: datetime | None = None,
    *,
    width: int | None = None,
) -> Lines:
    """Second column: CML, telemetry (each figure with its history), idle policy, cost.
    ``width``: the column's width in cells (None: not known yet)."""
    version = plain(snapshot.cml_version)
    if snapshot.cml_version and not snapshot.cml_version_supported:
        version.append(" (unsupported)", style="red")
    cml_rows = [
        _field("version", version),
        _field("licence", license_text(snapshot.license_status)),
        _field("licence token", snapshot.license_token_masked),
        *long_field_rows("endpoint", plain(snapshot.https_endpoint), width, whole=False),
    ]
    if snapshot.tls_insecure:
        cml_rows.append(_field("TLS", Text("not verified", style="bold red")))
    idle = Text(
        _idle_duration(snapshot) + (" (idle)" if snapshot.is_idle else ""),
        style="yellow" if snapshot.is_idle else "",
    )
    return stacked(
        _group("CML", cml_rows),
        _group(
            "Telemetry" if snapshot.telemetry_live else "Telemetry (not live)",
            [
                *telemetry_rows(snapshot, spark_width, now),
                _field("last activity", timestamp(snapshot.last_activity_at)),
                _field("idle for", idle),
                _field("idle policy", idle_countdown(snapshot)),
                # The next automatic action in words (``policy_view``): whole, they wrap.
                *(Text(message(line), style="cyan") for line in policy_lines(snapshot)),
            ],
        ),
        _group(
            "Cost",
            [
                _field("per hour", money(snapshot.hourly_cost_usd, per_hour=True)),
                _field("so far", money(snapshot.cost_so_far_usd)),
                _field("today", money(snapshot.cost_today_usd)),
                _field("this week", money(snapshot.cost_week_usd)),
                _field("auto-stops", f"saved {money(snapshot.saved_week_usd)} this week"),
            ],
        ),
    )


#: Why a detached worker is shown as such (the snapshot says that it is, this says what it means).
DETACHED_REASON = (
    "detached: its instance is still in EC2 but lost cmltui's managed tag; kept as it is, "
    "never recorded as terminated"
)


def error_lines(snapshot: WorkerSnapshot) -> Lines:
    """The worker's last error, detachment and problems, if any (they wrap: every word of
    them matters)."""
    rows: Lines = []
    if snapshot.last_error:
        since = timestamp(snapshot.last_error_since)
        rows.append(Text(f"{message(snapshot.last_error)} (since {since})", style="bold red"))
    if snapshot.detached:
        rows.append(Text(f"⚠ {DETACHED_REASON}", style="bold yellow"))
    rows += [Text(f"⚠ {message(problem)}", style="bold red") for problem in snapshot.problems]
    if not rows:
        return []
    title = "Error" if snapshot.last_error and len(rows) == 1 else "Problems"
    return _group(title, rows)


def audit_lines(snapshot: WorkerSnapshot) -> Lines:
    return _group(
        "Audit",
        [
            _field("created", timestamp(snapshot.created_at)),
            _field("created by", snapshot.created_by),
            _field("updated", timestamp(snapshot.updated_at)),
            _field("last started", timestamp(snapshot.last_started_at)),
            _field("terminated", timestamp(snapshot.terminated_at)),
            _field("terminated by", snapshot.terminated_by),
        ],
    )


#: The newest lifecycle events the pane shows.
EVENT_ROWS = 10


def event_lines(events: Sequence[CloudEvent], rows: int = EVENT_ROWS) -> Lines:
    """The last ``rows`` events, always ``rows`` lines (blank ones after fewer): the block
    keeps its height from worker to worker, so a cursor move repaints it alone instead of
    laying out (and repainting) the whole screen twice (~16 ms a key at 1,000 rows)."""
    lines = [describe_event(event) for event in events[-rows:]] or [Text("none yet", style="dim")]
    for line in lines:
        line.overflow = "ellipsis"
    lines += [Text() for _ in range(rows - len(lines))]
    return _group("Last events", lines)


def worker_lines(snapshot: WorkerSnapshot, now: datetime | None = None) -> Lines:
    """Every attribute of the seed's model in its groups, plus cmltui's idle and cost figures."""
    error = error_lines(snapshot)
    groups = [identity_lines(snapshot), service_lines(snapshot, now=now), audit_lines(snapshot)]
    return stacked(*([error] if error else []), *groups)


#: The pane's three columns, left to right.
