"""The episode writer: cheap per-tick appends, chunk-wise background flushes, atomic commit.

`append` only validates the frame and copies it into a per-key buffer the size
of one Zarr chunk (microseconds). When a buffer reaches a chunk boundary of
its array, a single background thread compresses and writes it past the
store's committed end, so a 50 Hz control loop never waits on compression or
disk. `commit` flushes the partial buffers, waits for the thread, then lets
the store write the metadata row and the `episode_ends` entry (the commit
point). See data/store.py for why this is crash-safe.

Dependencies point one way: this module never imports data/store.py. It codes
against `RecordableStore`, the few members of `EpisodeStore` a recording
needs; `begin_episode(store, ...)` composes a store and a writer, and owns the
writer lock for the episode's lifetime.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from data.errors import FrameError, StoreError
from data.lock import WriterLock
from robot.keys import is_image_key
from robot.specs import ArraySpec

SOURCES = ("teleop", "scripted", "policy", "intervention")
"""Where an episode's actions came from."""

_RESERVED_META = {"task", "instruction", "source", "success", "note", "length", "recorded_at"}


class RecordableStore(Protocol):
    """What a recording needs of a store (`data.store.EpisodeStore` provides it)."""

    path: Path
    readonly: bool
    specs: dict[str, ArraySpec]

    @property
    def num_episodes(self) -> int: ...

    @property
    def num_frames(self) -> int: ...

    def array(self, key: str) -> Any: ...

    def refresh(self) -> None: ...

    def _rollback(self) -> None: ...

    def _commit(self, meta: dict[str, Any], end: int) -> None: ...


def begin_episode(store: RecordableStore, task: str = "", instruction: str = "", source: str = "teleop",
                  **extra_meta: Any) -> EpisodeWriter:
    """Start recording an episode into `store`; returns its writer (append ticks, then commit or discard).

    Takes the store's writer lock (refused with WriterBusyError while another
    writer, here or in another process, holds it), rolls back what a crash or a
    discard left past the committed end, and starts the writer there. `source`
    is one of teleop / scripted / policy / intervention; `extra_meta`
    (JSON-serializable) is kept in the episode metadata.
    """
    if store.readonly:
        raise StoreError(f"{store.path} is open read-only; open it with readonly=False to record")
    if source not in SOURCES:
        raise StoreError(f"source {source!r} is not one of {', '.join(SOURCES)}")
    clash = _RESERVED_META & set(extra_meta)
    if clash:
        raise StoreError(f"extra metadata may not use reserved names {sorted(clash)}")
    meta = {"task": str(task), "instruction": str(instruction), "source": source, **extra_meta}
    try:
        json.dumps(meta)
    except TypeError as e:
        raise StoreError(f"episode metadata must be JSON-serializable: {e}") from None
    lock = WriterLock(store.path)
    lock.acquire()
    try:
        store.refresh()
        store._rollback()
        return EpisodeWriter(store, start=store.num_frames, meta=meta, lock=lock)
    except BaseException:
        lock.release()
        raise


class _KeyBuffer:
    """Frames of one key not yet handed to the flush thread, aligned to the array's chunks."""

    def __init__(self, key: str, shape: tuple[int, ...], dtype: np.dtype, chunk: int, start: int):
        self.key, self.shape, self.dtype, self.chunk = key, shape, dtype, chunk
        self.check_finite = np.issubdtype(dtype, np.floating) and not is_image_key(key)
        self._reset(start)

    def _reset(self, start: int) -> None:
        self.start = start  # global frame index of buffer row 0
        # The first buffer only runs to the next chunk boundary, so every later flush is chunk-aligned
        # and no chunk is rewritten twice (the committed boundary chunk is rewritten once, atomically).
        self.capacity = self.chunk - start % self.chunk
        self.rows = np.empty((self.capacity, *self.shape), dtype=self.dtype)
        self.count = 0

    def take(self) -> tuple[int, np.ndarray]:
        """Hand the filled rows over (the caller owns them) and start a fresh buffer."""
        start, rows = self.start, self.rows[: self.count]
        self._reset(start + self.count)
        return start, rows


