"""Names that lie: zero-width, C1 and bidi characters and invisible spaces, set in EC2 by
someone else, are shown escaped wherever a name appears, and can be typed back to terminate.

The escaped form is written out literally below (``\\u200b`` is six characters on screen), so
these tests do not depend on how ``cmltui.domain.names.visible`` is built.
"""

from __future__ import annotations

import pytest
from textual.widgets import Button, Input, Static

from cmltui.services.snapshot import SourceHealth
from cmltui.ui.app import CmlTuiApp
from cmltui.ui.screens.confirm import TerminateScreen
from cmltui.ui.widgets.detail import DetailPane
from cmltui.ui.widgets.header import StatusLine
from cmltui.ui.widgets.worker_table import WorkerTable
from tests.ui.fake_service import NOW, FakeFleetService, make_app, make_snapshot

#: (name as stored, name as the screen shows it)
LYING_NAMES = [
    pytest.param("cml-lab-01\u200b", "cml-lab-01\\u200b", id="zero-width"),
    pytest.param("cml-\x9b31mlab", "cml-\\x9b31mlab", id="c1-csi"),
    pytest.param("cml-\u202e10-bal", "cml-\\u202e10-bal", id="bidi-override"),
    pytest.param("cml-lab-02   ", "cml-lab-02", id="trailing-spaces"),
]


def assert_shown_escaped(cell: str, on_screen: str) -> None:
    """The table shows the escaped name: whole, or (longer than the name column) its start
    and its end around "…"."""
    if "…" not in cell:
        assert cell.rstrip() == on_screen
        return
    head, _, tail = cell.partition("…")
    assert head and tail.rstrip() and on_screen.startswith(head)
    assert on_screen.rstrip().endswith(tail.rstrip())


def listed_names(dialog) -> str:
    """What a confirmation lists (the names block, however it is laid out)."""
    return "\n".join(
        str(widget.render())
        for widget in dialog.query(".dialog-names, .dialog-names Static")
        if isinstance(widget, Static)
    )


def notices(app: CmlTuiApp) -> list[str]:
    return [str(n.message) for n in app._notifications]


@pytest.mark.parametrize(("name", "on_screen"), LYING_NAMES)
async def test_a_lying_name_is_shown_escaped_and_can_be_typed_to_terminate(
    tmp_path, name, on_screen
):
    liar = make_snapshot(1, name=name)
    service = FakeFleetService([liar, make_snapshot(2, name="zz-other")])
    service.errors = (SourceHealth(f"cml:{name}", f"{name} refused the login", NOW),)
    app = make_app(service, tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        await pilot.pause()
        screen = app.main_screen
        table = screen.query_one(WorkerTable)
        assert_shown_escaped(table.get_cell(liar.id, "name").plain, on_screen)
        table.move_cursor(row=table.get_row_index(liar.id))
        await pilot.pause()
        assert table.selected_id == liar.id
        detail = screen.query_one(DetailPane).text()
        assert on_screen in detail
        status = str(screen.query_one(StatusLine).render())
        assert f"cml:{on_screen}" in status
        # No raw character that hides or reorders text reaches the terminal.
        painted = app.export_screenshot()
        for raw in ("\u200b", "\x9b", "\u202e"):
            assert raw not in painted

        await pilot.press("e")
        assert on_screen in str(app.screen.query_one(".dialog-title").render())
        await pilot.press("escape")

        await pilot.press("ctrl+d")
        dialog = app.screen
        assert isinstance(dialog, TerminateScreen)
        assert on_screen in listed_names(dialog)
        confirm = dialog.query_one("#confirm", Button)
        dialog.query_one("#confirm-text", Input).focus()
        await pilot.press(*on_screen)  # exactly what the dialog shows
        await pilot.pause()
        assert not confirm.disabled
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert ("terminate", (liar.id,)) in service.calls
        # The result toast names it the same way.
        assert any(on_screen in line for line in notices(app))


async def test_the_raw_name_does_not_confirm_a_look_alike(tmp_path):
    """Typing the plain name (what a zero-width character hides) confirms nothing."""
    liar = make_snapshot(1, name="cml-lab-01\u200b")
    service = FakeFleetService([liar])
    app = make_app(service, tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+d")
        dialog = app.screen
        dialog.query_one("#confirm-text", Input).focus()
        await pilot.press(*"cml-lab-01", "enter")
        await pilot.pause()
        assert app.screen is dialog
        assert dialog.query_one("#confirm", Button).disabled
        await pilot.press("escape")
        assert not [call for call in service.calls if call[0] == "terminate"]


async def test_a_terminal_escape_in_a_remote_name_is_typed_back_on_the_real_controller(
    make_fleet, open_app, moto_client, cml_amis
):
    """An instance named in EC2 by someone else (a C1 CSI and a bidi override in its Name tag)
    comes in with the fleet; the operator terminates it by typing what the dialog shows."""
    from cmltui.aws.dto import WORKER_ID_TAG
    from cmltui.domain.enums import CMLWorkerStatus

    fleet = await make_fleet([("keeper", "us-east-1", 0)])
    managed_key = fleet.config.aws.managed_tag_key
    ec2 = moto_client("ec2", "us-east-1")
    raw_name = "ops-\x9b31m-\u202eevil"
    reply = ec2.run_instances(
        ImageId=cml_amis["us-east-1"],
        MinCount=1,
        MaxCount=1,
        InstanceType="c5.2xlarge",
        TagSpecifications=[
            {
                "ResourceType": "instance",
                "Tags": [
                    {"Key": "Name", "Value": raw_name},
                    {"Key": managed_key, "Value": "true"},
                    {"Key": WORKER_ID_TAG, "Value": "0b3f7e9c-aaaa-4bbb-8ccc-000000000001"},
                ],
            }
        ],
    )
    instance_id = reply["Instances"][0]["InstanceId"]
    await fleet.controller.refresh_once()
    worker = fleet.controller.find(instance_id)
    assert worker is not None and worker.name == raw_name
    on_screen = "ops-\\x9b31m-\\u202eevil"
    async with open_app(fleet) as (app, pilot):
        table = app.main_screen.query_one(WorkerTable)
        assert_shown_escaped(table.get_cell(worker.id, "name").plain, on_screen)
        table.move_cursor(row=table.get_row_index(worker.id))
        await pilot.pause()
        await pilot.press("ctrl+d")
        dialog = app.screen
        assert isinstance(dialog, TerminateScreen)
        dialog.query_one("#confirm-text", Input).focus()
        await pilot.press(*on_screen, "enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.screen is app.main_screen
        state = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]
        assert state["Instances"][0]["State"]["Name"] in {"shutting-down", "terminated"}
        assert fleet.controller.find("keeper").state.status == CMLWorkerStatus.RUNNING
