"""A policy drives a real MuJoCo task through the one ControlLoop via PolicySource (stepped and async)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from policies.config import PolicyConfig
from policies.registry import build_spec, make_policy
from robot.runtime import ControlLoop, LoopConfig
from robot.runtime.inference import NonFiniteChunkError
from robot.runtime.policy_source import PolicySource, PolicySourceConfig, RTCConfig
from sim.registry import make_env

sys.path.insert(0, str(Path(__file__).parent.parent / "policies"))
from test_policy_env import stats_for  # noqa: E402


class RecordingEnv:
    """Wraps a real env and keeps every action it was stepped with."""

    def __init__(self, env):
        self.env, self.body_spec, self.actions = env, env.body_spec, []

    def reset(self, *, seed=None, options=None):
        return self.env.reset(seed=seed)

    def step(self, action):
        self.actions.append(np.array(action))
        return self.env.step(action)


def lift_policy(env):
    cfg = PolicyConfig.from_config(
        None, kind="flow", n_obs_steps=2, horizon=16, n_action_steps=8, obs_keys=("state",),
        encoder={"state_hidden": [32], "state_out": 16},
        head={"unet_down_dims": [16, 32], "time_embed_dim": 16, "inference_steps": 3},
    )
    bs = env.body_spec
    torch.manual_seed(0)
    return make_policy(cfg, build_spec(cfg, bs.observations, bs.action.shape[0], bs.fps), stats_for(env))


@pytest.mark.parametrize(("mode", "aggregation", "rtc"), [
    ("stepped", "latest_only", False), ("stepped", "weighted_average", True), ("async", "temporal_ensemble", True),
])
def test_policy_source_drives_so101_lift_through_the_loop(mode, aggregation, rtc):
    env = RecordingEnv(make_env("so101_lift", cameras=(), privileged_state=True))
    policy = lift_policy(env)
    cfg = PolicySourceConfig(mode=mode, aggregation=aggregation, delay_ticks=2 if mode == "stepped" else 0,
                             rtc=RTCConfig(enabled=rtc))
    source = PolicySource(policy, cfg)
    # Stepped mode is machine-independent (the delay is counted in ticks), so it runs as fast as it can;
    # async inference runs on its own thread, so the loop keeps real time (30 Hz) as in deployment.
    steps = 30 if mode == "stepped" else 60
    loop = ControlLoop(env, source, config=LoopConfig(realtime=mode == "async", max_steps=steps,
                                                      settle_ticks=10**6), source_kind="policy")
    try:
        result = loop.run_episode(seed=3)
    finally:
        source.close()
    assert result.steps == steps and len(env.actions) == steps
    acts = np.stack(env.actions)
    assert np.isfinite(acts).all()
    assert len(np.unique(acts[:, 0])) > 10, "the policy's chunks are executed, not one held command"
    assert source.stats.chunks >= 3
    if mode == "stepped":
        assert source.stats.stalled_ticks_total == 2, "only the first chunk's delay is dead time"


def test_nan_policy_stops_the_episode_before_any_bad_action():
    env = RecordingEnv(make_env("so101_lift", cameras=(), privileged_state=True))
    policy = lift_policy(env)
    with torch.no_grad():
        for p in policy.head.parameters():
            p.fill_(float("nan"))
    source = PolicySource(policy, PolicySourceConfig(mode="stepped"))
    loop = ControlLoop(env, source, config=LoopConfig(realtime=False, max_steps=10))
    with pytest.raises(NonFiniteChunkError):
        loop.run_episode(seed=0)
    assert env.actions == [], "no action reached the body"
