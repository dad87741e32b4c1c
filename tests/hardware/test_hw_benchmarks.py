"""The hardware benchmarks' --quick modes run and write the JSON they document."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_bench_hw_loop_quick(tmp_path):
    import lerobot.robots.so101_follower  # noqa: F401  (an installed extra: it must import, never skip)
    out = tmp_path / "hw.json"
    # A generous reply timeout: a loaded test machine may not schedule the emulator within lerobot's 50 ms.
    load("bench_hw_loop").main(["--quick", "--reply-timeout-ms", "300", "--out", str(out)])
    data = json.loads(out.read_text())
    assert [r["fps_target"] for r in data["rates"]] == [30.0, 50.0, 100.0]
    for r in data["rates"]:
        assert r["ticks"] == int(0.5 * r["fps_target"]) and r["faults"] == []
        assert 0 < r["read_ms"]["p50"] <= r["read_ms"]["max"] and r["write_ms"]["p50"] > 0
        assert r["health_reads"] >= 1  # health registers were read between ticks
    assert len(data["machine"]["loadavg_before"]) == 3


def test_bench_cameras_quick(tmp_path):
    import pyrealsense2  # noqa: F401  (an installed extra: it must import, never skip)
    out = tmp_path / "cams.json"
    load("bench_cameras").main(["--quick", "--out", str(out)])
    data = json.loads(out.read_text())
    cases = {(r["backend"], r["cameras"]) for r in data["results"]}
    assert cases == {(b, n) for b in ("realsense_software_device", "opencv_video_file") for n in (1, 2)}
    for r in data["results"]:
        assert len(r["delivered_fps_per_camera"]) == r["cameras"]
        assert all(f > 0 for f in r["delivered_fps_per_camera"]) and r["frame_age_ms"]["p50"] >= 0
