"""Env steps/s per core for each arm task (state-only) vs bare mj_step of the same model; prints JSON.

For each task: the env's `step` (action checks, clip, ctrl, `substeps` mj_step calls,
state, reward terms, contact-based grasp check) driven by its scripted expert's
recorded actions (so contacts are the realistic ones), against a loop of
`mj_step(model, data, nstep=substeps)` on the same model from the same states.
The overhead ratio is env time / bare physics time. One thread, one process; times are
process CPU seconds (time.process_time), so other jobs on a shared machine do not
inflate them; env and bare loops alternate within each repeat and the best repeat counts.

    python benchmarks/bench_env_arm.py [--steps 600]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import mujoco
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sim.registry import make_env, make_expert  # noqa: E402

TASKS = ("so101_lift", "so101_place", "so101_multi", "peg_insert")


def expert_actions(name: str, steps: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(actions, start-of-episode qpos) from expert rollouts, to replay identically in both loops."""
    env = make_env(name, cameras=[])
    expert = make_expert(name, env, seed=0)
    actions, starts, seed = [], [], 0
    while len(actions) < steps:
        obs, _ = env.reset(seed=seed)
        starts.append((len(actions), env.data.qpos.copy(), env.data.mocap_pos.copy(), env.data.mocap_quat.copy()))
        expert.reset(obs)
        for _ in range(env.config.max_steps):
            a = expert.get_action(obs).action
            actions.append(a)
            obs, _, term, trunc, info = env.step(a)
            if info["success"] or len(actions) >= steps:
                break
        seed += 1
    return actions, starts


def restore(env, start) -> None:
    _, qpos, mocap_pos, mocap_quat = start
    mujoco.mj_resetData(env.model, env.data)
    env.data.qpos[:] = qpos
    env.data.mocap_pos[:] = mocap_pos
    env.data.mocap_quat[:] = mocap_quat
    mujoco.mj_forward(env.model, env.data)


def bench(name: str, steps: int, repeats: int) -> dict:
    actions, starts = expert_actions(name, steps)
    env = make_env(name, cameras=[])
    env.reset(seed=0)
    boundaries = {s[0]: s for s in starts}
    env_best = bare_best = float("inf")
    for _ in range(repeats):
        t_env = 0.0
        for i, a in enumerate(actions):
            if i in boundaries:
                restore(env, boundaries[i])
            t0 = time.process_time()
            env.step(a)
            t_env += time.process_time() - t0
        t_bare = 0.0
        m, d, act = env.model, env.data, env._act
        for i, a in enumerate(actions):
            if i in boundaries:
                restore(env, boundaries[i])
            t0 = time.process_time()
            d.ctrl[act] = a
            mujoco.mj_step(m, d, nstep=env.substeps)
            t_bare += time.process_time() - t0
        env_best, bare_best = min(env_best, t_env), min(bare_best, t_bare)
    n = len(actions)
    return {
        "env_steps_per_s": round(n / env_best, 1),
        "bare_mj_step_steps_per_s": round(n / bare_best, 1),
        "overhead_ratio": round(env_best / bare_best, 3),
        "substeps": env.substeps,
        "timestep_s": env.model.opt.timestep,
        "sim_seconds_per_wall_second": round(n / env_best / env.config.fps, 1),
        "steps_measured": n,
    }


def bench_ik(n: int = 500) -> dict:
    """CPU ms per solve_ik call along a smooth path (seeded with the previous solution, as the experts do)."""
    from sim.ik import solve_ik
    from sim.so101_scene import EE_SITE, IK_JOINTS, down_quat

    env = make_env("so101_lift", cameras=[])
    env.reset(seed=0)
    t = np.linspace(0, 2 * np.pi, n)
    path = np.stack([0.21 + 0.04 * np.cos(t), 0.08 * np.sin(t), 0.05 + 0.03 * np.sin(2 * t)], axis=1)
    q, ok, t_pos, t_full = env.joint_positions[:5], 0, 0.0, 0.0
    for p in path:
        t0 = time.process_time()
        res = solve_ik(env.model, env.data, EE_SITE, p, down_quat(0.3), joints=IK_JOINTS, q_init=q)
        t_full += time.process_time() - t0
        q, ok = res.qpos, ok + res.success
        t0 = time.process_time()
        solve_ik(env.model, env.data, EE_SITE, p, joints=IK_JOINTS, q_init=q)
        t_pos += time.process_time() - t0
    return {"ms_per_solve_pos_and_orientation": round(1e3 * t_full / n, 3),
            "ms_per_solve_position_only_warm": round(1e3 * t_pos / n, 3),
            "success_fraction": round(ok / n, 3), "targets": n}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    results = {name: bench(name, args.steps, args.repeats) for name in TASKS}
    print(json.dumps({"benchmark": "bench_env_arm", "mujoco": mujoco.__version__, "cpu_threads": 1,
                      "note": "state-only obs; process CPU time, best of repeats; actions replayed from the scripted experts",
                      "tasks": results, "ik": bench_ik()}, indent=2))


if __name__ == "__main__":
    main()
