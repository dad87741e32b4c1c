"""Camera path at the loop: frames/s delivered and frame age when a 30 Hz loop reads `read_latest()`.

    python benchmarks/bench_cameras.py [--seconds 5] [--width 320 --height 240] [--quick]

Backends, each with 1 and 2 cameras at 30 fps:
- realsense: `RealSenseCamera` on the real pyrealsense2 SDK, fed by an emulated
  `rs.software_device` (colour only) per camera;
- opencv: `OpenCVCamera` reading an MJPG video file this script writes (paced at its fps).
A loop at 30 Hz reads every camera each tick. Per backend and camera count:
frames/s delivered per camera, frame age at the read (host receive -> read,
ms: p50 / p99 / max), the cost of a `read_latest()` call (us, p50 / p99), and
ticks that saw no new frame. os.getloadavg() is recorded (shared machine).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._results import write_results  # noqa: E402

FPS = 30


def _write_video(path: str, frames: int, width: int, height: int) -> None:
    import cv2

    out = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), FPS, (width, height))
    ramp = np.linspace(0, 255, width, dtype=np.uint8)[None, :, None].repeat(height, 0).repeat(3, 2)
    for i in range(frames):
        out.write(np.roll(ramp, i, axis=1))
    out.release()


def measure(cams: list, seconds: float) -> dict:
    """Read every camera at 30 Hz for `seconds`; frame ages, read costs, delivered rates."""
    ages, costs, repeats = [], [], 0
    last_seq = {c.name: -1 for c in cams}
    frames0 = {c.name: c.frames for c in cams}
    ticks = int(seconds * FPS)
    t_start = time.monotonic()
    next_t = t_start
    for _ in range(ticks):
        for c in cams:
            t0 = time.perf_counter()
            _img, host_t = c.read_latest()
            costs.append((time.perf_counter() - t0) * 1e6)
            now = time.monotonic()
            ages.append((now - host_t) * 1e3)
            seq = c.latest().seq
            repeats += seq == last_seq[c.name]
            last_seq[c.name] = seq
        next_t += 1.0 / FPS
        time.sleep(max(0.0, next_t - time.monotonic()))
    elapsed = time.monotonic() - t_start
    a, k = np.asarray(ages), np.asarray(costs)
    return {
        "cameras": len(cams), "loop_ticks": ticks,
        "delivered_fps_per_camera": [round((c.frames - frames0[c.name]) / elapsed, 2) for c in cams],
        "frame_age_ms": {"p50": round(float(np.median(a)), 2), "p99": round(float(np.percentile(a, 99)), 2),
                         "max": round(float(a.max()), 2)},
        "read_latest_us": {"p50": round(float(np.median(k)), 1), "p99": round(float(np.percentile(k, 99)), 1)},
        "reads_without_new_frame": int(repeats), "late_grabs": [c.late for c in cams],
    }


def run_realsense(n: int, seconds: float, width: int, height: int) -> dict:
    from hardware.cameras import make_camera
    from hardware.emulators.realsense import EmulatedRealSense

    emus = [EmulatedRealSense(serial=f"00000000000{i}", width=width, height=height, fps=FPS, depth=False).start()
            for i in range(n)]
    cams = [make_camera("realsense", f"rs{i}", width=width, height=height, fps=FPS, device=e.device)
            for i, e in enumerate(emus)]
    try:
        for c in cams:
            c.connect()
        time.sleep(0.3)  # warm-up
        return measure(cams, seconds)
    finally:
        for c in cams:
            c.disconnect()
        for e in emus:
            e.stop()


def run_opencv(n: int, seconds: float, width: int, height: int, video: str) -> dict:
    from hardware.cameras import make_camera

    cams = [make_camera("opencv", f"cv{i}", source=video, width=width, height=height, fps=float(FPS), loop=True)
            for i in range(n)]
    try:
        for c in cams:
            c.connect()
        time.sleep(0.3)
        return measure(cams, seconds)
    finally:
        for c in cams:
            c.disconnect()


def main(argv: list[str] | None = None) -> dict:
    """Run both backends with 1 and 2 cameras; write and print the JSON."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--width", type=int, default=320)
    p.add_argument("--height", type=int, default=240)
    p.add_argument("--quick", action="store_true", help="0.5 s per case, 64x48 (a smoke test)")
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "bench_cameras.json"))
    args = p.parse_args(argv)
    seconds, w, h = (0.5, 64, 48) if args.quick else (args.seconds, args.width, args.height)
    load_before = os.getloadavg()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        video = os.path.join(tmp, "clip.avi")
        _write_video(video, 2 * FPS, w, h)
        for n in (1, 2):
            results.append({"backend": "realsense_software_device", **run_realsense(n, seconds, w, h)})
            results.append({"backend": "opencv_video_file", **run_opencv(n, seconds, w, h, video)})
    cmd = "python benchmarks/bench_cameras.py" + (" --quick" if args.quick else f" --seconds {seconds:g} --width {w} --height {h}")
    out = {
        "command": cmd,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "loadavg_before": [round(x, 2) for x in load_before],
                    "loadavg_after": [round(x, 2) for x in os.getloadavg()]},
        "fps": FPS, "width": w, "height": h, "seconds_per_case": seconds, "results": results,
    }
    return write_results(out, args.out)


if __name__ == "__main__":
    main()
