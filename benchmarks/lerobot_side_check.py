"""Our LeRobot v3.0 export read by LeRobot's own `LeRobotDataset`, and a dataset written by LeRobot
itself read by our importer; prints JSON and writes benchmarks/results/lerobot_side_check.json.

Needs the side environment (torch 2.9.1 + torchvision 0.24.1 + lerobot 0.4.4):

    bash benchmarks/lerobot_side_env.sh                 # once: creates .lerobot-env (~8 GB)
    MUJOCO_GL=egl .venv/bin/python benchmarks/lerobot_side_check.py [--steps 90] [--codec h264-rgb]

(a) A store of rendered so101_lift episodes (2 cameras, jittered measured
timestamps, instructions) is exported; LeRobot reads every frame with
video_backend="pyav"; state, action, indices, timestamps and tasks must match
exactly, images within the codec's tolerance. (b) LeRobot writes the same
frames with LeRobotDataset.create / add_frame / save_episode / finalize (its
default AV1 codec); our checker must pass it, our importer must read it back:
state, action, episode boundaries and tasks exactly, images within AV1's loss.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("MUJOCO_GL", "egl")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from data import EpisodeStore  # noqa: E402
from data.lerobot_check import check_lerobot  # noqa: E402
from data.lerobot_format import ExportOptions, export_lerobot, import_lerobot  # noqa: E402
from robot.specs import ArraySpec  # noqa: E402

SIDE_PYTHON = Path(os.environ.get("LEROBOT_SIDE_PYTHON", REPO / ".lerobot-env" / "bin" / "python"))
"""The side environment's python; LEROBOT_SIDE_PYTHON points at one made elsewhere."""
JOB = Path(__file__).resolve().parent / "lerobot_side_job.py"


def side_env_ready(python: Path = SIDE_PYTHON) -> str | None:
    """None when LeRobotDataset imports in the side env, else the reason it cannot be used."""
    if not python.exists():
        return f"{python} does not exist: run `bash benchmarks/lerobot_side_env.sh` to create it"
    done = subprocess.run([str(python), "-c", "from lerobot.datasets.lerobot_dataset import LeRobotDataset"],
                          capture_output=True, text=True, timeout=300)
    return None if done.returncode == 0 else f"LeRobotDataset does not import there: {done.stderr[-400:]}"


def _side(python: Path, *args: str) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "PYTHONWARNINGS": "ignore"}
    done = subprocess.run([str(python), str(JOB), *args], capture_output=True, text=True, timeout=900, env=env)
    if done.returncode:
        raise RuntimeError(f"side job {args[0]} failed:\n{done.stderr[-3000:]}")


