"""The fake CML server itself: the 2.9 JSON shapes and status codes, its state machines,
reproducibility, many keep-alive connections, and the standalone entry point."""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
import subprocess
import sys

import httpx
import pytest

from cmltui.demo.fake_cml import DEMO_LICENSE_TOKEN, DEMO_PASSWORD, DEMO_USERNAME
from cmltui.domain.clock import FrozenClock
from tests.cml.conftest import new_key

TIME_INFO_KEYS = {"succeeded", "attempted", "scheduled", "status", "failure", "success"}
USAGE_KEYS = {"total", "free", "used"}


def _jwt_part(token: str, index: int) -> dict:
    part = token.split(".")[index]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


@pytest.mark.parametrize(
    ("version", "keys"),
    [
        ("2.5.0", {"version", "ready"}),
        ("2.7.0", {"version", "ready"}),
        ("2.8.0+build.6", {"version", "ready", "oui"}),
        ("2.9.0", {"version", "ready", "allow_ssh_pubkey_auth", "oui"}),
    ],
)
async def test_system_information_shape_by_version(raw, version, keys):
    _worker, http, _auth = await raw(version=version)
    answer = await http.get("system_information")  # no Authorization header
    assert answer.status_code == 200
    assert answer.headers["server"] == "nginx"
    assert int(answer.headers["content-length"]) == len(answer.content)
    assert set(answer.json()) == keys
    assert answer.json()["version"] == version


async def test_authenticate_returns_a_bare_jwt_string_with_exp(raw, fake_cml, ssl_context):
    _worker, http, auth = await raw(token_ttl_seconds=1234)
    token = auth["Authorization"].removeprefix("Bearer ")
    assert _jwt_part(token, 0) == {"alg": "HS256", "typ": "JWT"}
    payload = _jwt_part(token, 1)
    assert set(payload) == {"iss", "sub", "iat", "exp", "jti"}
    assert payload["iss"] == "com.cisco.virl"
    assert payload["exp"] - payload["iat"] == 1234
    assert (await http.get("authok", headers=auth)).json() == "OK"


async def test_bad_credentials_are_403_json(raw):
    _worker, http, _auth = await raw()
    answer = await http.post("authenticate", json={"username": "admin", "password": "nope"})
    assert answer.status_code == 403
    assert set(answer.json()) == {"code", "description"}
    assert answer.json()["code"] == 403


@pytest.mark.parametrize(
    "path", ["authok", "system_stats", "system_health", "labs", "licensing", "telemetry/events"]
)
async def test_missing_bad_or_expired_token_is_401_json(fake_cml, ssl_context, path):
    clock = FrozenClock()
    key = new_key("raw")
    worker = fake_cml.add_worker(key, clock=clock, token_ttl_seconds=60)
    async with httpx.AsyncClient(
        base_url=fake_cml.base_url_for(key) + "/api/v0/", verify=ssl_context
    ) as http:
        token = (
            await http.post(
                "authenticate", json={"username": DEMO_USERNAME, "password": DEMO_PASSWORD}
            )
        ).json()
        assert (
            await http.get(path, headers={"Authorization": f"Bearer {token}"})
        ).status_code == 200
        tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
        for headers in ({}, {"Authorization": f"Bearer {tampered}"}, {"Authorization": "Basic x"}):
            answer = await http.get(path, headers=headers)
            assert answer.status_code == 401
            assert answer.json()["code"] == 401
            assert set(answer.json()) == {"code", "description"}
        clock.advance(seconds=61)
        assert (
            await http.get(path, headers={"Authorization": f"Bearer {token}"})
        ).status_code == 401
        assert worker.counters.responses_by_status[401] == 4


async def test_system_stats_shape(raw):
    worker, http, auth = await raw(labs=4, running_labs=2, computes=2)
    body = (await http.get("system_stats", headers=auth)).json()
    assert set(body) == {"computes", "all", "controller"}
    assert len(body["computes"]) == 2
    running = 0
    for compute in body["computes"].values():
        assert set(compute) == {"hostname", "is_controller", "stats"}
        stats = compute["stats"]
        assert set(stats) == {"cpu", "memory", "disk", "dominfo"}
        assert set(stats["cpu"]) == {"count", "percent", "model", "predicted", "load"}
        assert len(stats["cpu"]["load"]) == 3
        assert set(stats["memory"]) == USAGE_KEYS == set(stats["disk"])
        assert stats["memory"]["used"] + stats["memory"]["free"] == stats["memory"]["total"]
        dominfo = stats["dominfo"]
        assert set(dominfo) == {
            "allocated_cpus",
            "allocated_memory",
            "total_nodes",
            "total_orphans",
            "running_nodes",
            "running_orphans",
        }
        # allocated_memory is KiB: 2 GiB per running node.
        assert dominfo["allocated_memory"] == dominfo["running_nodes"] * 2 * 1024 * 1024
        running += dominfo["running_nodes"]
    assert sum(c["is_controller"] for c in body["computes"].values()) == 1
    assert running == sum(lab.node_count for lab in worker.labs_snapshot() if lab.running)
    assert set(body["all"]) == {"cpu", "memory", "disk"}
    assert set(body["all"]["cpu"]) == {"count", "percent"}
    assert body["all"]["memory"]["total"] == sum(
        c["stats"]["memory"]["total"] for c in body["computes"].values()
    )
    assert set(body["controller"]) == {"disk"}
    assert set(body["controller"]["disk"]) == USAGE_KEYS


