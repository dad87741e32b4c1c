"""Shared pieces of the end-effector teleop devices: readings, mappers, `DeltaTeleop`.

A device (keyboard, gamepad, SpaceMouse) only turns its raw input into a
`DeviceReading`: a unit-less translation/rotation increment for this tick, an
optional gripper command and operator events. An `ActionMapper` turns the
reading into the body's action (joint targets through IK for an arm, a planar
target for PushT). `DeltaTeleop(device, mapper)` glues the two into the
`robot.interfaces.Teleop` interface the control loop drives.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from robot.interfaces import Observation, TeleopCommand, TeleopEvent


@dataclass
class DeviceReading:
    """One tick of a delta device.

    translation: (3,) x, y, z increments in device units per tick; a full
      stick deflection or one key press is 1.0. The mapper scales to metres.
    rotation: (3,) roll, pitch, yaw increments, same units (unused by
      position-only mappers).
    gripper: None = unchanged, else target opening in [0, 1] (0 closed, 1 open).
    events: operator events raised since the last reading.
    """

    translation: np.ndarray = field(default_factory=lambda: np.zeros(3))
    rotation: np.ndarray = field(default_factory=lambda: np.zeros(3))
    gripper: float | None = None
    events: set[TeleopEvent] = field(default_factory=set)

    @property
    def is_idle(self) -> bool:
        """No motion and no gripper change."""
        return self.gripper is None and not np.any(self.translation) and not np.any(self.rotation)


@runtime_checkable
class DeltaDevice(Protocol):
    """An input device producing `DeviceReading`s; `read` never blocks."""

    def connect(self) -> None: ...

    def disconnect(self) -> None: ...

    def read(self) -> DeviceReading: ...


@runtime_checkable
class ActionMapper(Protocol):
    """Turns device readings into actions of one body, holding its own target."""

    def reset(self, obs: Observation) -> None:
        """Anchor the target at the body's current pose."""
        ...

    def map(self, reading: DeviceReading, obs: Observation) -> np.ndarray:
        """(Da,) action in robot units for this tick."""
        ...


class DeltaTeleop:
    """`Teleop` over a delta device and an action mapper.

    The action is produced every tick (the mapper's held target), so an idle
    operator holds the arm still instead of letting it drop.
    """

    def __init__(self, device: DeltaDevice, mapper: ActionMapper) -> None:
        self.device = device
        self.mapper = mapper
        self._connected = False

    def connect(self) -> None:
        """Open the device."""
        if not self._connected:
            self.device.connect()
            self._connected = True

    def disconnect(self) -> None:
        """Close the device (restores terminal modes etc.)."""
        if self._connected:
            self.device.disconnect()
            self._connected = False

    def __enter__(self) -> DeltaTeleop:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.disconnect()

    def reset(self, obs: Observation) -> None:
        """Re-anchor the mapper at the new episode's first observation.

        A device with a gripper toggle is synced to the body's gripper, so the
        first toggle press always changes the gripper's state.
        """
        self.mapper.reset(obs)
        opening = getattr(self.mapper, "gripper_opening", None)
        sync = getattr(self.device, "reset_gripper", None)
        if opening is not None and sync is not None:
            sync(opening())

    def get_action(self, obs: Observation) -> TeleopCommand:
        """Read the device and map it to an action."""
        reading = self.device.read()
        return TeleopCommand(self.mapper.map(reading, obs), set(reading.events))
