"""The task's scripted expert as a teleop source (for `robot collect --teleop scripted`)."""

from __future__ import annotations

from typing import Any

from robot.interfaces import Observation, TeleopCommand


class ScriptedTeleop:
    """Adapter giving a scripted expert the full Teleop interface (connect/disconnect are no-ops
    unless the expert has them). `get_action` must return a `TeleopCommand`; a bare (Da,) array
    from an expert is wrapped."""

    def __init__(self, expert: Any) -> None:
        self.expert = expert

    def connect(self) -> None:
        """Connect the expert if it needs it."""
        if hasattr(self.expert, "connect"):
            self.expert.connect()

    def disconnect(self) -> None:
        """Disconnect the expert if it needs it."""
        if hasattr(self.expert, "disconnect"):
            self.expert.disconnect()

    def reset(self, obs: Observation) -> None:
        """Plan a new episode from its first observation."""
        self.expert.reset(obs)

    def get_action(self, obs: Observation) -> TeleopCommand:
        """The expert's next action."""
        out = self.expert.get_action(obs)
        return out if isinstance(out, TeleopCommand) else TeleopCommand(out)


def make_scripted(task: str, env: Any, seed: int = 0, **kwargs: Any) -> ScriptedTeleop:
    """The registered expert of `task` bound to `env` (sim.registry.make_expert)."""
    from sim.registry import make_expert

    return ScriptedTeleop(make_expert(task, env, seed=seed, **kwargs))
