"""LeRobot's own dataset class reads our export, and our importer reads a dataset LeRobot wrote.

LeRobot 0.3.2 in the main environment cannot import its dataset module here
(it needs torchvision, which the CPU torch 2.13 build lacks), and its v2.1
reader would not read v3.0 anyway. The side environment of
benchmarks/lerobot_side_env.sh (torch 2.9.1, torchvision 0.24.1, lerobot
0.4.4) can: this test runs when that environment exists and is skipped,
saying how to create it, when it does not.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from lerobot_side_check import SIDE_PYTHON, run, side_env_ready  # noqa: E402

REASON = side_env_ready()


@pytest.mark.skipif(REASON is not None, reason=f"LeRobot side environment unavailable: {REASON}")
def test_lerobot_reads_our_export_and_we_read_what_lerobot_wrote(tmp_path):
    result = run(SIDE_PYTHON, tmp_path, steps=24, codec="h264-rgb")
    read, written = result["read_by_lerobot"], result["written_by_lerobot"]
    assert all(read["checks"].values()), read["checks"]
    assert read["lerobot_codebase"] == "v3.0"
    for err in read["image_error"].values():  # our default codec is lossless, through LeRobot's reader too
        assert err["max"] == 0, err
    assert all(written["checks"].values()), (written["checks"], written["checker_problems"])
    for err in written["image_error"].values():  # LeRobot's AV1 (crf 30, yuv420p) is lossy
        assert err["mean"] <= 8, err
