"""benchmarks/bench_liveview_jitter.py --quick runs every condition end to end (viewer under its own Xvfb)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_quick_mode_measures_every_condition_at_both_rates(tmp_path):
    out = tmp_path / "jitter.json"
    proc = subprocess.run([sys.executable, "benchmarks/bench_liveview_jitter.py", "--quick", "--out", str(out)],
                          cwd=ROOT, env={**os.environ, "MUJOCO_GL": "egl"}, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text())
    rows = {(r["condition"], r["fps"]): r for r in result["rows"]}
    assert set(rows) == {(c, f) for c in ("none", "viewer", "rerun", "viewer+rerun") for f in (30.0, 100.0)}
    for (condition, fps), row in rows.items():
        assert row["ticks"] == 30 and row["jitter_ms_p99"] >= row["jitter_ms_mean"] >= 0
        # Real time, not free-running (a loaded machine may fall behind, never run ahead).
        assert row["period_ms_mean"] > 0.95 * 1e3 / fps
        assert ("viewer_syncs" in row) == ("viewer" in condition)
        if "viewer" in condition:
            assert row["viewer_syncs"] > 0
        assert all(len(pair) == 2 for pair in row["loadavg_1min"])
        for name, part in (("MujocoViewer", "viewer"), ("RerunLogger", "rerun")):
            assert (f"on_tick_ms_mean.{name}" in row) == (part in condition)
