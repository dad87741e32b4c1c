"""Gamepad teleop fed real `struct input_event` bytes through a pipe."""

from __future__ import annotations

import os

import pytest

from hardware.teleop.gamepad import (
    ABS_CODES,
    BTN_CODES,
    EV_ABS,
    EV_KEY,
    EV_SYN,
    INPUT_EVENT,
    GamepadConfig,
    GamepadDevice,
    pack_event,
)
from robot.interfaces import TeleopEvent


def syn():
    return pack_event(EV_SYN, 0, 0)


@pytest.fixture
def pad():
    r, w = os.pipe()
    os.set_blocking(r, False)
    dev = GamepadDevice(GamepadConfig(), fd=r)
    dev.connect()
    yield dev, w
    dev.disconnect()
    os.close(r)
    os.close(w)


def test_codes_match_the_kernel_headers_as_evdev_knows_them():
    # evdev is in the installed `teleop` extra: it must import, not skip.
    from evdev import ecodes
    assert INPUT_EVENT.size == 24  # struct input_event on 64-bit Linux
    assert (EV_SYN, EV_KEY, EV_ABS) == (ecodes.EV_SYN, ecodes.EV_KEY, ecodes.EV_ABS)
    for name, code in {**ABS_CODES, **BTN_CODES}.items():
        assert getattr(ecodes, name) == code, name


def test_sticks_move_and_buttons_raise_events(pad):
    dev, w = pad
    # Left stick fully up (negative on Linux) and slightly right inside the deadzone; right stick half down.
    os.write(w, pack_event(EV_ABS, ABS_CODES["ABS_Y"], -32768, 12, 5) + pack_event(EV_ABS, ABS_CODES["ABS_X"], 3000)
             + pack_event(EV_ABS, ABS_CODES["ABS_RY"], 16384) + syn())
    os.write(w, pack_event(EV_KEY, BTN_CODES["BTN_START"], 1) + syn() + pack_event(EV_KEY, BTN_CODES["BTN_START"], 0)
             + pack_event(EV_KEY, BTN_CODES["BTN_TR"], 1) + syn())
    r = dev.read()
    assert r.translation[0] == pytest.approx(1.0)
    assert r.translation[1] == 0.0  # 3000/32768 = 0.09 < deadzone 0.15
    assert r.translation[2] == pytest.approx(-(0.5 - 0.15) / 0.85, abs=1e-3)
    assert r.events == {TeleopEvent.START} and r.gripper == 0.0
    # Axes hold their value between events; buttons fire once per press.
    r = dev.read()
    assert r.translation[0] == pytest.approx(1.0) and r.events == set() and r.gripper is None
    os.write(w, pack_event(EV_ABS, ABS_CODES["ABS_Y"], 0) + pack_event(EV_KEY, BTN_CODES["BTN_EAST"], 1)
             + pack_event(EV_KEY, BTN_CODES["BTN_EAST"], 2) + pack_event(EV_KEY, BTN_CODES["BTN_TL"], 1) + syn())
    r = dev.read()
    assert r.translation[0] == 0.0 and r.events == {TeleopEvent.DISCARD} and r.gripper == 1.0


def test_events_split_across_reads_are_reassembled(pad):
    dev, w = pad
    data = pack_event(EV_KEY, BTN_CODES["BTN_SOUTH"], 1) + syn()
    os.write(w, data[:10])
    assert dev.read().events == set()
    os.write(w, data[10:])
    assert dev.read().events == {TeleopEvent.STOP}


def test_config_names_bad_codes():
    with pytest.raises(ValueError, match="ABS_FOO"):
        GamepadConfig(axes={"x": ("ABS_FOO", 1.0)})
    with pytest.raises(ValueError, match="jump"):
        GamepadConfig(buttons={"jump": "BTN_SOUTH"})


def test_gamepad_pushes_the_pusht_pusher_through_the_loop(pad):
    import sim.registry as sim_registry
    from hardware.teleop.base import DeltaTeleop
    from hardware.teleop.mapping import PlanarMapper, PlanarMapperConfig
    from robot.runtime import ControlLoop, LoopConfig

    dev, w = pad
    env = sim_registry.make_env("pusht", {"cameras": ()})
    teleop = DeltaTeleop(dev, PlanarMapper(env.body_spec, PlanarMapperConfig(step_m=0.005)))
    obs, _ = env.reset(seed=3)
    start = obs["state"][:2].copy()
    # Left stick fully left (+y in the robot frame), held for the whole episode.
    os.write(w, pack_event(EV_ABS, ABS_CODES["ABS_X"], -32768) + syn())
    result = ControlLoop(env, teleop, None, LoopConfig(realtime=False, max_steps=8)).run_episode(seed=3)
    assert result.steps == 8
    moved = env.pusher_xy() - start
    # 8 ticks x 5 mm commanded; the PD pusher lags its target by a few mm at most (or meets the block).
    assert 0.02 < moved[1] <= 0.041 and abs(moved[0]) < 0.01, moved
