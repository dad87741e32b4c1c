"""Child process of test_store_crash.py: records seeded episodes into a store until killed.

Usage: python store_crash_child.py STORE_PATH LOG_PATH [MAX_EPISODES] [--stepped]

Episode k's content depends only on k (see `episode_data`), so the parent can
check every committed episode bit-exact. After each commit returns, the index
is appended to LOG_PATH: those episodes must survive any later kill.

With --stepped the child stops at every point where a kill matters and waits
for the parent: it prints one event line and reads one line ("go") from stdin
before going on. The parent kills it at a chosen event, so the kill point is
set by what the child has done, not by wall-clock time, at any machine speed.
Events (k = the episode being recorded):

    append K T         tick T of episode K was appended
    replace K RELPATH  a file of the store is about to be renamed into place
                       (zarr writes every chunk and metadata file to a
                       `*.partial` temp file first); a kill here leaves the
                       temp file behind. `meta/episode_ends/c/...` is the
                       commit point of episode K.
    committed K        commit() returned; the log line is not written yet
"""

from __future__ import annotations

import pathlib
import sys
import threading
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


class Stepper:
    """Event points: print the event, wait for the parent's go (one event at a time, any thread)."""

    def __init__(self, enabled: bool, root: Path) -> None:
        self.enabled, self.root = enabled, root.resolve()
        self.episode = -1
        self._lock = threading.Lock()

    def __call__(self, event: str) -> None:
        if not self.enabled:
            return
        with self._lock:
            print(event, flush=True)
            if sys.stdin.readline().strip() != "go":
                raise SystemExit(3)  # the parent went away: stop without touching the store

    def hook_renames(self) -> None:
        """Report every rename into the store (zarr's atomic writes) before it happens."""
        original = pathlib.Path.replace
        stepper = self

        def replace(src: pathlib.Path, target):  # noqa: ANN001
            try:
                rel = Path(target).resolve().relative_to(stepper.root).as_posix()
            except ValueError:
                rel = None
            if rel is not None:
                stepper(f"replace {stepper.episode} {rel}")
            return original(src, target)

        pathlib.Path.replace = replace


def main() -> None:
    args = [a for a in sys.argv[1:] if a != "--stepped"]
    path, log = args[0], args[1]
    limit = int(args[2]) if len(args) > 2 else 10**9
    store = EpisodeStore.open_or_create(path, fps=50, robot="test", keys=KEYS)
    step = Stepper("--stepped" in sys.argv, Path(path))
    print("ready", store.num_episodes, flush=True)
    step.hook_renames()
    for _ in range(limit):
        k = store.num_episodes
        step.episode = k
        frames = episode_data(k)
        writer = store.begin_episode(task="crash", instruction=f"episode {k}", source="scripted", k=k)
        for t in range(len(frames["state"])):
            writer.append({key: value[t] for key, value in frames.items()})
            step(f"append {k} {t}")
        writer.commit(success=bool(k % 2))
        step(f"committed {k}")
        with open(log, "a") as f:
            f.write(f"{k}\n")


if __name__ == "__main__":
    main()
