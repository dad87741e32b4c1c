"""Control-loop jitter with and without the live view, at 30 and 100 Hz.

    MUJOCO_GL=egl python benchmarks/bench_liveview_jitter.py [--ticks 450] [--quick]

Drives so101_lift (front camera 96x96, so every condition renders the same
observation) with its scripted expert through `ControlLoop` in real time, for
the same number of ticks per condition, one warm-up episode first. Conditions
are interleaved over `--rounds` rounds (the load of a shared machine drifts)
and their ticks pooled:

- none:          status line off, no view (the baseline)
- viewer:        MuJoCo passive viewer (`sim.viewer.MujocoViewer`) on a virtual
                 display that the script starts itself (Xvfb, Mesa llvmpipe: no
                 vsync, so the viewer's render thread draws as fast as it can)
- rerun:         `RerunLogger` saving to a .rrd (images every tick)
- viewer+rerun:  both

Jitter = |achieved period - 1/fps| per tick: mean, p99, max (ms); plus late
ticks, missed deadlines, compute time. What the loop itself pays for a view is
measured directly too: the time of each observer's `on_tick` (ms per tick),
and the process's CPU use (process_time / wall, in cores: the viewer's render
thread shows there). The machine is shared: the 1-minute load average is
written next to each condition, and the order of the conditions rotates from
round to round. Results go to
benchmarks/results/bench_liveview_jitter.json (or --out) and to stdout.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._results import write_results  # noqa: E402

CONDITIONS = ("none", "viewer", "rerun", "viewer+rerun")
RATES = (30.0, 100.0)


def start_xvfb(screen: str = "1024x768") -> tuple[subprocess.Popen, str]:
    """A fresh Xvfb (screen WxH, 24 bit) on a free display number; returns (process, DISPLAY)."""
    exe = shutil.which("Xvfb")
    if exe is None:
        raise SystemExit("bench_liveview_jitter: Xvfb is not installed (make setup installs it: APT_PKGS)")
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen([exe, "-displayfd", str(write_fd), "-screen", "0", f"{screen}x24", "-nolisten", "tcp"],
                            pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_fd)
    with os.fdopen(read_fd) as f:
        number = f.readline().strip()
    if not number:
        proc.kill()
        raise SystemExit("bench_liveview_jitter: Xvfb did not start")
    return proc, f":{number}"


def run_condition(condition: str, fps: float, ticks: int, tmp: Path) -> dict:
    """One warm-up episode, then `ticks` measured real-time ticks with the condition's observers."""
    from hardware.teleop.scripted import make_scripted
    from robot.runtime import ControlLoop, LoopConfig
    from robot.runtime.observers import close_all
    from robot.runtime.rerun_log import RerunLogger, open_recording
    from sim.registry import make_env
    from sim.viewer import MujocoViewer

    class Timed:
        """Times an observer's on_tick (what the loop pays for it); forwards everything else."""

        def __init__(self, inner):
            self.inner, self.seconds = inner, []

        def on_tick(self, *args):
            t = time.perf_counter()
            self.inner.on_tick(*args)
            self.seconds.append(time.perf_counter() - t)

        def __getattr__(self, name):
            return getattr(self.inner, name)

    env = make_env("so101_lift", {"cameras": ("front",), "fps": fps, "max_steps": ticks + 100})
    observers: list = []
    if "viewer" in condition:
        observers.append(Timed(MujocoViewer(env)))
    if "rerun" in condition:
        rec = open_recording("bench", save=tmp / f"{condition}_{fps:g}.rrd")
        observers.append(Timed(RerunLogger(rec, env.body_spec, ee_position=lambda: env.ee_pos)))
    expert = make_scripted("so101_lift", env)
    try:
        warm = ControlLoop(env, expert, None, LoopConfig(realtime=True, max_steps=20, settle_ticks=10**6),
                           observers=observers)
        warm.run_episode(seed=0)
        for o in observers:
            o.seconds.clear()
        load_before = os.getloadavg()[0]
        loop = ControlLoop(env, expert, None, LoopConfig(realtime=True, max_steps=ticks, settle_ticks=10**6),
                           observers=observers)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        result = loop.run_episode(seed=1)
        cores = (time.process_time() - cpu0) / (time.perf_counter() - wall0)
        load_after = os.getloadavg()[0]
        costs = {type(o.inner).__name__: list(o.seconds) for o in observers}
    finally:
        viewer_stats = observers[0].inner.stats() if "viewer" in condition else None
        close_all(observers)
        env.close()
    tel = result.telemetry
    return {"periods": list(tel.periods), "computes": list(tel.computes), "late": tel.late_ticks,
            "missed": tel.missed_deadlines, "load": [load_before, load_after], "viewer": viewer_stats,
            "costs": costs, "cores": cores}