def _err(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    d = np.abs(a.astype(np.int16) - b.astype(np.int16))
    return {"max": int(d.max()), "mean": round(float(d.mean()), 4)}


def build_store(path: Path, pool: dict[str, np.ndarray], lengths: list[int], fps: int = 30) -> EpisodeStore:
    """Episodes cut from a rendered rollout, with a jittery measured clock and one instruction each."""
    rng = np.random.default_rng(0)
    keys = {k: ArraySpec(v.shape[1:], str(v.dtype)) for k, v in pool.items()}
    keys["timestamp"] = ArraySpec((), "float64", units="s")
    store = EpisodeStore.create(path, fps=fps, robot="so101", keys=keys)
    start = 0
    for k, n in enumerate(lengths):
        frames = {key: v[start:start + n] for key, v in pool.items()}
        frames["timestamp"] = np.arange(n) / fps + rng.uniform(0, 0.003, n)
        with store.begin_episode(task="so101_lift", instruction=f"lift the cube ({k})", source="scripted") as w:
            w.extend(frames)
            w.commit(success=True)
        start += n
    return store


def read_our_export_with_lerobot(python: Path, work: Path, store: EpisodeStore, codec: str) -> dict:
    """(a): export, let LeRobotDataset read every frame, compare with the store."""
    t0 = time.perf_counter()
    export_lerobot(store.path, work / "ours", ExportOptions(codec=codec))
    export_s = time.perf_counter() - t0
    _side(python, "read", str(work / "ours"), str(work / "read.npz"))
    got = np.load(work / "read.npz")
    side = json.loads((work / "read.json").read_text())
    ends = store.episode_ends
    every = {k: np.concatenate([store.episode(i)[k] for i in range(store.num_episodes)]) for k in store.keys}
    episode = np.repeat(np.arange(len(ends)), np.diff(ends, prepend=0))
    frame = np.concatenate([np.arange(n) for n in np.diff(ends, prepend=0)])
    checks = {
        "frames": side["frames"] == store.num_frames and side["episodes"] == store.num_episodes,
        "state": bool(np.array_equal(got["observation.state"], every["state"])),
        "action": bool(np.array_equal(got["action"], every["action"])),
        "episode_index": bool(np.array_equal(got["episode_index"], episode)),
        "frame_index": bool(np.array_equal(got["frame_index"], frame)),
        "timestamp": bool(np.allclose(got["timestamp"], frame / store.fps, atol=1e-6)),
        "timestamp_measured": bool(np.allclose(got["timestamp_measured"], every["timestamp"], atol=1e-6)),
        "tasks": side["tasks"] == [store.episode_meta(int(e))["instruction"] for e in episode],
    }
    images = {k: _err(got["observation." + k], every[k]) for k in store.keys if k.startswith("images.")}
    return {"checks": checks, "image_error": images, "export_s": round(export_s, 3),
            "lerobot_read_s": round(side["seconds"], 3), "lerobot_codebase": side["codebase_version"]}


def import_lerobot_written(python: Path, work: Path, pool: dict[str, np.ndarray], lengths: list[int]) -> dict:
    """(b): LeRobot writes the frames with its own writer; our checker and importer read them."""
    ends = np.cumsum(lengths)
    tasks = [f"stack the block ({k})" for k in range(len(lengths))]
    names = [f"joint{i}" for i in range(pool["state"].shape[1])]
    np.savez(work / "frames.npz", episode_ends=ends, **{k: v[: ends[-1]] for k, v in pool.items()})
    (work / "frames.json").write_text(json.dumps({"fps": 30, "tasks": tasks, "names": names}))
    _side(python, "write", str(work / "theirs"), str(work / "frames.npz"))
    rep = check_lerobot(work / "theirs")
    t0 = time.perf_counter()
    store = import_lerobot(work / "theirs", work / "theirs.zarr")
    import_s = time.perf_counter() - t0
    every = {k: np.concatenate([store.episode(i)[k] for i in range(store.num_episodes)]) for k in store.keys}
    checks = {
        "checker_ok": rep.ok,
        "episode_ends": bool(np.array_equal(store.episode_ends, ends)),
        "state": bool(np.array_equal(every["state"], pool["state"][: ends[-1]])),
        "action": bool(np.array_equal(every["action"], pool["action"][: ends[-1]])),
        "instructions": [m["instruction"] for m in store.all_meta()] == tasks,
        "state_names": list(store.specs["state"].names) == names,
        "timestamp": bool(np.allclose(every["timestamp"],
                                      np.concatenate([np.arange(n) / 30 for n in lengths]), atol=1e-6)),
    }
    images = {k: _err(every[k], pool[k][: ends[-1]]) for k in store.keys if k.startswith("images.")}
    info = json.loads((work / "theirs" / "meta" / "info.json").read_text())
    codecs = {k: ft.get("info", {}).get("video.codec") for k, ft in info["features"].items()
              if ft["dtype"] == "video"}
    return {"checks": checks, "checker_problems": rep.problems, "image_error": images,
            "lerobot_codec": codecs, "import_s": round(import_s, 3),
            "lerobot_write_s": round(json.loads((work / "frames.written.json").read_text())["seconds"], 3)}


def run(python: Path, work: Path, steps: int, codec: str) -> dict:
    """Both directions on one rendered rollout of `steps` ticks split in three episodes."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _frames import rendered_pool

    pool = {k: v for k, v in rendered_pool(steps=steps, seed=0).items() if k != "timestamp"}
    pool["state"] = pool["state"].astype(np.float32)
    lengths = [steps // 3, steps // 3, steps - 2 * (steps // 3)]
    store = build_store(work / "s.zarr", pool, lengths)
    return {"steps": steps, "episodes": lengths, "codec": codec,
            "read_by_lerobot": read_our_export_with_lerobot(python, work, store, codec),
            "written_by_lerobot": import_lerobot_written(python, work, pool, lengths)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=90)
    ap.add_argument("--codec", default="h264-rgb")
    ap.add_argument("--python", type=Path, default=SIDE_PYTHON, help="the side environment's python")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "lerobot_side_check.json")
    args = ap.parse_args()
    reason = side_env_ready(args.python)
    if reason:
        print(f"lerobot_side_check: {reason}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        result = run(args.python, Path(tmp), args.steps, args.codec)
    result["command"] = f"MUJOCO_GL=egl .venv/bin/python benchmarks/lerobot_side_check.py --steps {args.steps} " \
                        f"--codec {args.codec}"
    ok = all(result["read_by_lerobot"]["checks"].values()) and all(result["written_by_lerobot"]["checks"].values())
    result["ok"] = ok
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
