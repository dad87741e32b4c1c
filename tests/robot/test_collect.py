"""`robot collect` and `robot preview` end to end: real tasks, real Zarr store, real devices' input paths."""

from __future__ import annotations

import json
import os
import termios
import threading
import time

import numpy as np
import pytest

import data
from robot.cli import main


def _check_store(path):
    """The data package's checker, plus the invariants collection guarantees."""
    from data.check import check_store

    report = check_store(path)
    assert report.ok, report.problems
    assert report.num_episodes > 0
    store = data.EpisodeStore.open(path, readonly=True)
    for i in range(store.num_episodes):
        ep = store.episode(i)
        n = store.episode_meta(i)["length"]
        assert all(len(v) == n for v in ep.values())
        assert np.all(np.diff(ep["timestamp"]) > 0)
        assert np.all(np.isfinite(ep["action"])) and np.all(np.isfinite(ep["state"]))
    return store


def test_scripted_collect_fills_a_store_and_resumes(tmp_path, capsys):
    out = str(tmp_path / "lift.zarr")
    args = ["collect", "--task", "so101_lift", "--teleop", "scripted", "--out", out, "--no-progress"]
    assert main([*args, "--episodes", "2"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["successes"] == 2 and summary["episodes_in_store"] == 2
    store = _check_store(out)
    metas = store.all_meta()
    assert [m["seed"] for m in metas] == [0, 1]
    assert all(m["success"] and m["source"] == "scripted" and m["task"] == "so101_lift" for m in metas)
    ep = store.episode(0)
    assert ep["state"].shape[1] == 6 and ep["action"].shape[1] == 6
    assert ep["timestamp"][:3] == pytest.approx([0.0, 1 / 30, 2 / 30])  # sim time, fps 30
    assert not any(k.startswith("images.") for k in store.keys)

    # Re-running with a higher target appends after the last seed; reaching it is a no-op.
    assert main([*args, "--episodes", "3"]) == 0
    store = _check_store(out)
    assert [m["seed"] for m in store.all_meta()] == [0, 1, 2]
    assert main([*args, "--episodes", "3"]) == 0
    assert "nothing to do" in capsys.readouterr().out


def test_collect_with_images_then_preview(tmp_path):
    out, prev = str(tmp_path / "img.zarr"), tmp_path / "previews"
    assert main(["collect", "--task", "so101_lift", "--episodes", "1", "--images", "--out", out, "--no-progress"]) == 0
    store = _check_store(out)
    ep = store.episode(0)
    assert ep["images.front"].dtype == np.uint8 and ep["images.front"].shape[1:] == (96, 96, 3)
    assert ep["images.front"].std() > 5  # a rendered scene, not a blank frame
    assert main(["preview", out, "--episodes", "0", "--out", str(prev)]) == 0
    import imageio.v3 as iio

    frames = iio.imread(prev / "episode_0_front.mp4")
    assert frames.shape == (len(ep["action"]), 96, 96, 3)
    png = (prev / "episode_0_traces.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["preview", out, "--episodes", "5", "--out", str(prev)]) == 2  # out of range, named


def test_keyboard_collect_runs_interactively_through_a_pty(tmp_path, capsys):
    master, slave = os.openpty()
    out = str(tmp_path / "kb.zarr")

    def wait_for(cond, timeout=120.0):  # generous: a loaded machine is slow, a hang still ends
        deadline = time.monotonic() + timeout
        while not cond() and time.monotonic() < deadline:
            time.sleep(0.02)

    def stored_episodes():
        try:
            return data.EpisodeStore.open(out, readonly=True).num_episodes
        except data.DataError:
            return 0

    def operator():
        # Act like a person watching the screen: wait for the device to take the terminal
        # (cbreak mode), start, steer, then quit once the episode has been stored.
        wait_for(lambda: not termios.tcgetattr(slave)[3] & termios.ICANON)
        os.write(master, b"\r")  # start
        time.sleep(0.1)
        os.write(master, b"wwww ")  # move forward, toggle the (nearly closed) gripper open
        wait_for(lambda: stored_episodes() == 1)  # the 15-tick episode ends on max steps
        os.write(master, b"q")  # quit while waiting for the next start

    t = threading.Thread(target=operator)
    t.start()
    try:
        rc = main(["collect", "--task", "so101_lift", "--teleop", "keyboard", "--teleop-opt", f"tty={os.ttyname(slave)}",
                   "--episodes", "1", "--max-steps", "15", "--keep-failed", "--out", out, "--no-progress"])
    finally:
        t.join()
        os.close(master)
        os.close(slave)
    assert rc == 1  # quit before a successful episode
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["quit"] and summary["saved"] == 1
    store = _check_store(out)
    meta = store.episode_meta(0)
    assert meta["source"] == "teleop" and meta["success"] is False and meta["length"] == 15
    ep = store.episode(0)
    assert ep["action"][-1, 5] == pytest.approx(1.745, abs=1e-3)  # gripper commanded fully open
    # realtime: timestamps are wall-clock tick starts on a 30 Hz grid, so 15 ticks span at least
    # 14 periods (a loaded machine can only make them later; the fake-clock tests pin the arithmetic)
    span = ep["timestamp"][-1] - ep["timestamp"][0]
    assert 14 / 30 * 0.95 <= span < 14 / 30 * 20


def test_collect_rejects_unknown_teleop(tmp_path, capsys):
    assert main(["collect", "--task", "so101_lift", "--teleop", "telepathy", "--out", str(tmp_path / "x")]) == 2
    assert "telepathy" in capsys.readouterr().err


def test_collect_errors_name_the_problem(tmp_path, capsys):
    out = str(tmp_path / "s.zarr")
    assert main(["collect", "--task", "so101_lift", "--episodes", "1", "--out", out, "--no-progress"]) == 0
    capsys.readouterr()
    # Same path, different layout (images added): refused, naming the mismatch.
    assert main(["collect", "--task", "so101_lift", "--episodes", "2", "--images", "--out", out, "--no-progress"]) == 2
    assert "images.front" in capsys.readouterr().err
    # A keyboard tty that does not exist: a connect error naming the device, not a traceback.
    assert main(["collect", "--task", "so101_lift", "--teleop", "keyboard", "--teleop-opt", "tty=/dev/pts/nonexistent",
                 "--episodes", "2", "--out", out, "--no-progress"]) == 2
    assert "/dev/pts/nonexistent" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "expect"), [
    (["--task", "no_such_task"], "unknown task 'no_such_task'; registered:"),
    (["--task", "so101_lift", "--env-opt", "colour=red"], "unknown key so101_lift.colour"),
])
def test_collect_user_mistakes_exit_2_with_one_message_and_no_store(tmp_path, capsys, argv, expect):
    out = tmp_path / "x.zarr"
    assert main(["collect", *argv, "--episodes", "1", "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert expect in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
