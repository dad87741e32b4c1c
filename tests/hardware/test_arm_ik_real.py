"""End-effector teleop on a body without a simulator: the twin's model does the kinematics only."""

from __future__ import annotations

import numpy as np
import pytest

from hardware.teleop.arm_ik import arm_ik_for
from hardware.teleop.base import DeviceReading
from hardware.teleop.mapping import mapper_for


def test_twin_kinematics_match_the_sim_task_and_solve_ik():
    import sim.registry as sim_registry
    env = sim_registry.make_env("so101_lift", {"cameras": ()})
    env.reset(seed=0)
    fk_sim, _ = arm_ik_for(env)
    fk, ik = arm_ik_for(None)
    q = np.array([0.3, -0.8, 0.9, 1.2, 0.1])
    assert fk(q) == pytest.approx(fk_sim(q), abs=1e-6)  # same arm, same base frame
    target = fk(q) + np.array([0.02, -0.01, 0.015])
    q_new = ik(target, q)
    assert fk(q_new) == pytest.approx(target, abs=2e-3)


def test_ik_mapper_runs_on_a_physical_arm_body(so101_bus):
    from hardware.arms.lerobot_arm import LeRobotArm

    bus, cfg = so101_bus
    bus.write_u16(2, 56, 2000 - 1200)  # lift the arm off the singular zero pose
    bus.write_u16(3, 56, 2000 + 1400)
    with LeRobotArm(cfg) as arm:
        mapper = mapper_for(arm.body_spec, arm, step_m=0.01)
        obs = arm.get_observation()[0]
        mapper.reset(obs)
        fk, _ = arm_ik_for(arm)
        start = fk(obs["state"][:5])
        action = obs["state"]
        for _ in range(5):
            action = mapper.map(DeviceReading(translation=np.array([1.0, 0.0, 0.0])), obs)
        moved = fk(action[:5]) - start
    assert moved[0] == pytest.approx(0.05, abs=0.01) and abs(moved[1]) < 0.01 and abs(moved[2]) < 0.01
