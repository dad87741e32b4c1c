"""Episode operations: copy a subset, drop, keep-only, merge stores, split train / val.

Every operation writes a new store (episode by episode through the same crash-
safe writer) and never edits committed chunks in place. "In place" drop/keep
build the result beside the store and swap directories with renames, so an
interruption leaves either the old or the new store under the path (plus a
`.old`/`.new` sibling to remove by hand).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from data.errors import SpecMismatchError, StoreError
from data.lock import WriterLock
from data.store import EpisodeStore, spec_differences
from robot.progress import progress as progress_bar

_CORE_META = ("task", "instruction", "source", "success", "note", "length", "recorded_at")


def episode_split(episodes: int | Sequence[str], val_ratio: float = 0.1, seed: int = 0) -> np.ndarray:
    """(E,) bool mask, True for validation episodes.

    `episodes` is the list of episode ids (`episode_meta(i)["episode_id"]`),
    or a count E (ids are then the indices). An episode is in validation when a
    seeded hash of its id falls below `val_ratio`, and nothing else decides it:
    appending, dropping or merging episodes never moves an episode between
    train and val, so a model is never validated on an episode it trained on
    before (or after) the store changed. No episode is ever forced into either
    side to fill it: a small store may hold no validation episode at all (or,
    with a large `val_ratio`, no training episode); callers that need one say so
    (`require_split`).
    """
    if not 0.0 <= val_ratio < 1.0:
        raise StoreError(f"val_ratio must be in [0, 1), got {val_ratio}")
    ids = [str(i) for i in range(episodes)] if isinstance(episodes, int) else [str(e) for e in episodes]
    u = np.array([int.from_bytes(hashlib.sha256(f"{seed}:{i}".encode()).digest()[:8], "big") / 2.0**64
                  for i in ids], dtype=np.float64)
    return u < val_ratio


def require_split(mask: np.ndarray, val_ratio: float, seed: int, where: str, need_val: bool = True) -> None:
    """Raise StoreError when the split of `mask` leaves training (or validation, if needed) empty.

    The message says why (the split is a fixed hash per episode, never
    rebalanced) and what to do: record more episodes, change `val_ratio`, or
    pick another seed.
    """
    n, n_val = len(mask), int(mask.sum())
    if n and n_val == n:
        raise StoreError(f"{where}: all {n} episodes fall in the validation split at val_ratio={val_ratio} "
                         f"(seed {seed}); lower val_ratio or record more episodes")
    if need_val and n and n_val == 0:
        raise StoreError(f"{where}: none of the {n} episodes falls in the validation split at "
                         f"val_ratio={val_ratio} (seed {seed}); each episode's side is a fixed hash of its "
                         "id so it never moves as the store grows: record more episodes, raise val_ratio "
                         "or try another seed")


def store_split(store: EpisodeStore, val_ratio: float = 0.1, seed: int = 0) -> np.ndarray:
    """`episode_split` of the store's episodes by their ids (indices for episodes without one)."""
    ids = [m.get("episode_id", str(i)) for i, m in enumerate(store.all_meta())]
    return episode_split(ids, val_ratio, seed)


def _open(src: EpisodeStore | str | os.PathLike) -> EpisodeStore:
    return src if isinstance(src, EpisodeStore) else EpisodeStore.open(src, readonly=True)


def _indices(store: EpisodeStore, episodes: Iterable[int]) -> list[int]:
    out = []
    for i in episodes:
        i = int(i)
        if not -store.num_episodes <= i < store.num_episodes:
            raise StoreError(f"episode {i} out of range: {store.path} holds {store.num_episodes}")
        out.append(i % store.num_episodes)
    return out


def copy_episodes(src: EpisodeStore | str | os.PathLike, dst: str | os.PathLike,
                  episodes: Iterable[int] | None = None, overwrite: bool = False,
                  progress: bool = False) -> EpisodeStore:
    """Write episodes `episodes` (default all, in the given order) of `src` into a new store `dst`."""
    store = _open(src)
    chosen = _indices(store, range(store.num_episodes) if episodes is None else episodes)
    out = EpisodeStore.create(dst, fps=store.fps, keys=store.specs, robot=store.robot,
                              overwrite=overwrite)
    _append_from(out, store, chosen, progress)
    return out


