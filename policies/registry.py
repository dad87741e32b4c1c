"""The registry of policy families and the one factory that builds them.

    policy = make_policy(cfg, spec, store.stats())
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from policies.config import PolicyConfig
from policies.policy import GenerativePolicy
from policies.vla import VLAPolicy
from robot.errors import UnknownNameError
from robot.specs import ArraySpec, PolicySpec

POLICIES: dict[str, type[GenerativePolicy]] = {
    "diffusion": GenerativePolicy,
    "flow": GenerativePolicy,
    "vla": VLAPolicy,
}


def make_policy(
    cfg: PolicyConfig, spec: PolicySpec, stats: Mapping[str, Mapping[str, np.ndarray]]
) -> GenerativePolicy:
    """Build the policy of `cfg.kind` for `spec`, normalizing with the store's `stats`.

    stats: {key: {"min", "max", "mean", "std"}} arrays, as EpisodeStore.stats() gives.
    """
    if cfg.kind not in POLICIES:
        raise UnknownNameError(f"unknown policy kind {cfg.kind!r}; registered: {', '.join(sorted(POLICIES))}")
    return POLICIES[cfg.kind](cfg, spec, stats)


def build_spec(
    cfg: PolicyConfig,
    observations: Mapping[str, ArraySpec],
    action_dim: int,
    fps: float,
    uses_instruction: bool | None = None,
) -> PolicySpec:
    """A PolicySpec consistent with `cfg`: the `cfg.obs_keys` subset of `observations`.

    observations: per-tick specs of the body or store (e.g. BodySpec.observations).
    uses_instruction defaults to True exactly for the "vla" kind.
    """
    missing = [k for k in cfg.obs_keys if k not in observations]
    if missing:
        raise UnknownNameError(f"policy.obs_keys {missing} not among available keys {sorted(observations)}")
    return PolicySpec(
        observations={k: observations[k] for k in cfg.obs_keys},
        action_dim=int(action_dim),
        n_obs_steps=cfg.n_obs_steps,
        horizon=cfg.horizon,
        n_action_steps=cfg.n_action_steps,
        fps=float(fps),
        uses_instruction=(cfg.kind == "vla") if uses_instruction is None else uses_instruction,
    )
