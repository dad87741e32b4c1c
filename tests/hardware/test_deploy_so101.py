"""`robot deploy --robot so101` end to end: the full runtime drives lerobot's SO-101 driver over the emulated bus.

The Feetech emulator runs as its own process (`python -m hardware.emulators.feetech`),
as a user would start it, and writes the calibration lerobot looks for. A
scripted so101_lift episode recorded by `robot collect` is replayed through
`robot deploy` (safety layer, watchdog, e-stop, recording), then again with an
over-temperature fault injected on the elbow after 20 control ticks: the watchdog stops the run and
names the servo.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from feetech_emulator import REPLY_TIMEOUT_MS

from data import EpisodeStore
from robot.cli import main


@pytest.fixture(scope="module")
def lift_episode(tmp_path_factory):
    path = tmp_path_factory.mktemp("demo") / "lift.zarr"
    assert main(["collect", "--task", "so101_lift", "--episodes", "1", "--out", str(path), "--no-progress"]) == 0
    return path


def _emulator(calib_dir, *extra: str) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "HF_LEROBOT_CALIBRATION": str(calib_dir)}
    proc = subprocess.Popen([sys.executable, "-m", "hardware.emulators.feetech", "--lerobot-id", "follower", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    port = proc.stdout.readline().strip()
    assert port.startswith("/dev/"), (port, proc.stderr.read() if proc.poll() is not None else "")
    return proc, port


def _deploy(tmp_path, lift_episode, port: str, out: str, monkeypatch) -> int:
    monkeypatch.setenv("HF_LEROBOT_CALIBRATION", str(tmp_path / "calib"))
    return main(["deploy", "--robot", "so101", "--port", port, "--robot-opt", "id=follower",
                 "--robot-opt", f"reply_timeout_ms={REPLY_TIMEOUT_MS}", "--replay", str(lift_episode),
                 "--record", str(tmp_path / out / "run.zarr"), "--out", str(tmp_path / out)])


def test_deploy_replays_a_recorded_episode_on_the_emulated_so101(tmp_path, lift_episode, monkeypatch, capsys):
    proc, port = _emulator(tmp_path / "calib")
    try:
        assert _deploy(tmp_path, lift_episode, port, "ok", monkeypatch) == 0
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    summary = json.loads((tmp_path / "ok" / "deploy.json").read_text())
    ticks = EpisodeStore.open(lift_episode, readonly=True).episode_meta(0)["length"]
    assert summary["episodes"] == 1 and summary["clean"] and summary["per_episode"][0]["reason"] == ""
    run = EpisodeStore.open(tmp_path / "ok" / "run.zarr", readonly=True)
    assert run.num_episodes == 1 and run.episode_meta(0)["length"] == ticks  # every command went out, recorded


def test_an_overheating_servo_stops_deploy_and_names_the_joint(tmp_path, lift_episode, monkeypatch, capsys):
    proc, port = _emulator(tmp_path / "calib", "--fault", "overheat:3:@20")
    try:
        assert _deploy(tmp_path, lift_episode, port, "hot", monkeypatch) == 1
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    err = capsys.readouterr().err
    assert "elbow_flex" in err and "over-temperature" in err, err
    summary = json.loads((tmp_path / "hot" / "deploy.json").read_text())
    assert not summary["clean"] and "elbow_flex" in summary["per_episode"][0]["reason"]
    # The ticks before the stop are kept in the recording, with the reason.
    run = EpisodeStore.open(tmp_path / "hot" / "run.zarr", readonly=True)
    assert run.num_episodes == 1 and 20 <= run.episode_meta(0)["length"] < lift_length(lift_episode)


def lift_length(path) -> int:
    return EpisodeStore.open(path, readonly=True).episode_meta(0)["length"]
