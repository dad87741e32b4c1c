"""Runs INSIDE the LeRobot side environment (benchmarks/lerobot_side_env.sh), driven by
benchmarks/lerobot_side_check.py; imports lerobot, never this project's packages.

    python lerobot_side_job.py read  ROOT OUT.npz      # LeRobotDataset(..., video_backend="pyav"), every frame
    python lerobot_side_job.py write ROOT FRAMES.npz   # LeRobotDataset.create/add_frame/save_episode/finalize

`read` saves what LeRobot's reader returns for each frame (images back to HWC
uint8), plus its tasks and episode table sizes, to OUT.npz (+ OUT.json).
`write` records the episodes in FRAMES.npz (state, action, images.<cam>,
episode_ends, tasks as JSON) as a LeRobot v3.0 dataset in ROOT with
LeRobot's own writer and default codec.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np


def read(root: Path, out: Path) -> None:
    from lerobot.datasets.lerobot_dataset import CODEBASE_VERSION, LeRobotDataset

    t0 = time.perf_counter()
    ds = LeRobotDataset("local/robot-stack-export", root=root, video_backend="pyav")
    arrays: dict[str, list] = {}
    tasks = []
    for i in range(len(ds)):
        item = ds[i]
        for key, value in item.items():
            if key == "task":
                tasks.append(value)
                continue
            x = value.numpy()
            if key.startswith("observation.images."):  # (C, H, W) float in 0..1 -> (H, W, C) uint8
                x = np.clip(np.round(x.transpose(1, 2, 0) * 255.0), 0, 255).astype(np.uint8)
            arrays.setdefault(key, []).append(x)
    np.savez(out, **{k: np.stack(v) for k, v in arrays.items()})
    out.with_suffix(".json").write_text(json.dumps({
        "codebase_version": CODEBASE_VERSION, "frames": len(ds), "episodes": ds.meta.total_episodes,
        "fps": ds.fps, "tasks": tasks, "camera_keys": list(ds.meta.camera_keys),
        "seconds": time.perf_counter() - t0,
    }))


def write(root: Path, frames_path: Path) -> None:
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    data = np.load(frames_path)
    spec = json.loads(frames_path.with_suffix(".json").read_text())
    cams = [k for k in data.files if k.startswith("images.")]
    features = {
        "observation.state": {"dtype": "float32", "shape": (data["state"].shape[1],), "names": spec["names"]},
        "action": {"dtype": "float32", "shape": (data["action"].shape[1],), "names": spec["names"]},
    }
    for cam in cams:
        features["observation." + cam] = {"dtype": "video", "shape": data[cam].shape[1:],
                                          "names": ["height", "width", "channels"]}
    t0 = time.perf_counter()
    ds = LeRobotDataset.create("local/written-by-lerobot", fps=spec["fps"], features=features, root=root,
                               robot_type="so101", use_videos=True)
    start = 0
    for end, task in zip(data["episode_ends"].tolist(), spec["tasks"], strict=True):
        for t in range(start, end):
            frame = {"observation.state": data["state"][t], "action": data["action"][t], "task": task}
            frame |= {"observation." + cam: data[cam][t] for cam in cams}
            ds.add_frame(frame)
        ds.save_episode()
        start = end
    ds.finalize()
    frames_path.with_suffix(".written.json").write_text(json.dumps({"seconds": time.perf_counter() - t0}))


if __name__ == "__main__":
    mode, root, path = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    {"read": read, "write": write}[mode](root, path)
