"""Header (context, totals, freshness, badges), status line (per-source errors) and banner."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from rich.text import Text
from textual.widgets import Static

from cmltui.domain.plural import plural
from cmltui.services.snapshot import FleetTotals, SourceHealth
from cmltui.ui.formatting import age, message, money, plain, seconds_between, shown


class FleetHeader(Static):
    """Two lines: where we are and in which mode; what the fleet looks like and how fresh it is."""

    def __init__(
        self, *, profile_label: str, regions: Sequence[str], read_only: bool, insecure_tls: bool
    ) -> None:
        super().__init__(id="fleet-header")
        self.profile_label = profile_label
        self.regions = list(regions)
        self.read_only = read_only
        self.insecure_tls = insecure_tls
        self.totals = FleetTotals()
        self.last_success_at: datetime | None = None
        self.from_cache = True
        self.paused = False
        #: When the table was frozen (the freshness then says "paused", not "updated").
        self.paused_at: datetime | None = None
        self.shown_count: int | None = None
        self.marked_count = 0
        #: Marked rows the filter hides: still targets of the next action.
        self.hidden_marked_count = 0
        #: Terminated workers hidden by age ([ui] terminated_visible_days; a key shows them).
        self.terminated_hidden_count = 0
        #: The clock reading of the last render (a resize re-renders with it).
        self._now: datetime | None = None
        #: Who applies the automatic policies (the lease holder, "user@host:pid"), as last told.
        self.policy_runner: str | None = None
        self.policy_runner_is_me = False
        #: What the header shows: an unchanged header is not rendered again.
        self._shown_text: Text | None = None

    def show(
        self,
        *,
        now: datetime,
        totals: FleetTotals | None = None,
        last_success_at: datetime | None = None,
        from_cache: bool | None = None,
        paused: bool | None = None,
        shown_count: int | None = None,
        marked_count: int = 0,
        hidden_marked_count: int = 0,
        terminated_hidden_count: int = 0,
        policy_runner: str | None = None,
        policy_runner_is_me: bool | None = None,
    ) -> None:
        if policy_runner_is_me is not None:  # told with each change set
            self.policy_runner = policy_runner
            self.policy_runner_is_me = policy_runner_is_me
        if totals is not None:
            self.totals = totals
            self.last_success_at = last_success_at
        if from_cache is not None:
            self.from_cache = from_cache
        if paused is not None and paused != self.paused:
            self.paused = paused
            self.paused_at = now if paused else None
        self.shown_count = shown_count
        self.marked_count = marked_count
        self.hidden_marked_count = hidden_marked_count
        self.terminated_hidden_count = terminated_hidden_count
        self._show(self.render_text(now))

    def on_resize(self) -> None:
        if self._now is not None:
            self._shown_text = None
            self._show(self.render_text(self._now))

    def _show(self, text: Text) -> None:
        """Render only a changed header, without a layout pass: its height is fixed in
        app.tcss (a layout pass re-renders the whole screen, every change set)."""
        if text == self._shown_text:
            return
        self._shown_text = text
        self.update(text, layout=False)

    def _badges(self) -> Text:
        """The modes, right after the name: a narrow terminal cuts the end, never these."""
        badges = Text()
        for on, label, style in (
            (self.read_only, "READ-ONLY", "bold black on yellow"),
            (self.insecure_tls, "INSECURE TLS", "bold white on red"),
            (self.paused, "PAUSED", "bold black on cyan"),
        ):
            if on:
                badges.append(" ")
                badges.append(f" {label} ", style=style)
        return badges

    def _context_lines(self) -> list[Text]:
        """Where we are, longest form first."""
        regions = ", ".join(self.regions)
        full = Text()
        full.append(" cmltui ", style="bold reverse")
        full.append_text(self._badges())
        full.append("  profile ", style="dim")
        full.append_text(plain(self.profile_label, "bold"))
        full.append("  │  ", style="dim")
        full.append("regions ", style="dim")
        full.append_text(plain(regions, "bold"))
        short = Text()
        short.append(" cmltui ", style="bold reverse")
        short.append_text(self._badges())
        short.append(" ")
        short.append_text(plain(self.profile_label, "bold"))
        short.append(" │ ", style="dim")
        short.append_text(plain(regions))
        runner = self._policy_runner()
        if runner is None:
            return [full, short]
        return [full + runner, short + runner, short]

    def _policy_runner(self) -> Text | None:
        """Which cmltui applies the automatic policies (idle stop, schedules), when known."""
        if self.policy_runner is None:
            return None
        text = Text()
        text.append("  │  policy runner ", style="dim")
        if self.policy_runner_is_me:
            text.append("this cmltui", style="bold")
        else:
            text.append_text(plain(self.policy_runner, "bold"))
        return text

    def _stats_lines(self, now: datetime) -> list[Text]:
        """Freshness first (the end is what a narrow terminal cuts), longest form first."""
        totals = self.totals
        cpu = "—" if totals.average_cpu is None else f"{totals.average_cpu:.0f}%"
        cost = money(totals.cost_per_hour_usd, per_hour=True)
        in_sight = (
            f" ({self.shown_count} shown)"
            if self.shown_count is not None and self.shown_count != totals.total
            else ""
        )
        if self.terminated_hidden_count:
            in_sight += f" +{self.terminated_hidden_count} terminated hidden"
        full = self._stats_line(now, in_sight, cpu, cost, compact=False)
        # Compact: the same figures, each still with its symbol (they read without colour).
        compact = self._stats_line(now, in_sight, cpu, cost, compact=True)
        # What the fleet billed today and this week, and what automatic stops saved this week:
        # shown when the line has room for them.
        spent = (
            f"today {money(totals.cost_today_usd)}  week {money(totals.cost_week_usd)}  "
            f"saved {money(totals.saved_week_usd)}"
        )
        with_spent = []
        for line, separator in ((full, "  │  "), (compact, " │ ")):
            longer = line.copy()
            longer.append(separator, style="dim")
            longer.append(spent)
            with_spent.append(longer)
        return [with_spent[0], with_spent[1], full, compact]

    def _stats_line(
        self, now: datetime, in_sight: str, cpu: str, cost: str, *, compact: bool
    ) -> Text:
        totals = self.totals
        separator = " │ " if compact else "  │  "
        line = Text(" ")
        line.append_text(self.freshness(now))
        line.append(separator, style="dim")
        line.append(plural(totals.total, "worker"), style="bold")
        line.append(in_sight)
        if self.marked_count:
            hidden = self.hidden_marked_count
            marks = f"{self.marked_count} marked" + (f", {hidden} hidden" if hidden else "")
            line.append(" " if compact else "  ")
            line.append(f"● {marks}", style="bold magenta")
        line.append(" ▶" if compact else "  ▶ ", style="green")
        line.append(f"{totals.running}" if compact else f"{totals.running} running")
        line.append(" ■" if compact else "  ■ ", style="yellow")
        line.append(f"{totals.stopped}" if compact else f"{totals.stopped} stopped")
        idle = f" z{totals.idle}" if compact else f"  z {totals.idle} idle"
        line.append(idle, style="yellow" if totals.idle else "")
        line.append(separator, style="dim")
        line.append(f"CPU {cpu} {cost}" if compact else f"CPU {cpu}  {cost}")
        return line

    def render_text(self, now: datetime) -> Text:
        self._now = now
        width = self.size.width or 10_000
        lines = []
        for candidates in (self._context_lines(), self._stats_lines(now)):
            # The longest form that fits; else the shortest, cut with an ellipsis.
            chosen = next((c for c in candidates if c.cell_len <= width), candidates[-1])
            chosen.no_wrap = True
            chosen.overflow = "ellipsis"
            lines.append(chosen)
        return Text("\n", no_wrap=True, overflow="ellipsis").join(lines)

    def freshness(self, now: datetime) -> Text:
        """Never lie about freshness: cached data says so, with its age; a frozen table says
        it is paused (its figures are as old as the pause, whatever the last refresh)."""
        if self.paused:
            frozen = seconds_between(now, self.paused_at)
            return Text(
                "paused" if frozen is None else f"paused for {age(frozen)}", style="bold cyan"
            )
        seconds = seconds_between(now, self.last_success_at)
        if self.from_cache:
            text = "cached" if seconds is None else f"cached, {age(seconds)} old"
            return Text(text, style="bold yellow")
        if seconds is None:
            return Text("waiting for the first refresh", style="yellow")
        style = "green" if seconds < 60 else "yellow" if seconds < 300 else "bold red"
        return Text(f"updated {age(seconds)} ago", style=style)


#: The status line's hint when there is more than it can show.
ERRORS_KEY_HINT = "E lists them"


def _health_text(health: SourceHealth) -> Text:
    line = Text(no_wrap=True, overflow="ellipsis")
    line.append(shown(health.source), style="bold")
    line.append(": ")
    line.append(message(health.error))
    if health.retry_in_seconds is not None:
        line.append(f", retrying in {health.retry_in_seconds:.0f} s")
    return line


class StatusLine(Static):
    """Errors per region or worker, e.g. ``us-west-2: throttled, retrying in 8 s``.

    As many as fit, whole; the first always (cut if it must be); then ``+N more``, which the
    errors list (``E``) shows in full.
    """

    def __init__(self) -> None:
        super().__init__(id="status-line")
        self.display = False
        self.errors: tuple[SourceHealth, ...] = ()

    def show_errors(self, errors: Sequence[SourceHealth]) -> None:
        if tuple(errors) == self.errors and (self.display or not errors):
            return  # unchanged: no render and no layout pass (every change set asks)
        self.errors = tuple(errors)
        # Always one screen line: no layout pass (it repaints the whole screen) for new
        # text; showing or hiding the line lays out by itself.
        if not errors:
            self.display = False
            self.update("", layout=False)
            return
        self.update(self.line_for(self.content_size.width or 10_000), layout=False)
        self.display = True

    def on_resize(self) -> None:
        if self.errors:
            self.update(self.line_for(self.content_size.width or 10_000), layout=False)

    def line_for(self, width: int) -> Text:
        separator = Text("  │  ", style="dim")
        parts = [_health_text(health) for health in self.errors]
        line = Text(no_wrap=True, overflow="ellipsis")
        line.append("⚠ ", style="bold red")

        def more(count: int) -> Text:
            return Text(f"  +{count} more ({ERRORS_KEY_HINT})", style="bold") if count else Text()

        # Whole errors while they fit beside the "+N more" the rest needs.
        fitted = 1
        used = line.cell_len + parts[0].cell_len
        for part in parts[1:]:
            after = len(parts) - fitted - 1
            if used + separator.cell_len + part.cell_len + more(after).cell_len > width:
                break
            used += separator.cell_len + part.cell_len
            fitted += 1
        tail = more(len(parts) - fitted)
        first = parts[0]
        room = width - line.cell_len - tail.cell_len
        if fitted == 1 and first.cell_len > room:
            first.truncate(max(1, room), overflow="ellipsis")
        line.append_text(first)
        for part in parts[1:fitted]:
            line.append_text(separator)
            line.append_text(part)
        line.append_text(tail)
        return line


class OutageBanner(Static):
    """Shown when every region fails: the table is the cached fleet, and this says how old."""

    def __init__(self) -> None:
        super().__init__(id="outage-banner")
        self.display = False

    def show_outage(self, failing: bool, now: datetime, last_success_at: datetime | None) -> None:
        self.display = failing
        if not failing:
            return
        seconds = seconds_between(now, last_success_at)
        when = "never refreshed" if seconds is None else f"last good refresh {age(seconds)} ago"
        self.update(
            Text(
                f"Every region is failing: showing cached data ({when}). Retrying.",
                style="bold",
                no_wrap=True,
                overflow="ellipsis",
            ),
            layout=False,  # one screen line, cut: its height never changes
        )
