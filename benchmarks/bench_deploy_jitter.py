"""Deployment tick jitter on the MuJoCo twin, idle and under a CPU hog; sim camera path.

    MUJOCO_GL=egl python benchmarks/bench_deploy_jitter.py            # 10,000 ticks per rate (quiet machine)
    MUJOCO_GL=egl python benchmarks/bench_deploy_jitter.py --quick    # smoke test, ~1 min

The loop is `robot deploy`'s: twin (physics thread, front + wrist cameras at
30 fps) -> policy source -> safety layer -> twin, with the watchdog and e-stop
guard and per-tick telemetry. The policy is a stand-in that sleeps 30-80 ms
per chunk (uniform) and returns a chunk that sways the shoulder around its
start pose (Ta=16, Te=8). The source is the async `PolicySource` when
robot/runtime/policy_source.py exists (after the merge), else the synchronous
stand-in `SyncPolicySource` (the JSON says which: with it, every chunk
boundary blocks the loop for the inference time, so misses are expected).

Figures, per rate (50 Hz, 100 Hz) and load (idle, CPU hog = one busy process per core):
- jitter (wake-up minus scheduled start) p50 / p99 / max ms, misses (late wake-ups),
  late ticks (work overran), skipped deadlines;
- under the hog: the watchdog's verdict (ticks held, whether and why it stopped the arm);
- camera path: frames/s delivered per camera and frame age at the loop (p50 / p99 ms);
  joint-state age at the tick (p50 / p99 ms; the physics thread publishes every 4 ms).
Writes benchmarks/results/bench_deploy_jitter[.quick].json and prints it.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._results import write_results  # noqa: E402
from robot.specs import ArraySpec, PolicySpec  # noqa: E402


class SlowPolicy:
    """Sleeps 30-80 ms per chunk, returns (1, Ta, Da) swaying the shoulder around the latest state."""

    def __init__(self, fps: float, ds: int = 6, seed: int = 0) -> None:
        self.spec = PolicySpec({"state": ArraySpec((ds,))}, action_dim=6, n_obs_steps=2, horizon=16,
                               n_action_steps=8, fps=fps)
        self.rng = np.random.default_rng(seed)
        self.calls = 0
        self.home: np.ndarray | None = None

    def reset(self) -> None:
        self.home = None

    def predict_chunk(self, obs, noise=None, **kwargs):
        time.sleep(self.rng.uniform(0.030, 0.080))
        state = np.asarray(obs["state"])[0, -1, :6].astype(np.float32)
        if self.home is None:
            self.home = state.copy()
        self.calls += 1
        chunk = np.repeat(self.home[None], self.spec.horizon, axis=0)
        t = (self.calls * self.spec.n_action_steps + np.arange(self.spec.horizon)) / self.spec.fps
        chunk[:, 0] += 0.15 * np.sin(2 * np.pi * 0.25 * t)
        return chunk[None]


def make_source(policy):
    """The async PolicySource when merged, else the synchronous stand-in; (source, label)."""
    try:
        from robot.runtime.policy_source import PolicySource, PolicySourceConfig
    except ImportError:
        from robot.runtime.sync_source import SyncPolicySource

        return SyncPolicySource(policy), "sync (SyncPolicySource stand-in: async PolicySource not merged)"
    return PolicySource(policy, PolicySourceConfig()), "async (PolicySource)"


def _spin(stop) -> None:
    x = 0
    while not stop.is_set():
        x += 1


def run(fps: float, ticks: int, hog: bool) -> dict:
    """One deployment of `ticks` ticks at `fps` on the twin; returns its figures."""
    from hardware.registry import make_robot
    from robot.runtime import ControlLoop, LoopConfig
    from robot.runtime.estop import EStop, EStopConfig
    from robot.runtime.guard import DeployGuard
    from robot.runtime.safety import SafetyLayer
    from robot.runtime.watchdog import Watchdog, WatchdogConfig

    twin = make_robot("twin", cameras=["front", "wrist"], camera_fps=30.0)
    policy = SlowPolicy(fps)
    source, label = make_source(policy)
    safety = SafetyLayer(twin.body_spec, twin.safety_config(), fps=fps, fk=twin.forward_kinematics)
    watchdog = Watchdog(WatchdogConfig())
    guard = DeployGuard(watchdog, EStop(EStopConfig(signals=False)), safety)
    frame_ages: list[float] = []

    def on_tick(_timing) -> None:
        now = time.monotonic()
        frame_ages.extend(now - t for t in twin.frame_times().values())

    loop = ControlLoop(twin, source, None, LoopConfig(fps=fps, max_steps=ticks, settle_ticks=10**9,
                                                      tick_records=True),
                       source_kind="policy", action_filters=[safety], guard=guard, on_tick=on_tick)
    stop = mp.Event()
    hogs = [mp.Process(target=_spin, args=(stop,), daemon=True) for _ in range(os.cpu_count() or 1)] if hog else []
    twin.connect(seed=0)
    frames0 = {n: c.frames for n, c in twin.cameras.items()}
    try:
        for p in hogs:
            p.start()
        t0 = time.monotonic()
        res = loop.run_episode(seed=0)
        wall = time.monotonic() - t0
    finally:
        stop.set()
        for p in hogs:
            p.join(timeout=5)
        close = getattr(source, "close", None)
        if callable(close):
            close()
        twin.close()
    s = res.telemetry.summary()
    ages = np.asarray(frame_ages) * 1e3
    recs = res.telemetry.records
    obs_ages = np.asarray([r.obs_age_ms for r in recs], np.float64)
    obs_ages = obs_ages[np.isfinite(obs_ages)]
    return {
        "source": label, "fps": fps, "cpu_hog_processes": len(hogs), "ticks": s["ticks"],
        "outcome": res.outcome.value, "stop_reason": res.info.get("abort_reason", ""),
        "jitter_ms_p50": round(s["jitter_ms_p50"], 3), "jitter_ms_p99": round(s["jitter_ms_p99"], 3),
        "jitter_ms_max": round(s["jitter_ms_max"], 3), "misses": s["misses"], "late_ticks": s["late_ticks"],
        "skipped_deadlines": s["missed_deadlines"], "ticks_held_by_watchdog": int(sum(r.held for r in recs)),
        "watchdog_events": watchdog.events[:5], "policy_calls": policy.calls,
        "camera_fps_delivered": {n: round((c.frames - frames0[n]) / wall, 1) for n, c in twin.cameras.items()},
        "state_age_ms_p50": round(float(np.percentile(obs_ages, 50)), 2) if obs_ages.size else None,
        "state_age_ms_p99": round(float(np.percentile(obs_ages, 99)), 2) if obs_ages.size else None,
        "frame_age_ms_p50": round(float(np.percentile(ages, 50)), 2) if ages.size else None,
        "frame_age_ms_p99": round(float(np.percentile(ages, 99)), 2) if ages.size else None,
        "wall_s": round(wall, 2),
    }


def main() -> None:
    """Run the four configurations and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=10_000, help="ticks per configuration")
    parser.add_argument("--quick", action="store_true", help="smoke test: 300 ticks idle, 200 under the hog")
    parser.add_argument("--out", default="", help="JSON path (default benchmarks/results/bench_deploy_jitter[.quick].json)")
    args = parser.parse_args()
    os.environ.setdefault("MUJOCO_GL", "egl")
    import torch

    torch.set_num_threads(1)
    idle_ticks, hog_ticks = (300, 200) if args.quick else (args.ticks, args.ticks)
    out = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                       "load_avg_1m_at_start": round(os.getloadavg()[0], 2)},
           "quick": args.quick, "runs": {}}
    for fps in (50.0, 100.0):
        out["runs"][f"{fps:g}hz_idle"] = run(fps, idle_ticks, hog=False)
        out["runs"][f"{fps:g}hz_cpu_hog"] = run(fps, hog_ticks, hog=True)
    path = Path(args.out) if args.out else ROOT / "benchmarks" / "results" / (
        "bench_deploy_jitter" + (".quick" if args.quick else "") + ".json")
    write_results(out, path)


if __name__ == "__main__":
    main()
