"""`make_robot` entries for the lerobot followers: `so101`, `so100`, `koch`.

Merged into `hardware/registry.py`'s ROBOTS dict (owned by the deployment
runtime). Each factory takes the keys of `LeRobotArmConfig` (port, id,
calibration_dir, use_degrees, fps, max_step_rad, safe_stop, ...), an optional
`health` dict (`ServoHealthConfig` keys) and an optional `cameras` dict
`{name: {"kind": "opencv" | "realsense", ...camera config}}`; a wrong key or
type is a `ConfigError` naming it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hardware.arms.lerobot_arm import LeRobotArm, LeRobotArmConfig


def make_lerobot_arm(kind: str, cameras: Mapping[str, Mapping[str, Any]] | None = None, **cfg: Any) -> LeRobotArm:
    """A `LeRobotArm` of `kind` from plain config values (not connected); bad values raise ConfigError."""
    from hardware.cameras import make_camera
    from robot.config import ConfigError, from_dict

    try:
        config = from_dict(LeRobotArmConfig, {**cfg, "kind": kind}, "robot")
    except ConfigError:
        raise
    except ValueError as e:  # a value the config's own checks reject (kind, safe_stop, thresholds)
        raise ConfigError(f"robot: {e}") from None
    cams = {}
    for name, spec in (cameras or {}).items():
        spec = dict(spec)
        if "kind" not in spec:
            raise ConfigError(f"robot.cameras.{name}: needs a 'kind' (opencv or realsense)")
        try:
            cams[name] = make_camera(spec.pop("kind"), name, **spec)
        except ValueError as e:
            raise ConfigError(f"robot.cameras.{name}: {e}") from None
    return LeRobotArm(config, cams)


def _entry(kind: str) -> Callable[..., LeRobotArm]:
    def make(**cfg: Any) -> LeRobotArm:
        return make_lerobot_arm(kind, **cfg)

    make.__doc__ = f"A lerobot {kind} follower arm (LeRobotArm) from config keys."
    return make


ROBOT_ENTRIES: dict[str, Callable[..., LeRobotArm]] = {
    "so101": _entry("so101"),
    "so100": _entry("so100"),
    "koch": _entry("koch"),
}
"""name -> factory(**cfg), for hardware/registry.py's `make_robot`."""
