"""Dynamics of one emulated Feetech STS3215 servo: position, load, heat, protection.

Everything is in the servo's own register units: positions in ticks (4096 per
turn), load as a signed fraction of full torque (register: 0.1 % steps with the
direction in bit 10), temperature in deg C. The model is deliberately simple
but has every behaviour a driver or health monitor must handle:

- with torque on, the joint moves toward its (limit-clamped) goal with a
  proportional speed capped at `max_speed_ticks_s`;
- moving freely, effort = external load + `moving_effort` x speed fraction;
  an external load at or above the Torque_Limit register (or an injected
  stuck joint) stops the joint, which then pushes with effort = position
  error / `full_effort_error_ticks` + external load, saturated at the limit;
- effort above Overload_Torque (%) for Protection_Time (x 10 ms) sets the
  overload bit of Status (65) and drops torque, as the real servo does;
- temperature rises with effort squared and relaxes to ambient; above
  Max_Temperature_Limit (13) it sets the over-temperature bit and drops torque.
"""

from __future__ import annotations

from dataclasses import dataclass

# Control table addresses (lerobot motors/feetech/tables.py, STS/SMS series).
MODEL_NUMBER, ID, MIN_LIMIT, MAX_LIMIT, MAX_TEMP_LIMIT, MAX_TORQUE_LIMIT = 3, 5, 9, 11, 13, 16
HOMING_OFFSET, PROTECTION_TIME, OVERLOAD_TORQUE = 31, 35, 36
TORQUE_ENABLE, GOAL_POSITION, TORQUE_LIMIT, LOCK = 40, 42, 48, 55
PRESENT_POSITION, PRESENT_VELOCITY, PRESENT_LOAD, PRESENT_VOLTAGE = 56, 58, 60, 62
PRESENT_TEMPERATURE, STATUS, MOVING, PRESENT_CURRENT = 63, 65, 66, 69

# Status (65) bits, also the error byte of every status packet (scservo_sdk ERRBIT_*).
ERR_VOLTAGE, ERR_ANGLE, ERR_OVERHEAT, ERR_OVERCURRENT, ERR_OVERLOAD = 1, 2, 4, 8, 32

TICKS_PER_TURN = 4096


@dataclass(frozen=True)
class ServoPhysics:
    """Physical constants of the emulated servo.

    max_speed_ticks_s: no-load speed, ticks/s (STS3215 at 7.4 V: ~0.22 s / 60 deg, ~3000 ticks/s).
    gain_per_s: proportional speed gain, 1/s (speed = gain * error, capped).
    full_effort_error_ticks: position error that demands full torque.
    heat_c_per_s: heating rate at full effort, deg C / s.
    cooling_tau_s: time constant of cooling back to `ambient_c`, s.
    stall_current_ma: current at full effort, mA (Present_Current counts 6.5 mA steps).
    moving_effort: effort (fraction of full torque) of moving freely at full speed (friction, inertia).
    """

    max_speed_ticks_s: float = 3000.0
    gain_per_s: float = 25.0
    full_effort_error_ticks: float = 400.0
    heat_c_per_s: float = 4.0
    cooling_tau_s: float = 60.0
    ambient_c: float = 28.0
    stall_current_ma: float = 2700.0
    moving_effort: float = 0.3


