"""The engine's own thread: one asyncio event loop that the UI never shares.

The dashboard's event loop must only do UI work. ``EngineThread`` runs a second asyncio loop in
a daemon thread; the controller (its loops, boto3 threads, httpx clients, reconciliation, idle
policy and store writes) lives there, and ``cmltui.services.engine_service.EngineService`` is
the UI's view of it.

Crossing the thread boundary:

- ``run(coro)`` (from another loop): the coroutine runs on the engine loop; the caller awaits its
  answer without blocking its own loop (``run_coroutine_threadsafe`` + ``wrap_future``).
- ``call(fn, ...)``: a short synchronous query run on the engine loop between two of its steps;
  the caller blocks until it answers, at most ``CALL_TIMEOUT_SECONDS`` (then ``EngineBusy``).
- ``call_soon(fn, ...)``: fire and forget (refresh now, open a lab session).

When the loop ends, cleanly (``stop``) or because an exception escaped it, every call still
waiting gets ``EngineStopped`` and new ones get it at once: a dead engine shows as an error,
never as a hang.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

log = logging.getLogger("cmltui.engine")

T = TypeVar("T")

#: How long a synchronous query may wait for the engine loop before it gives up.
CALL_TIMEOUT_SECONDS = 2.0
#: How long the engine's tasks get to finish once cancelled at the end.
FINISH_SECONDS = 5.0


class EngineStopped(RuntimeError):
    """The engine loop is not running (stopped, or ended by an exception): no answer comes."""


class EngineBusy(TimeoutError):
    """A synchronous query found the engine loop busy for longer than its bound."""


class EngineThread:
    """An asyncio event loop in a daemon thread; ``start()`` returns once it runs."""

    def __init__(self, *, name: str = "cmltui-engine") -> None:
        self.name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ident: int | None = None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._ready = threading.Event()
        self._ended = threading.Event()
        #: Guards ``_running`` and ``_waiting``: nothing is submitted once the loop has ended.
        # Reentrant: a future already done calls ``_untrack`` at once, under the lock.
        self._lock = threading.RLock()
        self._running = False
        self._waiting: set[concurrent.futures.Future[Any]] = set()
        self._end_callbacks: list[Callable[[BaseException | None], None]] = []
        #: The exception that ended the loop (None: running, or stopped on request).
        self.failure: BaseException | None = None

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> EngineThread:
        if self._thread is not None:
            raise RuntimeError("the engine thread was started already")
        self._thread = threading.Thread(target=self._main, name=self.name, daemon=True)
        self._thread.start()
        self._ready.wait()
        return self

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise EngineStopped("the engine thread has not started")
        return self._loop

    @property
    def is_running(self) -> bool:
        return self._running

    @property
    def thread(self) -> threading.Thread | None:
        return self._thread

    def in_engine_thread(self) -> bool:
        return threading.get_ident() == self._ident

    def add_end_callback(self, callback: Callable[[BaseException | None], None]) -> None:
        """``callback(failure)`` once the loop has ended (called in the engine thread)."""
        self._end_callbacks.append(callback)

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        # Our own executor for asyncio.to_thread (boto3, store writes): named threads, and
        # one that can be let go at the end without waiting for a stuck AWS call.
        self._executor = concurrent.futures.ThreadPoolExecutor(thread_name_prefix=f"{self.name}-io")
        loop.set_default_executor(self._executor)
        self._loop = loop
        self._ident = threading.get_ident()
        self._running = True
        loop.call_soon(self._ready.set)
        failure: BaseException | None = None
        try:
            loop.run_forever()
        except BaseException as err:  # SystemExit, KeyboardInterrupt escaping a task
            failure = self.failure = err  # before the tasks end: their callers say why
            log.error("the engine loop ended with an exception", exc_info=err)
        finally:
            with self._lock:
                self._running = False
            self._ready.set()
            self._finish(loop)
            self._fail_waiting(failure)
            self._ended.set()
            for callback in self._end_callbacks:
                try:
                    callback(failure)
                except Exception:
                    log.exception("an engine end callback failed")

    def _finish(self, loop: asyncio.AbstractEventLoop) -> None:
        """Cancel what still runs, give it a moment, close the loop."""
        try:
            tasks = [task for task in asyncio.all_tasks(loop) if not task.done()]
            for task in tasks:
                task.cancel()
            if tasks:
                loop.run_until_complete(asyncio.wait(tasks, timeout=FINISH_SECONDS))
            loop.run_until_complete(loop.shutdown_asyncgens())
        except BaseException:
            log.exception("the engine's tasks did not finish cleanly")
        finally:
            if self._executor is not None:
                self._executor.shutdown(wait=False, cancel_futures=True)
            with contextlib.suppress(Exception):
                loop.close()

    def _fail_waiting(self, failure: BaseException | None) -> None:
        with self._lock:
            waiting, self._waiting = self._waiting, set()
        for future in waiting:
            if not future.done():
                with contextlib.suppress(concurrent.futures.InvalidStateError):
                    future.set_exception(EngineStopped(self.why_stopped(failure)))

    def why_stopped(self, failure: BaseException | None = None) -> str:
        failure = failure or self.failure
        if failure is not None:
            return f"the engine stopped: {type(failure).__name__}: {failure}"
        return "the engine has stopped"

    def stop(self, timeout: float = FINISH_SECONDS + 2.0) -> bool:
        """End the loop (tasks cancelled) and wait for the thread; True once it has ended.
        Blocks the caller: call it where nothing else waits (after the app, or ``astop``)."""
        with self._lock:
            if self._running and self._loop is not None:
                self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is None or self.in_engine_thread():
            return self._ended.is_set()
        self._thread.join(timeout)
        return not self._thread.is_alive()

    async def astop(self, timeout: float = FINISH_SECONDS + 2.0) -> bool:
        """``stop`` from a running event loop, without blocking it."""
        return await asyncio.to_thread(self.stop, timeout)

    # -- crossing into the engine ---------------------------------------------------------------

    def _track(self, future: concurrent.futures.Future[Any]) -> None:
        self._waiting.add(future)
        future.add_done_callback(self._untrack)

    def _untrack(self, future: concurrent.futures.Future[Any]) -> None:
        with self._lock:
            self._waiting.discard(future)

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule ``coro`` on the engine loop; its answer comes in the returned future."""
        with self._lock:
            if not self._running or self._loop is None:
                coro.close()
                raise EngineStopped(self.why_stopped())
            future = asyncio.run_coroutine_threadsafe(coro, self._loop)
            self._track(future)
        return future

    async def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await ``coro`` run on the engine loop, from another running loop."""
        if self.in_engine_thread():
            return await coro
        future = self.submit(coro)
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if future.cancelled() and (task is None or not task.cancelling()):
                # The engine cancelled it (it is ending), not our caller.
                raise EngineStopped(self.why_stopped()) from None
            raise

    def run_blocking(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """``run`` for a caller without an event loop (the launcher, after the app)."""
        future = self.submit(coro)
        try:
            return future.result(timeout)
        except concurrent.futures.CancelledError:
            raise EngineStopped(self.why_stopped()) from None

    def call(self, fn: Callable[..., T], *args: Any, timeout: float = CALL_TIMEOUT_SECONDS) -> T:
        """``fn(*args)`` run on the engine loop between two of its steps; blocks the caller
        until it answers (``EngineBusy`` after ``timeout`` seconds)."""
        if self.in_engine_thread():
            return fn(*args)
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                future.set_result(fn(*args))
            except BaseException as err:  # handed to the caller, who raises it
                future.set_exception(err)

        with self._lock:
            if not self._running or self._loop is None:
                raise EngineStopped(self.why_stopped())
            self._track(future)
            self._loop.call_soon_threadsafe(run)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            name = getattr(fn, "__name__", "a query")
            raise EngineBusy(f"the engine did not answer {name} within {timeout:g} s") from None

    def call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        """``fn(*args)`` on the engine loop, without waiting for it."""
        with self._lock:
            if not self._running or self._loop is None:
                raise EngineStopped(self.why_stopped())
            self._loop.call_soon_threadsafe(fn, *args)
