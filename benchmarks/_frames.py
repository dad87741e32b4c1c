"""Shared by the data benchmarks: a pool of rendered so101_lift frames (2 cameras, 96x96)."""

from __future__ import annotations

import os

import numpy as np

os.environ.setdefault("MUJOCO_GL", "egl")


def rendered_pool(steps: int = 200, seed: int = 0) -> dict[str, np.ndarray]:
    """One scripted-expert rollout of so101_lift: images.front/wrist (T, 96, 96, 3), state, action."""
    from sim.registry import make_env, make_expert

    env = make_env("so101_lift")
    obs, _ = env.reset(seed=seed)
    expert = make_expert("so101_lift", env, seed=seed)
    expert.reset(obs)
    out: dict[str, list] = {}
    for _ in range(steps):
        action = np.asarray(expert.get_action(obs).action, dtype=np.float32)
        for k, v in obs.items():
            if k != "instruction":
                out.setdefault(k, []).append(np.asarray(v))
        out.setdefault("action", []).append(action)
        obs, _, _, _, _ = env.step(action)
    env.close()
    return {k: np.stack(v) for k, v in out.items()}
