"""Forward and inverse kinematics of a simulated SO-101 for end-effector teleop.

Wraps `sim.ik.solve_ik` (damped least squares on MuJoCo site Jacobians) into
the two callables `IKMapper` takes. FK runs on a private MjData so the task's
simulation state is never touched.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


def arm_ik_for(env: Any) -> tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray, np.ndarray], np.ndarray]]:
    """(fk, ik) for the 5 arm joints of an SO-101 env (`env.model`, `env.data`).

    fk: q (5,) rad -> (3,) position of the `gripperframe` site, m, world frame.
    ik: (target (3,) m, q_seed (5,) rad) -> q (5,) rad inside the joint limits.
    """
    if env is None or not hasattr(env, "model") or not hasattr(env, "data"):
        name = getattr(getattr(env, "body_spec", None), "name", type(env).__name__)
        raise ValueError(
            f"end-effector teleop needs a MuJoCo arm env with .model/.data for IK; {name!r} has none. "
            "Use a joint-space source (leader arm, scripted) for this body."
        )
    import mujoco

    from sim.ik import solve_ik
    from sim.so101_scene import ARM_JOINTS, EE_SITE

    joints = tuple(ARM_JOINTS[:5])
    model, data = env.model, env.data
    qadr = np.array([model.joint(n).qposadr[0] for n in joints])
    site = model.site(EE_SITE).id
    scratch = mujoco.MjData(model)

    def fk(q: np.ndarray) -> np.ndarray:
        scratch.qpos[:] = data.qpos
        scratch.qpos[qadr] = q
        mujoco.mj_kinematics(model, scratch)
        return scratch.site_xpos[site].copy()

    def ik(target: np.ndarray, q_seed: np.ndarray) -> np.ndarray:
        return solve_ik(model, data, EE_SITE, target, joints=joints, q_init=q_seed).qpos

    return fk, ik