class ServoState:
    """One servo: a 256-byte control table plus the continuous state behind it."""

    def __init__(self, servo_id: int, physics: ServoPhysics, model_number: int = 777,
                 firmware: tuple[int, int] = (3, 10), position: int = 2048) -> None:
        self.physics = physics
        self.table = bytearray(256)
        self.table[0], self.table[1] = firmware
        self.set(MODEL_NUMBER, model_number, 2)
        self.table[ID] = servo_id
        self.set(MAX_LIMIT, TICKS_PER_TURN - 1, 2)
        self.table[MAX_TEMP_LIMIT] = 70
        self.set(MAX_TORQUE_LIMIT, 1000, 2)
        self.set(TORQUE_LIMIT, 1000, 2)
        self.table[OVERLOAD_TORQUE] = 80
        self.table[PROTECTION_TIME] = 20
        self.table[PRESENT_VOLTAGE] = 74
        self.pos = float(position)
        self.set(GOAL_POSITION, position, 2)
        self.temp = physics.ambient_c
        self.effort = 0.0
        self.velocity = 0.0
        self.overload_s = 0.0
        # Injected conditions (fault injection).
        self.external_load = 0.0
        self.stuck = False
        self.silent = False
        self.corrupt_replies = 0
        self.forced_status = 0
        self._publish()

    def get(self, addr: int, length: int = 2) -> int:
        """Unsigned little-endian register value."""
        return int.from_bytes(self.table[addr:addr + length], "little")

    def set(self, addr: int, value: int, length: int = 2) -> None:
        """Write an unsigned little-endian register value."""
        self.table[addr:addr + length] = int(value).to_bytes(length, "little")

    @property
    def torque_on(self) -> bool:
        """Torque_Enable register."""
        return self.table[TORQUE_ENABLE] == 1

    @property
    def status(self) -> int:
        """Status bits (65), the error byte of this servo's replies."""
        return self.table[STATUS] | self.forced_status

    def on_write(self, addr: int, length: int) -> None:
        """React to a host write: enabling torque clears a latched protection if its cause is gone."""
        if addr <= TORQUE_ENABLE < addr + length and self.torque_on:
            bits = self.table[STATUS] & ~ERR_OVERLOAD
            if self.temp < self.table[MAX_TEMP_LIMIT]:
                bits &= ~ERR_OVERHEAT
            self.table[STATUS] = bits
            self.overload_s = 0.0
            if bits & (ERR_OVERHEAT | ERR_OVERLOAD):
                self.table[TORQUE_ENABLE] = 0
        if addr <= PRESENT_POSITION < addr + length:  # a host may not move a servo by writing its position
            self._publish()

    def _goal(self) -> float:
        goal = float(self.get(GOAL_POSITION))
        lo, hi = self.get(MIN_LIMIT), self.get(MAX_LIMIT)
        return min(max(goal, lo), hi) if hi > lo else goal

    def advance(self, dt: float) -> None:
        """Integrate `dt` seconds of motion, effort, heat and protection."""
        if dt <= 0:
            return
        p = self.physics
        limit = min(self.get(TORQUE_LIMIT), self.get(MAX_TORQUE_LIMIT)) / 1000.0
        if self.torque_on:
            error = self._goal() - self.pos
            # An external load at or above the torque limit, or a jammed joint, holds it in place;
            # then the position loop pushes against it with effort growing with the error.
            blocked = self.stuck or abs(self.external_load) >= limit
            if blocked:
                demand = max(-1.0, min(1.0, error / p.full_effort_error_ticks))
                speed = 0.0
                self.effort = max(-limit, min(limit, demand + self.external_load))
            else:
                speed = max(-p.max_speed_ticks_s, min(p.max_speed_ticks_s, p.gain_per_s * error))
                friction = p.moving_effort * speed / p.max_speed_ticks_s
                self.effort = max(-limit, min(limit, self.external_load + friction))
            step = max(-abs(error), min(abs(error), speed * dt))  # never overshoot the goal in one step
            self.pos += step
            self.velocity = step / dt
            if abs(self.effort) * 100.0 >= self.table[OVERLOAD_TORQUE]:
                self.overload_s += dt
                if self.overload_s >= self.table[PROTECTION_TIME] * 0.01:
                    self.table[STATUS] |= ERR_OVERLOAD
                    self.table[TORQUE_ENABLE] = 0
            else:
                self.overload_s = 0.0
        else:
            self.effort = max(-1.0, min(1.0, self.external_load)) if self.stuck else 0.0
            self.velocity = 0.0
        self.temp += (p.heat_c_per_s * self.effort ** 2 - (self.temp - p.ambient_c) / p.cooling_tau_s) * dt
        if self.temp >= self.table[MAX_TEMP_LIMIT]:
            self.table[STATUS] |= ERR_OVERHEAT
            self.table[TORQUE_ENABLE] = 0
        self._publish()

    def _publish(self) -> None:
        """Mirror the continuous state into the read-only registers."""
        self.set(PRESENT_POSITION, int(round(self.pos)) % TICKS_PER_TURN)
        vel = int(round(abs(self.velocity)))
        self.set(PRESENT_VELOCITY, min(vel, 0x7FFF) | (0x8000 if self.velocity < 0 else 0))
        load = min(int(round(abs(self.effort) * 1000)), 1000)
        self.set(PRESENT_LOAD, load | (0x400 if self.effort < 0 else 0))
        self.table[PRESENT_TEMPERATURE] = max(0, min(255, int(round(self.temp))))
        self.table[MOVING] = 1 if abs(self.velocity) > 1.0 else 0
        self.set(PRESENT_CURRENT, int(abs(self.effort) * self.physics.stall_current_ma / 6.5))
