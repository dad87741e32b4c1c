"""LeRobot dataset v3.0: round trip ours -> LeRobot -> ours on rendered MuJoCo frames, file rolling,
the format checker (and that it catches corruptions), and the CLI."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from data import EpisodeStore
from data.lerobot_check import check_lerobot
from data.lerobot_format import ExportOptions, export_lerobot, import_lerobot
from data.lerobot_video import VideoFileWriter, codec
from robot.specs import ArraySpec

ROOT = Path(__file__).resolve().parents[2]

H264_444_MAX_ABS_ERROR = 2
"""Stated tolerance of the near-lossless codec (libx264 yuv444p qp 0): only RGB<->YUV rounding, in 0..255."""
H264_444_MEAN_ABS_ERROR = 0.6


@pytest.fixture(scope="module")
def rollout():
    """60 ticks of the so101_lift scripted expert: two 96x96 cameras, state, action."""
    from sim.registry import make_env, make_expert

    env = make_env("so101_lift")
    obs, _ = env.reset(seed=3)
    expert = make_expert("so101_lift", env, seed=3)
    expert.reset(obs)
    out: dict[str, list] = {}
    for _ in range(60):
        action = np.asarray(expert.get_action(obs).action, dtype=np.float32)
        for k, v in obs.items():
            if k.startswith("images.") or k == "state":
                out.setdefault(k, []).append(np.asarray(v))
        out.setdefault("action", []).append(action)
        obs, *_ = env.step(action)
    env.close()
    return {k: np.stack(v) for k, v in out.items()}


def _store(path: Path, rollout: dict[str, np.ndarray], lengths=(17, 25, 18)) -> EpisodeStore:
    rng = np.random.default_rng(0)
    keys = {k: ArraySpec(v.shape[1:], str(v.dtype), names=tuple(f"j{i}" for i in range(v.shape[1]))
                         if k == "state" else ()) for k, v in rollout.items()}
    keys["timestamp"] = ArraySpec((), "float64", units="s")
    store = EpisodeStore.create(path, fps=30, robot="so101", keys=keys)
    start = 0
    for k, n in enumerate(lengths):
        frames = {key: v[start:start + n] for key, v in rollout.items()}
        frames["timestamp"] = np.arange(n) / 30 + rng.uniform(0, 0.004, n)  # a measured, jittery clock
        with store.begin_episode(task="so101_lift", instruction="" if k == 1 else f"lift the cube {k}",
                                 source="teleop" if k else "scripted", seed=k, operator="ana") as w:
            w.extend(frames)
            w.commit(success=k != 1, note=f"take {k}")
        start += n
    return store


def _assert_same(a: EpisodeStore, b: EpisodeStore, image_exact: bool) -> dict[str, float]:
    assert b.specs == a.specs and b.fps == a.fps and b.robot == a.robot
    np.testing.assert_array_equal(b.episode_ends, a.episode_ends)
    worst, total, count = 0, 0.0, 0
    for i in range(a.num_episodes):
        assert b.episode_meta(i) == a.episode_meta(i)  # task, instruction, source, success, extras, ids
        x, y = a.episode(i), b.episode(i)
        for key in a.keys:
            if key.startswith("images.") and not image_exact:
                err = np.abs(x[key].astype(np.int16) - y[key].astype(np.int16))
                worst, total, count = max(worst, int(err.max())), total + float(err.sum()), count + err.size
            else:
                np.testing.assert_array_equal(y[key], x[key], err_msg=f"episode {i} {key}")
    return {"max": worst, "mean": total / max(count, 1)}


def test_round_trip_preserves_frames_actions_timestamps_boundaries_and_instructions(tmp_path, rollout):
    store = _store(tmp_path / "s.zarr", rollout)
    info = export_lerobot(store.path, tmp_path / "lr")
    rep = check_lerobot(tmp_path / "lr")
    assert rep.ok, rep.problems
    assert info["total_frames"] == 60 and info["total_episodes"] == 3 and info["fps"] == 30
    assert set(info["features"]) >= {"observation.state", "observation.images.front", "action", "timestamp",
                                     "frame_index", "episode_index", "index", "task_index"}
    assert info["features"]["observation.state"]["names"] == [f"j{i}" for i in range(6)]
    tasks = pq.read_table(tmp_path / "lr" / "meta" / "tasks.parquet").to_pydict()
    assert tasks["task"] == ["lift the cube 0", "so101_lift", "lift the cube 2"]  # instruction, else task
    back = import_lerobot(tmp_path / "lr", tmp_path / "back.zarr")
    _assert_same(store, back, image_exact=True)  # the default codec (h264-rgb, qp 0) is lossless


@pytest.mark.parametrize("video", [True, False], ids=["h264-444", "png"])
def test_other_image_settings_round_trip(tmp_path, rollout, video):
    store = _store(tmp_path / "s.zarr", rollout, lengths=(9, 6))
    export_lerobot(store.path, tmp_path / "lr", ExportOptions(video=video, codec="h264-444"))
    assert check_lerobot(tmp_path / "lr").ok
    assert (tmp_path / "lr" / "videos").exists() == video
    err = _assert_same(store, import_lerobot(tmp_path / "lr", tmp_path / "back.zarr"), image_exact=not video)
    if video:
        assert err["max"] <= H264_444_MAX_ABS_ERROR and err["mean"] <= H264_444_MEAN_ABS_ERROR, err


def test_files_roll_over_at_the_size_limits_and_chunks_size(tmp_path, rollout):
    store = _store(tmp_path / "s.zarr", rollout, lengths=(10, 12, 9, 11, 8, 10))
    lengths = dict(enumerate((10, 12, 9, 11, 8, 10)))
    # PNG frames in the parquet files, so data files are big enough for the parquet footer not to matter.
    export_lerobot(store.path, tmp_path / "png", ExportOptions(video=False, data_file_mb=0.15, chunks_size=2))
    export_lerobot(store.path, tmp_path / "mp4", ExportOptions(video_file_mb=0.07, chunks_size=2,
                                                               codec="h264-rgb"))
    for root, pattern, limit in ((tmp_path / "png", "data/*/*.parquet", 0.15),
                                 (tmp_path / "mp4", "videos/observation.images.front/*/*.mp4", 0.07)):
        rep = check_lerobot(root)
        assert rep.ok, rep.problems
        files = sorted(root.glob(pattern))
        assert len(files) >= 3 and any("chunk-001/file-000" in str(f) for f in files)  # a second chunk
        table = pa.concat_tables(pq.read_table(p) for p in root.glob("meta/episodes/*/*.parquet"))
        prefix = "data" if pattern.startswith("data") else "videos/observation.images.front"
        packed: list[int] = []
        for path in files:
            chunk, file = int(path.parent.name[6:]), int(path.stem[5:])
            eps = [r["episode_index"] for r in table.to_pylist()
                   if (r[f"{prefix}/chunk_index"], r[f"{prefix}/file_index"]) == (chunk, file)]
            share = 1 - lengths[eps[-1]] / sum(lengths[e] for e in eps)
            assert eps and (len(eps) == 1 or path.stat().st_size * share <= limit * 1024 ** 2)
            packed.append(len(eps))
        assert max(packed) > 1  # files hold several episodes until the limit, then roll over
        _assert_same(store, import_lerobot(root, tmp_path / f"{root.name}.zarr"),
                     image_exact=root.name == "png")


def _export(tmp_path: Path, rollout) -> Path:
    store = _store(tmp_path / "s.zarr", rollout, lengths=(8, 7, 6))
    export_lerobot(store.path, tmp_path / "lr", ExportOptions(codec="h264-rgb"))
    return tmp_path / "lr"


def _rewrite(path: Path, edit) -> None:
    table = pq.read_table(path)
    pq.write_table(edit(table), path)


def _set_column(table: pa.Table, name: str, values) -> pa.Table:
    i = table.column_names.index(name)
    return table.set_column(i, table.schema.field(i), pa.array(values, type=table.schema.field(i).type))


CORRUPTIONS = {
    "missing stats.json": (lambda r: (r / "meta" / "stats.json").unlink(), "meta/stats.json is missing"),
    "info without fps": (lambda r: _edit_info(r, lambda i: i.pop("fps")), "lacks 'fps'"),
    "wrong codebase version": (lambda r: _edit_info(r, lambda i: i.update(codebase_version="v2.1")),
                               "is not v3.x"),
    "state shape vs column": (lambda r: _edit_info(r, lambda i: i["features"]["observation.state"]
                                                   .update(shape=[7])), "column 'observation.state'"),
    "total_frames": (lambda r: _edit_info(r, lambda i: i.update(total_frames=99)), "total_frames 99"),
    "index gap": (lambda r: _rewrite(r / "data/chunk-000/file-000.parquet", lambda t: _set_column(
        t, "index", [i + (i >= 10) for i in range(t.num_rows)])), "index is not contiguous"),
    "frame_index": (lambda r: _rewrite(r / "data/chunk-000/file-000.parquet", lambda t: _set_column(
        t, "frame_index", [0] * t.num_rows)), "frame_index is not"),
    "timestamp off the fps grid": (lambda r: _rewrite(r / "data/chunk-000/file-000.parquet", lambda t: _set_column(
        t, "timestamp", [0.5] * t.num_rows)), "timestamp differs"),
    "episode boundaries": (lambda r: _rewrite(r / "meta/episodes/chunk-000/file-000.parquet", lambda t: _set_column(
        t, "dataset_to_index", [8, 14, 21])), "do not follow"),
    "unknown task": (lambda r: _rewrite(r / "data/chunk-000/file-000.parquet", lambda t: _set_column(
        t, "task_index", [5] * t.num_rows)), "not in tasks"),
    "short video": (lambda r: _short_video(r), "holds 12 frames, its episodes need 21"),
    "file over the size limit": (lambda r: _edit_info(r, lambda i: i.update(data_files_size_in_mb=0.001)),
                                 "already over it before its last of 3 episodes"),
}


def _edit_info(root: Path, edit) -> None:
    info = json.loads((root / "meta" / "info.json").read_text())
    edit(info)
    (root / "meta" / "info.json").write_text(json.dumps(info))


def _short_video(root: Path) -> None:
    path = root / "videos/observation.images.front/chunk-000/file-000.mp4"
    writer = VideoFileWriter(path, 30, 96, 96, codec("h264-rgb"))
    writer.write(np.zeros((12, 96, 96, 3), np.uint8))
    writer.close()


def test_checker_catches_corruptions(tmp_path, rollout):
    clean = _export(tmp_path, rollout)
    assert check_lerobot(clean).ok
    for name, (corrupt, message) in CORRUPTIONS.items():
        root = tmp_path / name.replace(" ", "_")
        shutil.copytree(clean, root)
        corrupt(root)
        problems = check_lerobot(root).problems
        assert any(message in p for p in problems), f"{name}: {problems}"


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "robot.cli", "data", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_cli_export_check_import_and_user_errors(tmp_path, rollout, capsys):
    from robot.cli import main

    store = _store(tmp_path / "s.zarr", rollout, lengths=(5, 4))
    done = _cli("export", "--format", "lerobot", str(store.path), str(tmp_path / "lr"), "--repo-id", "me/lift")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["total_episodes"] == 2 and summary["check"] is True and summary["repo_id"] == "me/lift"
    assert main(["data", "check", str(tmp_path / "lr")]) == 0 and "OK" in capsys.readouterr().out
    assert main(["data", "import", str(tmp_path / "lr"), str(tmp_path / "back.zarr")]) == 0
    assert EpisodeStore.open(tmp_path / "back.zarr").num_episodes == 2
    capsys.readouterr()
    for args, message in [
        (("export", "--format", "lerobot", str(tmp_path / "nope.zarr"), str(tmp_path / "o")), "no zarr.json"),
        (("export", "--format", "lerobot", str(store.path), str(tmp_path / "lr")), "not empty"),
        (("export", "--format", "lerobot", str(store.path), str(tmp_path / "o"), "--codec", "x"), "unknown video codec"),
        (("import", str(tmp_path / "s.zarr"), str(tmp_path / "x.zarr")), "no meta/info.json"),
        (("import", str(tmp_path / "lr"), str(tmp_path / "back.zarr")), "not empty"),
    ]:
        assert main(["data", *args]) == 2, args  # an exception escaping here would fail the test
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err  # one line, no traceback
    assert not (tmp_path / "o").exists() and not (tmp_path / "o.partial").exists()


def test_import_of_a_dataset_without_our_extras(tmp_path, rollout):
    """A dataset from elsewhere: no robot_stack specs, no episode metadata column, no measured clock."""
    store = _store(tmp_path / "s.zarr", rollout, lengths=(8, 7))
    root = tmp_path / "lr"
    export_lerobot(store.path, root, ExportOptions(codec="h264-rgb"))
    _edit_info(root, lambda i: (i.pop("robot_stack"), i["features"].pop("timestamp_measured"),
                                i["features"]["observation.state"].update(names={"motors": list("abcdef")})))
    _rewrite(root / "data/chunk-000/file-000.parquet", lambda t: t.drop_columns(["timestamp_measured"]))
    _rewrite(root / "meta/episodes/chunk-000/file-000.parquet",
             lambda t: t.drop_columns([c for c in t.column_names if c == "robot_stack/meta"
                                       or c.startswith("stats/timestamp_measured")]))
    stats = json.loads((root / "meta" / "stats.json").read_text())
    stats.pop("timestamp_measured")
    (root / "meta" / "stats.json").write_text(json.dumps(stats))
    assert check_lerobot(root).ok
    back = import_lerobot(root, tmp_path / "back.zarr")
    assert back.specs["state"].names == tuple("abcdef") and back.specs["timestamp"].dtype == "float64"
    np.testing.assert_array_equal(back.episode_ends, store.episode_ends)
    for i in range(2):
        meta, x, y = back.episode_meta(i), store.episode(i), back.episode(i)
        assert meta["instruction"] == ["lift the cube 0", "so101_lift"][i]  # the LeRobot task string
        assert meta["source"] == "teleop" and meta["success"] is None and meta["task"] == ""
        for key in ("state", "action", "images.front", "images.wrist"):
            np.testing.assert_array_equal(y[key], x[key])
        np.testing.assert_allclose(y["timestamp"], np.arange(len(y["timestamp"])) / 30, atol=1e-6)


def test_export_refuses_what_the_format_cannot_hold(tmp_path):
    from data.errors import StoreError

    keys = {"state": ArraySpec((2,)), "action": ArraySpec((2,)), "contact_map": ArraySpec((3, 3))}
    grid = EpisodeStore.create(tmp_path / "grid.zarr", fps=10, keys=keys)
    with grid.begin_episode() as w:
        w.extend({"state": np.zeros((2, 2)), "action": np.zeros((2, 2)), "contact_map": np.zeros((2, 3, 3))})
        w.commit()
    with pytest.raises(StoreError, match="'contact_map' has shape \\(3, 3\\)"):
        export_lerobot(grid.path, tmp_path / "a")
    odd = EpisodeStore.create(tmp_path / "odd.zarr", fps=12.5, keys={"state": ArraySpec((2,))})
    with pytest.raises(StoreError, match="holds no episodes"):
        export_lerobot(odd.path, tmp_path / "b")
    with odd.begin_episode() as w:
        w.extend({"state": np.zeros((2, 2))})
        w.commit()
    with pytest.raises(StoreError, match="fps 12.5 is not an integer"):
        export_lerobot(odd.path, tmp_path / "b")
    assert not any(tmp_path.glob("*.partial")) and not (tmp_path / "a").exists()
