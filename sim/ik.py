"""Damped least-squares inverse kinematics on MuJoCo's site Jacobians.

API (used by the scripted experts and by end-effector teleop):

    res = solve_ik(model, data, "gripperframe", target_pos, target_quat=None,
                   joints=("shoulder_pan", ..., "wrist_roll"))
    res.qpos      # (J,) joint positions (rad / m) for `joints`, inside their limits
    res.success   # position error <= pos_tol (and rotation error <= rot_tol if a quat was given)
    res.pos_err   # m;  res.rot_err: rad;  res.iters

- `data` is only read (its qpos is the starting guess unless `q_init` is given);
  the solver iterates on a private scratch MjData, so the simulation is untouched.
- `target_pos` (3,) world frame, metres; `target_quat` (4,) world frame, MuJoCo
  (w, x, y, z) order, or None for a position-only solve.
- `joints`: hinge/slide joint names that may move (default: every hinge/slide
  joint); all other joints stay at their `data.qpos` values.
- Joint limits are respected at every iteration (clipping to `jnt_range`);
  `rot_weight` (m/rad) trades orientation error against position error.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np


@dataclass(frozen=True)
class IKResult:
    """Outcome of `solve_ik`: joint positions (J,), success flag, residual errors (m, rad), iterations."""

    qpos: np.ndarray
    success: bool
    pos_err: float
    rot_err: float
    iters: int


_SCRATCH: dict[int, tuple[mujoco.MjModel, mujoco.MjData]] = {}


def _scratch(model: mujoco.MjModel) -> mujoco.MjData:
    # MjData allocation costs more than a whole IK solve on a small arm; reuse one per model.
    # The model is kept in the entry so its id cannot be reused by another model.
    entry = _SCRATCH.get(id(model))
    if entry is None or entry[0] is not model:
        if len(_SCRATCH) > 64:
            _SCRATCH.clear()
        entry = (model, mujoco.MjData(model))
        _SCRATCH[id(model)] = entry
    return entry[1]


def joint_indices(model: mujoco.MjModel, joints: tuple[str, ...] | None) -> tuple[np.ndarray, np.ndarray]:
    """(qpos addresses, dof addresses) of the named 1-DoF joints (all hinge/slide joints if None)."""
    one_dof = (int(mujoco.mjtJoint.mjJNT_HINGE), int(mujoco.mjtJoint.mjJNT_SLIDE))
    if joints is None:
        ids = [j for j in range(model.njnt) if int(model.jnt_type[j]) in one_dof]
    else:
        ids = []
        for name in joints:
            j = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, name)
            if j < 0:
                raise KeyError(f"solve_ik: no joint named {name!r} in the model")
            if int(model.jnt_type[j]) not in one_dof:
                raise ValueError(f"solve_ik: joint {name!r} is not a hinge or slide joint")
            ids.append(j)
    ids = np.array(ids, dtype=int)
    return model.jnt_qposadr[ids], model.jnt_dofadr[ids]


def quat_error(target_quat: np.ndarray, current_quat: np.ndarray) -> np.ndarray:
    """(3,) rotation vector (rad, world frame) that rotates `current_quat` onto `target_quat`."""
    neg = np.zeros(4)
    mujoco.mju_negQuat(neg, current_quat)
    dq = np.zeros(4)
    mujoco.mju_mulQuat(dq, target_quat, neg)
    err = np.zeros(3)
    mujoco.mju_quat2Vel(err, dq, 1.0)
    return err


def solve_ik(
    model: mujoco.MjModel,
    data: mujoco.MjData,
    site: str,
    target_pos: np.ndarray,
    target_quat: np.ndarray | None = None,
    joints: tuple[str, ...] | None = None,
    q_init: np.ndarray | None = None,
    max_iters: int = 100,
    pos_tol: float = 1e-3,
    rot_tol: float = 1e-2,
    damping: float = 1e-3,
    rot_weight: float = 0.1,
    max_step: float = 0.2,
    restarts: int = 0,
    seed: int = 0,
) -> IKResult:
    """Joint positions that put `site` at `target_pos` (and `target_quat`); see the module docstring.

    Shapes: target_pos (3,) m, target_quat (4,) wxyz, q_init (J,) for `joints`.
    `damping` is the DLS lambda^2 (m^2); `max_step` caps each iteration's joint change (rad).
    `restarts`: on failure, retry from that many random in-limit starts (numpy seed `seed`),
    returning the best result; local DLS can stall on a joint limit for far-away targets.
    """
    best = _solve(model, data, site, target_pos, target_quat, joints, q_init, max_iters, pos_tol, rot_tol,
                  damping, rot_weight, max_step)
    if best.success or restarts <= 0:
        return best
    rng = np.random.default_rng(seed)
    qadr, _ = joint_indices(model, joints)
    jnt = _jnt_of(model, qadr)
    lo = np.where(model.jnt_limited[jnt], model.jnt_range[jnt, 0], -np.pi)
    hi = np.where(model.jnt_limited[jnt], model.jnt_range[jnt, 1], np.pi)
    for _ in range(restarts):
        res = _solve(model, data, site, target_pos, target_quat, joints, rng.uniform(lo, hi), max_iters,
                     pos_tol, rot_tol, damping, rot_weight, max_step)
        if res.success:
            return res
        if res.pos_err + rot_weight * res.rot_err < best.pos_err + rot_weight * best.rot_err:
            best = res
    return best


def _solve(model, data, site, target_pos, target_quat, joints, q_init, max_iters, pos_tol, rot_tol,
           damping, rot_weight, max_step) -> IKResult:
    """One damped least-squares run from `q_init` (or data.qpos); see `solve_ik`."""
    site_id = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, site)
    if site_id < 0:
        raise KeyError(f"solve_ik: no site named {site!r} in the model")
    target_pos = np.asarray(target_pos, dtype=float).reshape(3)
    if target_quat is not None:
        target_quat = np.asarray(target_quat, dtype=float).reshape(4)
        target_quat = target_quat / np.linalg.norm(target_quat)
    qadr, dadr = joint_indices(model, joints)
    jnt = _jnt_of(model, qadr)
    lo = np.where(model.jnt_limited[jnt], model.jnt_range[jnt, 0], -np.inf)
    hi = np.where(model.jnt_limited[jnt], model.jnt_range[jnt, 1], np.inf)
    d = _scratch(model)
    d.qpos[:] = data.qpos
    if q_init is not None:
        d.qpos[qadr] = np.asarray(q_init, dtype=float).reshape(len(qadr))
    d.qpos[qadr] = np.clip(d.qpos[qadr], lo, hi)
    jacp = np.zeros((3, model.nv))
    jacr = np.zeros((3, model.nv))
    cur_quat = np.zeros(4)
    pos_err = rot_err = np.inf
    it = 0
    for it in range(1, max_iters + 1):  # noqa: B007  (it is reported after the loop)
        mujoco.mj_kinematics(model, d)
        mujoco.mj_comPos(model, d)
        e_pos = target_pos - d.site_xpos[site_id]
        pos_err = float(np.linalg.norm(e_pos))
        if target_quat is not None:
            mujoco.mju_mat2Quat(cur_quat, d.site_xmat[site_id])
            e_rot = quat_error(target_quat, cur_quat)
            rot_err = float(np.linalg.norm(e_rot))
        else:
            rot_err = 0.0
        if pos_err <= pos_tol and rot_err <= rot_tol:
            break
        mujoco.mj_jacSite(model, d, jacp, jacr, site_id)
        if target_quat is not None:
            jac = np.vstack([jacp[:, dadr], rot_weight * jacr[:, dadr]])
            err = np.concatenate([e_pos, rot_weight * e_rot])
        else:
            jac, err = jacp[:, dadr], e_pos
        dq = jac.T @ np.linalg.solve(jac @ jac.T + damping * np.eye(jac.shape[0]), err)
        norm = np.linalg.norm(dq)
        if norm > max_step:
            dq *= max_step / norm
        d.qpos[qadr] = np.clip(d.qpos[qadr] + dq, lo, hi)
    success = pos_err <= pos_tol and rot_err <= rot_tol
    return IKResult(qpos=d.qpos[qadr].copy(), success=bool(success), pos_err=pos_err, rot_err=rot_err, iters=it)


def _jnt_of(model: mujoco.MjModel, qadr: np.ndarray) -> np.ndarray:
    """Joint ids of 1-DoF joints given their qpos addresses."""
    lookup = {int(model.jnt_qposadr[j]): j for j in range(model.njnt)}
    return np.array([lookup[int(a)] for a in qadr], dtype=int)
