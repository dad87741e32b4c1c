"""Config classes of the `make_robot` entries for the lerobot followers: `so101`, `so100`, `koch`.

`hardware/registry.py` names them: name -> ("hardware.arms.lerobot_arm:LeRobotArm",
"hardware.arms.registry_entries:<Kind>ArmConfig"); `make_robot` builds the
config with the strict loader (`from_dict`) and calls `LeRobotArm(config)`. Config keys:
those of `LeRobotArmConfig` (port, id, calibration_dir, use_degrees, signs,
offsets_rad, fps, max_step_rad, safe_stop, max_read_failures,
connect_attempts, reply_timeout_ms, health={...}, cameras={name: {kind, ...}}),
e.g. `robot deploy --robot so101 --robot-opt port=/dev/ttyACM0 --robot-opt id=follower`.
"""

from __future__ import annotations

from dataclasses import dataclass

from hardware.arms.arm_config import LeRobotArmConfig


@dataclass(frozen=True)
class SO101ArmConfig(LeRobotArmConfig):
    """`LeRobotArmConfig` of an SO-101 follower (lerobot `so101_follower`)."""

    kind: str = "so101"


@dataclass(frozen=True)
class SO100ArmConfig(LeRobotArmConfig):
    """`LeRobotArmConfig` of an SO-100 follower (lerobot `so100_follower`)."""

    kind: str = "so100"


@dataclass(frozen=True)
class KochArmConfig(LeRobotArmConfig):
    """`LeRobotArmConfig` of a Koch follower (lerobot `koch_follower`, Dynamixel)."""

    kind: str = "koch"
