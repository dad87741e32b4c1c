"""Offscreen render throughput of the arm tasks' cameras at 96x96 (frames/s, one core); prints JSON.

For each task and camera: `env.render(camera)` (mjv_updateScene + mjr_render +
pixel read-back) on states along a scripted-expert rollout. Side by side in the
same run: the same camera on a model built with the package's full STL meshes
(322k triangles) instead of the coarse hulls the tasks use (668 triangles), and
env steps/s with both cameras in the observation vs state only.
Needs MUJOCO_GL=egl (or osmesa); the frame rate depends on whether EGL has a GPU.
Times are process CPU seconds (time.process_time) with LP_NUM_THREADS=0, i.e. one core.

    MUJOCO_GL=egl python benchmarks/bench_render.py [--frames 300]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")
# software GL (Mesa llvmpipe) rasterizes in the calling thread with 0 worker threads: one core, and
# process CPU time then covers the whole frame
os.environ.setdefault("LP_NUM_THREADS", "0")

import mujoco  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sim.registry import make_env, make_expert  # noqa: E402
from sim.so101_scene import build_arm_scene  # noqa: E402

TASKS = ("so101_lift", "so101_place", "so101_multi", "peg_insert")
SIZE = 96


def rollout_states(env, name: str, n: int) -> list[np.ndarray]:
    """qpos snapshots along an expert rollout, so frames show the arm in varied poses."""
    expert = make_expert(name, env, seed=0)
    obs, _ = env.reset(seed=0)
    expert.reset(obs)
    states = []
    for _ in range(n):
        obs, _, _, _, info = env.step(expert.get_action(obs).action)
        states.append(env.data.qpos.copy())
    return states


def fps_of(render, states, data, model) -> float:
    for q in states[:10]:  # warm-up: context creation, first uploads
        data.qpos[:] = q
        mujoco.mj_kinematics(model, data)
        render()
    total = 0.0
    for q in states:
        data.qpos[:] = q
        mujoco.mj_kinematics(model, data)
        t0 = time.process_time()
        render()
        total += time.process_time() - t0
    return len(states) / total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300)
    args = parser.parse_args()
    results: dict = {}
    for name in TASKS:
        env = make_env(name, cameras=[], image_size=[SIZE, SIZE])
        states = rollout_states(env, name, args.frames)
        row = {}
        for cam in env.camera_names:
            row[f"{cam}_fps"] = round(fps_of(lambda c=cam, e=env: e.render(c), states, env.data, env.model), 1)
        # env steps/s with both cameras in the observation vs state only (same actions)
        acts = [np.asarray(env.joint_positions, dtype=np.float32)] * 100
        for cams in ((), env.camera_names):
            e = make_env(name, cameras=list(cams), image_size=[SIZE, SIZE])
            e.reset(seed=0)
            t0 = time.process_time()
            for a in acts:
                e.step(a)
            row["steps_per_s_" + ("state_only" if not cams else "with_" + "_".join(cams))] = round(len(acts) / (time.process_time() - t0), 1)
            e.close()
        results[name] = row
        if name == "so101_lift":  # the mesh comparison, once
            full = build_arm_scene(env.config.fps, env._add_objects, coarse_meshes=False)
            fdata = mujoco.MjData(full)
            renderer = mujoco.Renderer(full, SIZE, SIZE)
            renderer.scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = False
            renderer.scene.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = False

            def render_full(r=renderer, d=fdata):
                r.update_scene(d, camera="front")
                return r.render()

            full_fps = fps_of(render_full, states[: max(30, args.frames // 10)], fdata, full)
            results["full_mesh_front_fps_so101_lift"] = round(full_fps, 1)
            results["hull_vs_full_mesh_speedup"] = round(row["front_fps"] / full_fps, 1)
            results["triangles"] = {"hulls": int(env.model.nmeshface), "full_meshes": int(full.nmeshface)}
            renderer.close()
        env.close()
    target = 500.0
    worst = min(v for r in results.values() if isinstance(r, dict) for k, v in r.items() if k.endswith("_fps"))
    print(json.dumps({"benchmark": "bench_render", "mujoco_gl": os.environ.get("MUJOCO_GL"), "size": [SIZE, SIZE],
                      "cpu_threads": 1, "target_fps": target, "worst_camera_fps": worst,
                      "target_met": bool(worst >= target), "tasks": results}, indent=2))


if __name__ == "__main__":
    main()