async def test_system_health_shape(raw):
    _worker, http, auth = await raw(licensed=False)
    body = (await http.get("system_health", headers=auth)).json()
    assert set(body) == {"valid", "is_licensed", "is_enterprise", "controller", "computes"}
    assert body["is_licensed"] is False
    assert set(body["controller"]) == {"core_connected", "nodes_loaded", "images_loaded", "valid"}
    for compute in body["computes"].values():
        assert set(compute) == {
            "hostname",
            "is_controller",
            "admission_state",
            "kvm_vmx_enabled",
            "enough_cpus",
            "lld_connected",
            "lld_synced",
            "libvirt",
            "fabric",
            "device_mux",
            "refplat_images_available",
            "docker_shim",
            "valid",
        }


async def test_labs_shapes_and_state_machine(raw):
    worker, http, auth = await raw(labs=5, running_labs=0, clock=FrozenClock())
    all_ids = (await http.get("labs", params={"show_all": "true"}, headers=auth)).json()
    own_ids = (await http.get("labs", headers=auth)).json()
    assert len(all_ids) == 5 and all(isinstance(lab_id, str) for lab_id in all_ids)
    assert set(own_ids) < set(all_ids)  # without show_all: only the admin's own labs
    lab_id = all_ids[0]
    lab = (await http.get(f"labs/{lab_id}", headers=auth)).json()
    assert set(lab) == {
        "id",
        "lab_title",
        "lab_description",
        "lab_notes",
        "state",
        "created",
        "modified",
        "owner",
        "owner_username",
        "owner_fullname",
        "node_count",
        "link_count",
        "groups",
        "effective_permissions",
    }
    assert lab["created"].endswith("+00:00")

    async def state() -> str:
        return (await http.get(f"labs/{lab_id}/state", headers=auth)).json()

    assert await state() == "DEFINED_ON_CORE"
    assert (await http.put(f"labs/{lab_id}/start", headers=auth)).status_code == 204
    assert await state() == "STARTED"
    assert worker.running_lab_count() == 1
    wipe_started = await http.put(f"labs/{lab_id}/wipe", headers=auth)
    assert wipe_started.status_code == 400
    assert (await http.put(f"labs/{lab_id}/stop", headers=auth)).status_code == 204
    assert await state() == "STOPPED"
    assert (await http.put(f"labs/{lab_id}/wipe", headers=auth)).status_code == 204
    assert await state() == "DEFINED_ON_CORE"
    missing = await http.get("labs/no-such-lab", headers=auth)
    assert missing.status_code == 404 and missing.json()["code"] == 404


async def test_licensing_shape(raw):
    _worker, http, auth = await raw(licensed=True)
    body = (await http.get("licensing", headers=auth)).json()
    assert set(body) == {
        "udi",
        "registration",
        "authorization",
        "reservation_mode",
        "features",
        "product_license",
        "transport",
    }
    assert set(body["udi"]) == {"hostname", "product_uuid"}
    assert set(body["registration"]) == {
        "status",
        "smart_account",
        "virtual_account",
        "expires",
        "register_time",
        "renew_time",
    }
    assert set(body["registration"]["register_time"]) == TIME_INFO_KEYS
    assert set(body["registration"]["renew_time"]) == TIME_INFO_KEYS
    assert set(body["authorization"]) == {"status", "expires", "renew_time"}
    assert set(body["authorization"]["renew_time"]) == TIME_INFO_KEYS
    for feature in body["features"]:
        assert set(feature) == {
            "id",
            "name",
            "description",
            "version",
            "in_use",
            "status",
            "min",
            "max",
            "minEndDate",
            "maxEndDate",
        }
    assert set(body["product_license"]) == {"active", "is_enterprise"}
    assert set(body["transport"]) == {"ssms", "proxy", "default_ssms"}
    assert set(body["transport"]["proxy"]) == {"server", "port"}
    assert (body["registration"]["status"], body["authorization"]["status"]) == (
        "COMPLETED",
        "IN_COMPLIANCE",
    )


