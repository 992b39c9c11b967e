"""The fleet table and the detail pane keep their shape whatever the data (issue 15 #1, #5, #10).

Long and wide names never push a column out; the cursor starts on the first row; the Version
column keeps the build; the detail pane never breaks a name or the endpoint after its first
characters; a running worker's CML reads "pending" until CML answers.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from rich.cells import cell_len
from textual.geometry import Region

from cmltui.domain.enums import CMLServiceStatus, CMLWorkerStatus
from cmltui.ui.widgets.columns import short_version
from cmltui.ui.widgets.detail import DetailPane
from cmltui.ui.widgets.detail_lines import identity_lines, service_lines
from cmltui.ui.widgets.worker_table import WorkerTable
from tests.ui.fake_service import FakeFleetService, make_app, make_snapshot

#: The README's promise: at 80 columns these stay; at 120 every column fits.
KEPT_AT_80 = ["name", "region", "state", "service", "labs", "cpu", "mem", "idle"]
ALL_COLUMNS = [
    "name",
    "region",
    "state",
    "service",
    "version",
    "licence",
    "labs",
    "cpu",
    "mem",
    "idle",
    "uptime",
    "cost",
]


def shown_lines(widget) -> list[str]:
    """What a widget paints, line by line (plain text)."""
    width, height = widget.size
    return [strip.text for strip in widget.render_lines(Region(0, 0, width, height))]


@pytest.mark.parametrize(("size", "columns"), [((80, 24), KEPT_AT_80), ((120, 35), ALL_COLUMNS)])
@pytest.mark.parametrize(
    "long_name",
    [
        "lab-team-alpha-and-friends-042",  # 30 characters
        "shared-training-lab-for-the-enablement-team-emea-region-0042",  # 60
        "東京ラボ大阪ラボ名古屋ラボ福岡ラボ",  # 17 wide characters: 34 cells
    ],
)
async def test_a_long_name_never_pushes_a_column_out(tmp_path, size, columns, long_name):
    workers = [make_snapshot(n) for n in range(1, 4)]
    service = FakeFleetService(workers)
    app = make_app(service, tmp_path)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        table = app.main_screen.query_one(WorkerTable)
        assert table.column_keys == columns
        service.publish([replace(workers[0], name=long_name)])
        await pilot.pause()
        # The priority decides which columns are shown, never a name.
        assert table.column_keys == columns
        name_width = table.columns["name"].width - 1  # less its gutter
        cell = table.get_cell(workers[0].id, "name")
        # Its start and its end around "…", in the column.
        head, ellipsis, tail = cell.plain.partition("…")
        assert ellipsis and long_name.startswith(head) and long_name.endswith(tail)
        assert cell_len(cell.plain) <= name_width
        assert cell_len(long_name) > name_width
        # The whole name is in the detail pane (at 80 columns it takes the table's place).
        table.select_worker(workers[0].id)
        await pilot.pause()
        detail = app.main_screen.query_one(DetailPane)
        if not detail.display:
            await pilot.press("enter")
            await pilot.pause()
        assert detail.worker_id == workers[0].id and detail.display
        identity = detail.query_one("#detail-identity")
        assert long_name in "".join(line.strip() for line in shown_lines(identity))


def test_the_detail_folds_a_long_name_on_its_own_lines_and_keeps_a_short_one_beside_its_label():
    long_name = "x" * 50
    lines = [line.plain for line in identity_lines(make_snapshot(1, name=long_name), width=30)]
    at = lines.index("name".ljust(14))
    assert lines[at + 1] == long_name  # folded when painted, never cut
    short = [line.plain for line in identity_lines(make_snapshot(1, name="w1"), width=30)]
    assert "name".ljust(14) + "w1" in short


async def test_the_endpoint_is_never_broken_mid_url(tmp_path):
    endpoint = "https://ec2-54-210-167-99.compute-1.amazonaws.com"
    short = "https://10.0.0.1"
    workers = [make_snapshot(1, https_endpoint=endpoint), make_snapshot(3, https_endpoint=short)]
    app = make_app(FakeFleetService(workers), tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        await pilot.pause()
        service_block = app.main_screen.query_one(DetailPane).query_one("#detail-service")
        painted = [line.rstrip() for line in shown_lines(service_block)]
        at = painted.index("endpoint")
        # On its own line, cut at its end: no line starts with the rest of the URL.
        assert endpoint.startswith(painted[at + 1].removesuffix("…"))
        assert painted[at + 1].endswith("…") or painted[at + 1] == endpoint
        assert not any(line and endpoint.endswith(line) for line in painted[at + 2 :])
        await pilot.press("j")
        painted = [line.rstrip() for line in shown_lines(service_block)]
        assert "endpoint".ljust(14) + short in painted


def test_the_version_keeps_its_build():
    assert short_version("2.9.0") == "2.9.0"
    assert short_version("2.8.1+build.6") == "2.8.1+b6"
    assert short_version("2.10.1+build.12") == "2.10.1+b12"
    assert short_version("2.8.1+build.6", width=13) == "2.8.1+build.6"


async def test_the_version_column_shows_the_build(tmp_path):
    workers = [make_snapshot(n, cml_version="2.8.1+build.6") for n in (1, 2)]
    app = make_app(FakeFleetService(workers), tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        await pilot.pause()
        table = app.main_screen.query_one(WorkerTable)
        assert table.get_cell(workers[0].id, "version").plain == "2.8.1+b6"
        # The detail pane has it whole.
        assert "2.8.1+build.6" in app.main_screen.query_one(DetailPane).text()


async def test_the_cursor_starts_on_the_first_row_whatever_arrives_first(tmp_path):
    service = FakeFleetService([])
    app = make_app(service, tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        await pilot.pause()
        table = app.main_screen.query_one(WorkerTable)
        service.publish([make_snapshot(2)])
        await pilot.pause()
        service.publish([make_snapshot(1), make_snapshot(3)])
        await pilot.pause()
        assert table.shown_ids == ["w-0001", "w-0002", "w-0003"]
        assert table.cursor_row == 0 and table.selected_id == "w-0001"
        assert app.main_screen.query_one(DetailPane).worker_id == "w-0001"
        # Once the operator picks a worker, the cursor stays on it as rows come.
        await pilot.press("j")
        assert table.selected_id == "w-0002"
        service.publish([make_snapshot(0)])
        await pilot.pause()
        assert table.shown_ids[0] == "w-0000" and table.selected_id == "w-0002"


async def test_a_running_worker_is_pending_until_cml_answers(tmp_path):
    pending = make_snapshot(1, service_status=CMLServiceStatus.UNAVAILABLE, service_pending=True)
    stopped = make_snapshot(2, status=CMLWorkerStatus.STOPPED)
    service = FakeFleetService([pending, stopped])
    app = make_app(service, tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        await pilot.pause()
        table = app.main_screen.query_one(WorkerTable)
        assert table.get_cell(pending.id, "service").plain == "◌ pending"
        assert table.get_cell(stopped.id, "service").plain == "○ unavailable"
        assert "CML service   ◌ pending" in app.main_screen.query_one(DetailPane).text()
        answered = replace(
            pending, service_status=CMLServiceStatus.AVAILABLE, service_pending=False
        )
        service.publish([answered])
        await pilot.pause()
        assert table.get_cell(pending.id, "service").plain == "● available"


def test_service_lines_without_a_width_keep_the_endpoint_beside_its_label():
    lines = [line.plain for line in service_lines(make_snapshot(1))]
    assert "endpoint".ljust(14) + "https://10.0.0.1" in lines


@pytest.mark.parametrize(("width", "shown"), [(80, "⚠ lost-tag"), (160, "⚠ detached lost-tag")])
async def test_a_detached_row_keeps_its_name_in_sight(tmp_path, width, shown):
    detached = make_snapshot(1, name="lost-tag", detached=True)
    app = make_app(FakeFleetService([detached, make_snapshot(2)]), tmp_path)
    async with app.run_test(size=(width, 35)) as pilot:
        await pilot.pause()
        table = app.main_screen.query_one(WorkerTable)
        assert table.get_cell(detached.id, "name").plain == shown


async def test_a_usual_name_shows_whole_at_120_columns_with_every_column(tmp_path):
    """Names like cml-worker-01 (13 characters) are the common case: at 120 columns they are
    whole, every column still shown (before, the name column had 10 cells: 'cml-…er-01')."""
    workers = [make_snapshot(n, name=f"cml-worker-{n:02d}") for n in (1, 2)]
    app = make_app(FakeFleetService(workers), tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        await pilot.pause()
        table = app.main_screen.query_one(WorkerTable)
        assert table.column_keys == ALL_COLUMNS
        assert table.get_cell(workers[0].id, "name").plain == "cml-worker-01"
