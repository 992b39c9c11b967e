"""``EngineThread``: a loop of its own in a thread; answers, errors and its end cross back."""

from __future__ import annotations

import asyncio
import threading

import pytest

from cmltui.services.engine_thread import EngineBusy, EngineStopped, EngineThread


@pytest.fixture
async def engine():
    started = EngineThread(name="engine-under-test").start()
    yield started
    assert await started.astop()


async def test_coroutines_run_on_the_engine_loop_and_answer_here(engine):
    here = asyncio.get_running_loop()

    async def where() -> tuple[asyncio.AbstractEventLoop, str, str]:
        in_thread = await asyncio.to_thread(lambda: threading.current_thread().name)
        return asyncio.get_running_loop(), threading.current_thread().name, in_thread

    loop, thread_name, worker_thread = await engine.run(where())
    assert loop is engine.loop and loop is not here
    assert thread_name == "engine-under-test"
    assert worker_thread.startswith("engine-under-test-io")  # to_thread: the engine's pool


async def test_errors_keep_their_type(engine):
    async def fails() -> None:
        raise KeyError("missing")

    with pytest.raises(KeyError, match="missing"):
        await engine.run(fails())
    with pytest.raises(ZeroDivisionError):
        engine.call(lambda: 1 / 0)


async def test_calls_run_between_engine_steps_and_nest_without_deadlock(engine):
    assert engine.call(threading.get_ident) == engine.thread.ident

    async def nested() -> int:
        # From the engine thread itself, call and run go straight through.
        return engine.call(lambda: 41) + await engine.run(asyncio.sleep(0, result=1))

    assert await engine.run(nested()) == 42


async def test_a_blocked_engine_makes_a_query_fail_not_hang(engine):
    release = threading.Event()
    engine.call_soon(release.wait)  # the engine loop is stuck in one step
    try:
        with pytest.raises(EngineBusy, match="did not answer"):
            engine.call(lambda: None, timeout=0.05)
    finally:
        release.set()
    assert engine.call(lambda: "free again") == "free again"


async def test_stopping_fails_what_waits_and_refuses_what_comes(engine):
    started = threading.Event()

    async def forever() -> None:
        started.set()
        await asyncio.Event().wait()

    waiting = asyncio.ensure_future(engine.run(forever()))
    await asyncio.to_thread(started.wait)
    assert await engine.astop()
    with pytest.raises(EngineStopped):
        await waiting
    assert engine.failure is None and not engine.is_running
    never = asyncio.sleep(0)
    with pytest.raises(EngineStopped):
        engine.submit(never)
    with pytest.raises(EngineStopped):
        engine.call(lambda: None)
    with pytest.raises(EngineStopped):
        engine.call_soon(lambda: None)


async def test_an_exception_ending_the_loop_is_reported_to_waiters_and_callbacks(engine):
    ended: list[BaseException | None] = []
    engine.add_end_callback(ended.append)
    started = threading.Event()

    async def forever() -> None:
        started.set()
        await asyncio.Event().wait()

    def die() -> None:
        raise SystemExit("engine killed")

    waiting = asyncio.ensure_future(engine.run(forever()))
    await asyncio.to_thread(started.wait)
    engine.call_soon(die)
    with pytest.raises(EngineStopped, match="SystemExit: engine killed"):
        await waiting
    await asyncio.to_thread(engine.thread.join, 30)
    assert isinstance(engine.failure, SystemExit)
    assert [type(err) for err in ended] == [SystemExit]
    with pytest.raises(EngineStopped, match="SystemExit"):
        await engine.run(asyncio.sleep(0))
