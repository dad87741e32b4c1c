"""Recording cost at 50 Hz: 2 cameras 96x96 + state + action + timestamp; prints JSON.

A loop ticks on a 50 Hz schedule (sleeping to each deadline, as the runtime
does) and appends one frame per tick, committing an episode every
`--episode-s` seconds. Frames come from a pre-rendered so101_lift rollout, so
only the recording work is measured: process CPU time (all threads: the
append in the loop, the flush thread's compression and writes, Zarr's I/O
thread) divided by wall time = the fraction of one core recording takes. Also
reports per-append latency in the loop, commit latency, and how late each tick
woke against its deadline (measured after the sleep, so oversleeping counts:
a tick is late when it woke more than `--late-ms` after its deadline).

    MUJOCO_GL=egl python benchmarks/bench_recording.py [--seconds 20]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _frames import rendered_pool  # noqa: E402

from data import EpisodeStore  # noqa: E402
from robot.specs import ArraySpec  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--episode-s", type=float, default=5.0)
    parser.add_argument("--fps", type=float, default=50.0)
    parser.add_argument("--late-ms", type=float, default=2.0, help="wake-up lateness that counts as late")
    args = parser.parse_args()
    pool = rendered_pool(steps=200)
    keys = {"state": ArraySpec((6,), units="rad"), "action": ArraySpec((6,), units="rad"),
            "images.front": ArraySpec((96, 96, 3), "uint8"), "images.wrist": ArraySpec((96, 96, 3), "uint8"),
            "timestamp": ArraySpec((), "float64", units="s")}
    period = 1.0 / args.fps
    ticks = int(args.seconds * args.fps)
    per_episode = int(args.episode_s * args.fps)
    append_ms, commit_ms, wake_late_ms = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        store = EpisodeStore.create(Path(tmp) / "rec.zarr", fps=args.fps, robot="so101", keys=keys)
        writer = store.begin_episode(task="so101_lift", source="teleop")
        wall0, cpu0 = time.perf_counter(), time.process_time()
        episode_t0 = wall0
        for tick in range(ticks):
            deadline = wall0 + tick * period
            delay = deadline - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            wake_late_ms.append(1e3 * (time.perf_counter() - deadline))  # >= 0: never early
            j = tick % len(pool["action"])
            t0 = time.perf_counter()
            writer.append({"state": pool["state"][j], "action": pool["action"][j],
                           "images.front": pool["images.front"][j], "images.wrist": pool["images.wrist"][j],
                           "timestamp": t0 - episode_t0})
            append_ms.append(1e3 * (time.perf_counter() - t0))
            if (tick + 1) % per_episode == 0:
                t0 = time.perf_counter()
                writer.commit(success=True)
                commit_ms.append(1e3 * (time.perf_counter() - t0))
                if tick + 1 < ticks:
                    writer = store.begin_episode(task="so101_lift", source="teleop")
                    episode_t0 = time.perf_counter()
        if not writer._done:
            writer.commit(success=True)
        wall = time.perf_counter() - wall0
        cpu = time.process_time() - cpu0
        size = sum(f.stat().st_size for f in store.path.rglob("*") if f.is_file())
        raw = sum(np.prod(s.shape, dtype=np.int64) * np.dtype(s.dtype).itemsize for s in keys.values())
        out = {
            "fps": args.fps, "seconds": args.seconds, "frames": store.num_frames,
            "episodes": store.num_episodes,
            "core_fraction": round(cpu / wall, 4), "target_core_fraction": 0.2,
            "cpu_s": round(cpu, 3), "wall_s": round(wall, 3),
            "append_ms": {"p50": round(float(np.percentile(append_ms, 50)), 3),
                          "p99": round(float(np.percentile(append_ms, 99)), 3),
                          "max": round(float(np.max(append_ms)), 3)},
            "commit_ms": {"mean": round(float(np.mean(commit_ms)), 2), "max": round(float(np.max(commit_ms)), 2)},
            "wake_late_ms": {"p50": round(float(np.percentile(wake_late_ms, 50)), 3),
                             "p99": round(float(np.percentile(wake_late_ms, 99)), 3),
                             "max": round(float(np.max(wake_late_ms)), 3)},
            "late_ms_threshold": args.late_ms,
            "late_ticks": int(sum(x > args.late_ms for x in wake_late_ms)),
            "compression_ratio": round(float(raw * store.num_frames / size), 2),
        }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