class EpisodeWriter:
    """Records one episode into a store; get it from `begin_episode(store, ...)` (or `store.begin_episode`).

    `append({key: value})` once per tick with every key of the store's specs
    (value shape = spec shape, dtype castable to the spec dtype without
    changing kind); then `commit(success=..., note=...)` or `discard()`.
    Usable as a context manager: leaving the block without commit discards.
    """

    def __init__(self, store: RecordableStore, start: int, meta: dict[str, Any], lock: WriterLock) -> None:
        self.store = store
        self._lock = lock
        self.start = start
        self.meta = meta
        self.num_frames = 0
        self._buffers: dict[str, _KeyBuffer] = {}
        for key, spec in store.specs.items():
            arr = store.array(key)
            self._buffers[key] = _KeyBuffer(key, spec.shape, np.dtype(spec.dtype), arr.chunks[0], start)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="episode-flush")
        self._pending: list[Future] = []
        self._lengths = {key: int(store.array(key).shape[0]) for key in store.specs}
        self._done = False

    @property
    def episode_index(self) -> int:
        """Index this episode will have once committed."""
        return self.store.num_episodes

    def _where(self) -> str:
        return f"{self.store.path} episode {self.episode_index} frame {self.num_frames}"

    def append(self, frame: Mapping[str, Any]) -> None:
        """Add one tick: `frame` maps every store key to its value (spec shape, castable dtype)."""
        if self._done:
            raise StoreError(f"{self.store.path}: this episode was already committed or discarded")
        self._raise_flush_error()
        if len(frame) != len(self._buffers) or any(k not in frame for k in self._buffers):
            missing = [k for k in self._buffers if k not in frame]
            unknown = [k for k in frame if k not in self._buffers]
            raise FrameError(f"{self._where()}: missing keys {missing}, unknown keys {unknown}; "
                             f"the store records exactly {list(self._buffers)}")
        values = {}
        for key, buf in self._buffers.items():
            value = np.asarray(frame[key])
            if value.shape != buf.shape:
                raise FrameError(f"{self._where()}: key {key!r} has shape {value.shape}, "
                                 f"the store expects {buf.shape}")
            if value.dtype != buf.dtype and not np.can_cast(value.dtype, buf.dtype, "same_kind"):
                raise FrameError(f"{self._where()}: key {key!r} has dtype {value.dtype}, "
                                 f"the store expects {buf.dtype} (convert it first)")
            if buf.check_finite and not np.isfinite(value).all():
                raise FrameError(f"{self._where()}: key {key!r} holds NaN or inf: {value}")
            values[key] = value
        # Validate everything before writing anything, so a bad frame leaves no partial tick.
        for key, buf in self._buffers.items():
            buf.rows[buf.count] = values[key]
            buf.count += 1
            if buf.count == buf.capacity:
                self._submit(buf)
        self.num_frames += 1

    def extend(self, frames: Mapping[str, Any]) -> None:
        """Add many ticks at once: `frames` maps every key to an (n, *shape) array."""
        if self._done:
            raise StoreError(f"{self.store.path}: this episode was already committed or discarded")
        self._raise_flush_error()
        if set(frames) != set(self._buffers):
            raise FrameError(f"{self._where()}: extend got keys {sorted(frames)}, "
                             f"the store records exactly {list(self._buffers)}")
        values = {k: np.asarray(frames[k]) for k in self._buffers}
        counts = {len(v) if v.ndim else -1 for v in values.values()}
        if len(counts) != 1 or -1 in counts:
            raise FrameError(f"{self._where()}: extend needs arrays of equal length per key, got "
                             + ", ".join(f"{k}: {v.shape}" for k, v in values.items()))
        n = counts.pop()
        for key, buf in self._buffers.items():
            v = values[key]
            if v.shape[1:] != buf.shape or (v.dtype != buf.dtype
                                            and not np.can_cast(v.dtype, buf.dtype, "same_kind")):
                raise FrameError(f"{self._where()}: key {key!r} is {v.shape} {v.dtype}, "
                                 f"the store expects (n, *{buf.shape}) {buf.dtype}")
            if buf.check_finite and not np.isfinite(v).all():
                bad = int(np.argwhere(~np.isfinite(v.reshape(n, -1)).all(axis=1))[0, 0])
                raise FrameError(f"{self._where()}: key {key!r} holds NaN or inf at tick {bad}")
        for key, buf in self._buffers.items():
            v, done = values[key], 0
            while done < n:
                take = min(n - done, buf.capacity - buf.count)
                buf.rows[buf.count: buf.count + take] = v[done: done + take]
                buf.count += take
                done += take
                if buf.count == buf.capacity:
                    self._submit(buf)
        self.num_frames += n

    def _submit(self, buf: _KeyBuffer) -> None:
        start, rows = buf.take()
        self._pending.append(self._pool.submit(self._write, buf.key, start, rows))

    def _write(self, key: str, start: int, rows: np.ndarray) -> None:
        """Runs on the flush thread: grow the array if needed and write rows [start, start+n)."""
        arr = self.store.array(key)
        end = start + len(rows)
        try:
            if self._lengths[key] < end:
                arr.resize((end, *arr.shape[1:]))
                self._lengths[key] = end
            arr[start:end] = rows
        except Exception as e:  # e.g. disk full: say where, and that the episode is lost
            raise StoreError(f"{self.store.path}: writing data/{key} frames {start}:{end} of episode "
                             f"{self.episode_index} failed ({type(e).__name__}: {e}); discard this "
                             "episode (committed episodes are unaffected)") from e

    def _raise_flush_error(self) -> None:
        still = []
        for fut in self._pending:
            if fut.done():
                fut.result()  # re-raises a failed write here, in the recording thread
            else:
                still.append(fut)
        self._pending = still

    def _drain(self) -> None:
        try:
            for fut in self._pending:
                fut.result()
        finally:
            self._pending = []

    def commit(self, success: bool | None = None, note: str = "", **extra_meta: Any) -> int:
        """Write the remaining frames and commit the episode atomically; returns its index."""
        if self._done:
            raise StoreError(f"{self.store.path}: this episode was already committed or discarded")
        if self.num_frames == 0:
            raise StoreError(f"{self.store.path}: episode {self.episode_index} has no frames; "
                             "append ticks first or discard it")
        try:
            for buf in self._buffers.values():
                if buf.count:
                    self._submit(buf)
            self._drain()
            end = self.start + self.num_frames
            for key in self._buffers:
                arr = self.store.array(key)
                if arr.shape[0] != end:  # rows left past `end` by an earlier crash
                    arr.resize((end, *arr.shape[1:]))
            index = self.episode_index
            meta = {**self.meta, **extra_meta, "success": None if success is None else bool(success),
                    "note": str(note)}
            meta["recorded_at"] = meta.get("recorded_at") or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            meta.setdefault("episode_id", uuid.uuid4().hex)  # kept by copies: stable train/val split
            self.store._commit(meta, end)
        except BaseException:
            self._finish()
            raise
        self._finish()
        return index

    def discard(self) -> None:
        """Drop the episode: nothing of it becomes visible, its rows are rolled back."""
        if self._done:
            return
        try:
            self._drain()
        except Exception:
            pass  # the rows are being thrown away anyway
        try:
            self.store._rollback()
        finally:
            self._finish()

    def _finish(self) -> None:
        self._done = True
        self._pool.shutdown(wait=True)
        self._lock.release()

    def __enter__(self) -> EpisodeWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self._done:
            self.discard()

    def __len__(self) -> int:
        return self.num_frames
