"""The control loop driving an SO-101 follower (lerobot's real driver) over the emulated Feetech bus.

    python benchmarks/bench_hw_loop.py [--seconds 5] [--quick] [--out benchmarks/results/bench_hw_loop.json]

For each rate (30, 50, 100 Hz) one episode of `ControlLoop` drives a
`LeRobotArm` (lerobot 0.3.2 SO101Follower + FeetechMotorsBus) over the
emulated bus on a pseudo-terminal, with a slow sine on every joint as the
action source and the servo health monitor at its default 2 Hz. Per tick:
the sync read of Present_Position, and the sync write of Goal_Position,
split into ticks without and with the health register read the arm does
right after the write (when one is due), in ms (p50 / p99 / max); the loop's period
jitter (std, max), late ticks and missed deadlines.
A 10-tick warm-up episode runs first and is not measured. The emulator runs as its own
process (`python -m hardware.emulators.feetech`) on a pty, so a figure here is
the host cost of the driver plus the emulator's reply time, without the wire
time of a real bus (1 Mbaud: ~0.1 ms for a 6-servo sync read).
os.getloadavg() is recorded: the machine may be shared.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._results import write_results  # noqa: E402

RANGES = {i: (1024, 3072) for i in range(1, 7)}
"""Servo id -> calibrated range (ticks) given to the emulator."""


class TimedArm:
    """The arm with the time of each get_observation / send_action kept (ms)."""

    def __init__(self, arm) -> None:
        self.arm, self.body_spec = arm, arm.body_spec
        self.read_ms: list[float] = []
        self.write_ms: list[float] = []
        self.write_health_ms: list[float] = []  # send_action calls that also read a health register

    @property
    def is_connected(self) -> bool:
        return self.arm.is_connected

    def get_observation(self):
        t = time.perf_counter()
        out = self.arm.get_observation()
        self.read_ms.append((time.perf_counter() - t) * 1e3)
        return out

    def send_action(self, action):
        reads = self.arm.health.reads
        t = time.perf_counter()
        out = self.arm.send_action(action)
        dt = (time.perf_counter() - t) * 1e3
        (self.write_health_ms if self.arm.health.reads != reads else self.write_ms).append(dt)
        return out


class Sine:
    """Teleop source: every joint follows 0.3 sin(2 pi 0.25 t) rad about zero (gripper about mid-range)."""

    def __init__(self, fps: float, mid: np.ndarray) -> None:
        self.fps, self.mid, self.k = fps, mid, 0

    def connect(self): ...
    def disconnect(self): ...
    def reset(self, obs): self.k = 0

    def get_action(self, obs):
        from robot.interfaces import TeleopCommand

        self.k += 1
        return TeleopCommand((self.mid + 0.3 * np.sin(2 * np.pi * 0.25 * self.k / self.fps)).astype(np.float32))


def _stats(a: list[float]) -> dict[str, float]:
    x = np.asarray(a)
    return {"p50": round(float(np.median(x)), 3), "p99": round(float(np.percentile(x, 99)), 3),
            "max": round(float(x.max()), 3)}


def run_rate(fps: float, seconds: float, calib_dir: str, reply_timeout_ms: float = 50.0) -> dict:
    """One realtime episode at `fps` for `seconds`; per-tick bus times and loop telemetry."""
    from hardware.arms.lerobot_arm import LeRobotArm, LeRobotArmConfig
    from robot.runtime import ControlLoop, LoopConfig

    # The emulator runs in its own process, as a real bus answers from its own hardware:
    # in this process its thread would compete with the driver's busy-polling for the GIL.
    cal = Path(calib_dir, "bench.json")
    emu = subprocess.Popen([sys.executable, "-m", "hardware.emulators.feetech", "--ids", *map(str, RANGES),
                            "--range", "1024", "3072", "--calibration-out", str(cal)],
                           stdout=subprocess.PIPE, text=True, cwd=str(Path(__file__).resolve().parents[1]))
    port = emu.stdout.readline().strip()
    try:
        with LeRobotArm(LeRobotArmConfig(port=port, id="bench", calibration_dir=calib_dir, fps=fps,
                                         reply_timeout_ms=reply_timeout_ms)) as arm:
            timed = TimedArm(arm)
            mid = np.zeros(6)
            mid[5] = 0.5 * (arm.low[5] + arm.high[5])
            ticks = int(seconds * fps)
            warm = ControlLoop(timed, Sine(fps, mid), None, LoopConfig(fps=fps, realtime=True, max_steps=10))
            warm.run_episode()  # warm-up: first reads, caches; not measured
            timed.read_ms.clear()
            timed.write_ms.clear()
            timed.write_health_ms.clear()
            loop = ControlLoop(timed, Sine(fps, mid), None, LoopConfig(fps=fps, realtime=True, max_steps=ticks,
                                                                        settle_ticks=10**6))
            result = loop.run_episode()
            health_reads, faults = arm.health.reads, arm.faults()
    finally:
        emu.terminate()
        emu.wait(timeout=10)
    s = result.telemetry.summary()
    return {
        "fps_target": fps, "ticks": result.steps, "faults": faults,
        "read_ms": _stats(timed.read_ms), "write_ms": _stats(timed.write_ms),
        "write_then_health_read_ms": _stats(timed.write_health_ms),
        "period_ms_mean": round(s["period_ms_mean"], 3), "period_ms_std": round(s["period_ms_std"], 3),
        "period_ms_max": round(s["period_ms_max"], 3), "late_ticks": s["late_ticks"],
        "missed_deadlines": s["missed_deadlines"], "health_reads": health_reads,
    }


def main(argv: list[str] | None = None) -> dict:
    """Run the rates, write and print the JSON."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=5.0, help="seconds per rate")
    p.add_argument("--quick", action="store_true", help="0.5 s per rate (a smoke test)")
    p.add_argument("--reply-timeout-ms", type=float, default=50.0, help="servo reply timeout (lerobot's: 50)")
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "bench_hw_loop.json"))
    args = p.parse_args(argv)
    seconds = 0.5 if args.quick else args.seconds
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as calib:
        rates = [run_rate(fps, seconds, calib, args.reply_timeout_ms) for fps in (30.0, 50.0, 100.0)]
    out = {
        "command": "python benchmarks/bench_hw_loop.py" + (" --quick" if args.quick else f" --seconds {seconds:g}"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "loadavg_before": [round(x, 2) for x in load_before],
                    "loadavg_after": [round(x, 2) for x in os.getloadavg()]},
        "seconds_per_rate": seconds, "reply_timeout_ms": args.reply_timeout_ms, "rates": rates,
    }
    return write_results(out, args.out)


if __name__ == "__main__":
    main()
