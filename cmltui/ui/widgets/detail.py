"""The selected worker in full: every attribute of the seed's model, history, cost, events.

Laid out in three columns below the table when there is room (identity, infrastructure, state
and networking | CML, telemetry, idle policy, cost and the history sparklines | error, audit and
the last events), or in one column beside or instead of the table.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from rich.console import Console, Group
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Container, VerticalScroll
from textual.events import Resize
from textual.widgets import Static

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


def _blocks(*groups: Lines) -> Lines:
    """Groups one after the other with a blank line between them."""
    lines: Lines = []
    for group in groups:
        if lines:
            lines.append(Text())
        lines.extend(group)
    return lines


_BARS = "▁▂▃▄▅▆▇█"
#: Room for the value before the sparkline on a telemetry row ("100% ").
_VALUE_WIDTH = 6
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
    padded.pad_right(max(1, _VALUE_WIDTH - padded.cell_len))
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
    return _blocks(
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
    return _blocks(
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
    return _blocks(*([error] if error else []), *groups)


#: The pane's three columns, left to right.
COLUMN_IDS = ("detail-col-identity", "detail-col-service", "detail-col-audit")
#: Each column's one ``Static`` (``#detail-<name>``) and the blocks it shows, top to bottom.
STATIC_BLOCKS: dict[str, tuple[str, ...]] = {
    "identity": ("identity",),
    "service": ("service",),
    "audit": ("error", "audit", "events"),
}


class DetailColumn(VerticalScroll):
    """One column of the pane; scrolls on its own when the pane is laid out in columns."""


class DetailPane(VerticalScroll):
    """The selected worker, in three columns (below the table) or one (beside or instead of it).

    In columns each column scrolls and takes the focus; in one column the pane scrolls and
    takes it. ``set_columns`` switches; ``focus_content`` focuses whichever scrolls.
    """

    can_focus = False

    def __init__(self) -> None:
        super().__init__(id="detail")
        self.worker_id: str | None = None
        self.border_title = "Detail"
        self.in_columns = True
        #: What each block shows, kept as plain text for ``text()``.
        self._shown: dict[str, Lines] = {}
        #: What each column's ``Static`` was last given (its blocks, padded), and its height.
        self._drawn: dict[str, tuple[Lines, int]] = {}
        #: The most lines each column has drawn since the last resize (see ``_padded``).
        self._floors: dict[str, int] = {}
        #: The last worker shown, re-drawn on resize (the sparklines fit the column's width).
        self._last: tuple[WorkerSnapshot | None, Sequence[CloudEvent]] = (None, ())
        #: The clock reading the ages ("last seen 3 min ago") were worked out with.
        self._now: datetime | None = None

    def compose(self) -> ComposeResult:
        with Container(id="detail-columns"):
            with DetailColumn(id=COLUMN_IDS[0], classes="detail-column"):
                yield Static(Text("No worker selected", style="dim"), id="detail-identity")
            with DetailColumn(id=COLUMN_IDS[1], classes="detail-column"):
                yield Static(id="detail-service")
            with DetailColumn(id=COLUMN_IDS[2], classes="detail-column"):
                yield Static(id="detail-audit")

    def on_mount(self) -> None:
        self.set_columns(self.in_columns)

    def on_resize(self, event: Resize) -> None:
        self._floors.clear()  # the widths changed: the blocks are measured anew
        if self._last[0] is not None:
            self.show(*self._last, now=self._now)

    def tick(self, now: datetime) -> None:
        """The clock moved: figures that are not live say how old they are, so re-age them."""
        snapshot = self._last[0]
        if snapshot is not None and not snapshot.telemetry_live:
            self._now = now
            self._put("service", self._service_lines(snapshot))
            self._draw()

    def set_columns(self, in_columns: bool) -> None:
        """Three scrolling columns side by side, or one column that the pane scrolls."""
        if in_columns != self.in_columns:
            self._floors.clear()
        self.in_columns = in_columns
        self.set_class(in_columns, "-columns")
        self.can_focus = not in_columns
        for column in self.query(DetailColumn):
            column.can_focus = in_columns

    def focus_content(self) -> None:
        """Focus what scrolls, at once (``set_focus``): the next queued key must land here."""
        if self.in_columns:
            self.screen.set_focus(self.query_one(f"#{COLUMN_IDS[0]}", DetailColumn))
        else:
            self.screen.set_focus(self)

    def contains_focus(self) -> bool:
        focused = self.screen.focused
        return focused is not None and (focused is self or self in focused.ancestors)

    def text(self) -> str:
        """What the pane shows, as plain text (tests read it)."""
        return "\n".join(line.plain for lines in self._shown.values() for line in lines)

    def _put(self, block: str, lines: Lines) -> None:
        """Keep what ``block`` shows; ``_draw`` paints it."""
        self._shown[block] = lines

    def _draw(self) -> None:
        """Give each column's ``Static`` its blocks, where they changed."""
        for static_id, blocks in STATIC_BLOCKS.items():
            lines = _blocks(*(self._shown[b] for b in blocks if self._shown.get(b)))
            static = self.query_one(f"#detail-{static_id}", Static)
            width = static.content_size.width
            if width <= 0:  # not laid out yet: the layout pass to come measures it
                self._drawn.pop(static_id, None)
                static.update(Group(*lines) if lines else "")
                continue
            drawn, rows = self._padded(static_id, lines, width)
            previous = self._drawn.get(static_id)
            if previous is not None and previous[0] == drawn:
                continue  # unchanged: no render, no layout pass (which repaints the screen)
            self._drawn[static_id] = (drawn, rows)
            static.update(
                Group(*drawn) if drawn else "",
                layout=previous is None or previous[1] != rows,
            )

    def _padded(self, static_id: str, lines: Lines, width: int) -> tuple[Lines, int]:
        """``lines`` and the screen lines they take; in columns, with blank lines after them
        up to the most screen lines this column has taken since the last resize.

        Workers' blocks differ in height (an SSH line, an error, a longer audit), and a
        ``Static`` whose height changes costs a layout pass that repaints the whole screen:
        moving the cursor between such workers cost one a key. In columns the padding is
        below the column's last line, where it shows as nothing; a column that has once
        needed its scrollbar keeps it (rather than its scrollbar coming and going, and the
        text folding anew, from worker to worker). In one column, where padding would show
        as a gap, the pane lays out instead."""
        rows = screen_rows(lines, width, self.app.console)
        if not self.in_columns:
            return lines, rows
        floor = max(self._floors.get(static_id, 0), rows)
        self._floors[static_id] = floor
        return [*lines, *(Text() for _ in range(floor - rows))], floor

    def _block_width(self, block: str) -> int | None:
        """A block's width in cells, less one: the column's scrollbar may appear after it was
        measured (None before the first layout)."""
        width = self.query_one(f"#detail-{block}", Static).content_size.width
        return width - 1 if width > 0 else None

    def _spark_width(self) -> int:
        width = self._block_width("service")
        if width is None:
            return DEFAULT_SPARK_WIDTH
        return max(4, width - LABEL_WIDTH - _VALUE_WIDTH)

    def _service_lines(self, snapshot: WorkerSnapshot) -> Lines:
        return service_lines(
            snapshot, self._spark_width(), self._now, width=self._block_width("service")
        )

    def show(
        self,
        snapshot: WorkerSnapshot | None,
        events: Sequence[CloudEvent],
        *,
        now: datetime | None = None,
    ) -> None:
        if now is not None:
            self._now = now
        if snapshot is None or snapshot.id != self.worker_id:
            # Another worker: start reading it from the top.
            for scrolled in (self, *self.query(DetailColumn)):
                scrolled.scroll_home(animate=False)
        self._last = (snapshot, events)
        if snapshot is None:
            self.worker_id = None
            self.border_title = "Detail"
            self._put("identity", [Text("No worker selected", style="dim")])
            for block in ("service", "error", "audit", "events"):
                self._put(block, [])
            self._draw()
            return
        self.worker_id = snapshot.id
        title = Text("Detail: ")
        title.append_text(plain(snapshot.name, "bold"))
        title.append(" ")
        title.append_text(status_text(snapshot.status))
        if snapshot.detached:
            title.append(" ⚠ detached", style="bold yellow")
        if snapshot.problems:
            count = len(snapshot.problems)
            title.append(f" ⚠ {count} problem{'s' if count > 1 else ''}", style="bold red")
        self.border_title = title
        self._put("identity", identity_lines(snapshot, self._block_width("identity")))
        self._put("service", self._service_lines(snapshot))
        self._put("error", error_lines(snapshot))
        self._put("audit", audit_lines(snapshot))
        self._put("events", event_lines(events))
        self._draw()
