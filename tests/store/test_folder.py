"""A data folder that cannot be written is found when the store opens: one error naming the
folder and the cause, nothing opened, nothing changed. Real folders and files; ``chattr +i``
where it works (root ignores permission bits, not the immutable flag)."""

from __future__ import annotations

import pytest

from cmltui.domain.clock import FrozenClock
from cmltui.store import DATA_FILE_NAME, StoreFolderError, open_store
from tests.cli.helpers import immutable, seed_store


def test_a_data_folder_under_a_regular_file(tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("keep me\n", encoding="utf-8")
    with pytest.raises(StoreFolderError) as info:
        open_store(blocker / "sub", clock=FrozenClock())
    message = str(info.value)
    assert message == (
        f"cannot use the data folder {blocker / 'sub'}: {blocker} is a file, not a folder"
    )
    assert blocker.read_text(encoding="utf-8") == "keep me\n"


def test_a_data_folder_that_is_a_file(tmp_path):
    blocker = tmp_path / "data"
    blocker.write_text("", encoding="utf-8")
    with pytest.raises(StoreFolderError, match=f"{blocker} is a file, not a folder"):
        open_store(blocker, clock=FrozenClock())


def test_an_immutable_parent_folder(tmp_path):
    parent = tmp_path / "parent"
    parent.mkdir()
    with immutable(parent), pytest.raises(StoreFolderError) as info:
        open_store(parent / "data", clock=FrozenClock())
    assert str(info.value) == (
        f"cannot use the data folder {parent / 'data'}: it cannot be created "
        "(Operation not permitted)"
    )


def test_an_immutable_data_folder_with_its_data_file(tmp_path):
    data_dir = tmp_path / "data"
    seed_store(data_dir, ["kept"])
    before = sorted(p.name for p in data_dir.iterdir())
    content = (data_dir / DATA_FILE_NAME).read_bytes()
    with immutable(data_dir):
        with pytest.raises(StoreFolderError) as info:
            open_store(data_dir, clock=FrozenClock())
        assert str(info.value) == (
            f"cannot use the data folder {data_dir}: no file can be written in it "
            "(Operation not permitted)"
        )
        # Read-only viewing still works and shows what is stored.
        viewer = open_store(data_dir, clock=FrozenClock(), read_only=True)
        assert [w.name for w in viewer.all_workers()] == ["kept"]
        viewer.close()
    assert sorted(p.name for p in data_dir.iterdir()) == before
    assert (data_dir / DATA_FILE_NAME).read_bytes() == content


def test_an_immutable_data_file_in_a_writable_folder(tmp_path):
    data_dir = tmp_path / "data"
    seed_store(data_dir, ["kept"])
    with immutable(data_dir / DATA_FILE_NAME), pytest.raises(StoreFolderError) as info:
        open_store(data_dir, clock=FrozenClock())
    assert str(info.value).endswith(f"the data file {data_dir / DATA_FILE_NAME} cannot be written")
    assert not list(data_dir.glob(".*probe*"))


def test_a_writable_folder_is_left_as_it_was(tmp_path):
    data_dir = tmp_path / "data"
    store = open_store(data_dir, clock=FrozenClock())
    store.close()
    assert sorted(p.name for p in data_dir.iterdir()) == [f"{DATA_FILE_NAME}.lock"]
    assert data_dir.stat().st_mode & 0o777 == 0o700


def test_a_lock_file_that_is_a_folder(tmp_path):
    data_dir = tmp_path / "data"
    (data_dir / f"{DATA_FILE_NAME}.lock").mkdir(parents=True)
    with pytest.raises(StoreFolderError) as info:
        open_store(data_dir, clock=FrozenClock())
    assert str(info.value) == (
        f"cannot use the data folder {data_dir}: the lock file "
        f"{data_dir / (DATA_FILE_NAME + '.lock')} cannot be opened (Is a directory)"
    )
