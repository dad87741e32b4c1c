"""Episode store: round trip, metadata, validation errors, discard, resume, stats, bad stores."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from data import (
    EpisodeStore,
    FrameError,
    NotAStoreError,
    SchemaVersionError,
    SpecMismatchError,
    StoreError,
    WriterBusyError,
)
from robot.specs import ArraySpec

sys.path.insert(0, str(Path(__file__).parent))
from datastore_helpers import KEYS, frames, make_store  # noqa: E402


def test_round_trip_bit_exact_with_metadata_and_attributes(tmp_path):
    store = make_store(tmp_path / "s.zarr")
    reopened = EpisodeStore.open(tmp_path / "s.zarr")
    assert reopened.num_episodes == 3 and reopened.num_frames == 5 + 23 + 17
    assert list(reopened.episode_ends) == [5, 28, 45]
    assert reopened.fps == 10 and reopened.robot == "test" and reopened.keys == list(KEYS)
    assert reopened.specs == KEYS  # units and joint names survive
    for k, n in enumerate((5, 23, 17)):
        got = reopened.episode(k)
        for key, want in frames(k, n).items():
            assert got[key].dtype == np.dtype(KEYS[key].dtype)
            np.testing.assert_array_equal(got[key], want.astype(KEYS[key].dtype))
        meta = reopened.episode_meta(k)
        assert meta["task"] == f"task{k % 2}" and meta["instruction"] == f"do {k}"
        assert meta["source"] == "scripted" and meta["seed"] == k and meta["length"] == n
        assert meta["success"] is (k % 2 == 0) and meta["note"] == f"note {k}"
    assert reopened.episode(-1)["state"].shape == (17, 3)
    assert reopened.attrs["specs"]["state"] == KEYS["state"].to_dict()
    with pytest.raises(IndexError, match="holds 3 episodes"):
        reopened.episode(3)
    assert store.num_episodes == 3


def test_append_validates_keys_shape_dtype_and_nan(tmp_path):
    store = EpisodeStore.create(tmp_path / "s.zarr", fps=50, keys=KEYS)
    good = {k: v[0] for k, v in frames(0, 1).items()}
    writer = store.begin_episode(task="t")
    with pytest.raises(FrameError, match=r"missing keys \['timestamp'\]"):
        writer.append({k: v for k, v in good.items() if k != "timestamp"})
    with pytest.raises(FrameError, match="unknown keys.*'extra'"):
        writer.append({**good, "extra": 1})
    with pytest.raises(FrameError, match=r"'state' has shape \(4,\).*expects \(3,\)"):
        writer.append({**good, "state": np.zeros(4)})
    with pytest.raises(FrameError, match="'images.front' has dtype float32.*expects uint8"):
        writer.append({**good, "images.front": np.zeros((8, 10, 3), np.float32)})
    with pytest.raises(FrameError, match="'action' holds NaN"):
        writer.append({**good, "action": np.array([np.nan, 0.0])})
    assert len(writer) == 0  # rejected frames left nothing behind
    writer.append({**good, "state": good["state"].astype(np.float64)})  # float64 -> float32 is fine
    writer.commit(success=True)
    assert store.num_episodes == 1 and store.episode(0)["state"].dtype == np.float32


def test_discard_resume_and_writer_lock(tmp_path):
    path = tmp_path / "s.zarr"
    store = make_store(path, lengths=(4,))
    writer = store.begin_episode(task="t")
    with pytest.raises(WriterBusyError):
        store.begin_episode(task="t")
    with pytest.raises(WriterBusyError, match="another writer"):  # a second handle = another recorder
        EpisodeStore.open(path).begin_episode(task="t")
    data = frames(9, 40)
    for t in range(40):
        writer.append({k: v[t] for k, v in data.items()})
    writer.discard()
    assert store.num_episodes == 1 and store.array("images.front").shape[0] == 4
    # Reopen and resume: the next episode lands right after the committed one.
    again = EpisodeStore.open(path)
    with again.begin_episode(task="t", source="teleop") as w:
        w.extend(frames(1, 7))
        w.commit()
    assert again.num_episodes == 2 and again.episode_bounds(1) == (4, 11)
    np.testing.assert_array_equal(again.episode(1)["images.front"], frames(1, 7)["images.front"])
    with again.begin_episode(task="t") as w:  # leaving without commit discards
        w.extend(frames(2, 3))
    assert EpisodeStore.open(path).num_episodes == 2
    with pytest.raises(StoreError, match="no frames"):
        again.begin_episode().commit()


def test_bad_paths_versions_and_metadata(tmp_path):
    with pytest.raises(NotAStoreError, match="no zarr.json"):
        EpisodeStore.open(tmp_path / "missing.zarr")
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "zarr.json").write_text("{not json")
    with pytest.raises(NotAStoreError, match="not a readable Zarr v3 store"):
        EpisodeStore.open(tmp_path / "junk")
    path = tmp_path / "s.zarr"
    store = make_store(path, lengths=(3,))
    with pytest.raises(StoreError, match="source 'robot' is not one of"):
        store.begin_episode(source="robot")
    with pytest.raises(StoreError, match="reserved names"):
        store.begin_episode(success=True)
    with pytest.raises(StoreError, match="JSON-serializable"):
        store.begin_episode(blob=object())
    with pytest.raises(StoreError, match=r"image key 'images.depth' must be uint8 \(H, W, C\)"):
        EpisodeStore.create(tmp_path / "d.zarr", fps=10, keys={"images.depth": ArraySpec((8, 8), "float32")})
    with pytest.raises(StoreError, match="fps must be > 0"):
        EpisodeStore.create(tmp_path / "f.zarr", fps=0, keys=KEYS)
    with pytest.raises(StoreError, match="not empty"):
        EpisodeStore.create(path, fps=10, keys=KEYS)
    with pytest.raises(SpecMismatchError, match=r"key 'state': \(3,\) float32 vs \(4,\) float32"):
        EpisodeStore.open_or_create(path, fps=10, keys={**KEYS, "state": ArraySpec((4,))})
    assert EpisodeStore.open_or_create(path, fps=10, keys=KEYS).num_episodes == 1
    meta = json.loads((path / "zarr.json").read_text())
    meta["attributes"]["schema_version"] = 99
    (path / "zarr.json").write_text(json.dumps(meta))
    with pytest.raises(SchemaVersionError, match="schema_version 99"):
        EpisodeStore.open(path)
    make_store(tmp_path / "r.zarr", lengths=(2,))
    with pytest.raises(StoreError, match="read-only"):
        EpisodeStore.open(tmp_path / "r.zarr", readonly=True).begin_episode()


def test_corrupt_chunk_is_named(tmp_path):
    path = tmp_path / "s.zarr"
    make_store(path, lengths=(20, 20))
    chunk = path / "data" / "images.front" / "c" / "1" / "0" / "0" / "0"  # frames 16..31: episodes 0-1
    chunk.write_bytes(chunk.read_bytes()[: 50])  # truncated
    store = EpisodeStore.open(path)
    np.testing.assert_array_equal(store.episode(0, keys=["state"])["state"], frames(0, 20)["state"])
    with pytest.raises(StoreError, match=r"data/images.front cannot be decoded at episode 1"):
        store.episode(1)
    with pytest.raises(StoreError, match=r"images.front cannot be decoded at frames 16:32 \(episodes 0-1\)"):
        store.stats()


def test_stats_match_numpy_and_are_cached_until_episodes_change(tmp_path):
    store = make_store(tmp_path / "s.zarr")
    readonly = EpisodeStore.open(tmp_path / "s.zarr", readonly=True)
    readonly.stats()["state"]["min"][:] = 1e9  # callers get copies; the memo is not corrupted
    assert readonly.stats()["state"]["min"][0] == 0
    # Derived data: saved even from a read-only handle, so training runs do not recompute it.
    assert EpisodeStore.open(tmp_path / "s.zarr").attrs["stats"]["num_frames"] == 45
    every = {k: np.concatenate([frames(i, n)[k] for i, n in enumerate((5, 23, 17))]) for k in KEYS}
    stats = store.stats()
    for key in ("state", "action", "timestamp"):
        x = every[key].astype(np.float64)
        np.testing.assert_allclose(stats[key]["mean"], x.mean(0), rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(stats[key]["std"], x.std(0), rtol=1e-7, atol=1e-9)
        np.testing.assert_array_equal(stats[key]["min"], x.min(0))
        np.testing.assert_array_equal(stats[key]["max"], x.max(0))
    img = every["images.front"].reshape(-1, 3).astype(np.float64)
    np.testing.assert_allclose(stats["images.front"]["mean"], img.mean(0))
    np.testing.assert_allclose(stats["images.front"]["std"], img.std(0))
    cached = EpisodeStore.open(tmp_path / "s.zarr").attrs["stats"]
    assert cached["num_frames"] == 45
    w = store.begin_episode()
    w.extend({k: v * 0 + 100 for k, v in frames(5, 2).items()})
    w.commit()
    assert store.stats()["state"]["max"][1] == 100  # recomputed with the new episode
    assert EpisodeStore.open(tmp_path / "s.zarr").attrs["stats"]["num_frames"] == 47


def test_mismatched_lengths_and_bad_ends_raise_naming_array_and_episode(tmp_path):
    import zarr

    path = tmp_path / "s.zarr"
    make_store(path, lengths=(5, 23, 17))
    root = zarr.open_group(path, mode="r+")
    root["data/state"].resize((20, 3))
    with pytest.raises(StoreError, match=r"data/state has 20 frames but episode_ends needs 45: "
                                         r"episode 1 onwards lack 'state'"):
        EpisodeStore.open(path)
    root["data/state"].resize((45, 3))
    root["meta/episode_ends"][1] = 3
    with pytest.raises(StoreError, match=r"episode_ends\[1\] = 3 does not increase"):
        EpisodeStore.open(path)
    root["meta/episode_ends"][1] = 28
    root["meta/episode_ends"].resize((5,))  # two slots resized but never written: a killed commit
    assert EpisodeStore.open(path).num_episodes == 3


def test_a_second_handle_sees_new_episodes_after_refresh(tmp_path):
    path = tmp_path / "s.zarr"
    writer_store = make_store(path, lengths=(4,))
    reader = EpisodeStore.open(path, readonly=True)
    w = writer_store.begin_episode(task="t")
    w.extend(frames(1, 30))
    reader.refresh()  # mid-episode: only committed episodes are visible
    assert reader.num_episodes == 1 and reader.num_frames == 4
    w.commit()
    reader.refresh()
    assert reader.num_episodes == 2
    np.testing.assert_array_equal(reader.episode(1)["images.front"], frames(1, 30)["images.front"])


def test_interrupted_in_place_drop_is_explained(tmp_path):
    path = tmp_path / "s.zarr"
    make_store(path, lengths=(2,))
    path.rename(tmp_path / "s.zarr.old")
    with pytest.raises(NotAStoreError, match="in-place drop/keep was interrupted"):
        EpisodeStore.open(path)


def test_zarr_replaces_chunk_files_atomically(tmp_path):
    """The crash safety rests on this: a rewritten chunk is a new file renamed over the old
    one (new inode), never the old file truncated and rewritten in place."""
    path = tmp_path / "s.zarr"
    store = make_store(path, lengths=(3,))
    chunk = path / "data" / "state" / "c" / "0" / "0"
    before = chunk.stat().st_ino
    holder = os.open(chunk, os.O_RDONLY)  # keeps the old inode alive, so its number is not reused
    try:
        with store.begin_episode() as w:
            w.extend(frames(1, 2))
            w.commit()  # rewrites the boundary chunk shared with episode 0
        assert chunk.stat().st_ino != before
        assert os.fstat(holder).st_size > 0  # the old file was left intact, not truncated
    finally:
        os.close(holder)


def test_a_failed_flush_is_reported_and_leaves_committed_episodes_intact(tmp_path):
    path = tmp_path / "s.zarr"
    store = make_store(path, lengths=(5,))
    writer = store.begin_episode()
    # A file where chunk 1's directory must go: the flush thread's write fails (like a full disk).
    (path / "data" / "images.front" / "c" / "1").write_bytes(b"")
    writer.extend(frames(1, 40))
    with pytest.raises(StoreError, match=r"writing data/images.front frames 16:32 of episode 1 failed"):
        writer.commit()
    (path / "data" / "images.front" / "c" / "1").unlink()
    again = EpisodeStore.open(path)
    assert again.num_episodes == 1
    np.testing.assert_array_equal(again.episode(0)["images.front"], frames(0, 5)["images.front"])
    with again.begin_episode() as w:  # and recording goes on
        w.extend(frames(2, 20))
        w.commit()
    np.testing.assert_array_equal(again.episode(1)["images.front"], frames(2, 20)["images.front"])
