"""The Textual application: a thin layer that renders change sets and forwards operator requests.

It talks only to the ``FleetService`` protocol. The service calls our listener on the event
loop's thread; the listener posts a message and the handler renders it, so widgets are only
ever touched from message handlers.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import sys
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from pathlib import Path

from rich.console import RenderableType
from rich.text import Text
from textual import events, work
from textual.app import App
from textual.css.query import NoMatches
from textual.message import Message
from textual.notifications import SeverityLevel

from cmltui.config import Config, default_log_dir
from cmltui.config_writer import ConfigWriteError, save_setting
from cmltui.domain.clock import Clock, utc_now
from cmltui.logfile import already_logging_to, private_log_handler
from cmltui.services.ports import FleetService
from cmltui.services.snapshot import ActionResult, ChangeSet
from cmltui.ui.actions import FleetCommands
from cmltui.ui.formatting import message
from cmltui.ui.keymap import UserKeymap, check_ui_settings
from cmltui.ui.keys import split_glued_escape
from cmltui.ui.screens.main import MainScreen, ReadOnlyMainScreen

log = logging.getLogger("cmltui.ui")

#: How often the app checks that its terminal is still there (cheap: one isatty call).
TTY_CHECK_SECONDS = 2.0
#: How long quitting waits for the controller to stop its loops and close its clients.
STOP_TIMEOUT_SECONDS = 5.0
#: After a hang-up, how long Textual gets to restore the terminal before the process just ends.
EXIT_GRACE_SECONDS = 1.5
#: Rows of a change set applied per turn of the event loop.
CHANGE_SET_SLICE_ROWS = 200


def _calm_garbage_collector() -> None:
    """Keep full garbage collections from stalling the event loop for hundreds of ms.

    At 1,000 workers the heap holds millions of long-lived objects (Textual, boto3's models,
    the fleet). Freezing what exists after the first paint takes them out of every later
    collection. The young generation is collected every 10,000 allocations: at 50,000 (and 20
    young collections per middle one) single pauses reached 80 and 150 ms during refreshes
    (bench/loop_lag.py, 1,000 workers), stopping the UI and the engine thread alike; at 10,000
    they stay under 40 ms.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 100)


class FleetChanged(Message):
    """A change set from the controller, delivered on the app's message queue."""

    def __init__(self, change_set: ChangeSet) -> None:
        super().__init__()
        self.change_set = change_set


