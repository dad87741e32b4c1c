"""make_robot entries so101 / so100 / koch and the missing-SDK message."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from hardware.arms.lerobot_arm import LeRobotArm, LeRobotArmConfig, build_lerobot_robot
from hardware.registry import ROBOTS, make_robot
from robot.config import ConfigError


def test_entries_build_arms_with_the_twin_spec_and_cameras(tmp_path):
    assert {"so101", "so100", "koch", "twin"} <= set(ROBOTS)
    arm = make_robot("so101", port="/dev/ttyACM0", id="f", fps=50, health={"rate_hz": 4.0},
                   cameras={"front": {"kind": "opencv", "source": "0", "width": 96, "height": 72}})
    assert isinstance(arm, LeRobotArm) and arm.config.health.rate_hz == 4.0
    assert arm.body_spec.fps == 50.0 and arm.body_spec.observations["images.front"].shape == (72, 96, 3)
    koch = make_robot("koch", port="/dev/ttyUSB0", task="so101_lift")  # the deploy runtime passes its task
    assert koch.config.kind == "koch" and koch.body_spec.action.shape == (6,)
    assert koch.config.calibration_path().parts[-2:] == ("koch_follower", "follower.json")


def test_entries_reject_bad_config_naming_the_key():
    with pytest.raises(ConfigError, match="so101.prot"):
        make_robot("so101", prot="/dev/ttyACM0")
    with pytest.raises(ConfigError, match="safe_stop"):
        make_robot("so101", safe_stop="panic")
    with pytest.raises(ConfigError, match="robot.cameras.front"):
        make_robot("so101", cameras={"front": {"source": "0"}})
    with pytest.raises(ConfigError, match="so101.health"):
        make_robot("so101", health={"rate_hz": 0.0})
    with pytest.raises(ConfigError, match="koch"):
        make_robot("so101", kind="koch")


def test_forward_kinematics_uses_the_twins_arm():
    arm = make_robot("so101", port="/dev/ttyACM0")
    ee = arm.forward_kinematics(np.zeros(6))
    assert ee.shape == (3,) and 0.1 < ee[0] < 0.6  # the arm reaches along +x from its base


def test_default_calibration_path_follows_lerobot(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_LEROBOT_CALIBRATION", str(tmp_path))
    assert LeRobotArmConfig(id="a").calibration_path() == tmp_path / "robots" / "so101_follower" / "a.json"
    monkeypatch.delenv("HF_LEROBOT_CALIBRATION")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    assert LeRobotArmConfig(kind="so100", id="b").calibration_path() == \
        tmp_path / "hf" / "lerobot" / "calibration" / "robots" / "so100_follower" / "b.json"


def test_missing_lerobot_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "lerobot.robots.so101_follower", None)  # as if lerobot were not installed
    with pytest.raises(ImportError, match=r"pip install -e \.\[lerobot\]"):
        build_lerobot_robot(LeRobotArmConfig(calibration_dir=str(tmp_path)))


def test_koch_builds_lerobots_dynamixel_follower(tmp_path):
    import dynamixel_sdk  # noqa: F401  (an installed extra: it must import, never skip)
    robot = build_lerobot_robot(LeRobotArmConfig(kind="koch", port="/dev/null", calibration_dir=str(tmp_path)))
    assert type(robot).__name__ == "KochFollower" and type(robot.bus).__name__ == "DynamixelMotorsBus"
    assert list(robot.bus.motors) == ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper"]
