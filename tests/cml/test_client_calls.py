"""Every client call against the fake controller over verified HTTPS."""

from __future__ import annotations

import pytest

from cmltui.cml.models import CmlSystemInfo
from cmltui.domain.clock import FrozenClock
from cmltui.domain.enums import LicenseStatus


async def test_system_information_reads_version_and_readiness(make_worker):
    worker, client = make_worker(version="2.9.0")
    info = await client.system_information()
    assert info == CmlSystemInfo(version="2.9.0", ready=True, version_supported=True)
    # No login is needed for system_information.
    assert client.login_count == 0
    assert worker.login_count == 0


async def test_system_information_reports_ready_false(make_worker):
    _worker, client = make_worker(ready=False)
    info = await client.system_information()
    assert info.ready is False


@pytest.mark.parametrize(
    ("version", "supported"),
    [
        ("2.5.0", True),
        ("2.7.1", True),
        ("2.8.0+build.6", True),
        ("2.9.0", True),
        ("2.10.0", False),
        ("2.4.0.dev0+build.f904bdf8", False),
        ("3.0.0", False),
    ],
)
async def test_versions_outside_2_5_to_2_9_are_shown_not_fatal(make_worker, version, supported):
    _worker, client = make_worker(version=version)
    info = await client.system_information()
    assert info.version == version
    assert info.version_supported is supported


async def test_system_stats_follows_running_labs(make_worker):
    clock = FrozenClock()
    worker, client = make_worker(labs=5, running_labs=2, clock=clock)
    stats = await client.system_stats()
    running_nodes = sum(lab.node_count for lab in worker.labs_snapshot() if lab.running)
    assert stats.running_nodes == running_nodes > 0
    assert stats.memory_total_bytes == 64 * 1024**3
    assert 0 < stats.memory_used_bytes < stats.memory_total_bytes
    assert stats.disk_total_bytes is not None and stats.disk_used_bytes is not None
    assert 0 <= stats.cpu_percent <= 100
    busy_cpu = stats.cpu_percent

    _idle_worker, idle_client = make_worker(labs=5, running_labs=0, clock=clock)
    idle = await idle_client.system_stats()
    assert idle.running_nodes == 0
    assert idle.cpu_percent < busy_cpu
    assert idle.memory_used_bytes < stats.memory_used_bytes


async def test_labs_lists_every_lab_with_its_state(make_worker):
    worker, client = make_worker(labs=6, running_labs=2, clock=FrozenClock())
    labs = await client.labs()
    expected = {lab.id: lab for lab in worker.labs_snapshot()}
    assert {lab.id for lab in labs} == set(expected)
    assert sum(lab.is_active for lab in labs) == 2
    for lab in labs:
        assert lab.title == expected[lab.id].title
        assert lab.state == expected[lab.id].state
        assert lab.node_count == expected[lab.id].node_count
        assert lab.owner_username == expected[lab.id].owner_username
    # One list call plus one call per lab (show_all=true sees other users' labs too).
    assert worker.counters.requests_by_path["labs"] == 1
    assert (
        sum(n for path, n in worker.counters.requests_by_path.items() if path.startswith("labs/"))
        == 6
    )


async def test_labs_of_an_empty_controller(make_worker):
    _worker, client = make_worker(labs=0, running_labs=0)
    assert await client.labs() == []


async def test_licensing_of_a_registered_and_an_unregistered_worker(make_worker):
    _registered, client = make_worker(licensed=True)
    licensing = await client.licensing()
    assert licensing.registration_status == "COMPLETED"
    assert licensing.authorization_status == "IN_COMPLIANCE"
    assert licensing.license_status is LicenseStatus.REGISTERED
    assert licensing.registration_expires is not None
    assert licensing.registration_expires.tzinfo is not None
    assert licensing.product_license == "CML_Enterprise"

    _unregistered, other = make_worker(licensed=False)
    licensing = await other.licensing()
    assert licensing.registration_status == "NOT_REGISTERED"
    assert licensing.license_status is LicenseStatus.UNREGISTERED
    assert licensing.registration_expires is None


async def test_many_calls_use_one_login_and_one_kept_alive_client(make_worker, fake_cml):
    worker, client = make_worker()
    accepted_before = fake_cml.connections_accepted
    for _ in range(10):
        await client.system_stats()
        await client.licensing()
        await client.new_activity_events()
    assert worker.login_count == 1
    assert client.login_count == 1
    # 30 API calls + 1 login, counted on both sides.
    assert client.request_count == 31 == worker.request_count
    # Sequential calls reuse one kept-alive connection.
    assert fake_cml.connections_accepted - accepted_before == 1


async def test_a_controller_in_evaluation_mode_reads_as_evaluation(make_worker):
    """NOT_REGISTERED with evaluation active (authorization EVAL) is the seed's EVALUATION, not
    "unregistered"; without evaluation (INIT) it is unregistered (issue 15 #13)."""
    evaluating, client = make_worker(licensed=False, evaluation=True)
    assert evaluating.licence_state() == ("NOT_REGISTERED", "EVAL")
    licensing = await client.licensing()
    assert licensing.registration_status == "NOT_REGISTERED"
    assert licensing.authorization_status == "EVAL"
    assert licensing.license_status is LicenseStatus.EVALUATION

    plain, other = make_worker(licensed=False, evaluation=False)
    assert plain.licence_state() == ("NOT_REGISTERED", "INIT")
    assert (await other.licensing()).license_status is LicenseStatus.UNREGISTERED

    # Evaluation can end on a controller already running: the knob flips it, and so does the
    # status cmltui reads.
    evaluating.set_evaluation(False)
    assert (await client.licensing()).license_status is LicenseStatus.UNREGISTERED


async def test_deregistration_returns_to_the_controllers_evaluation_state(make_worker):
    evaluating, client = make_worker(licensed=True, evaluation=True)
    assert (await client.licensing()).license_status is LicenseStatus.REGISTERED
    await client.deregister_license()
    assert evaluating.licence_state() == ("NOT_REGISTERED", "EVAL")
    assert (await client.licensing()).license_status is LicenseStatus.EVALUATION
