"""The registry of robot bodies and `make_robot`, the one factory over them.

Entries are "module:Class" strings plus their config class, so importing the
registry is cheap and one backend never imports another's SDK. Arm backends
(so101, so100, koch) register here too.
"""

from __future__ import annotations

import importlib
from typing import Any

ROBOTS: dict[str, tuple[str, str]] = {
    # name: ("module:RobotClass", "module:ConfigClass")
    "twin": ("hardware.twin:Twin", "hardware.twin:TwinConfig"),
    # lerobot followers (hardware/arms): lerobot's own robot and motor classes, imported on build.
    "so101": ("hardware.arms.lerobot_arm:LeRobotArm", "hardware.arms.registry_entries:SO101ArmConfig"),
    "so100": ("hardware.arms.lerobot_arm:LeRobotArm", "hardware.arms.registry_entries:SO100ArmConfig"),
    "koch": ("hardware.arms.lerobot_arm:LeRobotArm", "hardware.arms.registry_entries:KochArmConfig"),
}
"""Registered robots: name -> (robot class, config class)."""


def _load(ref: str) -> Any:
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


def make_robot(name: str, env: dict[str, Any] | None = None, **cfg: Any) -> Any:
    """Build robot `name` from config fields `cfg` (strict keys: a wrong key is a ConfigError naming it).

    env: task config overrides, for robots that simulate a task (the twin).
    """
    from robot.config import ConfigError, from_dict
    from robot.errors import UnknownNameError

    if name not in ROBOTS:
        raise UnknownNameError(f"unknown robot {name!r}; registered: {', '.join(sorted(ROBOTS))}")
    cls_ref, cfg_ref = ROBOTS[name]
    config = from_dict(_load(cfg_ref), dict(cfg), name)
    kind = getattr(config, "kind", name)
    if kind != name:  # an arm entry drives the arm it is named after
        raise ConfigError(f"{name}.kind: the {name!r} entry drives a {name} arm, not {kind!r}")
    cls = _load(cls_ref)
    return cls(config, env_overrides=env) if env is not None else cls(config)
