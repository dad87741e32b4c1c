"""Child process of test_store_crash.py: records seeded episodes into a store until killed.

Usage: python store_crash_child.py STORE_PATH LOG_PATH [MAX_EPISODES]
Episode k's content depends only on k (see `episode_data`), so the parent can
check every committed episode bit-exact. After each commit returns, the index
is appended to LOG_PATH: those episodes must survive any later kill.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from data import EpisodeStore  # noqa: E402
from robot.specs import ArraySpec  # noqa: E402

KEYS = {
    "state": ArraySpec((6,), "float32", units="rad"),
    "action": ArraySpec((6,), "float32", units="rad"),
    "images.front": ArraySpec((12, 16, 3), "uint8"),
    "timestamp": ArraySpec((), "float64", units="s"),
}


def episode_data(k: int) -> dict[str, np.ndarray]:
    """Deterministic frames of episode k: 1..45 ticks, so episodes straddle image chunks (16)."""
    rng = np.random.default_rng(1000 + k)
    n = int(rng.integers(1, 46))
    return {
        "state": rng.standard_normal((n, 6)).astype(np.float32),
        "action": rng.standard_normal((n, 6)).astype(np.float32),
        "images.front": rng.integers(0, 256, (n, 12, 16, 3), dtype=np.uint8),
        "timestamp": np.arange(n) / 50.0 + k,
    }


def main() -> None:
    path, log = sys.argv[1], sys.argv[2]
    limit = int(sys.argv[3]) if len(sys.argv) > 3 else 10**9
    store = EpisodeStore.open_or_create(path, fps=50, robot="test", keys=KEYS)
    print("ready", store.num_episodes, flush=True)
    for _ in range(limit):
        k = store.num_episodes
        frames = episode_data(k)
        writer = store.begin_episode(task="crash", instruction=f"episode {k}", source="scripted", k=k)
        for t in range(len(frames["state"])):
            writer.append({key: value[t] for key, value in frames.items()})
        writer.commit(success=bool(k % 2))
        with open(log, "a") as f:
            f.write(f"{k}\n")


if __name__ == "__main__":
    main()
