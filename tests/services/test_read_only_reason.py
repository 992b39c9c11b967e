"""Read-only mode says why (issue 15 #7): the first cause that applies, in the operator's words."""

from __future__ import annotations

from cmltui.store.repository import open_store


async def test_read_only_reason_names_the_cause(fleet):
    writable = fleet.make_controller()
    assert not writable.read_only and writable.read_only_reason == ""
    asked = fleet.make_controller(read_only=True)
    assert asked.read_only_reason == "started with --read-only"
    by_config = fleet.make_controller(fleet.config.model_copy(update={"read_only": True}))
    assert by_config.read_only_reason == "read_only = true in the config"


async def test_a_newer_data_file_is_the_reason(fleet):
    store = open_store(fleet.config.data_path, clock=fleet.clock)
    store.set_meta("schema_version", 99)
    store.close()
    controller = fleet.make_controller()
    assert controller.read_only
    assert "written by a newer cmltui (schema 99)" in controller.read_only_reason
    assert "--read-only" not in controller.read_only_reason
