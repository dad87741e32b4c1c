"""The store as others see it: plain zarr opens it without warnings, the writer lock leaves
no file inside it and survives SIGKILL, and data/ modules import each other one way only."""

from __future__ import annotations

import ast
import os
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import zarr

from data import EpisodeStore, WriterBusyError, begin_episode
from data.check import check_store

sys.path.insert(0, str(Path(__file__).parent))
from datastore_helpers import frames, make_store  # noqa: E402

DATA_DIR = Path(__file__).resolve().parents[2] / "data"


def _open_with_plain_zarr(path: Path) -> list:
    """Open the store the way another tool would, walking every member; returns the arrays."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning fails the test
        root = zarr.open_group(path, mode="r")
        members = dict(root.members(max_depth=None))
        return [m for m in members.values() if isinstance(m, zarr.Array)]


def test_plain_zarr_opens_a_store_without_warnings_while_and_after_recording(tmp_path):
    path = tmp_path / "s.zarr"
    store = make_store(path, lengths=(5, 7))
    assert len(_open_with_plain_zarr(path)) == 6  # 4 data keys + episode_ends + episode_meta
    writer = store.begin_episode(task="t")  # a writer holds the lock right now
    writer.extend(frames(3, 4))
    _open_with_plain_zarr(path)
    writer.commit()
    arrays = {a.path: a for a in _open_with_plain_zarr(path)}
    np.testing.assert_array_equal(arrays["meta/episode_ends"][:], [5, 12, 16])
    assert sorted(p.name for p in path.iterdir()) == ["data", "meta", "zarr.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.zarr"]  # nothing left beside it either


def test_a_legacy_lock_file_is_removed_by_the_next_writer(tmp_path):
    path = tmp_path / "s.zarr"
    make_store(path, lengths=(3,))
    (path / ".writer.lock").write_bytes(b"")  # left by an older version
    with pytest.warns(UserWarning, match="not recognized"):
        dict(zarr.open_group(path, mode="r").members(max_depth=None))
    assert any(".writer.lock" in note for note in check_store(path).notes)
    with EpisodeStore.open(path).begin_episode() as w:
        w.extend(frames(1, 2))
        w.commit()
    _open_with_plain_zarr(path)


def test_the_lock_refuses_a_second_writer_and_dies_with_a_killed_one(tmp_path):
    path = tmp_path / "s.zarr"
    make_store(path, lengths=(3,))
    store = EpisodeStore.open(path)
    first = begin_episode(store, task="t")
    with pytest.raises(WriterBusyError, match="another writer"):
        store.begin_episode(task="t")  # same handle
    with pytest.raises(WriterBusyError, match="another writer"):
        begin_episode(EpisodeStore.open(path))  # another handle in this process
    first.discard()
    # Another process takes the lock and is SIGKILLed while holding it mid-episode.
    child = subprocess.Popen(
        [sys.executable, "-c",
         "import sys; from data import EpisodeStore; w = EpisodeStore.open(sys.argv[1]).begin_episode();"
         " print('locked', flush=True); sys.stdin.read()", str(path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=DATA_DIR.parent)
    try:
        assert child.stdout.readline().strip() == "locked"
        with pytest.raises(WriterBusyError):
            store.begin_episode()
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
        child.stdin.close()
        child.stdout.close()
    with store.begin_episode(task="after") as w:  # the kernel released the dead writer's lock
        w.extend(frames(2, 3))
        w.commit()
    assert EpisodeStore.open(path).num_episodes == 2


def _imports(path: Path) -> set[str]:
    """Every data.* module `path` imports: top-level, inside functions, under TYPE_CHECKING."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        out |= {n.split(".")[1] for n in names if n.startswith("data.")}
    return out


def test_data_modules_import_each_other_one_way():
    modules = {p.stem for p in DATA_DIR.glob("*.py") if p.stem != "__init__"}
    graph = {m: _imports(DATA_DIR / f"{m}.py") & modules - {m} for m in modules}
    assert "writer" not in graph["store"] or "store" not in graph["writer"]
    assert "store" not in graph["stats"] and "store" not in graph["writer"]
    # Depth-first search for a cycle; name it if there is one.
    state: dict[str, int] = {}

    def visit(m: str, trail: list[str]) -> None:
        state[m] = 1
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                pytest.fail("import cycle in data/: " + " -> ".join([*trail, m, n]))
            if n not in state:
                visit(n, [*trail, m])
        state[m] = 2

    for m in sorted(modules):
        if m not in state:
            visit(m, [])
