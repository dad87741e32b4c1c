"""`make_robot` entries for the lerobot followers: `so101`, `so100`, `koch`.

In the format of `hardware/registry.py`'s ROBOTS dict (owned by the
deployment runtime): name -> ("module:RobotClass", "module:ConfigClass"); the
registry builds the config with the strict loader (`from_dict`) and calls
`RobotClass(config)`. Merge with `ROBOTS.update(ROBOT_ENTRIES)`. Config keys:
those of `LeRobotArmConfig` (port, id, calibration_dir, use_degrees, signs,
offsets_rad, fps, max_step_rad, safe_stop, max_read_failures,
connect_attempts, reply_timeout_ms, health={...}, cameras={name: {kind, ...}}),
e.g. `robot deploy --robot so101 --robot-opt port=/dev/ttyACM0 --robot-opt id=follower`.
`make_arm` does what `make_robot` does, for this branch's tests and scripts.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from hardware.arms.arm_config import LeRobotArmConfig
from hardware.arms.lerobot_arm import LeRobotArm


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


ROBOT_ENTRIES: dict[str, tuple[str, str]] = {
    "so101": ("hardware.arms.lerobot_arm:LeRobotArm", "hardware.arms.registry_entries:SO101ArmConfig"),
    "so100": ("hardware.arms.lerobot_arm:LeRobotArm", "hardware.arms.registry_entries:SO100ArmConfig"),
    "koch": ("hardware.arms.lerobot_arm:LeRobotArm", "hardware.arms.registry_entries:KochArmConfig"),
}
"""name -> (robot class, config class), as hardware/registry.py's ROBOTS."""


def _load(ref: str) -> Any:
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


def make_arm(name: str, **cfg: Any) -> LeRobotArm:
    """A lerobot follower arm `name` from config keys (strict: a wrong key or value is a ConfigError)."""
    from robot.config import ConfigError, from_dict

    if name not in ROBOT_ENTRIES:
        raise KeyError(f"unknown arm {name!r}; registered: {', '.join(sorted(ROBOT_ENTRIES))}")
    cls_ref, cfg_ref = ROBOT_ENTRIES[name]
    config = from_dict(_load(cfg_ref), dict(cfg), name)
    if config.kind != name:
        raise ConfigError(f"{name}.kind: the {name!r} entry drives a {name} arm, not {config.kind!r}")
    return _load(cls_ref)(config)
