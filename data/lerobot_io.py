"""Parquet, stats and reading helpers of the LeRobot v3.0 layout (see data/lerobot_format.py).

Column encodings (as LeRobot's `get_hf_features_from_features` declares
them): a feature of shape [1] is a plain column of its dtype; shape [n] a
fixed-size list of n values; an `image` feature a struct {bytes: PNG, path};
`video` features live in the mp4 files, not in the parquet.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from data.errors import StoreError
from robot.specs import ArraySpec

CHUNK_FILE = "chunk-{chunk_index:03d}/file-{file_index:03d}"
DATA_PATH = "data/" + CHUNK_FILE + ".parquet"
EPISODES_PATH = "meta/episodes/" + CHUNK_FILE + ".parquet"
VIDEO_PATH = "videos/{video_key}/" + CHUNK_FILE + ".mp4"
TASKS_PATH = "meta/tasks.parquet"
META_COLUMN = "robot_stack/meta"
"""Episodes column holding the store's episode metadata as JSON (absent in datasets from elsewhere)."""


def png_column(frames: np.ndarray) -> list[dict[str, Any]]:
    """(T, H, W, 3) uint8 -> LeRobot `image` cells: {"bytes": PNG, "path": None} per frame."""
    from PIL import Image

    cells = []
    for image in frames:
        buf = io.BytesIO()
        Image.fromarray(image).save(buf, format="PNG")
        cells.append({"bytes": buf.getvalue(), "path": None})
    return cells


def _png_decode(cell: dict[str, Any]) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(cell["bytes"])).convert("RGB"))


def feature_columns(features: dict[str, dict[str, Any]]) -> list[str]:
    """Names of the features stored as parquet columns (everything but videos)."""
    return [n for n, ft in features.items() if ft["dtype"] != "video"]


def _arrow(name: str, values: Any, ft: dict[str, Any]) -> pa.Array:
    if ft["dtype"] == "image":
        return pa.array(values, type=pa.struct([("bytes", pa.binary()), ("path", pa.string())]))
    arr = np.asarray(values, dtype=ft["dtype"])
    shape = list(ft["shape"])
    if shape == [1]:
        return pa.array(arr.reshape(len(arr)))
    if len(shape) != 1:
        raise StoreError(f"feature {name!r} has shape {shape}: only scalars, vectors and images export")
    flat = pa.array(arr.reshape(-1))
    return pa.FixedSizeListArray.from_arrays(flat, shape[0])


def write_frames(out: Path, episodes: list[dict[str, Any]], features: dict[str, dict[str, Any]],
                 where: tuple[int, int]) -> Path:
    """Write the frame rows of `episodes` (name -> per-frame values) to data file `where` = (chunk, file)."""
    columns = {}
    for name in feature_columns(features):
        parts = [ep[name] for ep in episodes]
        values = [c for p in parts for c in p] if features[name]["dtype"] == "image" \
            else np.concatenate([np.asarray(p) for p in parts])
        columns[name] = _arrow(name, values, features[name])
    path = out / DATA_PATH.format(chunk_index=where[0], file_index=where[1])
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns), path)
    return path


@dataclass
class EpisodeTable:
    """Rows of meta/episodes/..., one per episode."""

    rows: list[dict[str, Any]] = field(default_factory=list)

    def append(self, row: dict[str, Any]) -> None:
        """Add one episode's row."""
        self.rows.append(row)

    def write(self, path: Path) -> None:
        """Write all rows to one parquet file."""
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(self.rows), path)


def write_tasks(out: Path, tasks: list[str]) -> None:
    """meta/tasks.parquet: a pandas frame indexed by the task string ("task") with column task_index."""
    import pandas as pd

    frame = pd.DataFrame({"task_index": np.arange(len(tasks), dtype=np.int64)},
                         index=pd.Index(tasks, name="task"))
    (out / TASKS_PATH).parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(out / TASKS_PATH)


QUANTILES = (0.01, 0.10, 0.50, 0.90, 0.99)
"""LeRobot's stats carry these quantiles as q01, q10, q50, q90, q99."""

_MAX_IMAGE_SAMPLES = 200_000  # pixels per channel an image quantile is computed from


