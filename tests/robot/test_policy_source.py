"""PolicySource + InferenceWorker: threshold path, delays, sync mode, failures, async thread, RTC prefix."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from robot.config import ConfigError, load_config
from robot.runtime.inference import (
    InferenceError,
    InferenceRequest,
    InferenceWorker,
    NonFiniteChunkError,
)
from robot.runtime.policy_source import PolicySource, PolicySourceConfig, RTCConfig

sys.path.insert(0, str(Path(__file__).parent))
from policy_fakes import FakeClock, TickPolicy, obs_at  # noqa: E402


def drive(source: PolicySource, ticks: int, start: int = 0) -> list:
    """Reset on obs_at(start) and run `ticks` ticks; returns the first action value per tick (None: stalled)."""
    source.reset(obs_at(start))
    out = []
    for t in range(start, start + ticks):
        cmd = source.get_action(obs_at(t))
        out.append(None if cmd.action is None else float(cmd.action[0]))
    return out


@pytest.mark.parametrize(("threshold", "expected_ticks"), [(0.5, [0, 4, 8, 12]), (0.25, [0, 6, 12])])
def test_the_request_threshold_triggers_the_next_chunk(threshold, expected_ticks):
    policy = TickPolicy(horizon=8)
    src = PolicySource(policy, PolicySourceConfig(mode="stepped", request_threshold=threshold,
                                                  aggregation="latest_only"))
    actions = drive(src, 14)
    assert [k for k, _ in policy.calls] == expected_ticks
    assert actions == list(range(14)), "every tick executes its own action: no stall, no jump"
    assert src.stats.stalled_ticks_total == 0


@pytest.mark.parametrize("delay", [1, 3])
def test_inference_delay_drops_past_actions_and_stalls_only_at_start(delay):
    policy = TickPolicy(horizon=8)
    src = PolicySource(policy, PolicySourceConfig(mode="stepped", delay_ticks=delay, aggregation="latest_only"))
    actions = drive(src, 20)
    assert actions[:delay] == [None] * delay
    assert actions[delay:] == list(range(delay, 20)), "chunks are aligned to the tick they were computed for"
    assert src.stats.dropped_actions > 0
    assert src.telemetry()["stalled_ticks"] == 0
    assert src.stats.stalled_ticks_total == delay


def test_telemetry_keys_and_values_with_a_fake_clock():
    clock = FakeClock(100.0)

    class Slow(TickPolicy):
        def predict_chunk(self, obs, noise=None, **kw):
            clock.advance(0.05)
            return super().predict_chunk(obs, noise, **kw)

    src = PolicySource(Slow(horizon=8), PolicySourceConfig(mode="stepped", delay_ticks=2), clock=clock)
    src.reset(obs_at(0))
    src.get_action(obs_at(0))
    tel = src.telemetry()
    assert set(tel) == {"inference_ms", "queue_depth", "stalled_ticks", "chunk_age_ms"}
    assert tel["stalled_ticks"] == 1 and np.isnan(tel["chunk_age_ms"])
    assert tel["inference_ms"] == pytest.approx(50.0)
    src.get_action(obs_at(1))
    src.get_action(obs_at(2))  # the chunk from tick 0 arrives: actions 0, 1 dropped, 2 served
    clock.advance(0.01)
    tel = src.telemetry()
    assert tel["stalled_ticks"] == 0 and tel["queue_depth"] == 5
    assert tel["chunk_age_ms"] == pytest.approx(60.0)


def test_sync_mode_infers_then_executes_te_actions_and_counts_blocking():
    clock = FakeClock()

    class Slow(TickPolicy):
        def predict_chunk(self, obs, noise=None, **kw):
            clock.advance(0.04)
            return super().predict_chunk(obs, noise, **kw)

    policy = Slow(horizon=8, n_action_steps=4)
    src = PolicySource(policy, PolicySourceConfig(mode="sync"), clock=clock)
    actions = drive(src, 12)
    assert actions == list(range(12))
    assert [k for k, _ in policy.calls] == [0, 4, 8]
    assert src.stats.blocked_s == pytest.approx(0.12)


def test_history_repeats_the_first_observation_and_passes_the_instruction():
    policy = TickPolicy(horizon=8, n_obs_steps=3)
    src = PolicySource(policy, PolicySourceConfig(mode="stepped", request_threshold=1.0))
    drive(src, 3)
    np.testing.assert_array_equal(policy.histories[0], [0, 0, 0])
    np.testing.assert_array_equal(policy.histories[1], [0, 0, 1])
    assert policy.instructions[0] == ["lift the cube"]


def test_missing_observation_key_names_it():
    src = PolicySource(TickPolicy(), PolicySourceConfig(mode="stepped"))
    with pytest.raises(KeyError, match="lacks 'state'"):
        src.reset({"images.front": np.zeros((2, 2, 3), np.uint8)})


def test_nan_chunk_and_policy_exception_surface_from_get_action():
    policy = TickPolicy(horizon=8)
    policy.nan_at = {4}
    src = PolicySource(policy, PolicySourceConfig(mode="stepped", aggregation="latest_only"))
    src.reset(obs_at(0))
    executed = [float(src.get_action(obs_at(t)).action[0]) for t in range(4)]
    with pytest.raises(NonFiniteChunkError, match="non-finite"):
        src.get_action(obs_at(4))
    assert all(np.isfinite(executed))
    policy.raise_at = {0}
    with pytest.raises(InferenceError, match="boom at tick 0") as info:
        drive(src, 2)
    assert isinstance(info.value.__cause__, RuntimeError)


def test_async_worker_never_blocks_the_loop_and_latest_observation_wins():
    policy = TickPolicy(horizon=8)
    policy.gate = threading.Event()
    src = PolicySource(policy, PolicySourceConfig(mode="async", aggregation="latest_only"))
    try:
        src.reset(obs_at(0))
        assert policy.started.wait(5.0)
        # The policy is stuck in predict_chunk: ticks still return at once, with no action.
        assert [src.get_action(obs_at(t)).action for t in range(3)] == [None] * 3
        assert src.telemetry()["stalled_ticks"] == 3
        w = src.worker
        w.submit(InferenceRequest(src._batch(), 1, 0.0))
        w.submit(InferenceRequest(src._batch(), 2, 0.0))
        assert w.replaced == 1, "a request not yet started is replaced by the newer one"
        policy.gate.set()
        for _ in range(500):
            if not w.busy:
                break
            threading.Event().wait(0.01)
        cmd = src.get_action(obs_at(3))
        assert cmd.action is not None and float(cmd.action[0]) == 3
        assert [k for k, _ in policy.calls] == [0, 2], "the stale request for tick 1 never ran"
    finally:
        src.close()
    assert not w._thread.is_alive()


def test_async_exception_is_raised_on_the_control_thread():
    policy = TickPolicy(horizon=8)
    policy.raise_at = {0}
    worker = InferenceWorker(policy)
    try:
        worker.submit(InferenceRequest({"state": np.zeros((1, 2, 3), np.float32)}, 0, 0.0))
        for _ in range(500):
            if not worker.busy:
                break
            threading.Event().wait(0.01)
        with pytest.raises(InferenceError, match="RuntimeError: boom"):
            worker.poll()
    finally:
        worker.close()


def test_rtc_passes_the_committed_prefix_and_delay():
    policy = TickPolicy(horizon=8)
    cfg = PolicySourceConfig(mode="stepped", delay_ticks=2, rtc=RTCConfig(enabled=True, max_guidance_weight=3.0))
    src = PolicySource(policy, cfg)
    drive(src, 8)
    (k0, kw0), (k1, kw1) = policy.calls[:2]
    assert "prefix" not in kw0, "nothing is committed for the first chunk"
    np.testing.assert_array_equal(kw1["prefix"][0, :, 0], np.arange(k1, 8))
    assert kw1["prefix_delay"] == 2 and kw1["max_guidance_weight"] == 3.0 and kw1["prefix_schedule"] == "exp"
    assert kw1["prefix_method"] == "guidance"


def test_config_loads_from_yaml_and_names_a_wrong_key(tmp_path):
    path = tmp_path / "src.yaml"
    path.write_text("mode: stepped\ndelay_ticks: 2\naggregation: temporal_ensemble\nrtc: {enabled: true}\n")
    cfg = load_config(PolicySourceConfig, path)
    assert cfg.rtc.enabled and cfg.delay_ticks == 2
    path.write_text("rtc: {beta: 5}\n")
    with pytest.raises(ConfigError, match="rtc.beta"):
        load_config(PolicySourceConfig, path)
    with pytest.raises(ValueError, match="stepped"):
        PolicySourceConfig(mode="async", delay_ticks=2)


def test_rtc_on_a_policy_without_support_is_refused_up_front():
    policy = TickPolicy()
    policy.supports_rtc = False
    with pytest.raises(ValueError, match="does not support real-time chunking"):
        PolicySource(policy, PolicySourceConfig(rtc=RTCConfig(enabled=True)))


def test_runtime_presets_load():
    presets = sorted((Path(__file__).parents[2] / "configs" / "runtime").glob("*.yaml"))
    assert presets
    for path in presets:
        cfg = load_config(PolicySourceConfig, path)
        assert cfg.mode == "async"
