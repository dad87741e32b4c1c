"""Forward and inverse kinematics of the SO-101 for end-effector teleop, in sim or on the real arm.

Wraps `sim.ik.solve_ik` (damped least squares on MuJoCo site Jacobians) into
the two callables `IKMapper` takes. With a MuJoCo arm env, FK/IK run on its
model (on a private MjData, so the task's simulation state is never touched).
With any other SO-101 body (the physical arm, the twin behind a Robot), they
run on the twin's arm model used for kinematics only: the SO-101 MJCF loaded
alone, its joints set from the measured positions; nothing is simulated. The
frame is the robot base, as in the tasks (base at the origin, +x forward).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

FK = Callable[[np.ndarray], np.ndarray]
IK = Callable[[np.ndarray, np.ndarray], np.ndarray]


@functools.lru_cache(maxsize=1)
def twin_kinematic_model() -> Any:
    """The SO-101 arm alone (no scene, no objects) as a MuJoCo model, for kinematics only."""
    from sim.so101_scene import so101_spec

    return so101_spec().compile()


def _fk_ik(model: Any, base_qpos: Callable[[], np.ndarray] | None) -> tuple[FK, IK]:
    import mujoco

    from sim.ik import solve_ik
    from sim.so101_scene import EE_SITE, IK_JOINTS

    joints = tuple(IK_JOINTS)
    qadr = np.array([model.joint(n).qposadr[0] for n in joints])
    site = model.site(EE_SITE).id
    scratch = mujoco.MjData(model)
    seed_data = mujoco.MjData(model)

    def fk(q: np.ndarray) -> np.ndarray:
        scratch.qpos[:] = base_qpos() if base_qpos is not None else 0.0
        scratch.qpos[qadr] = q
        mujoco.mj_kinematics(model, scratch)
        return scratch.site_xpos[site].copy()

    def ik(target: np.ndarray, q_seed: np.ndarray) -> np.ndarray:
        seed_data.qpos[:] = base_qpos() if base_qpos is not None else 0.0
        return solve_ik(model, seed_data, EE_SITE, target, joints=joints, q_init=q_seed).qpos

    return fk, ik


def arm_ik_for(env: Any) -> tuple[FK, IK]:
    """(fk, ik) for the 5 arm joints of an SO-101 body.

    env: a MuJoCo arm env (`.model`, `.data`), or any other SO-101 body (a physical
      arm, None): then the twin's kinematic model is used.
    fk: q (5,) rad -> (3,) position of the `gripperframe` site, m, robot base frame.
    ik: (target (3,) m, q_seed (5,) rad) -> q (5,) rad inside the joint limits.
    """
    if env is not None and hasattr(env, "model") and hasattr(env, "data"):
        data = env.data
        return _fk_ik(env.model, lambda: data.qpos)
    spec = getattr(env, "body_spec", None)
    if spec is not None and spec.action.shape != (6,):
        raise ValueError(f"end-effector teleop drives an SO-101 (6 joint actions); {spec.name!r} has "
                         f"{spec.action.shape}. Use a joint-space source (leader arm, scripted) for this body.")
    return _fk_ik(twin_kinematic_model(), None)