async def test_licence_state_machine_over_http(raw):
    clock = FrozenClock()
    worker, http, auth = await raw(licensed=False, clock=clock, registration_seconds=5)
    for bad_body in (b"not json", b'{"reregister": false}', b'{"token": "x", "reregister": 1}'):
        answer = await http.post(
            "licensing/registration",
            content=bad_body,
            headers={**auth, "Content-Type": "application/json"},
        )
        assert answer.status_code == 400
    register = {"token": DEMO_LICENSE_TOKEN, "reregister": False}
    assert (
        await http.post("licensing/registration", json=register, headers=auth)
    ).status_code == 204
    assert worker.licence_state() == ("IN_PROGRESS", "INIT")
    clock.advance(seconds=6)
    assert worker.licence_state() == ("COMPLETED", "IN_COMPLIANCE")
    body = (await http.get("licensing", headers=auth)).json()
    assert body["registration"]["expires"] is not None
    again = await http.post("licensing/registration", json=register, headers=auth)
    assert again.status_code == 409
    rereg = {"token": DEMO_LICENSE_TOKEN, "reregister": True}
    assert (await http.post("licensing/registration", json=rereg, headers=auth)).status_code == 204
    clock.advance(seconds=6)
    assert (await http.delete("licensing/deregistration", headers=auth)).status_code == 204
    assert worker.licence_state() == ("NOT_REGISTERED", "INIT")
    assert (await http.delete("licensing/deregistration", headers=auth)).status_code == 400
    bad = {"token": "WRONG-TOKEN", "reregister": False}
    assert (await http.post("licensing/registration", json=bad, headers=auth)).status_code == 204
    clock.advance(seconds=6)
    failed = (await http.get("licensing", headers=auth)).json()["registration"]
    assert failed["status"] == "FAILED"
    assert "'WRONG-TOKEN' is not valid" in failed["register_time"]["failure"]


async def test_telemetry_events_shape_and_mixed_timestamps(raw):
    clock = FrozenClock()
    _worker, http, auth = await raw(labs=6, running_labs=3, clock=clock, token_ttl_seconds=86400)
    clock.advance(hours=3)
    events = (await http.get("telemetry/events", headers=auth)).json()
    assert len(events) > 10
    assert all(set(event) == {"category", "timestamp", "data"} for event in events)
    user_activity = [e for e in events if e["category"] == "user_activity"]
    assert user_activity and all("user_id" in e["data"] for e in user_activity)
    stamps = [e["timestamp"] for e in events]
    assert any(s.endswith("Z") for s in stamps) and any(not s.endswith("Z") for s in stamps)
    assert any("." in s for s in stamps) and any("." not in s for s in stamps)


async def test_not_ready_502_is_nginx_html(raw):
    worker, http, _auth = await raw()
    worker.set_faults(not_ready_502=True)
    answer = await http.get("system_information")
    assert answer.status_code == 502
    assert answer.headers["content-type"].startswith("text/html")
    assert b"nginx" in answer.content


async def test_same_seed_same_simulation(fake_cml):
    clock_a, clock_b = FrozenClock(), FrozenClock()
    a = fake_cml.add_worker("twin-a", seed=99, labs=6, running_labs=2, clock=clock_a)
    b = fake_cml.add_worker("twin-b", seed=99, labs=6, running_labs=2, clock=clock_b)
    c = fake_cml.add_worker("other", seed=100, labs=6, running_labs=2, clock=FrozenClock())
    for clock in (clock_a, clock_b):
        clock.advance(hours=5)
    assert a.labs_snapshot() == b.labs_snapshot()
    assert a.telemetry_events() == b.telemetry_events()
    assert a.system_stats() == b.system_stats()
    assert [lab.id for lab in a.labs_snapshot()] != [lab.id for lab in c.labs_snapshot()]


@pytest.mark.slow  # hundreds of TLS handshakes: seconds
async def test_hundreds_of_concurrent_keep_alive_connections(fake_cml, ssl_context):
    # Ten workers with one httpx client each (as cmltui does), 30 connections per client:
    # 300 connections at once. (One client with 300 connections would mostly measure
    # httpcore's pool bookkeeping, which grows with the square of its size.)
    keys = [new_key("many") for _ in range(10)]
    limits = httpx.Limits(max_connections=30, max_keepalive_connections=30, keepalive_expiry=120)
    clients = []
    for key in keys:
        fake_cml.add_worker(key).set_faults(delay_seconds=0.3, only_paths={"system_information"})
        clients.append(
            httpx.AsyncClient(
                base_url=fake_cml.base_url_for(key) + "/api/v0/", verify=ssl_context, limits=limits
            )
        )
    accepted_before = fake_cml.connections_accepted
    try:
        for _round in range(2):
            answers = await asyncio.gather(
                *(http.get("system_information") for http in clients for _ in range(30))
            )
            assert {answer.status_code for answer in answers} == {200}
            assert all(int(a.headers["content-length"]) == len(a.content) for a in answers)
        assert fake_cml.max_in_flight > 100
        # The second round reused the first round's connections.
        assert fake_cml.connections_accepted - accepted_before == 300
    finally:
        for http in clients:
            await http.aclose()
    assert sum(fake_cml.worker(key).request_count for key in keys) == 600


def test_standalone_entry_point(tmp_path):
    ca_file = tmp_path / "ca.pem"
    process = subprocess.Popen(
        [sys.executable, "-m", "cmltui.demo.fake_cml", "--workers", "3", "--ca-file", str(ca_file)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        started = json.loads(process.stdout.readline())
        assert started["url"].startswith("https://127.0.0.1:")
        assert len(started["endpoints"]) == 3
        context = ssl.create_default_context(cafile=str(ca_file))
        endpoint = next(iter(started["endpoints"].values()))
        answer = httpx.get(endpoint + "/api/v0/system_information", verify=context)
        assert answer.json()["ready"] is True
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
