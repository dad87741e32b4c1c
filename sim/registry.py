"""The registry of tasks and their scripted experts, and the factories over them.

Entries are "module:Class" strings so that importing the registry is cheap and
one task's module never has to import another's.
"""

from __future__ import annotations

import importlib
from typing import Any

ENVS: dict[str, str] = {
    "pusht": "sim.pusht:PushTEnv",
    "so101_lift": "sim.so101_lift:SO101LiftEnv",
    "so101_place": "sim.so101_place:SO101PlaceEnv",
    "so101_multi": "sim.so101_multi:SO101MultiEnv",
    "peg_insert": "sim.peg_insert:PegInsertEnv",
}

EXPERTS: dict[str, str] = {
    "pusht": "sim.experts.pusht:PushTExpert",
    "so101_lift": "sim.experts.so101:SO101LiftExpert",
    "so101_place": "sim.experts.so101:SO101PlaceExpert",
    "so101_multi": "sim.experts.so101:SO101MultiExpert",
    "peg_insert": "sim.experts.peg_insert:PegInsertExpert",
}

GYM_PREFIX = "gym:"
"""`make_env("gym:<gymnasium id>")` wraps an external gymnasium env (e.g. gym_pusht/PushT-v0)."""


def _load(ref: str) -> Any:
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


def _unknown(kind: str, name: str, table: dict[str, str]) -> KeyError:
    from robot.errors import UnknownNameError

    return UnknownNameError(f"unknown {kind} {name!r}; registered: {', '.join(sorted(table))}")


def env_class(name: str) -> type:
    """The class registered as `name`."""
    if name not in ENVS:
        raise _unknown("task", name, ENVS)
    return _load(ENVS[name])


def make_env(name: str, config: Any = None, **overrides: Any) -> Any:
    """Build task `name` from its config (defaults, a config object, or a dict of overrides).

    `name` may also be `gym:<id>` for any installed gymnasium env.
    """
    if name.startswith(GYM_PREFIX):
        from sim.gym_adapter import GymEnvAdapter

        return GymEnvAdapter(name[len(GYM_PREFIX):], **overrides)
    cls = env_class(name)
    return cls.from_config(config, **overrides)


def make_expert(name: str, env: Any, **kwargs: Any) -> Any:
    """The scripted expert of task `name`, bound to `env` (it reads privileged sim state)."""
    if name not in EXPERTS:
        raise _unknown("expert", name, EXPERTS)
    return _load(EXPERTS[name])(env, **kwargs)
