"""`check_store`: find and name every inconsistency of an episode store.

Reads the store with Zarr directly (not through `EpisodeStore`, which stops at
the first error) and reports, each naming the array, episode or chunk: missing
or extra arrays, wrong dtype or frame shape, `episode_ends` that do not
increase, arrays shorter than `episode_ends` says, unreadable metadata rows,
chunks that fail to decode or fail their checksum (truncated / corrupt),
NaN or inf in low-dim float arrays, and timestamps that go backwards.
Rows past the committed end (left by a killed recorder) are a note, not a
problem: the next writer rolls them back.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import zarr

from data.lock import LEGACY_LOCK_NAME
from data.store import SCHEMA, SCHEMA_VERSION
from data.writer import SOURCES
from robot.keys import TIMESTAMP, is_image_key
from robot.progress import progress as progress_bar
from robot.specs import ArraySpec


@dataclass
class CheckReport:
    """Outcome of `check_store`: `problems` make the store unfit; `notes` are informational."""

    path: Path
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    num_episodes: int = 0
    num_frames: int = 0

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems


def _episodes_of(ends: np.ndarray, lo: int, hi: int) -> str:
    """Episodes overlapping frames [lo, hi), as text."""
    if not len(ends):
        return "no committed episode"
    a = int(np.searchsorted(ends, lo, side="right"))
    b = int(np.searchsorted(ends, max(lo, hi - 1), side="right"))
    b = min(b, len(ends) - 1)
    return f"episode {a}" if a == b else f"episodes {a}-{b}"


def check_store(path: str | os.PathLike, progress: bool = False) -> CheckReport:
    """Check the store at `path` chunk by chunk; see the module docstring for what is checked."""
    path = Path(path)
    rep = CheckReport(path)
    if not (path / "zarr.json").is_file():
        rep.problems.append(f"{path} is not an episode store (no zarr.json)")
        return rep
    try:
        root = zarr.open_group(zarr.storage.LocalStore(path, read_only=True), mode="r", zarr_format=3)
        attrs = dict(root.attrs)
    except Exception as e:
        rep.problems.append(f"{path}/zarr.json cannot be read: {e}")
        return rep
    if attrs.get("schema") != SCHEMA:
        rep.problems.append(f"attribute schema is {attrs.get('schema')!r}, expected {SCHEMA!r}")
        return rep
    if not isinstance(attrs.get("schema_version"), int) or attrs["schema_version"] > SCHEMA_VERSION:
        rep.problems.append(f"schema_version {attrs.get('schema_version')!r} is newer than "
                            f"{SCHEMA_VERSION}; update robot-stack")
        return rep
    if (path / LEGACY_LOCK_NAME).exists():
        rep.notes.append(f"{LEGACY_LOCK_NAME} left by an older version makes plain zarr warn on open; "
                         "the next recording removes it (or delete it)")
    try:
        specs = {k: ArraySpec.from_dict(d) for k, d in attrs["specs"].items()}
    except Exception as e:
        rep.problems.append(f"attribute specs is malformed: {e}")
        return rep

    # episode_ends: the committed prefix, and every entry that breaks the rules.
    ends_known = True
    try:
        raw = np.asarray(root["meta/episode_ends"][:], dtype=np.int64)
    except Exception as e:
        rep.problems.append(f"meta/episode_ends cannot be read: {e}")
        raw = np.zeros(0, dtype=np.int64)
        ends_known = False
    n_fill = 0
    while n_fill < len(raw) and raw[len(raw) - 1 - n_fill] == -1:
        n_fill += 1
    body = raw[: len(raw) - n_fill]
    if n_fill:
        rep.notes.append(f"{n_fill} unwritten episode_ends slot(s) at the end (a recorder was killed "
                         "mid-commit); rolled back on the next write")
    prev = 0
    for i, end in enumerate(body):
        if end <= prev:
            rep.problems.append(f"meta/episode_ends[{i}] = {int(end)} does not increase "
                                f"(previous end {prev}): episode {i} is empty or out of order")
        prev = max(prev, int(end))
    broken = np.flatnonzero(np.diff(body, prepend=0) <= 0)
    ends = body[: broken[0]] if len(broken) else body  # what readers see as committed
    n_frames = int(ends[-1]) if len(ends) else 0
    rep.num_episodes, rep.num_frames = len(ends), n_frames

    try:
        meta_rows = root["meta/episode_meta"][: len(ends)] if len(ends) else []
        if len(meta_rows) < len(ends):
            rep.problems.append(f"meta/episode_meta has {len(meta_rows)} rows for {len(ends)} episodes")
        for i, text in enumerate(meta_rows):
            try:
                meta = json.loads(str(text))
                if meta.get("source") not in SOURCES:
                    rep.problems.append(f"episode {i}: source {meta.get('source')!r} not in {SOURCES}")
            except json.JSONDecodeError:
                rep.problems.append(f"episode {i}: meta/episode_meta row is not JSON: {str(text)[:60]!r}")
    except Exception as e:
        rep.problems.append(f"meta/episode_meta cannot be read: {e}")

    # Arrays one by one, so a broken one is named and the others are still checked.
    data_dir = path / "data"
    present = {p.name for p in data_dir.iterdir() if p.is_dir()} if data_dir.is_dir() else set()
    for extra in sorted(present - set(specs)):
        rep.problems.append(f"array data/{extra} is not in the store's specs")
    for key in progress_bar(specs, desc=f"check {path.name}", unit="key", disable=not progress):
        if key not in present:
            rep.problems.append(f"array data/{key} is missing (key {key!r} is in the specs)")
            continue
        try:
            arr = root[f"data/{key}"]
        except Exception as e:
            rep.problems.append(f"array data/{key}: its zarr.json cannot be read ({type(e).__name__}: {e})")
            continue
        _check_array(rep, arr, key, specs[key], ends, n_frames, ends_known)
    return rep


def _check_array(rep: CheckReport, arr: zarr.Array, key: str, spec: ArraySpec,
                 ends: np.ndarray, n_frames: int, ends_known: bool = True) -> None:
    name = f"data/{key}"
    if np.dtype(arr.dtype) != np.dtype(spec.dtype):
        rep.problems.append(f"array {name} has dtype {arr.dtype}, the spec says {spec.dtype}")
    if tuple(arr.shape[1:]) != spec.shape:
        rep.problems.append(f"array {name} has frame shape {tuple(arr.shape[1:])}, the spec says {spec.shape}")
        return
    length = int(arr.shape[0])
    if not ends_known:  # without episode_ends, still decode every chunk
        n_frames = length
    if length < n_frames:
        rep.problems.append(f"array {name} has {length} frames but episode_ends says {n_frames}: "
                            f"{_episodes_of(ends, length, n_frames)} lack {key!r} data")
    elif length > n_frames and ends_known:
        rep.notes.append(f"array {name} holds {length - n_frames} uncommitted frame(s) past the end "
                         "(a recorder was killed); rolled back on the next write")
    lowdim_float = np.issubdtype(np.dtype(arr.dtype), np.floating) and not is_image_key(key)
    step = arr.chunks[0]
    last_ts = None
    for lo in range(0, min(length, n_frames), step):
        hi = min(lo + step, length, n_frames)
        try:
            block = arr[lo:hi]
        except Exception as e:
            rep.problems.append(f"array {name} chunk {lo // step} (frames {lo}-{hi - 1}, "
                                f"{_episodes_of(ends, lo, hi)}) is corrupt or truncated: "
                                f"{type(e).__name__}: {e}")
            last_ts = None
            continue
        if lowdim_float:
            bad = ~np.isfinite(block.reshape(len(block), -1)).all(axis=1)
            for f in np.flatnonzero(bad)[:5] + lo:
                ep = int(np.searchsorted(ends, f, side="right"))
                start = int(ends[ep - 1]) if ep else 0
                rep.problems.append(f"array {name} holds NaN/inf in episode {ep} at tick {f - start}")
        if key == TIMESTAMP and block.ndim == 1 and ends_known:
            ts = block.astype(np.float64)
            frames = np.arange(lo, hi)
            first = np.isin(frames, np.concatenate([[0], ends[:-1]]))  # episode starts may reset
            prev = np.concatenate([[np.nan if last_ts is None else last_ts], ts[:-1]])
            back = (ts < prev) & ~first
            for f in frames[back][:5]:
                ep = int(np.searchsorted(ends, f, side="right"))
                rep.problems.append(f"array {name} goes backwards in episode {ep} at frame {f}")
            last_ts = float(ts[-1])
