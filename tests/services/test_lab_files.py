"""Download and import through the labs service, on real files and the fake CML over HTTPS:
never over a file without asking, files checked before anything is sent, and the round trip
(a downloaded lab imports as an equal lab)."""

from __future__ import annotations

import stat

import pytest

from cmltui.services.lab_files import (
    LabFileError,
    default_file_name,
    resolve_path,
    title_in,
)

LAB_ACTION = "cmltui.worker.lab-action.v1"


async def _ready(fleet, **launch):
    instance_id = await fleet.launch("files", **launch)
    controller = fleet.make_controller()
    await controller.refresh_once()
    return controller, controller.find("files").id, fleet.cml.worker(instance_id)


def _records(controller, worker_id: str) -> list[dict]:
    return [e.data for e in controller.events_for(worker_id, 500) if e.type == LAB_ACTION]


def test_default_file_names_keep_to_safe_characters():
    assert default_file_name("BGP Peering", "1a2b3c4d-9") == "BGP Peering.yaml"
    assert default_file_name("../../etc/passwd", "1a2b3c4d-9") == "etc_passwd.yaml"
    assert default_file_name("a/b\u202ec", "1a2b3c4d-9") == "a_b_c.yaml"
    assert default_file_name("", "1a2b3c4d-9") == "lab-1a2b3c4d.yaml"
    assert default_file_name("???", "1a2b3c4d-9") == "lab-1a2b3c4d.yaml"


def test_paths_are_resolved_and_invisible_characters_refused(tmp_path):
    assert resolve_path("lab.yaml", tmp_path) == tmp_path / "lab.yaml"
    assert resolve_path(f"  {tmp_path}/x.yaml ") == tmp_path / "x.yaml"
    for bad in ("", "   ", "la\u200bb.yaml"):
        with pytest.raises(LabFileError):
            resolve_path(bad, tmp_path)


def test_the_title_in_a_topology_is_read_simply():
    assert title_in("lab:\n  description: ''\n  title: 'My Lab'\nnodes: []\n") == "My Lab"
    assert title_in("nodes:\n  - title: not this\nlab:\n  title: This\n") == "This"
    assert title_in("lab: {}\nnodes: []\n") is None


async def test_download_never_overwrites_without_asking(fleet, tmp_path):
    controller, worker_id, fake = await _ready(fleet, labs=1, running_labs=0)
    lab = fake.labs_snapshot()[0]
    labs = controller.labs()
    target = tmp_path / default_file_name(lab.title, lab.id)
    result = await labs.download(worker_id, lab.id, str(target))
    assert result.ok, result.summary()
    assert result.done[0].startswith(f'"{lab.title}" ({lab.id[:8]}) to {target} (')
    text = target.read_text(encoding="utf-8")
    assert f"title: {lab.title}" in text and "nodes:" in text
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    target.write_text("mine", encoding="utf-8")
    downloads = fake.counters.requests_by_path[f"labs/{lab.id}/download"]
    again = await labs.download(worker_id, lab.id, str(target))
    assert again.refused == (f"lab {lab.id[:8]}: {target} exists",)
    assert target.read_text(encoding="utf-8") == "mine"
    assert fake.counters.requests_by_path[f"labs/{lab.id}/download"] == downloads
    with pytest.raises(LabFileError) as asked:
        await labs.check_download(str(target))
    assert asked.value.exists
    replaced = await labs.download(worker_id, lab.id, str(target), overwrite=True)
    assert replaced.ok and target.read_text(encoding="utf-8") == text
    assert [r["outcome"] for r in _records(controller, worker_id)] == ["accepted", "accepted"]
    assert _records(controller, worker_id)[0]["detail"] == f"saved to {target}"
    folder = await labs.download(worker_id, lab.id, str(tmp_path))
    assert "is a folder" in folder.refused[0]


async def test_a_downloaded_lab_imports_as_an_equal_lab(fleet, tmp_path):
    controller, worker_id, fake = await _ready(fleet, labs=1, running_labs=0)
    original = fake.labs_snapshot()[0]
    labs = controller.labs()
    path = tmp_path / "round-trip.yaml"
    assert (await labs.download(worker_id, original.id, str(path))).ok
    topology = await labs.check_topology_file(str(path))
    assert topology.title == original.title and topology.size == path.stat().st_size
    result = await labs.import_topology(worker_id, topology, title="Round trip")
    assert result.ok, result.summary()
    copy = next(lab for lab in fake.labs_snapshot() if lab.id != original.id)
    assert copy.title == "Round trip" and copy.state == "DEFINED_ON_CORE"
    assert (copy.node_count, copy.link_count) == (original.node_count, original.link_count)
    assert [n.label for n in copy.nodes] == [n.label for n in original.nodes]
    assert result.done[0].startswith(f'"Round trip" ({copy.id[:8]}) from {path}')
    record = _records(controller, worker_id)[-1]
    assert (record["action"], record["lab_id"], record["lab_title"]) == (
        "import",
        copy.id,
        "Round trip",
    )
    requested = [
        e.data
        for e in controller.events_for(worker_id, 500)
        if e.type == "cmltui.worker.action-requested.v1"
    ][-1]
    assert requested["action"] == "lab-import" and requested["target"] == f"file {path}"
    untitled = await labs.import_topology(worker_id, str(path))
    assert untitled.ok
    assert sorted(lab.title for lab in fake.labs_snapshot()).count(original.title) == 2


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "does not exist"),
        (b"", "the topology is empty"),
        (b"\xff\xfe not utf-8", "is not UTF-8 text"),
        (b"just: yaml\n", "not a CML topology"),
        (b"lab:\n  title: x\nnodes: []\n" + b"#" * (2 * 1024 * 1024), "CML accepts at most 2 MB"),
    ],
    ids=["missing", "empty", "binary", "not-a-topology", "too-big"],
)
async def test_a_bad_file_is_refused_before_anything_is_sent(fleet, tmp_path, content, problem):
    controller, worker_id, fake = await _ready(fleet, labs=1, running_labs=0)
    path = tmp_path / "topology.yaml"
    if content is not None:
        path.write_bytes(content)
    result = await controller.labs().import_topology(worker_id, str(path))
    assert not result.ok and problem in result.refused[0]
    assert "import" not in fake.counters.requests_by_path
    assert len(fake.labs_snapshot()) == 1
    assert _records(controller, worker_id) == []


async def test_cml_refusing_an_import_is_recorded_with_its_reason(fleet, tmp_path):
    controller, worker_id, _fake = await _ready(fleet, labs=1, running_labs=0)
    path = tmp_path / "bad-version.yaml"
    path.write_text("lab:\n  title: Odd\n  version: 9.9.9\nnodes: []\nlinks: []\n", "utf-8")
    result = await controller.labs().import_topology(worker_id, str(path))
    assert not result.ok and result.failed[0].startswith(f"{path}: refused by CML (HTTP 400)")
    record = _records(controller, worker_id)[-1]
    assert (record["action"], record["lab_id"], record["outcome"]) == ("import", None, "failed")
    bad_title = await controller.labs().import_topology(worker_id, str(path), title="x" * 65)
    assert "1 to 64 characters" in bad_title.refused[0]