def summarize(condition: str, fps: float, runs: list[dict]) -> dict:
    """Pooled jitter and compute statistics (ms) of one condition's rounds."""
    periods = np.concatenate([r["periods"] for r in runs])
    jitter = np.abs(periods - 1.0 / fps) * 1e3
    comp = np.concatenate([r["computes"] for r in runs]) * 1e3
    row = {
        "condition": condition, "fps": fps, "ticks": int(comp.size), "rounds": len(runs),
        "jitter_ms_mean": float(jitter.mean()), "jitter_ms_p99": float(np.percentile(jitter, 99)),
        "jitter_ms_max": float(jitter.max()), "period_ms_mean": float(periods.mean() * 1e3),
        "compute_ms_mean": float(comp.mean()), "compute_ms_p99": float(np.percentile(comp, 99)),
        "late_ticks": int(sum(r["late"] for r in runs)), "missed_deadlines": int(sum(r["missed"] for r in runs)),
        "loadavg_1min": [r["load"] for r in runs],
        "process_cpu_cores": float(np.mean([r["cores"] for r in runs])),
    }
    for name in runs[0]["costs"]:
        cost = np.concatenate([r["costs"][name] for r in runs]) * 1e3
        row[f"on_tick_ms_mean.{name}"] = float(cost.mean())
        row[f"on_tick_ms_p99.{name}"] = float(np.percentile(cost, 99))
    viewers = [r["viewer"] for r in runs if r["viewer"] is not None]
    if viewers:
        row["viewer_syncs"] = int(sum(v["syncs"] for v in viewers))
        row["viewer_sync_ms_mean"] = float(np.mean([v["sync_ms_mean"] for v in viewers]))
        row["viewer_sync_ms_max"] = float(max(v["sync_ms_max"] for v in viewers))
    return row


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--ticks", type=int, default=150, help="measured ticks per condition, rate and round")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds over all conditions")
    p.add_argument("--quick", action="store_true",
                   help="1 round of 30 ticks on a 320x240 screen (a smoke test; small window, little CPU)")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "bench_liveview_jitter.json"))
    args = p.parse_args(argv)
    ticks, rounds = (30, 1) if args.quick else (args.ticks, args.rounds)
    xvfb, display = start_xvfb("320x240" if args.quick else "1024x768")
    os.environ["DISPLAY"] = display
    runs: dict[tuple[str, float], list[dict]] = {(c, f): [] for f in RATES for c in CONDITIONS}
    t0 = time.time()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for k in range(rounds):
                order = CONDITIONS[k % len(CONDITIONS):] + CONDITIONS[:k % len(CONDITIONS)]
                for fps in RATES:
                    for condition in order:
                        runs[(condition, fps)].append(run_condition(condition, fps, ticks, Path(tmp)))
                        print(f"round {k}: {condition} at {fps:g} Hz done", file=sys.stderr)
    finally:
        if "glfw" in sys.modules:  # let go of the X display before the server goes (see sim/viewer.py)
            sys.modules["glfw"].terminate()
        xvfb.terminate()
        xvfb.wait(10)
    out = {
        "command": "MUJOCO_GL=egl python benchmarks/bench_liveview_jitter.py " + " ".join(argv or sys.argv[1:]),
        "task": "so101_lift, front camera 96x96, scripted expert, ControlLoop realtime",
        "display": "Xvfb (Mesa llvmpipe, software GL)" + (", 320x240 screen" if args.quick else ""),
        "ticks_per_round": ticks, "rounds": rounds, "quick": args.quick,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "wall_s": time.time() - t0,
        "rows": [summarize(c, f, r) for (c, f), r in runs.items()],
    }
    return write_results(out, args.out)


if __name__ == "__main__":
    main()
