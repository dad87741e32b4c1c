"""Config of the lerobot follower arms and the bridge to lerobot's own classes.

`LeRobotArmConfig` (typed, frozen), the arm types and their lerobot
robot/config classes, the health registers per type, `build_lerobot_robot`
(lazy lerobot import; a missing extra names `pip install -e .[lerobot]`) and
`set_reply_timeout` (the servo reply timeout, through the hook lerobot uses).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hardware.arms.calibration import calibration_path
from hardware.arms.servo_health import ServoHealthConfig

ARM_TYPES: dict[str, tuple[str, str, str]] = {
    # kind: (lerobot module, robot class, config class); lerobot's calibration folder is the robot's `name`
    "so101": ("lerobot.robots.so101_follower", "SO101Follower", "SO101FollowerConfig"),
    "so100": ("lerobot.robots.so100_follower", "SO100Follower", "SO100FollowerConfig"),
    "koch": ("lerobot.robots.koch_follower", "KochFollower", "KochFollowerConfig"),
}
HEALTH_REGISTERS = {
    "so101": ServoHealthConfig().registers,
    "so100": ServoHealthConfig().registers,
    # Dynamixel X: no load register in lerobot's table; Hardware_Error_Status has the same fatal bits.
    "koch": (("temperature", "Present_Temperature"), ("status", "Hardware_Error_Status")),
}


class ArmFault(RuntimeError):
    """The arm cannot run (servo missing at connect); the message names the joint."""


@dataclass(frozen=True)
class LeRobotArmConfig:
    """A lerobot follower arm.

    kind: so101 | so100 | koch. port: serial port of its bus. id: lerobot calibration id.
    calibration_dir: folder of `<id>.json` ('' = lerobot's default for the arm type).
    use_degrees: lerobot body-joint units (degrees; else [-100, 100] of the range); both map to rad.
    signs / offsets_rad: per body joint, twin = sign * lerobot + offset (degrees mode).
    fps: control rate, Hz. max_step_rad: per-tick change of the command, rad (before derating).
    safe_stop: "hold" (keep torque, stay put) or "torque_off" (servos go limp).
    max_read_failures: consecutive failed position reads before a safe stop.
    connect_attempts: tries of the handshake + configure (a USB hiccup should not need a restart).
    reply_timeout_ms: how long to wait for a servo's reply, ms (lerobot's Feetech default: 50).
    health: servo health monitor settings (registers default per arm type).
    cameras: {name: {"kind": "opencv" | "realsense", ...camera config}}, built by `make_camera`
      unless the arm is given camera objects; each gives `images.<name>`.
    task: what the arm is doing, a label for records (the deploy runtime sets it; the arm ignores it).
    """

    kind: str = "so101"
    port: str = "/dev/ttyACM0"
    id: str = "follower"
    calibration_dir: str = ""
    use_degrees: bool = True
    signs: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0, 1.0)
    offsets_rad: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0, 0.0)
    fps: float = 30.0
    max_step_rad: float = 0.15
    safe_stop: str = "hold"
    max_read_failures: int = 3
    connect_attempts: int = 2
    reply_timeout_ms: float = 50.0
    health: ServoHealthConfig | None = None
    cameras: dict[str, dict[str, Any]] = field(default_factory=dict)
    task: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from robot.config import ConfigError

        if self.kind not in ARM_TYPES:
            raise ConfigError(f"robot.kind: {self.kind!r} unknown; choose one of {sorted(ARM_TYPES)}")
        if self.safe_stop not in ("hold", "torque_off"):
            raise ConfigError(f"robot.safe_stop: must be 'hold' or 'torque_off', got {self.safe_stop!r}")
        if self.reply_timeout_ms <= 0:
            raise ConfigError(f"robot.reply_timeout_ms: must be > 0, got {self.reply_timeout_ms}")
        if self.max_step_rad <= 0:
            raise ConfigError(f"robot.max_step_rad: must be > 0, got {self.max_step_rad}")
        for name, spec in self.cameras.items():
            if not isinstance(spec, Mapping) or "kind" not in spec:
                raise ConfigError(f"robot.cameras.{name}: needs a mapping with a 'kind' (opencv or realsense), "
                                  f"got {spec!r}")

    def calibration_path(self) -> Path:
        """Where lerobot keeps this arm's calibration file."""
        return calibration_path(self.kind, self.id, self.calibration_dir)


def set_reply_timeout(bus: Any, margin_ms: float) -> None:
    """Wait `margin_ms` (plus the packet's wire time) for each servo reply on a lerobot bus.

    lerobot's Feetech bus waits 50 ms (its own patch of scservo_sdk's timeout); a slow
    USB-serial adapter (FTDI latency timer) or a loaded host can need more. This sets
    the same per-transaction timeout hook lerobot sets, with another margin.
    """
    handler = bus.port_handler

    def set_packet_timeout(packet_length: int) -> None:
        handler.packet_start_time = handler.getCurrentTime()
        handler.packet_timeout = handler.tx_time_per_byte * (packet_length + 3.0) + margin_ms

    handler.setPacketTimeout = set_packet_timeout


def build_lerobot_robot(config: LeRobotArmConfig) -> Any:
    """lerobot's follower for `config` (not connected), with calibration loaded from disk."""
    import importlib

    module, cls_name, cfg_name = ARM_TYPES[config.kind]
    try:
        mod = importlib.import_module(module)
    except ImportError:
        raise ImportError(f"the {config.kind} arm needs lerobot with motor support: pip install -e .[lerobot]") from None
    cfg = getattr(mod, cfg_name)(port=config.port, id=config.id, use_degrees=config.use_degrees,
                                 calibration_dir=config.calibration_path().parent)
    robot = getattr(mod, cls_name)(cfg)
    set_reply_timeout(robot.bus, config.reply_timeout_ms)
    return robot
