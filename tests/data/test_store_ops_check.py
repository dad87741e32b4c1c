"""Store operations (drop, keep, merge, split), `check` on broken stores, and the `robot data` CLI."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from data import EpisodeStore, SpecMismatchError, StoreError, WriterBusyError
from data.check import check_store
from data.ops import drop_episodes, keep_episodes, merge_stores, split_store
from robot.cli import main as robot_main
from robot.specs import ArraySpec

sys.path.insert(0, str(Path(__file__).parent))
from datastore_helpers import KEYS, frames, make_store  # noqa: E402


def _assert_episode(store, i, k, n):
    got = store.episode(i)
    for key, want in frames(k, n).items():
        np.testing.assert_array_equal(got[key], want.astype(KEYS[key].dtype), err_msg=f"{i} {key}")
    assert store.episode_meta(i)["seed"] == k


def test_drop_keep_merge_split(tmp_path):
    lengths = (5, 23, 17, 9)
    path = tmp_path / "s.zarr"
    make_store(path, lengths=lengths)
    original = EpisodeStore.open(path).episode_meta(1)
    kept = keep_episodes(path, [3, 1], out=tmp_path / "k.zarr")
    assert kept.num_episodes == 2
    copied = kept.episode_meta(0)  # ids and recording times travel with the episode
    assert copied["episode_id"] == original["episode_id"] and copied["recorded_at"] == original["recorded_at"]
    _assert_episode(kept, 0, 1, 23)
    _assert_episode(kept, 1, 3, 9)
    recording = EpisodeStore.open(path).begin_episode()  # a recorder holds the store
    with pytest.raises(WriterBusyError, match="another writer"):
        drop_episodes(path, [0])
    recording.discard()
    dropped = drop_episodes(path, [0, -1])  # in place
    assert dropped.num_episodes == 2 and not (tmp_path / "s.zarr.old").exists()
    _assert_episode(EpisodeStore.open(path), 1, 2, 17)
    merged = merge_stores([path, tmp_path / "k.zarr"], tmp_path / "m.zarr")
    assert merged.num_episodes == 4 and merged.num_frames == 23 + 17 + 23 + 9
    _assert_episode(merged, 3, 3, 9)
    assert merged.episode_meta(3)["note"] == "note 3" and merged.episode_meta(3)["success"] is False
    train, val = split_store(tmp_path / "m.zarr", tmp_path / "t.zarr", tmp_path / "v.zarr",
                             val_ratio=0.25, seed=0)
    assert train.num_episodes + val.num_episodes == 4 and min(train.num_episodes, val.num_episodes) >= 1
    other = EpisodeStore.create(tmp_path / "o.zarr", fps=10, robot="test",
                                keys={**KEYS, "state": ArraySpec((4,))})
    with pytest.raises(SpecMismatchError, match=r"o.zarr.*key 'state'"):
        merge_stores([path, other], tmp_path / "bad.zarr")
    assert check_store(tmp_path / "m.zarr").ok


def test_check_names_every_problem(tmp_path):
    path = tmp_path / "s.zarr"
    make_store(path, lengths=(20, 20, 10))
    assert check_store(path).ok
    # A corrupt image chunk (episodes 0-1), NaN in an action, a timestamp going back,
    # a missing key, a wrong dtype in the specs, non-increasing episode_ends.
    chunk = path / "data" / "images.front" / "c" / "1" / "0" / "0" / "0"
    raw = bytearray(chunk.read_bytes())
    raw[40] ^= 0xFF  # one flipped bit-field: only the checksum can tell
    chunk.write_bytes(bytes(raw))
    store = EpisodeStore.open(path)
    store.array("action")[25] = [np.nan, 0]
    store.array("timestamp")[45] = -5.0
    attrs = json.loads((path / "zarr.json").read_text())
    attrs["attributes"]["specs"]["depth"] = ArraySpec((2,)).to_dict()
    attrs["attributes"]["specs"]["timestamp"]["dtype"] = "float32"
    (path / "zarr.json").write_text(json.dumps(attrs))
    rep = check_store(path)
    text = "\n".join(rep.problems)
    assert "data/images.front chunk 1 (frames 16-31, episodes 0-1) is corrupt" in text
    assert "data/action holds NaN/inf in episode 1 at tick 5" in text
    assert "data/timestamp goes backwards in episode 2 at frame 45" in text
    assert "data/depth is missing" in text
    assert "data/timestamp has dtype float64, the spec says float32" in text
    assert len(rep.problems) == 5, rep.problems
    store.array("state").resize((30, 3))  # shorter than episode_ends says
    store._ends_arr[2] = 35  # and an end that goes backwards
    rep = check_store(path)
    text = "\n".join(rep.problems)
    assert "meta/episode_ends[2] = 35 does not increase" in text
    assert "data/state has 30 frames but episode_ends says 40: episode 1 lack" in text
    assert robot_main(["data", "check", str(path)]) == 1


def test_broken_metadata_files_are_named_by_open_and_check(tmp_path):
    path = tmp_path / "s.zarr"
    make_store(path, lengths=(6, 7))
    meta_file = path / "data" / "state" / "zarr.json"
    meta_file.write_bytes(meta_file.read_bytes()[:50])  # truncated array metadata
    with pytest.raises(StoreError, match="metadata of array data/state cannot be read"):
        EpisodeStore.open(path)
    rep = check_store(path)
    assert len(rep.problems) == 1 and "data/state: its zarr.json cannot be read" in rep.problems[0]
    meta_file.write_text("{}")  # valid JSON, but not array metadata
    with pytest.raises(StoreError, match="data/state cannot be read"):
        EpisodeStore.open(path)
    make_store(tmp_path / "m.zarr", lengths=(3,))
    rows = tmp_path / "m.zarr" / "meta" / "episode_meta" / "c" / "0"
    rows.write_bytes(rows.read_bytes()[:7])
    with pytest.raises(StoreError, match=r"meta/episode_meta rows 0:1 cannot be decoded"):
        EpisodeStore.open(tmp_path / "m.zarr").all_meta()
    root_meta = json.loads((tmp_path / "m.zarr" / "zarr.json").read_text())
    del root_meta["attributes"]["fps"]
    (tmp_path / "m.zarr" / "zarr.json").write_text(json.dumps(root_meta))
    with pytest.raises(StoreError, match="attributes fps/specs are missing"):
        EpisodeStore.open(tmp_path / "m.zarr")
    ends_chunk = path / "meta" / "episode_ends" / "c" / "0"
    ends_chunk.write_bytes(ends_chunk.read_bytes()[:10])
    rep = check_store(path)
    assert any("meta/episode_ends cannot be read" in p for p in rep.problems)
    assert not any("timestamp" in p for p in rep.problems), rep.problems  # no false alarms


def test_cli_info_check_merge_split(tmp_path, capsys):
    path = tmp_path / "s.zarr"
    make_store(path, lengths=(5, 6, 7))
    assert robot_main(["data", "info", str(path), "--episodes", "--stats"]) == 0
    out = capsys.readouterr().out
    assert "episodes   3   frames 18" in out and "success    2/3" in out and "stats action" in out
    assert robot_main(["data", "check", str(path)]) == 0
    assert "OK" in capsys.readouterr().out
    assert robot_main(["data", "split", str(path), "--val-ratio", "0.34"]) == 0
    n_val = EpisodeStore.open(tmp_path / "s.val.zarr").num_episodes
    assert 1 <= n_val <= 2 and EpisodeStore.open(tmp_path / "s.train.zarr").num_episodes == 3 - n_val
    assert robot_main(["data", "merge", str(tmp_path / "m.zarr"), str(tmp_path / "s.train.zarr"),
                       str(tmp_path / "s.val.zarr")]) == 0
    assert EpisodeStore.open(tmp_path / "m.zarr").num_frames == 18
    assert robot_main(["data", "drop", str(tmp_path / "m.zarr"), "0-1"]) == 0
    assert EpisodeStore.open(tmp_path / "m.zarr").num_episodes == 1
    assert robot_main(["data", "info", str(tmp_path / "nothing")]) == 2  # a user mistake: one line, exit 2
    assert "is not an episode store" in capsys.readouterr().err
