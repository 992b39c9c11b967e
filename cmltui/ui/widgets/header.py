"""Header (context, totals, freshness, badges), status line (per-source errors) and banner."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from rich.text import Text
from textual.widgets import Static

from cmltui.services.snapshot import FleetTotals, SourceHealth
from cmltui.ui.formatting import age, clean, money, plain, seconds_between


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
        self.shown_count: int | None = None

    def show(
        self,
        *,
        now: datetime,
        totals: FleetTotals | None = None,
        last_success_at: datetime | None = None,
        from_cache: bool | None = None,
        paused: bool | None = None,
        shown_count: int | None = None,
    ) -> None:
        if totals is not None:
            self.totals = totals
            self.last_success_at = last_success_at
        if from_cache is not None:
            self.from_cache = from_cache
        if paused is not None:
            self.paused = paused
        self.shown_count = shown_count
        self.update(self.render_text(now))

    def render_text(self, now: datetime) -> Text:
        line = Text(no_wrap=True, overflow="ellipsis")
        line.append(" cmltui ", style="bold reverse")
        line.append("  profile ")
        line.append_text(plain(self.profile_label, "bold"))
        line.append("  regions ")
        line.append_text(plain(", ".join(self.regions), "bold"))
        if self.read_only:
            line.append("  ")
            line.append(" READ-ONLY ", style="bold black on yellow")
        if self.insecure_tls:
            line.append("  ")
            line.append(" INSECURE TLS ", style="bold white on red")
        if self.paused:
            line.append("  ")
            line.append(" PAUSED ", style="bold black on cyan")

        totals = self.totals
        # Freshness first: on a narrow terminal the end of the line is what gets cut.
        stats = Text(" ", no_wrap=True, overflow="ellipsis")
        stats.append_text(self.freshness(now))
        stats.append("  │ ", style="dim")
        stats.append(f"{totals.total} workers", style="bold")
        if self.shown_count is not None and self.shown_count != totals.total:
            stats.append(f" ({self.shown_count} shown)")
        stats.append("  ▶ ", style="green")
        stats.append(f"{totals.running} running")
        stats.append("  ■ ", style="yellow")
        stats.append(f"{totals.stopped} stopped")
        stats.append(f"  z {totals.idle} idle", style="yellow" if totals.idle else "")
        cpu = "—" if totals.average_cpu is None else f"{totals.average_cpu:.0f}%"
        stats.append("  │ ", style="dim")
        stats.append(f"CPU {cpu}  {money(totals.cost_per_hour_usd, per_hour=True)}")
        return Text("\n").join([line, stats])

    def freshness(self, now: datetime) -> Text:
        """Never lie about freshness: cached data says so, with its age."""
        seconds = seconds_between(now, self.last_success_at)
        if self.from_cache:
            text = "cached" if seconds is None else f"cached, {age(seconds)} old"
            return Text(text, style="bold yellow")
        if seconds is None:
            return Text("waiting for the first refresh", style="yellow")
        style = "green" if seconds < 60 else "yellow" if seconds < 300 else "bold red"
        return Text(f"updated {age(seconds)} ago", style=style)


class StatusLine(Static):
    """Errors per region or worker, e.g. ``us-west-2: throttled, retrying in 8 s``."""

    def __init__(self) -> None:
        super().__init__(id="status-line")
        self.display = False

    def show_errors(self, errors: Sequence[SourceHealth]) -> None:
        if not errors:
            self.display = False
            self.update("")
            return
        line = Text(no_wrap=True, overflow="ellipsis")
        line.append("⚠ ", style="bold red")
        for index, health in enumerate(errors):
            if index:
                line.append("  │  ", style="dim")
            line.append(clean(health.source), style="bold")
            line.append(": ")
            line.append(clean(health.error))
            if health.retry_in_seconds is not None:
                line.append(f", retrying in {health.retry_in_seconds:.0f} s")
        self.update(line)
        self.display = True


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
            )
        )
