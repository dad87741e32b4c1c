"""The Zarr episode store: time-major arrays, `meta/episode_ends`, crash-safe appends.

Layout (Zarr v3, one directory):

    zarr.json                 attributes: schema, schema_version, fps, robot, specs, codecs, stats
    data/<key>                (N, *shape) arrays concatenated along time, N = total frames
    meta/episode_ends         (E,) int64, end (exclusive) frame of each episode; fill -1
    meta/episode_meta         (E,) JSON string per episode (task, instruction, success, ...)

Crash safety. Zarr's LocalStore writes every chunk and metadata file to a
temporary name and renames it into place, so no file is ever half-written:
a reader sees the old or the new chunk, never a torn one. A writer streams an
episode into the rows *past* the committed end, then writes its metadata row
and, last, its `episode_ends` entry: that entry is the commit point. Rewriting
the boundary chunk that also holds committed rows is safe because the new file
carries those rows unchanged and replaces the old one atomically. On open,
the committed episodes are the written entries of `episode_ends` (trailing -1
fill = slots resized but never written, by a recorder killed mid-commit);
everything beyond them is ignored by readers and physically rolled back
before the next episode is written (`_rollback`, called by data/writer.py). Written entries that a
crash cannot produce (not increasing, past an array's end) raise
CorruptStoreError. `tests/data/test_episode_store.py` checks the atomic-rename
behaviour of the installed Zarr, which all of this rests on. Durability
against power loss would also need fsync, which we do not pay for (SIGKILL
and Python crashes are covered).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from data import codecs
from data.errors import (
    CorruptStoreError,
    NotAStoreError,
    SchemaVersionError,
    SpecMismatchError,
    StoreError,
)
from robot.keys import is_image_key
from robot.specs import ArraySpec

SCHEMA = "robot-stack/episode-store"
SCHEMA_VERSION = 1


def _as_spec(key: str, spec: ArraySpec | Mapping[str, Any]) -> ArraySpec:
    if isinstance(spec, ArraySpec):
        return spec
    if isinstance(spec, Mapping):
        return ArraySpec.from_dict(dict(spec))
    raise StoreError(f"spec of key {key!r} must be an ArraySpec or a dict, got {type(spec).__name__}")


def _check_key_name(key: str) -> None:
    if not isinstance(key, str) or not key or "/" in key or key.startswith("__"):
        raise StoreError(f"key {key!r} cannot name a store array: use e.g. 'state' or 'images.front'")


class EpisodeStore:
    """A directory of episodes recorded at a fixed rate, with per-key specs.

    Build it with `create`, `open` or `open_or_create`. Frames are read with
    `episode(i)` (dict key -> (T, *shape) array) or, for training, through
    `data.sampler.SequenceDataset`. Recording goes through
    `data.writer.begin_episode(store, ...)` (or `store.begin_episode(...)`),
    which owns the writer lock; the store itself holds no writer state.
    """

    def __init__(self, path: Path, root: zarr.Group, readonly: bool) -> None:
        self.path = Path(path)
        self.readonly = readonly
        self._root = root
        attrs = dict(root.attrs)
        try:
            self.fps = float(attrs["fps"])
            self.robot = str(attrs.get("robot", ""))
            self.specs: dict[str, ArraySpec] = {
                k: ArraySpec.from_dict(d) for k, d in attrs["specs"].items()
            }
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise CorruptStoreError(f"{self.path}/zarr.json: store attributes fps/specs are missing or "
                                    f"malformed ({type(e).__name__}: {e})") from None
        self._stats_memo: tuple[str, dict] | None = None  # (episode_ends sha1, stats), see data/stats.py
        self.refresh()

    # ---------------------------------------------------------------- construction
    @classmethod
    def create(
        cls,
        path: str | os.PathLike,
        *,
        fps: float,
        keys: Mapping[str, ArraySpec | Mapping[str, Any]],
        robot: str = "",
        overwrite: bool = False,
    ) -> EpisodeStore:
        """Create an empty store at `path` with one array per key of `keys` (key -> per-tick spec)."""
        path = Path(path)
        if not keys:
            raise StoreError(f"create {path}: `keys` is empty; give at least one key -> ArraySpec")
        if not fps or fps <= 0:
            raise StoreError(f"create {path}: fps must be > 0, got {fps!r}")
        if path.exists() and any(path.iterdir()) and not overwrite:
            raise StoreError(f"create {path}: the directory exists and is not empty; "
                             "use EpisodeStore.open, or pass overwrite=True")
        specs = {k: _as_spec(k, v) for k, v in keys.items()}
        for k, spec in specs.items():
            _check_key_name(k)
            if is_image_key(k) and (np.dtype(spec.dtype) != np.uint8 or len(spec.shape) != 3):
                raise StoreError(f"create {path}: image key {k!r} must be uint8 (H, W, C), "
                                 f"got {spec.shape} {spec.dtype}")
        root = zarr.open_group(zarr.storage.LocalStore(path), mode="w", zarr_format=3)
        data_group = root.create_group("data")
        for key, spec in specs.items():
            frame_nbytes = int(np.prod(spec.shape, dtype=np.int64)) * np.dtype(spec.dtype).itemsize
            data_group.create_array(
                key, shape=(0, *spec.shape), dtype=spec.dtype, fill_value=0,
                chunks=(codecs.chunk_frames(key, frame_nbytes), *spec.shape),
                compressors=codecs.compressors(key, frame_nbytes),
                attributes={"spec": spec.to_dict()},
            )
        meta = root.create_group("meta")
        meta.create_array("episode_ends", shape=(0,), dtype="int64", fill_value=-1,
                          chunks=(codecs.META_CHUNK_EPISODES,))
        meta.create_array("episode_meta", shape=(0,), dtype=str, fill_value="",
                          chunks=(codecs.META_CHUNK_EPISODES,))
        # Attributes last: a directory without them is not taken for a store.
        root.attrs.update({
            "schema": SCHEMA, "schema_version": SCHEMA_VERSION, "fps": float(fps),
            "robot": robot, "specs": {k: s.to_dict() for k, s in specs.items()},
            "codecs": codecs.describe(),
        })
        return cls(path, root, readonly=False)

    @classmethod
    def open(cls, path: str | os.PathLike, readonly: bool = False) -> EpisodeStore:
        """Open an existing store; errors name the path and say what is wrong."""
        path = Path(path)
        if not (path / "zarr.json").is_file():
            old = path.with_name(path.name + ".old")
            if old.is_dir():  # a drop/keep in place was cut between its two renames
                raise NotAStoreError(f"{path} is missing but {old} exists: an in-place drop/keep was "
                                     f"interrupted; rename {old.name} (original) or {path.name}.new "
                                     f"(result) back to {path.name}")
            raise NotAStoreError(f"{path} is not an episode store (no zarr.json); "
                                 "create one with EpisodeStore.create or `robot collect`")
        try:
            root = zarr.open_group(zarr.storage.LocalStore(path, read_only=readonly),
                                   mode="r" if readonly else "r+", zarr_format=3)
            attrs = dict(root.attrs)
        except Exception as e:  # zarr raises many types for a bad zarr.json
            raise NotAStoreError(f"{path} is not a readable Zarr v3 store: {e}") from None
        if attrs.get("schema") != SCHEMA:
            raise NotAStoreError(f"{path} is a Zarr group but not an episode store "
                                 f"(attribute schema={attrs.get('schema')!r}, expected {SCHEMA!r})")
        version = attrs.get("schema_version")
        if not isinstance(version, int) or version > SCHEMA_VERSION:
            raise SchemaVersionError(f"{path} has schema_version {version!r}; this code reads up to "
                                     f"{SCHEMA_VERSION}: update robot-stack to read it")
        return cls(path, root, readonly=readonly)

    @classmethod
    def open_or_create(cls, path: str | os.PathLike, *, fps: float,
                       keys: Mapping[str, ArraySpec | Mapping[str, Any]], robot: str = "") -> EpisodeStore:
        """Open `path` if it holds a store (its fps, robot and specs must match), else create it."""
        path = Path(path)
        if not (path / "zarr.json").is_file():
            return cls.create(path, fps=fps, keys=keys, robot=robot)
        store = cls.open(path)
        want = {k: _as_spec(k, v) for k, v in keys.items()}
        problems = spec_differences(store.specs, want)
        if float(fps) != store.fps:
            problems.append(f"fps {store.fps} in the store, {float(fps)} requested")
        if robot and store.robot and robot != store.robot:
            problems.append(f"robot {store.robot!r} in the store, {robot!r} requested")
        if problems:
            raise SpecMismatchError(f"{path} exists with a different layout: " + "; ".join(problems)
                                    + ". Record into a new path.")
        return store

    # ---------------------------------------------------------------- committed state
    def _load_arrays(self) -> None:
        """(Re)open the array handles, re-reading their metadata (shapes change as others append)."""
        handles = {}
        for name in [*(f"data/{key}" for key in self.specs), "meta/episode_ends", "meta/episode_meta"]:
            try:
                handles[name] = self._root[name]
            except KeyError:
                raise CorruptStoreError(f"store {self.path} lacks array {name}; "
                                        f"run `robot data check {self.path}`") from None
            except Exception as e:  # a truncated or hand-edited zarr.json
                raise CorruptStoreError(f"store {self.path}: the metadata of array {name} cannot be read "
                                        f"({type(e).__name__}: {e}); run `robot data check {self.path}`"
                                        ) from None
        self._arrays = {key: handles[f"data/{key}"] for key in self.specs}
        self._ends_arr = handles["meta/episode_ends"]
        self._meta_arr = handles["meta/episode_meta"]

    def refresh(self) -> None:
        """Re-read the committed episodes (e.g. while another process appends).

        Only trailing -1 slots of `episode_ends` (resized, never written: a
        recorder killed mid-commit) are uncommitted. Any written entry that does
        not increase, or that points past an array's end or past the metadata
        rows, cannot come from a crash (arrays and metadata are written before
        the entry) and raises CorruptStoreError naming the array and episode.
        """
        self._load_arrays()
        try:
            raw = np.asarray(self._ends_arr[:], dtype=np.int64)
        except Exception as e:
            raise CorruptStoreError(f"{self.path}: meta/episode_ends cannot be read ({e}); "
                                    f"run `robot data check {self.path}`") from None
        count = len(raw)
        while count and raw[count - 1] == -1:
            count -= 1
        ends = raw[:count]
        hint = f"; run `robot data check {self.path}`"
        steps = np.diff(ends, prepend=0)
        if (steps <= 0).any():
            i = int(np.argmax(steps <= 0))
            raise CorruptStoreError(f"{self.path}: meta/episode_ends[{i}] = {int(ends[i])} does not "
                                    f"increase (episode {i} is empty or out of order){hint}")
        frames = int(ends[-1]) if count else 0
        for key, arr in self._arrays.items():
            if arr.shape[0] < frames:
                ep = int(np.searchsorted(ends, arr.shape[0], side="right"))
                raise CorruptStoreError(f"{self.path}: array data/{key} has {arr.shape[0]} frames but "
                                        f"episode_ends needs {frames}: episode {ep} onwards lack "
                                        f"{key!r} data{hint}")
        if self._meta_arr.shape[0] < count:
            raise CorruptStoreError(f"{self.path}: meta/episode_meta has {self._meta_arr.shape[0]} rows "
                                    f"for {count} episodes{hint}")
        self._ends = ends.copy()
        self._raw_ends_len = len(raw)
        self._meta_cache: dict[int, dict[str, Any]] = {}

    @property
    def keys(self) -> list[str]:
        """Array keys in the order of the specs."""
        return list(self.specs)

    @property
    def num_episodes(self) -> int:
        """Committed episodes."""
        return int(len(self._ends))

    @property
    def num_frames(self) -> int:
        """Frames of all committed episodes."""
        return int(self._ends[-1]) if len(self._ends) else 0

    @property
    def episode_ends(self) -> np.ndarray:
        """(E,) int64 end frame (exclusive) of each committed episode (a copy)."""
        return self._ends.copy()

    @property
    def episode_lengths(self) -> np.ndarray:
        """(E,) int64 frames per episode."""
        return np.diff(self._ends, prepend=0)

    def episode_bounds(self, i: int) -> tuple[int, int]:
        """(start, end) frame indices of episode `i` (negative `i` counts from the end)."""
        n = self.num_episodes
        if not -n <= i < n:
            raise IndexError(f"episode {i} out of range: {self.path} holds {n} episodes")
        i %= n
        return (int(self._ends[i - 1]) if i else 0), int(self._ends[i])

    def array(self, key: str) -> zarr.Array:
        """The raw Zarr array of `key` (may hold uncommitted rows past `num_frames`)."""
        if key not in self._arrays:
            raise KeyError(f"{self.path} has no key {key!r}; keys: {', '.join(self.specs)}")
        return self._arrays[key]

    def read_frames(self, key: str, start: int, end: int, episode: int | None = None) -> np.ndarray:
        """Frames [start, end) of `key`, (end-start, *shape); a decode error names array and episode."""
        try:
            return self.array(key)[start:end]
        except KeyError:
            raise
        except Exception as e:
            if episode is not None:
                where = f"episode {episode}"
            else:
                first = int(np.searchsorted(self._ends, start, side="right"))
                last = int(np.searchsorted(self._ends, max(start, end - 1), side="right"))
                where = f"frames {start}:{end} (episodes {first}-{last})"
            raise CorruptStoreError(f"{self.path}: array data/{key} cannot be decoded at {where} "
                                    f"({type(e).__name__}: {e}); run `robot data check {self.path}`, "
                                    "then drop the damaged episodes") from None

    def episode(self, i: int, keys: list[str] | None = None) -> dict[str, np.ndarray]:
        """Episode `i` as key -> (T, *shape) array, for `keys` (default: all)."""
        start, end = self.episode_bounds(i)
        i %= self.num_episodes
        return {k: self.read_frames(k, start, end, episode=i) for k in (keys or self.specs)}

    def _read_meta_rows(self, start: int, end: int) -> np.ndarray:
        try:
            return self._meta_arr[start:end]
        except Exception as e:
            raise CorruptStoreError(f"{self.path}: meta/episode_meta rows {start}:{end} cannot be decoded "
                                    f"({type(e).__name__}: {e}); run `robot data check {self.path}`") from None

    def episode_meta(self, i: int) -> dict[str, Any]:
        """Metadata of episode `i`: task, instruction, source, success, note, length, extras."""
        start, end = self.episode_bounds(i)
        i %= self.num_episodes
        if i not in self._meta_cache:
            raw = self._read_meta_rows(i, i + 1)[0]
            try:
                meta = json.loads(str(raw))
            except (json.JSONDecodeError, TypeError) as e:
                raise CorruptStoreError(f"{self.path}: meta/episode_meta[{i}] is not JSON ({e})") from None
            meta["length"] = end - start
            self._meta_cache[i] = meta
        return dict(self._meta_cache[i])

    def all_meta(self) -> list[dict[str, Any]]:
        """`episode_meta(i)` for every episode, read in one pass."""
        raw = self._read_meta_rows(0, self.num_episodes) if self.num_episodes else []
        lengths = self.episode_lengths
        for i, text in enumerate(raw):
            if i not in self._meta_cache:
                try:
                    self._meta_cache[i] = json.loads(str(text))
                except json.JSONDecodeError as e:
                    raise CorruptStoreError(f"{self.path}: meta/episode_meta[{i}] is not JSON ({e})") from None
                self._meta_cache[i]["length"] = int(lengths[i])
        return [dict(self._meta_cache[i]) for i in range(self.num_episodes)]

    # ---------------------------------------------------------------- commit protocol (data/writer.py)
    def begin_episode(self, task: str = "", instruction: str = "", source: str = "teleop",
                      **extra_meta: Any) -> Any:
        """Same as `data.writer.begin_episode(self, ...)`: the recording entry point of the store contract
        (docs/architecture.md) that `robot/runtime` codes against without importing `data/`."""
        from data.writer import begin_episode  # one way: the writer module never imports this one

        return begin_episode(self, task=task, instruction=instruction, source=source, **extra_meta)

    def _rollback(self) -> None:
        """Physically remove everything past the committed prefix (left by a crash or a discard).
        Only under the writer lock."""
        n, frames = self.num_episodes, self.num_frames
        for arr in self._arrays.values():
            if arr.shape[0] != frames:
                arr.resize((frames, *arr.shape[1:]))
        if self._raw_ends_len != n:
            self._ends_arr.resize((n,))
            self._raw_ends_len = n
        if self._meta_arr.shape[0] != n:
            self._meta_arr.resize((n,))
        for partial in self.path.rglob("*.partial"):  # temp files of writes cut short by a kill
            partial.unlink(missing_ok=True)

    def _commit(self, meta: dict[str, Any], end: int) -> None:
        """Make the episode ending at frame `end` durable: metadata row, then the episode_ends entry
        (the commit point). Only under the writer lock, after the episode's rows are written."""
        n = self.num_episodes
        self._meta_arr.resize((n + 1,))
        self._meta_arr[n] = json.dumps(meta)
        self._ends_arr.resize((n + 1,))
        self._ends_arr[n] = end  # the commit point
        self._ends = np.append(self._ends, np.int64(end))
        self._raw_ends_len = n + 1
        self._meta_cache.pop(n, None)

    def stats(self, force: bool = False) -> dict[str, dict[str, np.ndarray]]:
        """Per-key normalization statistics {"min","max","mean","std"} (per dimension; images per channel).

        Computed once over all committed frames and cached in the store
        attributes, keyed by the committed episode_ends, so it is recomputed
        only after episodes change.
        """
        from data.stats import cached_stats

        return cached_stats(self, force=force)

    @property
    def attrs(self) -> dict[str, Any]:
        """A copy of the store attributes."""
        return dict(self._root.attrs)

    def _set_attr(self, name: str, value: Any) -> None:
        if not self.readonly:
            self._root.attrs[name] = value

    def close(self) -> None:
        """Nothing to release: a store handle holds no lock (writers hold and release their own)."""

    def __enter__(self) -> EpisodeStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"EpisodeStore({str(self.path)!r}, episodes={self.num_episodes}, "
                f"frames={self.num_frames}, fps={self.fps}, keys={self.keys})")


def spec_differences(have: Mapping[str, ArraySpec], want: Mapping[str, ArraySpec]) -> list[str]:
    """Human-readable differences between two key -> spec maps (empty when they agree)."""
    out = []
    for k in sorted(set(have) - set(want)):
        out.append(f"key {k!r} only in the first")
    for k in sorted(set(want) - set(have)):
        out.append(f"key {k!r} only in the second")
    for k in sorted(set(have) & set(want)):
        a, b = have[k], want[k]
        if a.shape != b.shape or np.dtype(a.dtype) != np.dtype(b.dtype):
            out.append(f"key {k!r}: {a.shape} {a.dtype} vs {b.shape} {b.dtype}")
    return out

