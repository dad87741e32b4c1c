"""SO-101 leader arm: real lerobot 0.3.2 driver code over an emulated Feetech servo bus."""

from __future__ import annotations

import math

# lerobot is an installed extra (`lerobot`): a failing import must fail these tests, not skip them.
import lerobot.teleoperators.so101_leader  # noqa: F401
import numpy as np
import pytest
from feetech_emulator import REPLY_TIMEOUT_MS, FeetechBusEmulator
from lerobot.motors import MotorCalibration

from hardware.teleop.leader_arm import (
    MOTORS,
    LeaderArmConfig,
    LeaderArmTeleop,
    LeaderToFollower,
    make_lerobot_leader,
)
from robot.specs import ArraySpec, BodySpec

PRESENT_POSITION, MIN_LIMIT, MAX_LIMIT = 56, 9, 11
LOW = (-1.92, -1.75, -1.69, -1.66, -2.74, -0.17)
HIGH = (1.92, 1.75, 1.69, 1.66, 2.84, 1.75)
# Calibrated range of each servo in raw ticks (4096 per turn); mid = (min + max) / 2.
RANGES = {1: (1000, 3000), 2: (800, 3200), 3: (900, 3100), 4: (850, 3150), 5: (100, 4000), 6: (2000, 3400)}


def follower_spec():
    return BodySpec("so101_test", {"state": ArraySpec((6,))}, ArraySpec((6,), names=MOTORS), 30.0, LOW, HIGH)


def test_range_mode_maps_onto_follower_limits():
    m = LeaderToFollower(follower_spec(), LeaderArmConfig(use_degrees=False))
    reading = {f"{n}.pos": v for n, v in zip(MOTORS, (-100.0, 100.0, 0.0, 50.0, -50.0, 100.0), strict=True)}
    out = m(reading)
    assert out[0] == pytest.approx(LOW[0]) and out[1] == pytest.approx(HIGH[1])
    assert out[2] == pytest.approx((LOW[2] + HIGH[2]) / 2, abs=1e-6)
    assert out[5] == pytest.approx(HIGH[5])
    with pytest.raises(KeyError, match="gripper.pos"):
        m({f"{n}.pos": 0.0 for n in MOTORS[:-1]})


@pytest.fixture
def leader_on_emulated_bus(tmp_path):
    # The emulator answers from a Python thread that a loaded 2-core machine can stall for tens of
    # milliseconds, past lerobot's 50 ms reply timeout. A generous timeout (REPLY_TIMEOUT_MS, set
    # through the leader's config) keeps these tests about the driver's bytes, not the scheduler;
    # a bus that never answers still times out.
    with FeetechBusEmulator(list(RANGES)) as bus:
        for i, (lo, hi) in RANGES.items():
            bus.write_u16(i, MIN_LIMIT, lo)
            bus.write_u16(i, MAX_LIMIT, hi)
            bus.write_u16(i, PRESENT_POSITION, (lo + hi) // 2)
        cfg = LeaderArmConfig(port=bus.port, id="test_leader", calibration_dir=str(tmp_path), use_degrees=True,
                              reply_timeout_ms=REPLY_TIMEOUT_MS)
        leader = make_lerobot_leader(cfg)
        # The calibration file lerobot would have written after `lerobot-calibrate`.
        leader.calibration = {n: MotorCalibration(id=i, drive_mode=0, homing_offset=0, range_min=RANGES[i][0],
                                                  range_max=RANGES[i][1]) for i, n in enumerate(MOTORS, start=1)}
        leader._save_calibration()
        leader = make_lerobot_leader(cfg)  # reloads it from disk, as a fresh process would
        yield bus, cfg, leader


def test_leader_pose_read_over_the_bus_maps_joint_to_joint(leader_on_emulated_bus):
    bus, cfg, leader = leader_on_emulated_bus
    teleop = LeaderArmTeleop(follower_spec(), cfg, leader=leader)
    teleop.connect()
    try:
        assert leader.is_connected and leader.is_calibrated
        mid = {i: (lo + hi) // 2 for i, (lo, hi) in RANGES.items()}
        # Pan a quarter turn (1024 ticks = 90 deg) one way, lift 512 ticks the other, gripper fully open.
        bus.write_u16(1, PRESENT_POSITION, mid[1] + 1024)
        bus.write_u16(2, PRESENT_POSITION, mid[2] - 512)
        bus.write_u16(6, PRESENT_POSITION, RANGES[6][1])
        action = teleop.get_action({}).action
    finally:
        teleop.disconnect()
    assert action.dtype == np.float32 and action.shape == (6,)
    tick = 2 * math.pi / 4095  # lerobot's degrees use max_res = 4095
    assert action[0] == pytest.approx(1024 * tick, abs=1e-4)
    assert action[1] == pytest.approx(-512 * tick, abs=1e-4)
    assert action[2:5] == pytest.approx([0.0, 0.0, 0.0], abs=2e-3)
    assert action[5] == pytest.approx(HIGH[5], abs=1e-4)
    assert (0x82, 0xFE) in bus.requests  # positions came by one SYNC_READ, as on the real arm


def test_leader_drives_the_so101_twin_through_the_loop(leader_on_emulated_bus):
    import sim.registry as sim_registry
    from robot.runtime import ControlLoop, LoopConfig

    bus, cfg, leader = leader_on_emulated_bus
    env = sim_registry.make_env("so101_lift", {"cameras": ()})
    teleop = LeaderArmTeleop(env.body_spec, cfg, leader=leader)
    mid = {i: (lo + hi) // 2 for i, (lo, hi) in RANGES.items()}
    bus.write_u16(1, PRESENT_POSITION, mid[1] + 400)  # pan ~ +0.61 rad
    bus.write_u16(3, PRESENT_POSITION, mid[3] + 300)  # elbow ~ +0.46 rad
    teleop.connect()
    try:
        result = ControlLoop(env, teleop, None, LoopConfig(realtime=False, max_steps=30)).run_episode(seed=0)
    finally:
        teleop.disconnect()
    assert result.steps == 30
    q = env.joint_positions
    assert q[0] == pytest.approx(400 * 2 * math.pi / 4095, abs=0.05)
    assert q[2] == pytest.approx(300 * 2 * math.pi / 4095, abs=0.05)


def test_robot_collect_records_the_leader_arm(leader_on_emulated_bus, tmp_path):
    from data import EpisodeStore
    from robot.cli import main

    bus, cfg, _leader = leader_on_emulated_bus
    mid1 = sum(RANGES[1]) // 2
    bus.write_u16(1, PRESENT_POSITION, mid1 - 300)
    out = str(tmp_path / "leader.zarr")
    # No terminal under pytest: no event keyboard, so the episode starts at once and ends on max steps.
    rc = main(["collect", "--task", "so101_lift", "--teleop", "leader", "--teleop-opt", f"port={cfg.port}",
               "--teleop-opt", f"id={cfg.id}", "--teleop-opt", f"calibration_dir={cfg.calibration_dir}",
               "--teleop-opt", f"reply_timeout_ms={REPLY_TIMEOUT_MS}",
               "--episodes", "1", "--max-steps", "6", "--keep-failed", "--max-attempts", "1",
               "--out", out, "--no-progress"])
    assert rc == 1  # one attempt, not a success
    store = EpisodeStore.open(out, readonly=True)
    meta, ep = store.episode_meta(0), store.episode(0)
    assert meta["source"] == "teleop" and meta["length"] == 6
    assert ep["action"][:, 0] == pytest.approx(np.full(6, -300 * 2 * math.pi / 4095), abs=1e-4)
