"""`robot collect --robot so101`: a keyboard records demos on lerobot's SO-101 driver over the emulated bus.

The arm cannot tell success, so the operator's stop-and-save key (`k`) ends an
episode as a success; the ticks recorded are the measured joints and the
commands that went out through the safety layer.
"""

from __future__ import annotations

import os
import threading
import time

import numpy as np

from data import EpisodeStore
from robot.cli import main


def wait_for_ticks(bus, n: int, timeout_s: float = 30.0) -> None:
    """Block until the arm has sent `n` more goal commands (one SYNC_WRITE per control tick)."""
    target, deadline = bus.sync_writes + n, time.monotonic() + timeout_s
    while bus.sync_writes < target:
        assert time.monotonic() < deadline, "the control loop stopped sending commands"
        time.sleep(0.005)


def test_keyboard_records_a_demo_on_the_emulated_so101(so101_bus, pty_pair, tmp_path, capsys):
    bus, cfg = so101_bus
    master, tty = pty_pair
    out = tmp_path / "real.zarr"
    argv = ["collect", "--task", "so101_lift", "--robot", "so101", "--port", cfg.port,
            "--robot-opt", f"id={cfg.id}", "--robot-opt", f"calibration_dir={cfg.calibration_dir}",
            "--robot-opt", f"reply_timeout_ms={cfg.reply_timeout_ms}", "--teleop", "keyboard",
            "--teleop-opt", f"tty={tty}", "--episodes", "1", "--max-steps", "400", "--out", str(out),
            "--view", "none", "--no-progress"]
    result: dict[str, int] = {}
    worker = threading.Thread(target=lambda: result.update(rc=main(argv)))
    worker.start()
    try:
        os.write(master, b"\r")  # start (read once the keyboard is connected)
        for _ in range(8):  # move the gripper forward, a key every 3 control ticks of the arm
            wait_for_ticks(bus, 3)
            os.write(master, b"w")
        wait_for_ticks(bus, 5)
        os.write(master, b"k")  # stop and save: the operator says the demo is done
        worker.join(timeout=60)
    finally:
        if worker.is_alive():
            os.write(master, b"q")
            worker.join(timeout=10)
    assert result.get("rc") == 0, capsys.readouterr().err
    store = EpisodeStore.open(out, readonly=True)
    assert store.num_episodes == 1 and store.robot == "so101"
    meta, ep = store.episode_meta(0), store.episode(0)
    assert meta["success"] is True and meta["task"] == "so101_lift" and meta["source"] == "teleop"
    assert ep["state"].shape[1] == 6 and len(ep["state"]) == meta["length"] >= 25
    # The commands moved the arm: the measured joints at the end differ from the start.
    assert np.abs(ep["state"][-1] - ep["state"][0]).max() > 0.01


def test_collect_on_an_arm_refuses_the_scripted_expert_and_a_missing_port(tmp_path, capsys):
    assert main(["collect", "--task", "so101_lift", "--robot", "so101", "--port", "/dev/ttyACM0",
                 "--episodes", "1", "--out", str(tmp_path / "a.zarr")]) == 2
    assert "needs the simulator's object poses" in capsys.readouterr().err
    assert main(["collect", "--task", "so101_lift", "--robot", "so101", "--port", str(tmp_path / "nope"),
                 "--teleop", "keyboard", "--episodes", "1", "--out", str(tmp_path / "b.zarr")]) == 2
    err = capsys.readouterr().err
    assert "cannot connect --robot so101" in err and "Traceback" not in err
    assert not (tmp_path / "b.zarr").exists()  # nothing was created for a run that could not start
