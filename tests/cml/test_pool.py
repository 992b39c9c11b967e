"""The pool: one kept client per worker, replaced on a new URL, closed on forget; the bounds."""

from __future__ import annotations

import asyncio

from cmltui.cml.pool import CmlApiClientPool
from cmltui.demo.fake_cml import DEMO_PASSWORD
from tests.cml.conftest import new_key
from tests.fixtures.cml_fixtures import make_cml_settings


async def test_client_is_kept_per_worker_and_replaced_when_url_changes(fake_cml, cml_pool):
    key_a, key_b = new_key(), new_key()
    fake_cml.add_worker(key_a)
    fake_cml.add_worker(key_b)
    first = cml_pool.client_for("worker-1", fake_cml.base_url_for(key_a))
    assert cml_pool.client_for("worker-1", fake_cml.base_url_for(key_a) + "/") is first
    await first.system_stats()
    moved = cml_pool.client_for("worker-1", fake_cml.base_url_for(key_b))
    assert moved is not first
    await moved.system_stats()
    # Totals keep the retired client's requests: 2 logins, 4 requests.
    assert cml_pool.login_count == 2
    assert cml_pool.request_count == 4
    await asyncio.sleep(0)  # let the retired client's close task run
    await cml_pool.forget("worker-1")
    assert cml_pool.worker_ids() == []
    assert cml_pool.request_count == 4
    new = cml_pool.client_for("worker-1", fake_cml.base_url_for(key_b))
    assert new is not moved


async def test_pool_counts_requests_of_all_workers(fake_cml, cml_pool):
    keys = [new_key() for _ in range(3)]
    for key in keys:
        fake_cml.add_worker(key)
    clients = [cml_pool.client_for(key, fake_cml.base_url_for(key)) for key in keys]
    await asyncio.gather(*(client.system_stats() for client in clients))
    assert cml_pool.login_count == 3
    assert cml_pool.request_count == 6 == sum(fake_cml.worker(k).request_count for k in keys)


async def test_per_worker_bound_on_concurrent_requests(fake_cml, fake_cml_ca_file):
    key = new_key()
    worker = fake_cml.add_worker(key, labs=10, running_labs=2)
    settings = make_cml_settings(fake_cml_ca_file, max_concurrent_requests_per_worker=2)
    pool = CmlApiClientPool(settings, password=DEMO_PASSWORD)
    try:
        client = pool.client_for(key, fake_cml.base_url_for(key))
        await client.system_information()
        worker.set_faults(delay_seconds=0.05)
        labs = await client.labs()
        assert len(labs) == 10
        assert worker.counters.max_in_flight == 2
    finally:
        await pool.aclose()


async def test_pool_wide_bound_on_concurrent_requests(fake_cml, fake_cml_ca_file):
    keys = [new_key() for _ in range(4)]
    settings = make_cml_settings(
        fake_cml_ca_file, max_concurrent_requests_per_worker=4, max_concurrent_requests=3
    )
    pool = CmlApiClientPool(settings, password=DEMO_PASSWORD)
    try:
        clients = []
        for key in keys:
            fake_cml.add_worker(key, labs=4).set_faults(delay_seconds=0.05)
            clients.append(pool.client_for(key, fake_cml.base_url_for(key)))
        results = await asyncio.gather(*(client.labs() for client in clients))
        assert [len(labs) for labs in results] == [4, 4, 4, 4]
        # The server counts a request until its answer is sent, the client until it is read:
        # on a loaded machine one answer can still be leaving while the next request arrives.
        # Unbounded, these four workers' labs calls would reach up to 16 at once.
        assert 3 <= fake_cml.max_in_flight <= 4
    finally:
        await pool.aclose()


async def test_closed_client_raises_typed_error(fake_cml, cml_pool):
    key = new_key()
    fake_cml.add_worker(key)
    client = cml_pool.client_for(key, fake_cml.base_url_for(key))
    await cml_pool.forget(key)
    from cmltui.cml.errors import CmlUnreachableError

    try:
        await client.system_information()
    except CmlUnreachableError as err:
        assert "closed" in err.reason
    else:
        raise AssertionError("a closed client must refuse calls")