class CmlTuiApp(App[None]):
    """The cmltui dashboard."""

    CSS_PATH = "app.tcss"
    TITLE = "cmltui"
    COMMANDS = App.COMMANDS | {FleetCommands}
    # Quitting is the main screen's `q`; ctrl+q stays Textual's default everywhere.

    def __init__(
        self,
        service: FleetService,
        *,
        config: Config,
        aws_profile_label: str,
        read_only: bool,
        read_only_reason: str = "",
        demo_licence_token: str | None = None,
        clock: Clock | None = None,
        log_path: Path | None = None,
        notices: Sequence[str] = (),
        config_path: Path | None = None,
    ) -> None:
        super().__init__()
        self.service = service
        self.config = config
        self.aws_profile_label = aws_profile_label
        self.read_only = read_only or config.read_only
        #: Why it is read-only, as the refusals and the help say it.
        self.read_only_reason = read_only_reason or (
            "read_only = true in the config" if config.read_only else "started with --read-only"
        )
        #: ``--demo``: the licence token the demo's CML accepts (the licence dialog says it).
        self.demo_licence_token = demo_licence_token
        self.clock: Clock = clock or utc_now
        self.log_path = log_path or default_log_dir() / "cmltui.log"
        #: Unexpected errors caught and shown as toasts (tests assert it stays empty).
        self.unexpected_errors: list[BaseException] = []
        self._log_handler: logging.Handler | None = None
        self._stopping = False
        #: Set by ``exit``: widgets are being removed, change sets still in the queue are dropped.
        self._quitting = False
        self._pending_slices: deque[ChangeSet] = deque()
        self._draining = False
        #: The first fleet shown (the stored one) is applied whole, not in slices: nothing is on
        #: screen yet to keep responsive, and each slice re-sorts the growing table (at 5,000
        #: workers 25 sorts, 0.5 s under cProfile, before the first paint).
        self._fleet_shown = False
        #: The service's loops wait for the stored fleet's first paint (see _start_service).
        self._loops_held = False
        #: Set when the terminal went away (signal or no TTY): the code the process ends with.
        self._exit_code_without_terminal: int | None = None
        #: Start-up warnings (e.g. the data file was recovered), shown as toasts once mounted.
        self.notices = list(notices)
        self.main_screen: MainScreen = ReadOnlyMainScreen() if self.read_only else MainScreen()
        #: The config file the theme chosen in the palette is kept in; None: not kept (--demo).
        self.config_path = config_path
        #: The operator's keys ([keymap]); the CLI checked them already, with the file's name.
        self.user_keymap: UserKeymap = check_ui_settings(config)
        #: The theme the config file holds: choosing another one in the palette writes it back.
        self._kept_theme = config.ui.theme
        self._theme_lock = asyncio.Lock()

    # -- start and stop -----------------------------------------------------------------------

    async def on_mount(self) -> None:
        self._open_log()
        self.theme = self._kept_theme
        self.set_keymap(self.user_keymap.binding_keymap())
        await self.push_screen(self.main_screen)
        self.service.subscribe(self._on_change_set)
        # First paint from what is stored: never wait for the network to show something.
        stored = self.service.current()
        self.main_screen.apply_change_set(stored)
        self._fleet_shown = bool(stored.changed)
        self.call_after_refresh(_calm_garbage_collector)
        self.set_interval(1.0, self._tick)
        for notice in self.notices:
            self.notify(message(notice), severity="warning", markup=False, timeout=15)
        self._start_service()
        if not self.is_headless:
            self._watch_terminal()

    def _tick(self) -> None:
        if self._quitting or not self.main_screen.is_attached:
            return
        # Shutting down without ``exit`` (a test's run_test ending), the screen's widgets may
        # be gone already: a missed tick is nothing.
        with contextlib.suppress(NoMatches):
            self.main_screen.tick()

    def _open_log(self) -> None:
        if already_logging_to(self.log_path):
            return  # the launcher set up this file on the root logger already
        try:
            self._log_handler = private_log_handler(self.log_path)
        except OSError as err:
            self.notify(
                f"Cannot write the log file {self.log_path}: {err}",
                severity="warning",
                markup=False,
            )
            return
        logging.getLogger("cmltui").addHandler(self._log_handler)

    @work(exclusive=True, group="service-start", exit_on_error=False)
    async def _start_service(self) -> None:
        try:
            # The refresh loops wait until the stored fleet is painted (see _release_loops).
            await self.service.start(hold_loops=True)
        except Exception as err:
            self.log_unexpected(err)
            return
        self._loops_held = True
        if not self._draining:
            self.call_after_refresh(self._release_loops)

    def _release_loops(self) -> None:
        """The stored fleet is on screen: the first refresh may compete with the UI now."""
        if self._loops_held:
            self._loops_held = False
            self.service.release_loops()

    def _watch_terminal(self) -> None:
        """Exit cleanly when the terminal goes away (SSH drop) instead of spinning."""
        loop = asyncio.get_running_loop()
        for signal_number in (signal.SIGTERM, signal.SIGHUP):
            try:
                loop.add_signal_handler(signal_number, self._exit_from_signal, signal_number)
            except (NotImplementedError, RuntimeError, ValueError):
                pass
        self.set_interval(TTY_CHECK_SECONDS, self._check_tty)

    def _exit_from_signal(self, signal_number: int) -> None:
        log.info("signal %s received: quitting", signal.Signals(signal_number).name)
        self._quit_without_terminal(128 + signal_number)

    def _quit_without_terminal(self, exit_code: int) -> None:
        """Stop the controller (data saved), then exit even if the terminal is gone.

        With the terminal gone, Textual's own shutdown can block forever writing the
        terminal-restore sequences (measured: its writer thread's queue.put never returns after
        a SIGHUP). Daemon timers end the process: a short one once the controller has stopped
        (see ``action_quit``), a longer one in case stopping it hangs.
        """
        if self._exit_code_without_terminal is None:
            self._exit_code_without_terminal = exit_code
            self._end_process_after(STOP_TIMEOUT_SECONDS + EXIT_GRACE_SECONDS)
        self.call_later(self.action_quit)

    def _end_process_after(self, seconds: float) -> None:
        watchdog = threading.Timer(seconds, os._exit, args=(self._exit_code_without_terminal,))
        watchdog.daemon = True
        watchdog.start()

    def _check_tty(self) -> None:
        try:
            still_there = sys.stdin is not None and sys.stdin.isatty()
        except (ValueError, OSError):
            still_there = False
        if not still_there:
            log.info("stdin is no longer a terminal: quitting")
            self._quit_without_terminal(129)

    async def action_quit(self) -> None:
        if self._stopping:
            return
        self._stopping = True
        await self._stop_service()
        if self._exit_code_without_terminal is not None:
            # Data saved; only the terminal restore is left, and it can block on a dead terminal.
            self._end_process_after(EXIT_GRACE_SECONDS)
        self.exit()

    def exit(
        self, result: None = None, return_code: int = 0, message: RenderableType | None = None
    ) -> None:
        self._quitting = True
        super().exit(result, return_code, message)

    async def _stop_service(self) -> None:
        try:
            await asyncio.wait_for(self.service.stop(), STOP_TIMEOUT_SECONDS)
        except Exception as err:  # a stuck or failing stop must not keep the terminal hostage
            log.warning("stopping the controller failed: %r", err)

    async def on_unmount(self) -> None:
        if not self._stopping:
            self._stopping = True
            await self._stop_service()
        if self._log_handler is not None:
            logging.getLogger("cmltui").removeHandler(self._log_handler)
            self._log_handler.close()

    # -- theme --------------------------------------------------------------------------------

    def watch_theme(self, theme: str) -> None:
        """A theme chosen in the palette ("Change theme") is kept in the config file."""
        if theme != self._kept_theme:
            self._kept_theme = theme
            self._keep_theme(theme)

    @work(exclusive=False, group="keep-theme", exit_on_error=False)
    async def _keep_theme(self, theme: str) -> None:
        if self.config_path is None:
            self.notify(f"Theme {theme}: not kept, --demo has no config file", markup=False)
            return
        async with self._theme_lock:  # one write at a time, in the order they were chosen
            try:
                await asyncio.to_thread(save_setting, self.config_path, "ui", "theme", theme)
            except ConfigWriteError as err:
                log.warning("theme not kept: %s", err)
                self.notify(
                    f"Theme {theme} is used but not kept: {err}",
                    severity="warning",
                    markup=False,
                    timeout=10,
                )
                return
            except Exception as err:
                self.log_unexpected(err, doing="keeping the theme")
                return
        self.notify(f"Theme {theme} kept in {self.config_path}", markup=False, timeout=4)

    # -- keys ---------------------------------------------------------------------------------

    async def on_event(self, event: events.Event) -> None:
        # esc pressed right before a letter arrives as one alt+ key: give back both keys, in
        # order, before the next key is read (cmltui binds no alt+ keys).
        if isinstance(event, events.Key) and not event.is_forwarded:
            presses = split_glued_escape(event.key, event.character)
            if presses is not None:
                for key, character in presses:
                    await super().on_event(events.Key(key, character))
                return
        await super().on_event(event)

    # -- change sets --------------------------------------------------------------------------

    def _on_change_set(self, change_set: ChangeSet) -> None:
        """The service's listener: hand over to the message queue, touch no widget here."""
        self.post_message(FleetChanged(change_set))

    def on_fleet_changed(self, message: FleetChanged) -> None:
        if self._quitting or not self.main_screen.is_attached:
            return  # the widgets are going away; the controller has the data
        # A change set of many rows is applied in slices, one per turn of the event loop, so
        # keys and timers get in between (one slice of 1,000 rows would stall for ~150 ms).
        # Every change set goes through the queue, so they are applied in arrival order.
        change_set = message.change_set
        if not self._fleet_shown and change_set.changed:
            self._fleet_shown = True
            self._pending_slices.append(change_set)
        else:
            self._pending_slices.extend(self._slices(change_set))
        if not self._draining:
            self._draining = True
            self._apply_next_slice()

    def _slices(self, change_set: ChangeSet) -> list[ChangeSet]:
        if len(change_set.changed) <= CHANGE_SET_SLICE_ROWS:
            return [change_set]
        removed = set(change_set.removed_ids)
        if change_set.is_full:
            kept = {snapshot.id for snapshot in change_set.changed}
            removed |= set(self.main_screen.table.snapshots) - kept
        rows = change_set.changed
        parts = [
            rows[start : start + CHANGE_SET_SLICE_ROWS]
            for start in range(0, len(rows), CHANGE_SET_SLICE_ROWS)
        ]
        return [
            replace(
                change_set,
                changed=part,
                removed_ids=tuple(sorted(removed)) if index == 0 else (),
                is_full=False,
            )
            for index, part in enumerate(parts)
        ]

    def _apply_next_slice(self) -> None:
        if not self._pending_slices or self._quitting or not self.main_screen.is_attached:
            self._pending_slices.clear()
            self._draining = False
            return
        with self.batch_update():
            self.main_screen.apply_change_set(self._pending_slices.popleft())
        if self._pending_slices:
            self.call_later(self._apply_next_slice)
        else:
            self._draining = False
            if self._loops_held:
                self.call_after_refresh(self._release_loops)

    # -- actions ------------------------------------------------------------------------------

    def run_fleet_action(self, action_id: str) -> None:
        """Run a registry action on the main screen (the command palette's entry point)."""
        self.call_later(self.main_screen.run_action, action_id)

    @work(exclusive=False, group="fleet-actions", exit_on_error=False)
    async def run_service_action(
        self, label: str, call: Callable[[], Awaitable[ActionResult]]
    ) -> None:
        """Send one operator request (ids already captured) and toast what happened."""
        try:
            result = await call()
        except Exception as err:
            self.log_unexpected(err, doing=label)
            return
        self.notify_result(result)

    def notify_result(self, result: ActionResult | None) -> None:
        if result is None:
            return
        severity: SeverityLevel = (
            "information" if result.ok else ("error" if result.failed else "warning")
        )
        # Names and errors are remote text: never markup.
        self.notify(
            message(result.summary()),
            severity=severity,
            markup=False,
            timeout=4 if result.ok else 10,
        )

    def _handle_exception(self, error: Exception) -> None:
        """An error no handler caught ends the app, as Textual does, but its traceback goes to
        the log file only: the terminal gets one line (Textual prints the traceback there, with
        the local variables of every frame)."""
        log.error("unexpected error: the dashboard stops", exc_info=error)
        kept = len(self._exit_renderables)
        super()._handle_exception(error)
        del self._exit_renderables[kept:]  # Textual's traceback of it
        if self._exception is error:  # the first one, the cause of any that follow: say it
            line = f"cmltui: unexpected error: {type(error).__name__}: {message(error)}"
            self._exit_renderables.append(Text(f"{line} (details in {self.log_path})"))
            self.error_console.soft_wrap = True  # one line, however narrow the terminal

    def log_unexpected(self, error: BaseException, *, doing: str = "") -> None:
        """Log the traceback to the log file; show one line to the operator."""
        self.unexpected_errors.append(error)
        log.error("unexpected error%s", f" during {doing}" if doing else "", exc_info=error)
        line = f"Unexpected error{f' during {doing}' if doing else ''}: {message(error)}"
        self.notify(
            f"{line} (details in {self.log_path})", severity="error", markup=False, timeout=10
        )
