"""``cmltui labs`` and ``cmltui lab ...`` as real processes against moto's server and the fake
CML over HTTPS: output, exit codes, refusals, and what reached CML."""

from __future__ import annotations

import json
from pathlib import Path

from cmltui.demo.fleet import write_toml
from tests.cli.helpers import run_cmltui


def _config(fleet, tmp_path: Path) -> Path:
    path = tmp_path / "cli-config.toml"
    write_toml(path, fleet.config.model_dump(mode="json", exclude_none=True))
    return path


async def _worker(fleet, tmp_path: Path, **launch):
    instance_id = await fleet.launch("labby", **launch)
    return _config(fleet, tmp_path), fleet.cml.worker(instance_id)


def _lab_events(fleet, tmp_path, config) -> list[dict]:
    listing = run_cmltui(tmp_path, "events", "labby", "--json", config=config)
    assert listing.returncode == 0, listing.stderr
    return [e["data"] for e in json.loads(listing.stdout) if e["type"].endswith("lab-action.v1")]


async def test_labs_lists_every_lab_with_owner_state_and_nodes(fleet, tmp_path):
    config, fake = await _worker(fleet, tmp_path, labs=2, running_labs=1)
    odd = fake.add_lab("Mallory's \u202elab", owner="mallory", nodes=3, state="STOPPED")
    as_json = run_cmltui(tmp_path, "labs", "labby", "--json", config=config)
    assert as_json.returncode == 0, as_json.stderr
    rows = {row["id"]: row for row in json.loads(as_json.stdout)}
    assert set(rows) == {lab.id for lab in fake.labs_snapshot()}
    for lab in fake.labs_snapshot():
        row = rows[lab.id]
        assert (row["title"], row["owner"], row["state"]) == (
            lab.title,
            lab.owner_username,
            lab.state,
        )
        assert row["nodes"] == f"{lab.running_nodes}/{lab.node_count}"
    table = run_cmltui(tmp_path, "labs", "labby", config=config)
    assert table.returncode == 0
    assert table.stdout.splitlines()[0].split() == [
        "TITLE",
        "OWNER",
        "STATE",
        "NODES",
        "MODIFIED",
        "ID",
    ]
    assert "Mallory's \\u202elab" in table.stdout and "\u202e" not in table.stdout
    assert odd in table.stdout


async def test_stop_by_title_records_the_action(fleet, tmp_path):
    config, fake = await _worker(fleet, tmp_path, labs=2, running_labs=1)
    running = next(lab for lab in fake.labs_snapshot() if lab.running)
    done = run_cmltui(tmp_path, "lab", "stop", "labby", running.title, config=config)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f'stop lab: "{running.title}" ({running.id[:8]})'
    assert next(lab for lab in fake.labs_snapshot() if lab.id == running.id).state == "STOPPED"
    (record,) = _lab_events(fleet, tmp_path, config)
    assert (record["action"], record["lab_id"], record["outcome"]) == (
        "stop",
        running.id,
        "accepted",
    )


async def test_ambiguous_and_unknown_labs_change_nothing(fleet, tmp_path):
    config, fake = await _worker(fleet, tmp_path, labs=1, running_labs=1)
    first = fake.add_lab("Twin", owner="alice", state="STARTED")
    second = fake.add_lab("twin", owner="bob", state="STARTED")
    ambiguous = run_cmltui(tmp_path, "lab", "stop", "labby", "Twin", config=config)
    assert ambiguous.returncode == 2
    assert "could mean 2 labs" in ambiguous.stderr
    assert f"id {first}" in ambiguous.stderr and f"id {second}" in ambiguous.stderr
    unknown = run_cmltui(tmp_path, "lab", "stop", "labby", "Nope", config=config)
    assert unknown.returncode == 1 and "no such lab: Nope" in unknown.stderr
    assert fake.running_lab_count() == 3
    by_short_id = run_cmltui(tmp_path, "lab", "stop", "labby", second[:8], config=config)
    assert by_short_id.returncode == 0, by_short_id.stderr
    assert fake.running_lab_count() == 2
    usage = run_cmltui(tmp_path, "lab", "stop", "labby", config=config)
    assert usage.returncode == 2 and "LAB" in usage.stderr


async def test_cml_rules_first_then_stop_wipe_and_delete(fleet, tmp_path):
    config, fake = await _worker(fleet, tmp_path, labs=1, running_labs=1)
    (lab,) = fake.labs_snapshot()
    wipe = run_cmltui(tmp_path, "lab", "wipe", "labby", lab.id, config=config)
    assert wipe.returncode == 1
    assert "wipe needs a stopped lab: stop it first" in wipe.stderr
    asks = run_cmltui(tmp_path, "lab", "delete", "labby", lab.id, config=config)
    assert asks.returncode == 2 and "--yes" in asks.stderr
    refused = run_cmltui(tmp_path, "lab", "delete", "labby", lab.id, "--yes", config=config)
    assert refused.returncode == 1 and "--stop-and-wipe" in refused.stderr
    assert f"labs/{lab.id}/wipe" not in fake.counters.requests_by_path
    freed = run_cmltui(
        tmp_path, "lab", "delete", "labby", lab.id, "--yes", "--stop-and-wipe", config=config
    )
    assert freed.returncode == 0, freed.stderr
    assert "(stopped, wiped, deleted)" in freed.stdout
    assert fake.labs_snapshot() == []
    actions = [r["action"] for r in _lab_events(fleet, tmp_path, config)]
    assert actions == ["stop", "wipe", "delete"]


async def test_download_then_import_the_file(fleet, tmp_path):
    config, fake = await _worker(fleet, tmp_path, labs=1, running_labs=0)
    (lab,) = fake.labs_snapshot()
    target = tmp_path / "lab.yaml"
    saved = run_cmltui(
        tmp_path, "lab", "download", "labby", lab.id, "-o", str(target), config=config
    )
    assert saved.returncode == 0, saved.stderr
    assert f"title: {lab.title}" in target.read_text(encoding="utf-8")
    target.write_text("precious", encoding="utf-8")
    again = run_cmltui(
        tmp_path, "lab", "download", "labby", lab.id, "-o", str(target), config=config
    )
    assert again.returncode == 1 and "--overwrite" in again.stderr
    assert target.read_text(encoding="utf-8") == "precious"
    replaced = run_cmltui(
        tmp_path,
        "lab",
        "download",
        "labby",
        lab.id,
        "-o",
        str(target),
        "--overwrite",
        config=config,
    )
    assert replaced.returncode == 0
    imported = run_cmltui(
        tmp_path, "lab", "import", "labby", str(target), "--title", "From file", config=config
    )
    assert imported.returncode == 0, imported.stderr
    assert sorted(item.title for item in fake.labs_snapshot()) == sorted([lab.title, "From file"])
    missing = run_cmltui(
        tmp_path, "lab", "import", "labby", str(tmp_path / "no.yaml"), config=config
    )
    assert missing.returncode == 1 and "does not exist" in missing.stderr
    assert len(fake.labs_snapshot()) == 2
