"""Small seeded stores for the data tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from data import EpisodeStore
from robot.specs import ArraySpec

KEYS = {
    "state": ArraySpec((3,), "float32", units="rad", names=("a", "b", "c")),
    "action": ArraySpec((2,), "float32", units="rad"),
    "images.front": ArraySpec((8, 10, 3), "uint8"),
    "timestamp": ArraySpec((), "float64", units="s"),
}


def frames(k: int, n: int) -> dict[str, np.ndarray]:
    """Deterministic episode k of n ticks; state[t] = (k, t, 0) so windows are easy to read."""
    rng = np.random.default_rng(k)
    state = np.stack([np.full(n, k), np.arange(n), np.zeros(n)], axis=1).astype(np.float32)
    return {
        "state": state,
        "action": np.stack([np.full(n, k), np.arange(n)], axis=1).astype(np.float32) + 0.5,
        "images.front": rng.integers(0, 256, (n, 8, 10, 3), dtype=np.uint8),
        "timestamp": np.arange(n) / 10.0,
    }


def make_store(path: Path, lengths=(5, 23, 17), instruction: bool = True) -> EpisodeStore:
    """A store with one episode per entry of `lengths`, episode k = frames(k, lengths[k]).

    Episode ids are `<store stem>-<k>` (not random uuids), so train/val splits in tests are fixed.
    """
    store = EpisodeStore.create(path, fps=10, robot="test", keys=KEYS)
    for k, n in enumerate(lengths):
        data = frames(k, n)
        writer = store.begin_episode(task=f"task{k % 2}", instruction=f"do {k}" if instruction else "",
                                     source="scripted", seed=k, episode_id=f"{Path(path).stem}-{k}")
        for t in range(n):
            writer.append({key: v[t] for key, v in data.items()})
        writer.commit(success=k % 2 == 0, note=f"note {k}")
    return store
