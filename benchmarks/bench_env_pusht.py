"""PushT env throughput, state-only, on one core: our MuJoCo `pusht` vs the pymunk `gym-pusht`; prints JSON.

Both envs run the same number of steps of uniformly random pusher targets over
their whole workspace (ours: [-0.256, 0.256]^2 m; gym-pusht: [0, 512]^2 px),
resetting (seeded) when an episode ends, and each step includes the coverage
reward. Also times the coverage computation alone: our exact convex clipping
(`sim.pusht.coverage`) against shapely's polygon intersection with the goal
polygon built once (the best plain shapely use) and rebuilt per call (as
gym-pusht does). `env_pixels_96` repeats the env comparison with 96 x 96 image
observations (ours: MuJoCo offscreen render; gym-pusht: pygame draw + resize).
`friction_cones` times bare `mj_step` of the model with elliptic (used) vs
pyramidal friction cones. `vector_env` compares `make_vector_env` in-process against worker processes
(workers are not pinned: that row measures what the extra cores buy, or cost).
Best of `--repeats` runs (the machine is shared); the main process is pinned
to one core.

    python benchmarks/bench_env_pusht.py [--steps 3000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("MUJOCO_GL", "egl")  # before mujoco is imported

from sim.pusht import GOAL_POSE, coverage, t_rect_corners  # noqa: E402
from sim.registry import make_env  # noqa: E402


def run_env(env, actions: np.ndarray) -> float:
    """Steps/s of `env` over `actions` (N, 2), resetting with consecutive seeds at episode ends."""
    seed = 0
    env.reset(seed=seed)
    t0 = time.perf_counter()
    for a in actions:
        _, _, terminated, truncated, _ = env.step(a)
        if terminated or truncated:
            seed += 1
            env.reset(seed=seed)
    return len(actions) / (time.perf_counter() - t0)


def bench_envs(steps: int, repeats: int, pixels: bool = False) -> dict:
    """Ours vs gym-pusht on the same random actions; `pixels`: 96 x 96 image observations too.

    Repeats alternate ours / theirs so a load change on the shared machine hits both alike.
    """
    rng = np.random.default_rng(0)
    unit = rng.uniform(0.0, 1.0, (steps, 2))
    ours = make_env("pusht", cameras=["top"] if pixels else [])
    ours_actions = ((unit * 2 - 1) * 0.256).astype(np.float32)
    result: dict = {"steps": steps}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import gym_pusht  # noqa: F401  (registers gym_pusht/PushT-v0)
            import gymnasium as gym

            obs_type = "pixels" if pixels else "state"
            theirs = gym.make("gym_pusht/PushT-v0", obs_type=obs_type, disable_env_checker=True)
    except ImportError as e:
        result["gym_pusht_error"] = f"gym-pusht not installed ({e}); pip install -e .[bench]"
        theirs = None
    theirs_actions = unit * 512.0
    ours_sps, theirs_sps = 0.0, 0.0
    for _ in range(repeats):
        ours_sps = max(ours_sps, run_env(ours, ours_actions))
        if theirs is not None:
            theirs_sps = max(theirs_sps, run_env(theirs, theirs_actions))
    result["ours_pusht_mujoco_steps_per_s"] = round(ours_sps, 1)
    if theirs is not None:
        result["gym_pusht_pymunk_steps_per_s"] = round(theirs_sps, 1)
        result["speedup_ours_over_gym_pusht"] = round(ours_sps / theirs_sps, 2)
    return result


def bench_cones(steps: int, repeats: int) -> dict:
    """Bare physics steps/s (10 substeps each) of the PushT model with elliptic (used) vs pyramidal friction cones."""
    import mujoco

    from sim.pusht import PushTConfig, build_mjcf

    xml = build_mjcf(PushTConfig())
    assert 'cone="elliptic"' in xml
    models = {"elliptic": xml, "pyramidal": xml.replace('cone="elliptic"', 'cone="pyramidal"')}
    actions = np.random.default_rng(3).uniform(-0.256, 0.256, (steps, 2))
    best = dict.fromkeys(models, 0.0)
    sims = {k: mujoco.MjModel.from_xml_string(v) for k, v in models.items()}
    for _ in range(repeats):
        for label, model in sims.items():
            data = mujoco.MjData(model)
            data.qpos[7:9] = (-0.2, -0.2)  # pusher clear of the block at the origin
            t0 = time.perf_counter()
            for a in actions:
                data.ctrl[:] = a
                mujoco.mj_step(model, data, nstep=10)
            best[label] = max(best[label], steps / (time.perf_counter() - t0))
    return {
        "steps": steps,
        **{f"{k}_physics_steps_per_s": round(v, 1) for k, v in best.items()},
        "speedup_elliptic_over_pyramidal": round(best["elliptic"] / best["pyramidal"], 2),
    }


def bench_vector(n_envs: int, steps: int, repeats: int) -> dict:
    """Env-steps/s of `make_vector_env("pusht", n_envs)` in-process vs one worker process per env."""
    from sim.vector import make_vector_env

    actions = np.random.default_rng(2).uniform(-0.256, 0.256, (steps, n_envs, 2)).astype(np.float32)
    result: dict = {"n_envs": n_envs, "steps": steps}
    vecs = {label: make_vector_env("pusht", n_envs, subprocess=sub, max_steps=10**6)
            for label, sub in (("in_process", False), ("subprocess", True))}
    best = dict.fromkeys(vecs, 0.0)
    for _ in range(repeats):  # alternate the back ends so load changes hit both alike
        for label, vec in vecs.items():
            vec.reset(seed=0)
            t0 = time.perf_counter()
            for a in actions:
                vec.step(a)
            best[label] = max(best[label], steps * n_envs / (time.perf_counter() - t0))
    for label, vec in vecs.items():
        vec.close()
        result[f"{label}_env_steps_per_s"] = round(best[label], 1)
    result["speedup_in_process_over_subprocess"] = round(
        result["in_process_env_steps_per_s"] / result["subprocess_env_steps_per_s"], 2)
    return result


def bench_coverage(n: int, repeats: int) -> dict:
    rng = np.random.default_rng(1)
    poses = [(*rng.uniform(-0.08, 0.08, 2), rng.uniform(-math.pi, math.pi)) for _ in range(n)]

    def ours() -> float:
        t0 = time.perf_counter()
        for p in poses:
            coverage(p, GOAL_POSE)
        return (time.perf_counter() - t0) / n

    result = {"poses": n, "ours_exact_clipping_us": round(min(ours() for _ in range(repeats)) * 1e6, 2)}
    import shapely.geometry as sg  # installed with gym-pusht (the `bench` extra)

    goal = sg.MultiPolygon([sg.Polygon(r) for r in t_rect_corners(GOAL_POSE)])
    goal_area = goal.area

    def shapely_per_call() -> float:
        """What gym-pusht does: both polygons built on every call."""
        t0 = time.perf_counter()
        for p in poses:
            block = sg.MultiPolygon([sg.Polygon(r) for r in t_rect_corners(p)])
            g = sg.MultiPolygon([sg.Polygon(r) for r in t_rect_corners(GOAL_POSE)])
            block.intersection(g).area / g.area
        return (time.perf_counter() - t0) / n

    def shapely_goal_once() -> float:
        """The best plain shapely use: the goal (and its area) built once, only the block per call."""
        t0 = time.perf_counter()
        for p in poses:
            block = sg.MultiPolygon([sg.Polygon(r) for r in t_rect_corners(p)])
            block.intersection(goal).area / goal_area
        return (time.perf_counter() - t0) / n

    per_call = min(shapely_per_call() for _ in range(repeats))
    once = min(shapely_goal_once() for _ in range(repeats))
    max_err = max(
        abs(coverage(p) - sg.MultiPolygon([sg.Polygon(r) for r in t_rect_corners(p)]).intersection(goal).area
            / goal_area)
        for p in poses
    )
    ours_s = result["ours_exact_clipping_us"] / 1e6
    result.update(
        shapely_goal_once_us=round(once * 1e6, 2),
        shapely_per_call_us=round(per_call * 1e6, 2),
        speedup_ours_over_shapely_goal_once=round(once / ours_s, 2),
        speedup_ours_over_shapely_per_call=round(per_call / ours_s, 2),
        max_abs_difference=float(f"{max_err:.3g}"),
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pixel-steps", type=int, default=300)
    parser.add_argument("--coverage-poses", type=int, default=2000)
    parser.add_argument("--vector-envs", type=int, default=4)
    parser.add_argument("--vector-steps", type=int, default=300)
    args = parser.parse_args()
    # the vector row runs first, unpinned, since spawned workers inherit the affinity
    vector = bench_vector(args.vector_envs, args.vector_steps, args.repeats)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    out = {
        "benchmark": "bench_env_pusht",
        "env_state_only": bench_envs(args.steps, args.repeats),
        "env_pixels_96": bench_envs(args.pixel_steps, args.repeats, pixels=True),
        "friction_cones": bench_cones(args.steps, args.repeats),
        "vector_env": vector,
        "coverage": bench_coverage(args.coverage_poses, args.repeats),
        "repeats": args.repeats,
        "cpu_count": os.cpu_count(),
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