def _append_from(out: EpisodeStore, store: EpisodeStore, chosen: Sequence[int], progress: bool) -> None:
    for i in progress_bar(chosen, desc=f"copy {store.path.name}", disable=not progress, unit="ep"):
        meta = store.episode_meta(i)
        frames = store.episode(i)
        extra = {k: v for k, v in meta.items() if k not in _CORE_META}
        writer = out.begin_episode(task=meta.get("task", ""), instruction=meta.get("instruction", ""),
                                   source=meta.get("source", "teleop"), **extra)
        try:
            writer.extend(frames)
        except BaseException:
            writer.discard()
            raise
        writer.commit(success=meta.get("success"), note=meta.get("note", ""),
                      recorded_at=meta.get("recorded_at"))


def _swap_in(path: Path, build) -> EpisodeStore:
    """Build a new store beside `path` with `build(new_path)`, then replace `path` with it."""
    new, old = path.with_name(path.name + ".new"), path.with_name(path.name + ".old")
    for leftover in (new, old):
        if leftover.exists():
            raise StoreError(f"{leftover} exists (left by an interrupted operation); "
                             "inspect and remove it first")
    build(new)
    os.rename(path, old)
    os.rename(new, path)
    shutil.rmtree(old)
    return EpisodeStore.open(path)


def keep_episodes(path: str | os.PathLike, episodes: Iterable[int], out: str | os.PathLike | None = None,
                  progress: bool = False) -> EpisodeStore:
    """Keep only `episodes` of the store at `path`: written to `out`, or in place when `out` is None."""
    store = _open(path)
    if out is not None:
        chosen = sorted(set(_indices(store, episodes)))
        return copy_episodes(store, out, chosen, progress=progress)
    # In place: hold the writer lock, so no recorder appends episodes the copy would miss.
    lock = WriterLock(store.path)
    lock.acquire()
    try:
        store.refresh()
        chosen = sorted(set(_indices(store, episodes)))
        return _swap_in(store.path, lambda new: copy_episodes(store, new, chosen, progress=progress))
    finally:
        lock.release()


def drop_episodes(path: str | os.PathLike, episodes: Iterable[int], out: str | os.PathLike | None = None,
                  progress: bool = False) -> EpisodeStore:
    """Remove `episodes` from the store at `path` (into `out`, or in place when `out` is None)."""
    store = _open(path)
    dropped = set(_indices(store, episodes))
    kept = [i for i in range(store.num_episodes) if i not in dropped]
    return keep_episodes(store.path if out is None else store, kept, out=out, progress=progress)


def merge_stores(sources: Sequence[str | os.PathLike | EpisodeStore], dst: str | os.PathLike,
                 overwrite: bool = False, progress: bool = False) -> EpisodeStore:
    """Concatenate the episodes of `sources` (in order) into a new store `dst`.

    All sources must agree on keys, shapes, dtypes, fps and robot; otherwise a
    SpecMismatchError names the source and the difference.
    """
    stores = [_open(s) for s in sources]
    if not stores:
        raise StoreError("merge needs at least one source store")
    first = stores[0]
    for other in stores[1:]:
        problems = spec_differences(first.specs, other.specs)
        if other.fps != first.fps:
            problems.append(f"fps {first.fps} vs {other.fps}")
        if other.robot != first.robot:
            problems.append(f"robot {first.robot!r} vs {other.robot!r}")
        if problems:
            raise SpecMismatchError(f"cannot merge {other.path} into {first.path}'s layout: "
                                    + "; ".join(problems))
    out = EpisodeStore.create(dst, fps=first.fps, keys=first.specs, robot=first.robot,
                              overwrite=overwrite)
    for store in stores:
        _append_from(out, store, range(store.num_episodes), progress)
    return out


def split_store(path: str | os.PathLike, train_out: str | os.PathLike, val_out: str | os.PathLike,
                val_ratio: float = 0.1, seed: int = 0, progress: bool = False
                ) -> tuple[EpisodeStore, EpisodeStore]:
    """Write the train and validation episodes of `path` into two stores.

    Uses the same `store_split(store, val_ratio, seed)` mask as
    `SequenceDataset(split=...)`, so both routes hold out the same episodes.
    Raises StoreError, before writing anything, when either side would be empty.
    """
    store = _open(path)
    val = store_split(store, val_ratio, seed)
    require_split(val, val_ratio, seed, f"split {store.path}")
    idx = np.arange(store.num_episodes)
    train = copy_episodes(store, train_out, idx[~val], progress=progress)
    valid = copy_episodes(store, val_out, idx[val], progress=progress)
    return train, valid
