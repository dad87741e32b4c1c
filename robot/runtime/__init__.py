"""Real-time runtime: one fixed-rate loop for collection, twin evaluation and deployment.

- `scheduler`: deadline-based `RateScheduler`, `TickTiming`, `LoopTelemetry`.
- `body`: the `Body` the loop drives, with `EnvBody` / `RobotBody` adapters.
- `recorder`: the per-tick `RecorderHook` and `StoreRecorder` (episode writer).
- `loop`: `ControlLoop`, `LoopConfig`, `Outcome`, `EpisodeResult`, `StopEpisode`.
- `session`: `collect(loop, n)` runs episodes until n successes are stored.
- `observers`: `LoopObserver` (live views watch the loop), `EpisodeFeed`;
  `status` (terminal status line) and `rerun_log` (rerun stream, lazy SDK).

Nothing here imports `data/`, `sim/` or `hardware/`: bodies, sources and
stores arrive as objects that match `robot.interfaces`.
"""

from robot.runtime.body import Body, BodyStep, EnvBody, RobotBody, as_body
from robot.runtime.loop import ControlLoop, EpisodeResult, LoopConfig, Outcome, StopEpisode
from robot.runtime.observers import EpisodeFeed, LoopObserver
from robot.runtime.recorder import EpisodeInfo, RecorderHook, StoreRecorder
from robot.runtime.scheduler import LoopTelemetry, RateScheduler, TickTiming
from robot.runtime.session import SessionSummary, collect

__all__ = [
    "Body",
    "BodyStep",
    "ControlLoop",
    "EnvBody",
    "EpisodeFeed",
    "EpisodeInfo",
    "EpisodeResult",
    "LoopConfig",
    "LoopObserver",
    "LoopTelemetry",
    "Outcome",
    "RateScheduler",
    "RecorderHook",
    "RobotBody",
    "SessionSummary",
    "StopEpisode",
    "StoreRecorder",
    "TickTiming",
    "as_body",
    "collect",
]
