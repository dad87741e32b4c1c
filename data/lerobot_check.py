"""Check a LeRobot dataset v3.0 folder against the format's schema and metadata rules.

`check_lerobot(root)` returns every problem found (an empty list = valid):
required files; info.json fields and types; default features; parquet columns
vs declared features (dtype, shape); totals vs rows; episodes contiguous
(episode_index 0..E-1, dataset_from_index/to_index tiling the frames, index
and frame_index contiguous inside each episode, timestamps = frame_index/fps
within LeRobot's tolerance_s of 1e-4 s); task indices vs meta/tasks.parquet;
file names vs the path templates and chunks_size; file-size limits (a file
over its limit must hold a single episode, as both writers roll over before
an episode would overflow a file, so a file may pass its limit by its last
episode only); video frame counts, size and fps vs the
episodes' [from_timestamp, to_timestamp) spans; stats.json entries and shapes.
Rules come from lerobot's own source (datasets/utils.py, lerobot_dataset.py,
compute_stats.py at v0.4.4), see docs/data.md.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from data.lerobot_io import TASKS_PATH

TOLERANCE_S = 1e-4
DEFAULT_FEATURES = {"timestamp": "float32", "frame_index": "int64", "episode_index": "int64",
                    "index": "int64", "task_index": "int64"}
INFO_FIELDS: dict[str, type | tuple[type, ...]] = {
    "codebase_version": str, "robot_type": (str, type(None)), "total_episodes": int, "total_frames": int,
    "total_tasks": int, "chunks_size": int, "data_files_size_in_mb": (int, float),
    "video_files_size_in_mb": (int, float), "fps": int, "splits": dict, "data_path": str,
    "video_path": (str, type(None)), "features": dict,
}
_FILE = re.compile(r"chunk-(\d{3,})/file-(\d{3,})\.(parquet|mp4)$")
MB = 1024 ** 2


@dataclass
class LeRobotReport:
    """Problems (format violations) and notes (facts) about one dataset folder."""

    root: Path
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems


def _check_info(rep: LeRobotReport, info: dict[str, Any]) -> None:
    for name, kind in INFO_FIELDS.items():
        if name not in info:
            rep.problems.append(f"meta/info.json lacks {name!r}")
        elif not isinstance(info[name], kind) or isinstance(info[name], bool):
            rep.problems.append(f"meta/info.json {name!r} = {info[name]!r} has the wrong type")
    if not str(info.get("codebase_version", "")).startswith("v3."):
        rep.problems.append(f"codebase_version {info.get('codebase_version')!r} is not v3.x")
    for split, span in (info.get("splits") or {}).items():
        if not re.fullmatch(r"\d+:\d+", str(span)):
            rep.problems.append(f"splits[{split!r}] = {span!r} is not 'start:end'")
    for name, ft in (info.get("features") or {}).items():
        if "/" in name:
            rep.problems.append(f"feature name {name!r} contains '/'")
        shape = ft.get("shape")
        if not isinstance(shape, list) or not shape or not all(isinstance(s, int) and s > 0 for s in shape):
            rep.problems.append(f"feature {name!r}: shape {shape!r} is not a list of positive ints")
        if "dtype" not in ft or "names" not in ft:
            rep.problems.append(f"feature {name!r} lacks dtype or names")
        if ft.get("dtype") in ("video", "image") and (not isinstance(shape, list) or len(shape) != 3):
            rep.problems.append(f"feature {name!r}: images need a 3-dim shape, got {shape!r}")
    for name, dtype in DEFAULT_FEATURES.items():
        ft = (info.get("features") or {}).get(name)
        if ft is None or ft.get("dtype") != dtype or ft.get("shape") != [1]:
            rep.problems.append(f"default feature {name!r} must be {dtype} of shape [1], got {ft!r}")
    videos = [n for n, ft in (info.get("features") or {}).items() if ft.get("dtype") == "video"]
    if videos and not info.get("video_path"):
        rep.problems.append(f"video features {videos} but video_path is null")


def _expected_type(ft: dict[str, Any]) -> str:
    if ft["dtype"] == "image":
        return "struct<bytes: binary, path: string>"
    if ft["shape"] == [1]:
        return str(pa.from_numpy_dtype(np.dtype(ft["dtype"])))
    return f"fixed_size_list<item: {pa.from_numpy_dtype(np.dtype(ft['dtype']))}>[{ft['shape'][0]}]"


def _type_ok(ft: dict[str, Any], t: pa.DataType) -> bool:
    if ft["dtype"] == "image":
        return pa.types.is_struct(t) and {f.name for f in t} >= {"bytes", "path"}
    want = pa.from_numpy_dtype(np.dtype(ft["dtype"]))
    if ft["shape"] == [1]:
        return t == want
    shape = ft["shape"]
    if len(shape) == 1 and pa.types.is_fixed_size_list(t):
        return t.list_size == shape[0] and t.value_type == want
    if pa.types.is_list(t) or pa.types.is_large_list(t):  # HF may write variable lists: check lengths
        return t.value_type == want
    return pa.types.is_fixed_shape_tensor(t) or pa.types.is_extension_type(t)


def _file_location(rep: LeRobotReport, root: Path, path: Path, chunks_size: int) -> tuple[int, int] | None:
    m = _FILE.search(path.relative_to(root).as_posix())
    if not m:
        rep.problems.append(f"{path.relative_to(root)} does not follow chunk-XXX/file-XXX")
        return None
    chunk, file = int(m.group(1)), int(m.group(2))
    if file >= chunks_size:
        rep.problems.append(f"{path.relative_to(root)}: file index {file} >= chunks_size {chunks_size}")
    return chunk, file


def _check_size(rep: LeRobotReport, root: Path, path: Path, limit_mb: float, lengths: list[int]) -> None:
    """A file over its limit must hold one episode, or have been under it before its last episode
    (LeRobot's writers append while the file is below the limit; estimated by frame share)."""
    size = path.stat().st_size
    before = size * (1 - lengths[-1] / sum(lengths)) if lengths else 0
    if size > limit_mb * MB and len(lengths) > 1 and before > limit_mb * MB:
        rep.problems.append(f"{path.relative_to(root)} is {size / MB:.3f} MB, over the {limit_mb} MB limit, "
                            f"and was already over it before its last of {len(lengths)} episodes "
                            "(roll over to a new file)")


def check_lerobot(root: str | Path) -> LeRobotReport:
    """Validate the dataset folder `root`; see the module docstring for the rules."""
    root = Path(root)
    rep = LeRobotReport(root)
    info_path = root / "meta" / "info.json"
    if not info_path.is_file():
        rep.problems.append("meta/info.json is missing")
        return rep
    try:
        info = json.loads(info_path.read_text())
    except json.JSONDecodeError as e:
        rep.problems.append(f"meta/info.json is not JSON: {e}")
        return rep
    _check_info(rep, info)
    for rel in ("meta/stats.json", TASKS_PATH):
        if not (root / rel).is_file():
            rep.problems.append(f"{rel} is missing")
    data_files = sorted((root / "data").glob("*/*.parquet"))
    ep_files = sorted((root / "meta" / "episodes").glob("*/*.parquet"))
    if not data_files or not ep_files:
        rep.problems.append("no data/chunk-*/file-*.parquet or meta/episodes/chunk-*/file-*.parquet files")
    if rep.problems:
        return rep
    features, fps, chunks = info["features"], info["fps"], info["chunks_size"]
    for path in [*data_files, *ep_files]:
        _file_location(rep, root, path, chunks)

    tasks = pq.read_table(root / TASKS_PATH)
    if "task_index" not in tasks.column_names:
        rep.problems.append("meta/tasks.parquet lacks column task_index")
        return rep
    task_names = tasks.column("task").to_pylist() if "task" in tasks.column_names else None
    task_ids = tasks.column("task_index").to_pylist()
    if sorted(task_ids) != list(range(len(task_ids))):
        rep.problems.append(f"meta/tasks.parquet task_index is not 0..{len(task_ids) - 1}")
    if len(task_ids) != info["total_tasks"]:
        rep.problems.append(f"total_tasks {info['total_tasks']} but meta/tasks.parquet has {len(task_ids)} rows")

    episodes = pa.concat_tables([pq.read_table(p) for p in ep_files], promote_options="default")
    need = ["episode_index", "tasks", "length", "data/chunk_index", "data/file_index",
            "dataset_from_index", "dataset_to_index"]
    videos = [n for n, ft in features.items() if ft["dtype"] == "video"]
    for v in videos:
        need += [f"videos/{v}/{c}" for c in ("chunk_index", "file_index", "from_timestamp", "to_timestamp")]
    missing = [c for c in need if c not in episodes.column_names]
    if missing:
        rep.problems.append(f"meta/episodes lacks columns {missing}")
        return rep
    eps = episodes.sort_by("episode_index").to_pylist()
    if [e["episode_index"] for e in eps] != list(range(len(eps))):
        rep.problems.append("meta/episodes episode_index is not 0..E-1")
    if len(eps) != info["total_episodes"]:
        rep.problems.append(f"total_episodes {info['total_episodes']} but meta/episodes has {len(eps)} rows")
    end = 0
    for e in eps:
        if e["dataset_from_index"] != end or e["dataset_to_index"] - e["dataset_from_index"] != e["length"]:
            rep.problems.append(f"episode {e['episode_index']}: frames [{e['dataset_from_index']}, "
                                f"{e['dataset_to_index']}) of length {e['length']} do not follow {end}")
        end = e["dataset_to_index"]

    # Frames: columns, types, contiguity, timestamps, tasks, placement in files, file sizes.
    columns = [n for n, ft in features.items() if ft["dtype"] != "video"]
    by_file: dict[tuple[int, int], list[int]] = defaultdict(list)
    for e in eps:
        by_file[(e["data/chunk_index"], e["data/file_index"])].append(e["episode_index"])
    total = 0
    for path in data_files:
        where = _file_location(rep, root, path, chunks)
        table = pq.read_table(path)
        total += table.num_rows
        rel = path.relative_to(root)
        if sorted(table.column_names) != sorted(columns):
            rep.problems.append(f"{rel}: columns {sorted(table.column_names)} != features {sorted(columns)}")
            continue
        for name in columns:
            if not _type_ok(features[name], table.schema.field(name).type):
                rep.problems.append(f"{rel}: column {name!r} is {table.schema.field(name).type}, the feature "
                                    f"declares {_expected_type(features[name])}")
        ep_col = table.column("episode_index").to_numpy()
        in_file = sorted(set(ep_col.tolist()))
        if where is not None and in_file != sorted(by_file.get(where, [])):
            rep.problems.append(f"{rel} holds episodes {in_file}, meta/episodes places {by_file.get(where, [])}")
        _check_size(rep, root, path, info["data_files_size_in_mb"],
                    [eps[i]["length"] for i in in_file if i < len(eps)])
        for ep in in_file:
            if ep >= len(eps):
                rep.problems.append(f"{rel}: episode_index {ep} has no row in meta/episodes")
                continue
            rows = table.filter(pc.equal(table.column("episode_index"), ep))
            e = eps[ep]
            index = rows.column("index").to_numpy()
            frame = rows.column("frame_index").to_numpy()
            if not np.array_equal(index, np.arange(e["dataset_from_index"], e["dataset_to_index"])):
                rep.problems.append(f"episode {ep}: index is not contiguous "
                                    f"{e['dataset_from_index']}..{e['dataset_to_index'] - 1}")
            if not np.array_equal(frame, np.arange(e["length"])):
                rep.problems.append(f"episode {ep}: frame_index is not 0..{e['length'] - 1}")
            else:
                stamps = rows.column("timestamp").to_numpy().astype(np.float64)
                bad = np.abs(stamps - frame / fps) > TOLERANCE_S
                if bad.any():
                    rep.problems.append(f"episode {ep}: timestamp differs from frame_index/fps by more than "
                                        f"{TOLERANCE_S} s at frame {int(np.argmax(bad))}")
            used = set(rows.column("task_index").to_pylist())
            if not used <= set(task_ids):
                rep.problems.append(f"episode {ep}: task_index {sorted(used - set(task_ids))} not in tasks")
            elif task_names is not None:
                named = {task_names[task_ids.index(t)] for t in used}
                if not named <= set(e["tasks"] or []):
                    rep.problems.append(f"episode {ep}: tasks column {e['tasks']} lacks {sorted(named)}")
    if total != info["total_frames"] or total != end:
        rep.problems.append(f"total_frames {info['total_frames']}, episodes cover {end}, data files hold {total}")
    _check_videos(rep, root, info, eps, videos)
    _check_stats(rep, root, info)
    rep.notes.append(f"{len(eps)} episodes, {total} frames, {len(data_files)} data files, "
                     f"{len(videos)} video features")
    return rep


def _check_videos(rep: LeRobotReport, root: Path, info: dict[str, Any], eps: list[dict], videos: list[str]) -> None:
    from data import lerobot_video as video

    fps, features = info["fps"], info["features"]
    for name in videos:
        spans: dict[tuple[int, int], list[tuple[float, float, int, int]]] = defaultdict(list)
        for e in eps:
            where = (e[f"videos/{name}/chunk_index"], e[f"videos/{name}/file_index"])
            spans[where].append((e[f"videos/{name}/from_timestamp"], e[f"videos/{name}/to_timestamp"],
                                 e["length"], e["episode_index"]))
        files = sorted((root / "videos" / name).glob("*/*.mp4"))
        found = {_file_location(rep, root, p, info["chunks_size"]): p for p in files}
        for where, items in sorted(spans.items()):
            path = found.get(where)
            rel = f"videos/{name}/chunk-{where[0]:03d}/file-{where[1]:03d}.mp4"
            if path is None:
                rep.problems.append(f"{rel} is missing (episodes {[i[3] for i in items]})")
                continue
            _check_size(rep, root, path, info["video_files_size_in_mb"], [i[2] for i in sorted(items)])
            frames, rate, height, width, _, _ = video.probe(path)
            h, w = features[name]["shape"][:2]
            if (height, width) != (h, w):
                rep.problems.append(f"{rel}: frames are {height}x{width}, the feature declares {h}x{w}")
            if abs(rate - fps) > 1e-3:
                rep.problems.append(f"{rel}: {rate:g} fps, info.json says {fps}")
            last = 0.0
            for start, stop, length, ep in sorted(items):
                if start + TOLERANCE_S < last:
                    rep.problems.append(f"episode {ep}: video span of {name} overlaps the previous episode")
                if abs((stop - start) * fps - length) > 0.5:
                    rep.problems.append(f"episode {ep}: {name} spans {(stop - start) * fps:.1f} frames, "
                                        f"the episode has {length}")
                last = stop
            if frames < round(last * fps):
                rep.problems.append(f"{rel} holds {frames} frames, its episodes need {round(last * fps)}")
        for where, path in found.items():
            if where is not None and where not in spans:
                rep.problems.append(f"{path.relative_to(root)} belongs to no episode")


def _check_stats(rep: LeRobotReport, root: Path, info: dict[str, Any]) -> None:
    try:
        stats = json.loads((root / "meta" / "stats.json").read_text())
    except json.JSONDecodeError as e:
        rep.problems.append(f"meta/stats.json is not JSON: {e}")
        return
    for name, ft in info["features"].items():
        if ft["dtype"] == "string":
            continue
        st = stats.get(name)
        if st is None:
            rep.problems.append(f"meta/stats.json has no entry for {name!r}")
            continue
        want = (3, 1, 1) if ft["dtype"] in ("image", "video") else tuple(ft["shape"])
        for stat in ("min", "max", "mean", "std"):
            got = np.shape(st.get(stat))
            if got != want:
                rep.problems.append(f"meta/stats.json {name}/{stat} has shape {got}, expected {want}")
        if ft["dtype"] not in ("image", "video") and st.get("count") != [info["total_frames"]]:
            # (image counts are of sampled frames in LeRobot's own stats)
            rep.problems.append(f"meta/stats.json {name}/count = {st.get('count')}, expected "
                                f"[{info['total_frames']}]")