def episode_stats(columns: dict[str, np.ndarray]) -> dict[str, dict[str, np.ndarray]]:
    """Per-feature min, max, mean, std, count and quantiles of one episode, as LeRobot computes them:
    low-dim per dimension, (D,); images per channel, (3, 1, 1), in 0..1 (quantiles from a pixel sample)."""
    out = {}
    for name, values in columns.items():
        x = np.asarray(values)
        image = x.dtype == np.uint8 and x.ndim == 4  # (T, H, W, C) frames
        if image:
            x = x.reshape(-1, x.shape[-1]).astype(np.float64) / 255.0
            shape: tuple[int, ...] = (x.shape[1], 1, 1)
        else:
            x = x.reshape(len(x), -1).astype(np.float64)
            shape = (x.shape[1],)
        sample = x[:: max(1, len(x) // _MAX_IMAGE_SAMPLES)] if image else x
        st = {"min": x.min(0), "max": x.max(0), "mean": x.mean(0), "std": x.std(0)}
        st |= {f"q{round(q * 100):02d}": np.quantile(sample, q, axis=0) for q in QUANTILES}
        out[name] = {k: v.reshape(shape) for k, v in st.items()} | {"count": np.array([len(values)])}
    return out


def aggregate_stats(per_episode: dict[str, list[dict[str, np.ndarray]]]) -> dict[str, dict[str, list]]:
    """Pool per-episode stats into dataset stats, JSON-ready: count-weighted mean, pooled variance,
    and (as LeRobot does) count-weighted means of the per-episode quantiles."""
    out = {}
    for name, stats in per_episode.items():
        counts = np.array([s["count"][0] for s in stats], dtype=np.float64)
        w = (counts / counts.sum()).reshape(-1, *([1] * stats[0]["mean"].ndim))
        means = np.stack([s["mean"] for s in stats])
        mean = (w * means).sum(0)
        var = (w * (np.stack([s["std"] for s in stats]) ** 2 + (means - mean) ** 2)).sum(0)
        agg = {"min": np.min([s["min"] for s in stats], axis=0), "max": np.max([s["max"] for s in stats], axis=0),
               "mean": mean, "std": np.sqrt(var)}
        agg |= {q: (w * np.stack([s[q] for s in stats])).sum(0) for q in stats[0] if q.startswith("q")}
        out[name] = {k: v.tolist() for k, v in agg.items()} | {"count": [int(counts.sum())]}
    return out


@dataclass
class LeRobotEpisode:
    """One episode read from a LeRobot dataset: frames per feature, its task string, our metadata."""

    frames: dict[str, np.ndarray]
    task: str
    meta: dict[str, Any]


class LeRobotSource:
    """A LeRobot v3.0 dataset on disk, read episode by episode (see `read_dataset`)."""

    def __init__(self, root: Path, info: dict[str, Any]) -> None:
        self.root, self.info = root, info
        self.fps = float(info["fps"])
        self.robot = str(info.get("robot_type") or "")
        self.features = info["features"]
        self.specs: dict[str, ArraySpec] = {}
        for name, ft in self.features.items():
            if name in ("frame_index", "episode_index", "index", "task_index", "timestamp_measured") \
                    or ft["dtype"] == "string":  # indices are the store's own structure; no text arrays
                continue
            shape = tuple(ft["shape"])
            if ft["dtype"] in ("video", "image"):
                names = list(ft.get("names") or [])
                if names[:1] in (["channels"], ["channel"]):  # (C, H, W) declared: store (H, W, C)
                    shape = (shape[1], shape[2], shape[0])
                self.specs[name] = ArraySpec(shape, "uint8")
            elif name == "timestamp":
                self.specs[name] = ArraySpec((), "float64", units="s")
            else:
                shape = () if shape == (1,) and name != "observation.state" and name != "action" else shape
                names = ft.get("names")
                if isinstance(names, dict):  # older datasets: {"motors": [...]}
                    names = next(iter(names.values()), None)
                ok = isinstance(names, list) and len(shape) == 1 and len(names) == shape[0]
                self.specs[name] = ArraySpec(shape, ft["dtype"], names=tuple(names) if ok else ())
        ours = (info.get("robot_stack") or {}).get("specs") or {}
        for name, spec in ours.items():  # written by our exporter: exact shapes, units and names
            if name in self.specs or (name == "timestamp" and "timestamp" in self.features):
                self.specs[name] = ArraySpec.from_dict(spec)
        self.videos = [n for n, ft in self.features.items() if ft["dtype"] == "video"]
        self._readers: dict[str, tuple[Path, Any]] = {}
        self._data: tuple[Path, pa.Table, np.ndarray] | None = None

    def _table(self, pattern: str) -> pa.Table:
        files = sorted(self.root.glob(pattern))
        if not files:
            raise StoreError(f"{self.root}: no files match {pattern}; is this a LeRobot v3.0 dataset?")
        return pa.concat_tables([pq.read_table(f) for f in files], promote_options="default")

    def _video(self, name: str, row: dict[str, Any]) -> np.ndarray:
        from data import lerobot_video as video

        path = self.root / self.info["video_path"].format(
            video_key=name, chunk_index=int(row[f"videos/{name}/chunk_index"]),
            file_index=int(row[f"videos/{name}/file_index"]))
        current = self._readers.get(name)
        if current is None or current[0] != path:
            if current is not None:
                current[1].close()
            self._readers[name] = current = (path, video.VideoFileReader(path, self.fps))
        start = round(float(row[f"videos/{name}/from_timestamp"]) * self.fps)
        return current[1].read(start, int(row["length"]))

    def _data_file(self, row: dict[str, Any]) -> tuple[pa.Table, np.ndarray]:
        """The data file of episode `row` (one file in memory at a time), rows sorted by
        (episode_index, frame_index), and its episode_index column."""
        path = self.root / self.info["data_path"].format(chunk_index=int(row["data/chunk_index"]),
                                                         file_index=int(row["data/file_index"]))
        if self._data is None or self._data[0] != path:
            if not path.is_file():
                raise StoreError(f"{path} is missing (episode {row['episode_index']}); run `robot data check`")
            table = pq.read_table(path)
            ep_col = table.column("episode_index").to_numpy()
            order = np.lexsort((table.column("frame_index").to_numpy(), ep_col))
            self._data = (path, table.take(order), ep_col[order])
        return self._data[1], self._data[2]

    def episodes(self) -> Iterator[LeRobotEpisode]:
        """Episodes in index order, frames sorted by frame_index; reads one data file at a time."""
        episodes = self._table("meta/episodes/*/*.parquet").sort_by("episode_index").to_pylist()
        for row in episodes:
            n = int(row["length"])
            data, ep_col = self._data_file(row)
            start = int(np.searchsorted(ep_col, row["episode_index"]))
            rows = data.slice(start, n)
            if rows.num_rows != n or (rows.column("episode_index").to_numpy() != row["episode_index"]).any():
                raise StoreError(f"{self.root}: episode {row['episode_index']} has {n} frames in meta/episodes "
                                 "but not in its data file; run `robot data check` on it")
            frames: dict[str, np.ndarray] = {}
            for name, spec in self.specs.items():
                if name in self.videos:
                    frames[name] = self._video(name, row)
                elif self.features[name]["dtype"] == "image":
                    frames[name] = np.stack([_png_decode(c) for c in rows.column(name).to_pylist()])
                elif name == "timestamp":
                    col = "timestamp_measured" if "timestamp_measured" in rows.column_names else "timestamp"
                    frames[name] = rows.column(col).to_numpy().astype(np.float64)
                else:
                    values = np.asarray(rows.column(name).to_pylist(), dtype=spec.dtype)
                    frames[name] = values.reshape(n, *spec.shape)
            tasks = list(row.get("tasks") or [])
            meta = json.loads(row[META_COLUMN]) if row.get(META_COLUMN) else {}
            yield LeRobotEpisode(frames, tasks[0] if tasks else "", meta)

    def close(self) -> None:
        """Release open video files and the cached data file."""
        for _, reader in self._readers.values():
            reader.close()
        self._readers.clear()
        self._data = None


def read_dataset(root: Path) -> LeRobotSource:
    """Open the LeRobot v3.0 dataset at `root`; errors name the file and what is wrong."""
    info_path = root / "meta" / "info.json"
    if not info_path.is_file():
        raise StoreError(f"{root} is not a LeRobot dataset (no meta/info.json)")
    try:
        info = json.loads(info_path.read_text())
    except json.JSONDecodeError as e:
        raise StoreError(f"{info_path} is not JSON: {e}") from None
    version = str(info.get("codebase_version", ""))
    if not version.startswith("v3."):
        raise StoreError(f"{root}: codebase_version {version!r}; this importer reads v3.x "
                         "(convert older datasets with lerobot's convert_dataset_v21_to_v30 first)")
    return LeRobotSource(root, info)
