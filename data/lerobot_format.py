"""Export an episode store to the LeRobot dataset v3.0 layout, and import one back.

Layout written (LeRobot `CODEBASE_VERSION = "v3.0"`, see docs/data.md):

    meta/info.json                        codebase_version, fps, features, splits, path templates,
                                          chunks_size, data/video_files_size_in_mb, total_* counts
    meta/stats.json                       per feature: min, max, mean, std, count (images: (3, 1, 1), 0..1)
    meta/tasks.parquet                    task string (index "task") -> task_index
    meta/episodes/chunk-XXX/file-XXX.parquet   one row per episode: length, tasks, frame range,
                                          data and video file of each camera, per-episode stats
    data/chunk-XXX/file-XXX.parquet       one row per frame, whole episodes per file
    videos/<feature>/chunk-XXX/file-XXX.mp4    consecutive episodes of one camera per file

Key mapping (store -> LeRobot): `state` -> `observation.state`, `images.<cam>`
-> `observation.images.<cam>`, `action` -> `action`, other keys unchanged;
`timestamp` -> `timestamp` = frame_index / fps (float32: LeRobot finds video
frames by it) plus `timestamp_measured` (float64, the store's own clock, so
the round trip is exact); the episode's instruction (else its task name) is
its LeRobot task; the rest of the episode metadata (task name, source,
success, note, episode_id, extras) travels as JSON in the episodes column
`robot_stack/meta`. Files roll over to the next index past the size limits
(data 100 MB, videos 200 MB by default, as lerobot 0.4.4, `chunks_size` files per chunk); a
file holds whole episodes, so only a single episode larger than the limit
makes a file exceed it.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from data import lerobot_video as video
from data.errors import StoreError
from data.lerobot_io import (
    DATA_PATH,
    EPISODES_PATH,
    META_COLUMN,
    VIDEO_PATH,
    EpisodeTable,
    aggregate_stats,
    episode_stats,
    png_column,
    read_dataset,
    write_frames,
    write_tasks,
)
from data.store import EpisodeStore
from robot import keys as K

CODEBASE_VERSION = "v3.0"
CHUNKS_SIZE = 1000
DATA_FILE_MB = 100
VIDEO_FILE_MB = 200  # lerobot 0.4.4 (DEFAULT_VIDEO_FILE_SIZE_IN_MB); its main branch has 500
MEASURED = "timestamp_measured"
INDEX_FEATURES = ("timestamp", "frame_index", "episode_index", "index", "task_index")


def to_lerobot_key(key: str) -> str:
    """Store key -> LeRobot feature name."""
    if key == K.STATE:
        return "observation.state"
    if K.is_image_key(key):
        return "observation.images." + K.camera_of(key)
    return key


def from_lerobot_key(name: str) -> str:
    """LeRobot feature name -> store key (inverse of `to_lerobot_key`)."""
    if name == "observation.state":
        return K.STATE
    if name.startswith("observation.images."):
        return K.image_key(name[len("observation.images."):])
    return name


@dataclass(frozen=True)
class ExportOptions:
    """How to write a LeRobot dataset: videos or PNG images, codec, file-size limits (MB)."""

    repo_id: str = "local/robot-stack"
    video: bool = True
    codec: str = "h264-rgb"
    data_file_mb: float = DATA_FILE_MB
    video_file_mb: float = VIDEO_FILE_MB
    chunks_size: int = CHUNKS_SIZE


class _Roller:
    """File indices (chunk, file) that advance when the next episode would overflow the file."""

    def __init__(self, limit_bytes: float, chunks_size: int) -> None:
        self.limit, self.chunks_size = limit_bytes, chunks_size
        self.chunk = self.file = 0
        self.used = 0  # bytes in the current file
        self.episodes = 0  # episodes in the current file

    def place(self, nbytes: int) -> bool:
        """Account for an episode of `nbytes`; True when it starts a new file."""
        new = self.episodes > 0 and self.used + nbytes > self.limit
        if new:
            self.file += 1
            if self.file == self.chunks_size:
                self.chunk, self.file = self.chunk + 1, 0
            self.used = self.episodes = 0
        self.used += nbytes
        self.episodes += 1
        return new


def _features(store: EpisodeStore, opts: ExportOptions) -> dict[str, dict[str, Any]]:
    features: dict[str, dict[str, Any]] = {}
    for key, spec in store.specs.items():
        if key == K.TIMESTAMP:
            continue
        name = to_lerobot_key(key)
        if K.is_image_key(key):
            h, w, c = spec.shape
            ft: dict[str, Any] = {"dtype": "video" if opts.video else "image", "shape": [h, w, c],
                                  "names": ["height", "width", "channels"]}
            if opts.video:
                preset = video.codec(opts.codec)
                ft["info"] = {"video.height": h, "video.width": w, "video.codec": preset.encoder,
                              "video.pix_fmt": preset.pix_fmt, "video.is_depth_map": False,
                              "video.fps": int(round(store.fps)), "video.channels": c, "has_audio": False}
        else:
            if len(spec.shape) > 1:
                raise StoreError(f"{store.path}: key {key!r} has shape {spec.shape}; LeRobot export takes "
                                 "scalar and vector keys (and images) only")
            shape = list(spec.shape) or [1]
            ft = {"dtype": spec.dtype, "shape": shape, "names": list(spec.names) or None}
        features[name] = ft
    features["timestamp"] = {"dtype": "float32", "shape": [1], "names": None}
    if K.TIMESTAMP in store.specs:
        features[MEASURED] = {"dtype": "float64", "shape": [1], "names": None}
    for name in INDEX_FEATURES[1:]:
        features[name] = {"dtype": "int64", "shape": [1], "names": None}
    return features


def _task_of(meta: dict[str, Any]) -> str:
    return meta.get("instruction") or meta.get("task") or "unspecified"


def export_lerobot(store_path: str | os.PathLike, out_dir: str | os.PathLike,
                   opts: ExportOptions = ExportOptions(), overwrite: bool = False) -> dict[str, Any]:
    """Write the store at `store_path` as a LeRobot v3.0 dataset in `out_dir`; returns its info.json.

    Built in `<out_dir>.partial` and renamed into place at the end, so a failed
    or interrupted export never leaves a half-written dataset under `out_dir`.
    """
    store = EpisodeStore.open(store_path, readonly=True)
    final = Path(out_dir)
    if final.exists() and (not final.is_dir() or any(final.iterdir())) and not overwrite:
        raise StoreError(f"{final} exists and is not empty; choose another folder or pass overwrite")
    out = final.with_name(final.name + ".partial")
    shutil.rmtree(out, ignore_errors=True)
    try:
        info = _write_dataset(store, out, opts)
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    if final.exists():
        shutil.rmtree(final)
    out.rename(final)
    return info


def _write_dataset(store: EpisodeStore, out: Path, opts: ExportOptions) -> dict[str, Any]:
    if store.num_episodes == 0:
        raise StoreError(f"{store.path} holds no episodes: nothing to export")
    if abs(store.fps - round(store.fps)) > 1e-9:
        raise StoreError(f"{store.path}: fps {store.fps} is not an integer; LeRobot datasets need one")
    fps = int(round(store.fps))
    features = _features(store, opts)
    cams = [k for k in store.keys if K.is_image_key(k)]
    preset = video.codec(opts.codec) if opts.video and cams else None
    metas = store.all_meta()
    tasks = list(dict.fromkeys(_task_of(m) for m in metas))
    task_index = {t: i for i, t in enumerate(tasks)}

    data_roll = _Roller(opts.data_file_mb * 1024 ** 2, opts.chunks_size)
    video_roll = {k: _Roller(opts.video_file_mb * 1024 ** 2, opts.chunks_size) for k in cams}
    writers: dict[str, video.VideoFileWriter] = {}
    pending: list[dict[str, np.ndarray]] = []  # frame columns of the current data file
    table = EpisodeTable()
    sums: dict[str, list[dict[str, np.ndarray]]] = {}
    first = 0
    try:
        for ep, meta in enumerate(metas):
            frames = store.episode(ep)
            n = int(meta["length"])
            cols: dict[str, Any] = {to_lerobot_key(k): v for k, v in frames.items()
                                    if k != K.TIMESTAMP and (not K.is_image_key(k) or preset is None)}
            for k in cams:
                if preset is None:
                    cols[to_lerobot_key(k)] = png_column(frames[k])
            frame_index = np.arange(n, dtype=np.int64)
            cols["timestamp"] = (frame_index / fps).astype(np.float32)
            if K.TIMESTAMP in frames:
                cols[MEASURED] = frames[K.TIMESTAMP].astype(np.float64)
            cols.update(frame_index=frame_index, episode_index=np.full(n, ep, np.int64),
                        index=np.arange(first, first + n, dtype=np.int64),
                        task_index=np.full(n, task_index[_task_of(meta)], np.int64))
            nbytes = sum(sum(len(c["bytes"]) for c in v) if isinstance(v, list) else np.asarray(v).nbytes
                         for v in cols.values())  # raw bytes: parquet compresses, so files stay under
            where = (data_roll.chunk, data_roll.file)
            if data_roll.place(nbytes):  # this episode starts the next file: the current one is complete
                write_frames(out, pending, features, where)
                pending = []
            pending.append(cols)
            row: dict[str, Any] = {
                "episode_index": ep, "tasks": [_task_of(meta)], "length": n,
                "data/chunk_index": data_roll.chunk, "data/file_index": data_roll.file,
                "dataset_from_index": first, "dataset_to_index": first + n,
            }
            for k in cams if preset is not None else []:
                name = to_lerobot_key(k)
                roll = video_roll[k]
                size = video.encoded_size(frames[k], fps, preset, out / f".scratch-{os.getpid()}.mp4")
                if roll.place(size) and name in writers:
                    writers.pop(name).close()
                if name not in writers:
                    path = out / VIDEO_PATH.format(video_key=name, chunk_index=roll.chunk,
                                                   file_index=roll.file)
                    writers[name] = video.VideoFileWriter(path, fps, *frames[k].shape[1:3], preset)
                start = writers[name].frames
                writers[name].write(frames[k])
                row.update({f"videos/{name}/chunk_index": roll.chunk, f"videos/{name}/file_index": roll.file,
                            f"videos/{name}/from_timestamp": start / fps,
                            f"videos/{name}/to_timestamp": (start + n) / fps})
            stats = episode_stats({to_lerobot_key(k): v for k, v in frames.items() if k != K.TIMESTAMP}
                                  | {"timestamp": cols["timestamp"], "frame_index": frame_index,
                                     "episode_index": cols["episode_index"], "index": cols["index"],
                                     "task_index": cols["task_index"]}
                                  | ({MEASURED: cols[MEASURED]} if MEASURED in cols else {}))
            for name, st in stats.items():
                sums.setdefault(name, []).append(st)
                for stat, value in st.items():
                    row[f"stats/{name}/{stat}"] = np.asarray(value).tolist()
            row.update({"meta/episodes/chunk_index": 0, "meta/episodes/file_index": 0,
                        META_COLUMN: json.dumps({k: v for k, v in meta.items() if k != "length"})})
            table.append(row)
            first += n
        if pending:
            write_frames(out, pending, features, (data_roll.chunk, data_roll.file))
    finally:
        for w in writers.values():
            w.close()
    table.write(out / EPISODES_PATH.format(chunk_index=0, file_index=0))
    write_tasks(out, tasks)
    (out / "meta" / "stats.json").write_text(json.dumps(aggregate_stats(sums), indent=4))
    info = {
        "codebase_version": CODEBASE_VERSION, "robot_type": store.robot or None,
        "total_episodes": store.num_episodes, "total_frames": store.num_frames, "total_tasks": len(tasks),
        "chunks_size": opts.chunks_size, "data_files_size_in_mb": opts.data_file_mb,
        "video_files_size_in_mb": opts.video_file_mb, "fps": fps,
        "splits": {"train": f"0:{store.num_episodes}"}, "data_path": DATA_PATH,
        "video_path": VIDEO_PATH if preset is not None else None, "features": features,
        # Not read by LeRobot: the store's own specs (units, names, exact shapes) for a lossless import.
        "robot_stack": {"specs": {to_lerobot_key(k): s.to_dict() for k, s in store.specs.items()},
                        "repo_id": opts.repo_id},
    }
    (out / "meta" / "info.json").write_text(json.dumps(info, indent=4))
    return info


def import_lerobot(src_dir: str | os.PathLike, store_path: str | os.PathLike,
                   overwrite: bool = False, robot: str | None = None) -> EpisodeStore:
    """Read the LeRobot v3.0 dataset in `src_dir` into a new store at `store_path`."""
    ds = read_dataset(Path(src_dir))
    specs = {from_lerobot_key(n): spec for n, spec in ds.specs.items()}
    store = EpisodeStore.create(store_path, fps=ds.fps, keys=specs, robot=robot or ds.robot,
                                overwrite=overwrite)
    try:  # a failed import removes the store it created rather than leave part of the dataset
        for ep in ds.episodes():
            meta = dict(ep.meta)
            task, instruction = meta.pop("task", ""), meta.pop("instruction", ep.task)
            source, success, note = meta.pop("source", "teleop"), meta.pop("success", None), meta.pop("note", "")
            recorded_at = meta.pop("recorded_at", None)
            with store.begin_episode(task=task, instruction=instruction, source=source, **meta) as w:
                w.extend({from_lerobot_key(n): v for n, v in ep.frames.items()})
                w.commit(success=success, note=note, recorded_at=recorded_at)
    except BaseException:
        shutil.rmtree(store.path, ignore_errors=True)
        raise
    finally:
        ds.close()
    return store

