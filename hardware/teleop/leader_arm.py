"""SO-100 / SO-101 leader arm as a teleop source: joint to joint onto the follower twin.

lerobot 0.3.2's `SO101Leader` reads the leader's calibrated positions over the
Feetech bus (imported lazily, extra `lerobot`). With `use_degrees=True` the
five arm joints come in degrees from the middle of their calibrated range and
map to follower radians as `sign * radians(deg) + offset`; with
`use_degrees=False` they come in [-100, 100] and map linearly onto the
follower's joint limits. The gripper always comes in [0, 100] (0 closed) and
maps onto the follower's gripper range.

A leader arm has no buttons: operator events come from an optional second
device (`event_device`, e.g. the keyboard).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hardware.teleop.base import DeltaDevice
from robot.interfaces import Observation, TeleopCommand
from robot.specs import BodySpec

MOTORS = ("shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper")
"""Leader motor names, in the follower's action order."""


@dataclass(frozen=True)
class LeaderArmConfig:
    """Leader arm settings.

    port: serial port of the leader's bus (e.g. /dev/ttyACM0).
    id: calibration id (lerobot looks up `<calibration_dir>/<id>.json`).
    use_degrees: read the arm joints in degrees (else in [-100, 100] of the range).
    signs / offsets_rad: per arm joint, follower = sign * leader + offset (degrees mode).
    reply_timeout_ms: how long to wait for a servo's reply, ms (lerobot's default: 50).
    """

    port: str = "/dev/ttyACM0"
    id: str = "leader"
    calibration_dir: str = ""
    use_degrees: bool = True
    signs: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0, 1.0)
    offsets_rad: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0, 0.0)
    reply_timeout_ms: float = 50.0
    extra: dict[str, Any] = field(default_factory=dict)


class LeaderToFollower:
    """Maps a lerobot leader reading (`{motor}.pos`) to the follower's (6,) joint action, rad."""

    def __init__(self, body_spec: BodySpec, config: LeaderArmConfig | None = None) -> None:
        self.config = config or LeaderArmConfig()
        if body_spec.action.shape != (len(MOTORS),):
            raise ValueError(f"leader arm drives a 6-joint SO-101; task {body_spec.name!r} has actions {body_spec.action.shape}")
        if not (body_spec.action_low and body_spec.action_high):
            raise ValueError(f"task {body_spec.name!r} declares no action bounds; the leader mapping needs the joint limits")
        self.low = np.asarray(body_spec.action_low, dtype=np.float64)
        self.high = np.asarray(body_spec.action_high, dtype=np.float64)
        n_arm = len(MOTORS) - 1
        if len(self.config.signs) != n_arm or len(self.config.offsets_rad) != n_arm:
            raise ValueError(f"leader arm signs and offsets_rad need {n_arm} values each")

    def __call__(self, reading: dict[str, float]) -> np.ndarray:
        """(6,) float32 follower joint targets (rad), clipped to the follower's limits."""
        missing = [m for m in MOTORS if f"{m}.pos" not in reading]
        if missing:
            raise KeyError(f"leader reading lacks {[m + '.pos' for m in missing]}; got {sorted(reading)}")
        vals = np.array([reading[f"{m}.pos"] for m in MOTORS], dtype=np.float64)
        out = np.empty(len(MOTORS))
        arm = vals[:-1]
        if self.config.use_degrees:
            out[:-1] = np.asarray(self.config.signs) * np.radians(arm) + np.asarray(self.config.offsets_rad)
        else:
            out[:-1] = self.low[:-1] + (np.clip(arm, -100, 100) + 100.0) / 200.0 * (self.high[:-1] - self.low[:-1])
        out[-1] = self.low[-1] + np.clip(vals[-1], 0, 100) / 100.0 * (self.high[-1] - self.low[-1])
        return np.clip(out, self.low, self.high).astype(np.float32)


class LeaderArmTeleop:
    """`Teleop` reading a lerobot SO-101 leader arm (or any object with `get_action() -> {motor}.pos`)."""

    def __init__(
        self,
        body_spec: BodySpec,
        config: LeaderArmConfig | None = None,
        leader: Any | None = None,
        event_device: DeltaDevice | None = None,
    ) -> None:
        self.config = config or LeaderArmConfig()
        self.mapping = LeaderToFollower(body_spec, self.config)
        self.leader = leader
        self.event_device = event_device

    @property
    def has_events(self) -> bool:
        """Whether an operator can raise events (else the loop must not wait for START)."""
        return self.event_device is not None

    def connect(self) -> None:
        """Build (lazily importing lerobot) and connect the leader, then the event device."""
        if self.leader is None:
            self.leader = make_lerobot_leader(self.config)
        if not self.leader.is_connected:
            self.leader.connect()
        if self.event_device is not None:
            self.event_device.connect()

    def disconnect(self) -> None:
        """Disconnect the leader and the event device."""
        if self.leader is not None and self.leader.is_connected:
            self.leader.disconnect()
        if self.event_device is not None:
            self.event_device.disconnect()

    def reset(self, obs: Observation) -> None:
        """Nothing to anchor: the leader's pose is absolute."""

    def get_action(self, obs: Observation) -> TeleopCommand:
        """The follower targets matching the leader's pose, plus events from the event device."""
        action = self.mapping(self.leader.get_action())
        events = self.event_device.read().events if self.event_device is not None else set()
        return TeleopCommand(action, events)


def make_lerobot_leader(config: LeaderArmConfig) -> Any:
    """lerobot's SO101Leader for `config` (not connected)."""
    try:
        from pathlib import Path

        from lerobot.teleoperators.so101_leader import SO101Leader, SO101LeaderConfig
    except ImportError:
        raise ImportError("the leader arm needs lerobot with Feetech support: pip install -e .[lerobot]") from None
    kwargs: dict[str, Any] = {"port": config.port, "id": config.id, "use_degrees": config.use_degrees}
    if config.calibration_dir:
        kwargs["calibration_dir"] = Path(config.calibration_dir)
    from hardware.arms.lerobot_arm import set_reply_timeout

    leader = SO101Leader(SO101LeaderConfig(**kwargs))
    set_reply_timeout(leader.bus, config.reply_timeout_ms)
    return leader
