"""A CML request leaves no reference cycle behind (``cmltui.cml.transport.released``).

httpx keeps each response in a cycle with its stream; at 1,000 workers that was ~50,000
objects a refresh for the cyclic collector, whose 20-50 ms pauses stop the UI thread too
(measured with ``bench/loop_lag.py``). Counted here with the collector off: what a collection
then finds is what the requests left in cycles."""

from __future__ import annotations

import gc

REQUESTS = 40


async def test_requests_leave_no_cyclic_garbage(make_worker):
    _worker, client = make_worker(labs=3, running_labs=1)
    await client.system_stats()  # the login and the connection, before counting
    gc.collect()
    gc.disable()
    try:
        for _ in range(REQUESTS // 2):
            await client.system_stats()
            await client.system_information()
        left_in_cycles = gc.collect()
    finally:
        gc.enable()
    # httpx alone leaves ~36 objects a request (1,400 here); a few stray ones may come from
    # the event loop, never one set per request.
    assert left_in_cycles < REQUESTS, left_in_cycles
