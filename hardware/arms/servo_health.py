"""Servo health: temperature, load and status read at a low rate, derating and safe-stop decisions.

The monitor never owns the bus: the arm calls `poll(now)` once per control
tick and the monitor reads at most one register then (one sync read of one
register for every servo, registers interleaved), so a full sweep of
temperature, load and status costs `len(registers)` short bus transactions
every `1 / rate_hz` seconds and never stalls a tick. The arm also feeds it
each tick's goal and measured positions (`track`) to catch a joint that does
not reach its goal.

Decisions (all thresholds in `ServoHealthConfig`):
- derating: above `derate_temp_c` the arm's per-tick step limit scales
  linearly down to `derate_min_factor` at `max_temp_c` (`speed_factor()`);
- fatal faults (the arm then safe-stops): temperature >= `max_temp_c`, the
  status overload / over-temperature bits, load >= `overload_pct` for
  `overload_s`, `max_read_failures` consecutive failed reads, a joint more
  than `goal_error_rad` from its goal for `goal_timeout_s`.
Each fault names the joint: "servo 'elbow_flex' (id 3): over-temperature 71 C >= 65 C".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

STATUS_BITS = {1: "input voltage error", 2: "angle sensor error", 4: "over-temperature (status bit)",
               8: "over-current / encoder error", 16: "electrical shock", 32: "overload (status bit)"}
"""Feetech Status (65) and Dynamixel Hardware_Error_Status (70) bits: the fatal ones (4, 8, 32) agree."""
FATAL_STATUS = 4 | 8 | 16 | 32


@dataclass(frozen=True)
class ServoHealthConfig:
    """Health thresholds and read rate.

    rate_hz: full sweeps of the health registers per second (each register once per sweep).
    registers: (kind, lerobot register name) pairs read in turn; kind in temperature / load / status.
    derate_temp_c / max_temp_c: deg C where derating starts / the arm stops.
    derate_min_factor: speed factor at max_temp_c (0..1].
    overload_pct / overload_s: load (% of full torque) that, held this long (s), stops the arm.
    max_read_failures: consecutive failed bus reads (health or position) that stop the arm.
    goal_error_rad / goal_timeout_s: a joint this far from its goal for this long (s) stops the arm.
    """

    rate_hz: float = 2.0
    registers: tuple[tuple[str, str], ...] = (("temperature", "Present_Temperature"), ("load", "Present_Load"),
                                              ("status", "Status"))
    derate_temp_c: float = 55.0
    max_temp_c: float = 65.0
    derate_min_factor: float = 0.3
    overload_pct: float = 90.0
    overload_s: float = 0.5
    max_read_failures: int = 3
    goal_error_rad: float = 0.35
    goal_timeout_s: float = 1.5

    def __post_init__(self) -> None:
        from robot.config import ConfigError

        if self.rate_hz <= 0:
            raise ConfigError(f"health.rate_hz: must be > 0, got {self.rate_hz}")
        if not self.derate_temp_c < self.max_temp_c:
            raise ConfigError(f"health.derate_temp_c ({self.derate_temp_c}) must be below max_temp_c ({self.max_temp_c})")
        if not 0 < self.derate_min_factor <= 1:
            raise ConfigError(f"health.derate_min_factor: must be in (0, 1], got {self.derate_min_factor}")
        kinds = {k for k, _ in self.registers}
        if not kinds <= {"temperature", "load", "status"}:
            raise ConfigError(f"health.registers: kinds must be temperature / load / status, got {sorted(kinds)}")


def decode_load_pct(raw: int) -> float:
    """Feetech Present_Load -> signed % of full torque (0.1 % steps, direction in bit 10)."""
    mag = (raw & 0x3FF) / 10.0
    return -mag if raw & 0x400 else mag


class ServoHealthMonitor:
    """Low-rate health reads and fault decisions for the servos of one arm.

    motors: {joint name: servo id}, in the arm's joint order.
    read_register: `(register name) -> {joint name: raw value}`; raises on a bus error.
    """

    def __init__(self, motors: Mapping[str, int], read_register: Callable[[str], Mapping[str, int]],
                 config: ServoHealthConfig | None = None) -> None:
        self.config = config or ServoHealthConfig()
        self.motors = dict(motors)
        self.read_register = read_register
        self.temperature_c = dict.fromkeys(self.motors, float("nan"))
        self.load_pct = dict.fromkeys(self.motors, 0.0)
        self.status = dict.fromkeys(self.motors, 0)
        self.read_failures = 0
        self.reads = 0
        self._next = 0
        self._due = -np.inf
        self._overload_since: dict[str, float] = {}
        self._off_goal_since: dict[str, float] = {}
        self._faults: dict[str, str] = {}  # key -> message, latched until reset()

    def _name(self, joint: str) -> str:
        return f"servo '{joint}' (id {self.motors[joint]})"

    def reset(self) -> None:
        """Clear latched faults and timers (after the operator fixed the cause)."""
        self._faults.clear()
        self._overload_since.clear()
        self._off_goal_since.clear()
        self.read_failures = 0

    def faults(self) -> list[str]:
        """Current faults, each naming the joint (empty: healthy)."""
        return list(self._faults.values())

    def add_fault(self, key: str, message: str) -> None:
        """Latch a fault found outside the monitor (e.g. a silent servo found by the arm)."""
        self._faults.setdefault(key, message)

    def speed_factor(self) -> float:
        """Step-limit scale in [derate_min_factor, 1] from the hottest servo's temperature."""
        cfg = self.config
        temps = [t for t in self.temperature_c.values() if np.isfinite(t)]
        if not temps:
            return 1.0
        frac = (max(temps) - cfg.derate_temp_c) / (cfg.max_temp_c - cfg.derate_temp_c)
        return float(1.0 - np.clip(frac, 0.0, 1.0) * (1.0 - cfg.derate_min_factor))

    def record_read(self, ok: bool, what: str = "bus read") -> None:
        """Count a bus read's outcome (the arm reports its position reads here too)."""
        self.read_failures = 0 if ok else self.read_failures + 1
        if self.read_failures >= self.config.max_read_failures:
            self.add_fault("read_failures", f"{self.read_failures} consecutive failed {what}s "
                                            f"(>= max_read_failures={self.config.max_read_failures})")

    def poll(self, now: float) -> bool:
        """Read the next health register if one is due; returns whether a read happened."""
        cfg = self.config
        if now < self._due or not cfg.registers:
            return False
        kind, register = cfg.registers[self._next % len(cfg.registers)]
        self._next += 1
        period = 1.0 / (cfg.rate_hz * len(cfg.registers))
        # Fixed cadence (not "period after the last read"), never a burst to catch up.
        self._due = now + period if not np.isfinite(self._due) else max(self._due + period, now)
        self.reads += 1
        try:
            values = self.read_register(register)
        except (ConnectionError, RuntimeError, OSError) as e:
            self.record_read(False, f"health read of {register}")
            self._last_error = str(e)
            return True
        self.record_read(True)
        for joint, raw in values.items():
            if joint in self.motors:
                self._update(kind, joint, int(raw), now)
        return True

    def _update(self, kind: str, joint: str, raw: int, now: float) -> None:
        cfg = self.config
        name = self._name(joint)
        if kind == "temperature":
            self.temperature_c[joint] = float(raw)
            if raw >= cfg.max_temp_c:
                self.add_fault(f"temp:{joint}", f"{name}: over-temperature {raw} C >= {cfg.max_temp_c:g} C")
        elif kind == "load":
            pct = decode_load_pct(raw)
            self.load_pct[joint] = pct
            if abs(pct) >= cfg.overload_pct:
                since = self._overload_since.setdefault(joint, now)
                if now - since >= cfg.overload_s:
                    self.add_fault(f"load:{joint}", f"{name}: overload {abs(pct):.0f}% >= {cfg.overload_pct:g}% "
                                                   f"for {now - since:.1f} s")
            else:
                self._overload_since.pop(joint, None)
        elif kind == "status":
            self.status[joint] = raw
            if raw & FATAL_STATUS:
                what = ", ".join(text for bit, text in STATUS_BITS.items() if raw & bit)
                self.add_fault(f"status:{joint}", f"{name}: {what} (Status=0x{raw:02x})")

    def track(self, goal: np.ndarray | None, present: np.ndarray, now: float, joints: Sequence[str]) -> None:
        """Check each joint reaches its goal: (n,) goal and measured rad, in `joints` order."""
        if goal is None:
            return
        cfg = self.config
        err = np.abs(np.asarray(goal, dtype=np.float64) - np.asarray(present, dtype=np.float64))
        for joint, e in zip(joints, err, strict=True):
            if e > cfg.goal_error_rad:
                since = self._off_goal_since.setdefault(joint, now)
                if now - since >= cfg.goal_timeout_s:
                    self.add_fault(f"goal:{joint}", f"{self._name(joint)}: not reaching its goal, "
                                                   f"{e:.2f} rad off for {now - since:.1f} s "
                                                   f"(> {cfg.goal_error_rad:g} rad for {cfg.goal_timeout_s:g} s)")
            else:
                self._off_goal_since.pop(joint, None)
