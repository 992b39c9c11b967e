"""Every fault knob of the fake yields the right typed error from every lab call, nothing else."""

from __future__ import annotations

import pytest

from cmltui.cml.errors import CmlBadResponseError, CmlError, CmlHttpError, CmlNotReadyError
from tests.cml.test_client_faults import KNOBS

TOPOLOGY = "lab: {version: 0.3.0, title: T}\nnodes: []\nlinks: []\n"

LAB_CALLS = {
    "lab_details": lambda client, lab_id: client.lab_details(lab_id),
    "labs_with_details": lambda client, lab_id: client.labs_with_details(),
    "lab_state": lambda client, lab_id: client.lab_state(lab_id),
    "start_lab": lambda client, lab_id: client.start_lab(lab_id),
    "stop_lab": lambda client, lab_id: client.stop_lab(lab_id),
    "wipe_lab": lambda client, lab_id: client.wipe_lab(lab_id),
    "delete_lab": lambda client, lab_id: client.delete_lab(lab_id),
    "download_lab_yaml": lambda client, lab_id: client.download_lab_yaml(lab_id),
    "import_lab_yaml": lambda client, lab_id: client.import_lab_yaml(TOPOLOGY),
}
# These answer 204 (no body): body faults reach them only through the login.
_BODYLESS = {"start_lab", "stop_lab", "wipe_lab", "delete_lab"}


@pytest.mark.parametrize("call_name", list(LAB_CALLS))
@pytest.mark.parametrize("knob_name", list(KNOBS))
async def test_fault_knob_gives_typed_error(make_worker, call_name, knob_name):
    knobs, expected = KNOBS[knob_name]
    worker, client = make_worker(labs=1, running_labs=1)
    lab_id = worker.labs_snapshot()[0].id
    worker.set_faults(**knobs)
    with pytest.raises(CmlError) as caught:
        await LAB_CALLS[call_name](client, lab_id)
    assert type(caught.value) is expected, caught.value
    assert caught.value.reason and len(caught.value.reason) <= 240
    assert [lab.state for lab in worker.labs_snapshot()] == ["STARTED"]


_AFTER_LOGIN = [
    (call_name, knob_name)
    for call_name in LAB_CALLS
    for knob_name in ("malformed_json", "wrong_shape", "http_500", "not_ready_502")
    # A 204 answer has no body for malformed_json or wrong_shape to spoil.
    if not (call_name in _BODYLESS and KNOBS[knob_name][1] is CmlBadResponseError)
]


@pytest.mark.parametrize(("call_name", "knob_name"), _AFTER_LOGIN)
async def test_fault_on_the_lab_endpoints_after_login(make_worker, call_name, knob_name):
    """A fault on the lab endpoints themselves (the login works) is typed the same way, and
    its reason names the lab."""
    knobs, expected = KNOBS[knob_name]
    worker, client = make_worker(labs=1, running_labs=0)
    lab_id = worker.labs_snapshot()[0].id
    worker.set_faults(only_paths={"labs", "import"}, **knobs)
    with pytest.raises(CmlError) as caught:
        await LAB_CALLS[call_name](client, lab_id)
    assert type(caught.value) is expected, caught.value
    if call_name not in ("labs_with_details", "import_lab_yaml"):
        assert lab_id in caught.value.reason
    assert worker.login_count == 1
    assert (await client.system_information()).ready


async def test_server_errors_on_a_lab_are_http_errors_naming_it(make_worker):
    worker, client = make_worker(labs=1, running_labs=1)
    lab = worker.labs_snapshot()[0]
    await client.labs()  # the title is known from the fleet cycle
    worker.set_faults(http_500=True, only_paths={f"labs/{lab.id}"})
    with pytest.raises(CmlHttpError) as caught:
        await client.stop_lab(lab.id)
    assert type(caught.value) is CmlHttpError and caught.value.status_code == 500
    assert caught.value.reason == (
        f'stop lab "{lab.title}" ({lab.id[:8]}): HTTP 500 Internal Server Error'
    )
    worker.set_faults(not_ready_502=True, http_500=False)
    with pytest.raises(CmlNotReadyError):
        await client.lab_details(lab.id)


async def test_lab_calls_recover_once_the_fault_is_gone(make_worker):
    worker, client = make_worker(labs=1, running_labs=1)
    lab_id = worker.labs_snapshot()[0].id
    worker.set_faults(connection="reset", only_paths={"labs"})
    with pytest.raises(CmlError):
        await client.stop_lab(lab_id)
    worker.clear_faults()
    await client.stop_lab(lab_id)
    assert worker.labs_snapshot()[0].state == "STOPPED"
