"""PolicySource: a trained policy as the control loop's action source (the Teleop interface).

Chain, one job per piece:

    obs per tick -> observation history (To steps, first one repeated)
                 -> InferenceWorker (thread; latest request wins; timestamped chunks)
                 -> ChunkExecutor (tick-indexed queue; drop past actions; aggregate overlaps)
                 -> TeleopCommand(action for this tick) -> safety filters -> body

Modes (`PolicySourceConfig.mode`):
- "async": the worker runs on its own thread; a new chunk is requested when
  the queue falls to `request_threshold` x chunk length; the loop never waits.
  A tick with nothing queued returns no action (the loop holds the last
  command) and counts as stalled.
- "sync": infer, then execute: when the queue is empty the tick blocks on
  inference, then the first Te actions run (the reference the async mode is
  measured against; `policies/eval.py` semantics).
- "stepped": inference computed inline but released exactly `delay_ticks`
  ticks later: a machine-independent emulation of an inference delay for
  benchmarks and tests (e.g. the RTC delay sweep).

Real-time chunking (`rtc.enabled`): each request passes the actions already
queued for the ticks the new chunk covers (`prefix` (1, K, Da), robot units)
and the expected delay d in ticks to `policy.predict_chunk`, which inpaints
the new chunk from them (see policies/rtc.py). The policy must accept the
keyword arguments `prefix`, `prefix_delay`, `prefix_schedule`,
`max_guidance_weight` and `prefix_method`, and say so with `supports_rtc = True`.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from robot.interfaces import Observation, TeleopCommand
from robot.keys import INSTRUCTION
from robot.runtime.executor import ChunkExecutor, ExecutorConfig, get_aggregator
from robot.runtime.inference import InferenceRequest, InferenceWorker, TimedChunk


@dataclass(frozen=True)
class RTCConfig:
    """Real-time chunking: inpaint the next chunk from the committed prefix.

    enabled: pass the prefix to the policy (needs `policy.supports_rtc`).
    schedule: soft mask over the prefix after the delay: "exp" (the paper's),
      "linear", "ones" (hard inpainting of the whole prefix) or "zeros".
    max_guidance_weight: cap beta of the guidance weight (5 in the paper's code).
    method: "guidance" (the paper's guided flow sampling) or "inpaint" (blend
      the prefix in after each step; diffusion policies always inpaint).
    delay: ticks until the new chunk is expected (-1: estimate from the latest
      inference latency, or `delay_ticks` in stepped mode).
    """

    enabled: bool = False
    schedule: Literal["exp", "linear", "ones", "zeros"] = "exp"
    max_guidance_weight: float = 5.0
    method: Literal["guidance", "inpaint"] = "guidance"
    delay: int = -1

    def __post_init__(self) -> None:
        if self.max_guidance_weight <= 0:
            raise ValueError(f"rtc.max_guidance_weight must be > 0, got {self.max_guidance_weight}")
        if self.delay < -1:
            raise ValueError(f"rtc.delay must be >= -1 (-1: estimate), got {self.delay}")


@dataclass(frozen=True)
class PolicySourceConfig:
    """How a policy drives the loop (YAML: `robot.config.load_config(PolicySourceConfig, path)`).

    mode: "async" | "sync" | "stepped" (see the module docstring).
    request_threshold: ask for the next chunk when queued actions <= this
      fraction of the chunk length (lerobot: 0.5); in (0, 1].
    aggregation: overlap blending, a name in robot.runtime.executor.AGGREGATORS.
    temporal_ensemble_coeff: ACT weight decay m (temporal_ensemble only).
    actions_per_chunk: leading actions of a chunk that are queued (0: Ta in
      async/stepped mode, Te in sync mode).
    inference_steps: denoising steps per chunk (0: the policy's own).
    delay_ticks: stepped mode only: ticks between a request and its chunk.
    fps: tick rate for the RTC delay estimate (0: the policy spec's fps).
    rtc: real-time chunking settings.
    """

    mode: Literal["async", "sync", "stepped"] = "async"
    request_threshold: float = 0.5
    aggregation: str = "weighted_average"
    temporal_ensemble_coeff: float = 0.01
    actions_per_chunk: int = 0
    inference_steps: int = 0
    delay_ticks: int = 0
    fps: float = 0.0
    rtc: RTCConfig = field(default_factory=RTCConfig)

    def __post_init__(self) -> None:
        if not 0.0 < self.request_threshold <= 1.0:
            raise ValueError(f"request_threshold must be in (0, 1], got {self.request_threshold}")
        get_aggregator(self.aggregation)
        for name in ("actions_per_chunk", "inference_steps", "delay_ticks"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.delay_ticks and self.mode != "stepped":
            raise ValueError(f"delay_ticks={self.delay_ticks} applies to mode 'stepped' only (mode is {self.mode!r})")


@dataclass
class SourceStats:
    """Episode counters: stalled ticks (async), blocked seconds (sync), chunks, dropped actions."""

    ticks: int = 0
    stalled_ticks_total: int = 0
    blocked_s: float = 0.0
    chunks: int = 0
    dropped_actions: int = 0


class PolicySource:
    """A policy behind the Teleop interface: `reset(obs)`, `get_action(obs)`, `telemetry()`, `close()`.

    policy: any object with `spec` (PolicySpec) and `predict_chunk(obs, noise=None, **kw)`.
    clock: seconds, for latencies and chunk ages (time.monotonic by default).
    Raises robot.runtime.inference.InferenceError from `get_action` when the
    policy fails or returns non-finite actions: the caller must stop safely.
    """

    def __init__(
        self, policy: Any, config: PolicySourceConfig | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.policy = policy
        self.config = cfg = config or PolicySourceConfig()
        self.clock = clock
        spec = policy.spec
        self.spec = spec
        if cfg.rtc.enabled and not getattr(policy, "supports_rtc", False):
            raise ValueError(
                f"rtc.enabled but {type(policy).__name__} does not support real-time chunking "
                "(supports_rtc is false); set rtc.enabled=false"
            )
        per_chunk = cfg.actions_per_chunk or (spec.n_action_steps if cfg.mode == "sync" else spec.horizon)
        self.chunk_len = min(per_chunk, spec.horizon)
        self.executor = ChunkExecutor(
            ExecutorConfig(cfg.aggregation, cfg.temporal_ensemble_coeff, self.chunk_len)
        )
        self.worker = InferenceWorker(
            policy, clock=clock, threaded=cfg.mode == "async", delay_ticks=cfg.delay_ticks
        )
        self.fps = float(cfg.fps or spec.fps)
        self.stats = SourceStats()
        self._history: deque[Observation] = deque(maxlen=spec.n_obs_steps)
        self._tick = 0
        self._stalled = 0
        self._serving: TimedChunk | None = None
        self._queue_depth = 0
        self._last_request = -1

    # -- Teleop interface ------------------------------------------------------------------------
    def connect(self) -> None:
        """Nothing to open: the worker starts with the source."""

    def disconnect(self) -> None:
        """Stop the worker."""
        self.close()

    def close(self) -> None:
        """Stop the inference worker thread; idempotent."""
        self.worker.close()

    def reset(self, obs: Observation) -> None:
        """Episode start: clear history, queue and policy state; start inferring from `obs` at once."""
        self.worker.reset()
        self.executor.reset()
        self.stats = SourceStats()
        self._history.clear()
        self._tick = 0
        self._stalled = 0
        self._serving = None
        self._last_request = -1
        self._push(obs)
        if self.config.mode != "sync":
            self._request(0)

    def get_action(self, obs: Observation) -> TeleopCommand:
        """The action for this tick (None while no chunk has arrived: the loop holds the last command)."""
        tick = self._tick
        self._tick += 1
        self.stats.ticks += 1
        if tick > 0:
            self._push(obs)
        self._take(self.worker.poll(), tick)
        if self.config.mode == "sync":
            if self.executor.remaining(tick) == 0:
                t0 = self.clock()
                chunk = self.worker.run_now(self._make_request(tick))
                self.stats.blocked_s += self.clock() - t0
                self._take([chunk], tick)
        elif (
            tick > self._last_request
            and not self.worker.busy
            and self.executor.remaining(tick) <= self.config.request_threshold * self.chunk_len
        ):
            self._request(tick)
            if not self.worker.threaded:
                self._take(self.worker.poll(), tick)
        action = self.executor.pop(tick)
        self._queue_depth = self.executor.remaining(tick + 1)
        if action is None:
            self._stalled += 1
            self.stats.stalled_ticks_total += 1
            return TeleopCommand(None)
        self._stalled = 0
        return TeleopCommand(action)

    def telemetry(self) -> dict[str, float]:
        """For the tick just served: inference_ms (latest completed), queue_depth, stalled_ticks, chunk_age_ms."""
        age = float("nan") if self._serving is None else (self.clock() - self._serving.obs_time) * 1000.0
        return {
            "inference_ms": self.worker.last_latency_s * 1000.0,
            "queue_depth": float(self._queue_depth),
            "stalled_ticks": float(self._stalled),
            "chunk_age_ms": age,
        }

    # -- internals -------------------------------------------------------------------------------
    def _push(self, obs: Observation) -> None:
        if not self._history:
            self._history.extend([obs] * self.spec.n_obs_steps)
        else:
            self._history.append(obs)

    def _take(self, chunks: list[TimedChunk], tick: int) -> None:
        for chunk in chunks:
            report = self.executor.add_chunk(chunk.actions, chunk.start_tick, now_tick=tick)
            self.stats.chunks += 1
            self.stats.dropped_actions += report.dropped_past
            if not report.rejected:
                self._serving = chunk

    def _batch(self) -> dict[str, Any]:
        """(1, To, *shape) arrays of the policy's keys from the history; instruction passed through."""
        latest = self._history[-1]
        out: dict[str, Any] = {}
        for key, aspec in self.spec.observations.items():
            if key not in latest:
                raise KeyError(
                    f"the body's observation lacks {key!r}, which the policy reads; the body gives "
                    f"{sorted(k for k in latest if k != INSTRUCTION)}: deploy a policy trained on this body's keys"
                )
            out[key] = np.stack([np.asarray(o[key], dtype=aspec.dtype) for o in self._history])[None]
        if INSTRUCTION in latest:
            out[INSTRUCTION] = [latest[INSTRUCTION]]
        return out

    def _delay_estimate(self) -> int:
        rtc = self.config.rtc
        if rtc.delay >= 0:
            return rtc.delay
        if self.config.mode == "stepped":
            return self.config.delay_ticks
        lat = self.worker.last_latency_s
        return 0 if math.isnan(lat) else math.ceil(lat * self.fps)

    def _make_request(self, tick: int) -> InferenceRequest:
        kwargs: dict[str, Any] = {}
        if self.config.inference_steps:
            kwargs["steps"] = self.config.inference_steps
        rtc = self.config.rtc
        if rtc.enabled:
            prefix = self.executor.committed(tick)
            if len(prefix):
                kwargs.update(
                    prefix=prefix[None],
                    prefix_delay=min(self._delay_estimate(), len(prefix)),
                    prefix_schedule=rtc.schedule,
                    max_guidance_weight=rtc.max_guidance_weight,
                    prefix_method=rtc.method,
                )
        return InferenceRequest(self._batch(), tick, self.clock(), kwargs)

    def _request(self, tick: int) -> None:
        self._last_request = tick
        self.worker.submit(self._make_request(tick))
