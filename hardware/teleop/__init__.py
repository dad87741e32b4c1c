"""Teleop devices: keyboard, gamepad, SpaceMouse, SO-101 leader arm, scripted expert.

`make_teleop(name, env, ...)` is the one factory; `TELEOPS` the registry.
End-effector devices (keyboard, gamepad, SpaceMouse) go through a mapper
(IK for the SO-101, planar for PushT); the leader arm maps joint to joint.
"""

from __future__ import annotations

import math
from typing import Any

from robot.errors import UnknownNameError

TELEOPS: dict[str, str] = {
    "scripted": "the task's scripted expert (sim.registry.make_expert)",
    "keyboard": "keys in a terminal (cbreak tty): w/s a/d r/f move, space gripper, Enter start, k save, x discard, q quit",
    "gamepad": "evdev gamepad (/dev/input/eventN): sticks move, bumpers gripper, Start/A/B/X/Mode events",
    "spacemouse": "3Dconnexion SpaceMouse over HID: push to move, left button gripper, right button start/stop",
    "leader": "SO-100/SO-101 leader arm through lerobot: joint to joint",
}
"""Registered teleop sources: name -> what it is."""

INTERACTIVE = frozenset({"keyboard", "gamepad", "spacemouse", "leader"})
"""Sources driven by a person: collection waits for their START event."""


def make_teleop(
    name: str,
    env: Any,
    *,
    task: str = "",
    seed: int = 0,
    step_m: float | None = None,
    options: dict[str, Any] | None = None,
) -> Any:
    """Build teleop source `name` for `env` (its `body_spec` picks the mapping).

    options: the device config as a dict (strict keys, e.g. {"tty": "/dev/pts/3"}
      for the keyboard, {"device": "/dev/input/event5"} for the gamepad).
    step_m: metres per unit of device reading per tick (end-effector devices).
    """
    from robot.config import ConfigError, from_dict

    opts = dict(options or {})
    if name not in TELEOPS:
        raise UnknownNameError(f"unknown teleop {name!r}; registered: {', '.join(sorted(TELEOPS))}")
    if name == "scripted":
        from hardware.teleop.scripted import make_scripted

        # noise (rad): Gaussian noise on the expert's joint targets; its grasps then sometimes
        # slip and it re-plans, so the demos show recoveries (successful episodes only are kept)
        unknown = sorted(set(opts) - {"noise"})
        if unknown:
            raise ConfigError(f"teleop 'scripted' takes only the option noise=<rad>, got {unknown}")
        noise = opts.get("noise", 0.0)
        if isinstance(noise, bool) or not isinstance(noise, (int, float)) or not (math.isfinite(noise) and noise >= 0.0):
            raise ConfigError(f"teleop 'scripted': noise={opts['noise']!r} must be a number >= 0 (rad)")
        return make_scripted(task or env.body_spec.name, env, seed=seed, **({"noise": noise} if noise else {}))
    if name == "leader":
        import sys

        from hardware.teleop.keyboard import KeyboardConfig, KeyboardDevice
        from hardware.teleop.leader_arm import LeaderArmConfig, LeaderArmTeleop

        # Operator events (start/save/discard/quit) come from a keyboard: the given tty, else
        # this terminal when there is one; without either, episodes run to max steps.
        events_tty = opts.pop("events_tty", None)
        cfg = from_dict(LeaderArmConfig, opts, "teleop")
        events = None
        if events_tty is not None or sys.stdin.isatty():
            events = KeyboardDevice(KeyboardConfig(tty=events_tty or ""))
        return LeaderArmTeleop(env.body_spec, cfg, event_device=events)

    from hardware.teleop.base import DeltaTeleop
    from hardware.teleop.mapping import mapper_for

    if name == "keyboard":
        from hardware.teleop.keyboard import KeyboardConfig, KeyboardDevice

        device: Any = KeyboardDevice(from_dict(KeyboardConfig, opts, "teleop"))
    elif name == "gamepad":
        from hardware.teleop.gamepad import GamepadConfig, GamepadDevice

        device = GamepadDevice(from_dict(GamepadConfig, opts, "teleop"))
    else:
        from hardware.teleop.spacemouse import SpaceMouseConfig, SpaceMouseDevice

        device = SpaceMouseDevice(from_dict(SpaceMouseConfig, opts, "teleop"))
    return DeltaTeleop(device, mapper_for(env.body_spec, env, step_m))


__all__ = ["INTERACTIVE", "TELEOPS", "make_teleop"]
