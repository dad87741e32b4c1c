"""solve_ik on the real SO-101 model: reachable targets are reached, limits hold, sim state untouched."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest

from sim.ik import quat_error, solve_ik
from sim.so101_scene import EE_SITE, HOME_QPOS, IK_JOINTS, build_arm_scene, down_quat


@pytest.fixture(scope="module")
def arm():
    model = build_arm_scene(30.0, lambda spec: None)
    data = mujoco.MjData(model)
    qadr = np.array([model.joint(n).qposadr[0] for n in IK_JOINTS])
    data.qpos[qadr] = HOME_QPOS[:5]
    mujoco.mj_forward(model, data)
    lo = model.jnt_range[[model.joint(n).id for n in IK_JOINTS], 0]
    hi = model.jnt_range[[model.joint(n).id for n in IK_JOINTS], 1]
    return model, data, qadr, lo, hi


def _fk(model, qadr, q):
    d = mujoco.MjData(model)
    d.qpos[qadr] = q
    mujoco.mj_kinematics(model, d)
    quat = np.zeros(4)
    mujoco.mju_mat2Quat(quat, d.site_xmat[model.site(EE_SITE).id])
    return d.site_xpos[model.site(EE_SITE).id].copy(), quat


def test_reaches_random_reachable_targets(arm):
    model, data, qadr, lo, hi = arm
    rng = np.random.default_rng(0)
    before = data.qpos.copy()
    for _ in range(10):
        # targets produced by forward kinematics of random in-limit joints are reachable by construction
        q_true = rng.uniform(lo * 0.6, hi * 0.6)
        pos, quat = _fk(model, qadr, q_true)
        res = solve_ik(model, data, EE_SITE, pos, joints=IK_JOINTS, max_iters=200, restarts=5)
        assert res.success and res.pos_err <= 1e-3
        assert np.all(res.qpos >= lo - 1e-9) and np.all(res.qpos <= hi + 1e-9)
        got_pos, _ = _fk(model, qadr, res.qpos)
        assert np.linalg.norm(got_pos - pos) <= 1e-3
        res6 = solve_ik(model, data, EE_SITE, pos, quat, joints=IK_JOINTS, max_iters=300, restarts=10)
        assert res6.success, (res6.pos_err, res6.rot_err)
        got_pos, got_quat = _fk(model, qadr, res6.qpos)
        assert np.linalg.norm(got_pos - pos) <= 1e-3
        assert np.linalg.norm(quat_error(quat, got_quat)) <= 1e-2
    np.testing.assert_array_equal(data.qpos, before)  # the simulation's state is untouched


def test_grasp_poses_fingers_down(arm):
    model, data, qadr, lo, hi = arm
    for pos in ([0.2, 0.0, 0.03], [0.17, 0.1, 0.02], [0.25, -0.08, 0.05]):
        for yaw in (0.0, 1.0, -1.2):
            res = solve_ik(model, data, EE_SITE, pos, down_quat(yaw), joints=IK_JOINTS)
            assert res.success, (pos, yaw, res)
            _, quat = _fk(model, qadr, res.qpos)
            mat = np.zeros(9)
            mujoco.mju_quat2Mat(mat, quat)
            assert mat.reshape(3, 3)[2, 0] == pytest.approx(-1.0, abs=1e-3)  # fingers (site x) point down


def test_unreachable_target_fails_within_limits(arm):
    model, data, qadr, lo, hi = arm
    res = solve_ik(model, data, EE_SITE, [1.5, 0.0, 0.2], joints=IK_JOINTS, max_iters=50)
    assert not res.success and res.pos_err > 0.5
    assert np.all(res.qpos >= lo - 1e-9) and np.all(res.qpos <= hi + 1e-9)
    # a target that needs the elbow past its limit: the solution sits on the limit, never beyond
    res = solve_ik(model, data, EE_SITE, [0.05, 0.0, 0.02], down_quat(0.0), joints=IK_JOINTS, max_iters=100)
    assert np.all(res.qpos >= lo - 1e-9) and np.all(res.qpos <= hi + 1e-9)


def test_bad_names_are_errors(arm):
    model, data, *_ = arm
    with pytest.raises(KeyError, match="site"):
        solve_ik(model, data, "nope", [0.2, 0, 0.1])
    with pytest.raises(KeyError, match="joint"):
        solve_ik(model, data, EE_SITE, [0.2, 0, 0.1], joints=("elbow",))


def test_generic_planar_arm():
    xml = """<mujoco><compiler angle="radian"/><worldbody><body><joint name="a" type="hinge" axis="0 0 1" range="-3 3"/>
      <geom type="capsule" fromto="0 0 0 .3 0 0" size=".01"/><body pos=".3 0 0">
      <joint name="b" type="hinge" axis="0 0 1" range="-2.5 2.5"/><geom type="capsule" fromto="0 0 0 .2 0 0" size=".01"/>
      <site name="tip" pos=".2 0 0"/></body></body></worldbody></mujoco>"""
    model = mujoco.MjModel.from_xml_string(xml)
    data = mujoco.MjData(model)
    res = solve_ik(model, data, "tip", [0.1, 0.35, 0.0])
    assert res.success
    data.qpos[:] = res.qpos
    mujoco.mj_kinematics(model, data)
    np.testing.assert_allclose(data.site_xpos[0], [0.1, 0.35, 0.0], atol=1e-3)
