"""SpaceMouse teleop fed 3Dconnexion HID report bytes through a pipe."""

from __future__ import annotations

import os

import numpy as np
import pytest

from hardware.teleop.spacemouse import (
    FdReportSource,
    SpaceMouseConfig,
    SpaceMouseDevice,
    SpaceMouseParser,
    button_report,
    combined_report,
    rotation_report,
    translation_report,
)
from robot.interfaces import TeleopEvent


@pytest.fixture
def pipe():
    r, w = os.pipe()
    os.set_blocking(r, False)
    yield r, w
    os.close(r)
    os.close(w)


def test_reports_through_a_pipe_move_and_click(pipe):
    r, w = pipe
    cfg = SpaceMouseConfig()
    dev = SpaceMouseDevice(cfg, source_factory=lambda: FdReportSource(r, cfg.report_lengths))
    dev.connect()
    # Push away from the user (raw -y), full scale; slight raw +x inside the deadzone; rotate.
    os.write(w, translation_report(10, -350, 175) + rotation_report(0, 0, 100))
    reading = dev.read()
    assert reading.translation == pytest.approx([1.0, 0.0, -0.5])
    assert reading.rotation == pytest.approx([0.0, 0.0, 100 / 350])
    # Left click toggles the gripper closed, release, right click starts/stops, both discard.
    os.write(w, button_report(1) + button_report(0) + button_report(2) + button_report(0))
    reading = dev.read()
    assert reading.gripper == 0.0 and reading.events == {TeleopEvent.START, TeleopEvent.STOP}
    assert reading.translation[0] == pytest.approx(1.0)  # deflection is held between reports
    os.write(w, button_report(3) + translation_report(0, 0, 0)[:4])  # second report still incomplete
    reading = dev.read()
    assert reading.events == {TeleopEvent.DISCARD} and reading.translation[0] == pytest.approx(1.0)
    os.write(w, translation_report(0, 0, 0)[4:])
    reading = dev.read()
    assert not np.any(reading.translation) and reading.rotation[2] > 0  # rotation still held
    os.write(w, rotation_report(0, 0, 0))
    assert dev.read().is_idle


def test_combined_report_of_newer_devices():
    p = SpaceMouseParser(combined=True)
    p.feed(combined_report(1, -2, 3, -4, 5, -6))
    assert p.translation.tolist() == [1, -2, 3] and p.rotation.tolist() == [-4, 5, -6]
    p.feed(bytes([0x17, 0x55]))  # battery / LED reports are ignored
    assert np.all(p.translation == [1, -2, 3])


def test_unknown_report_id_in_a_stream_is_an_error(pipe):
    r, w = pipe
    os.write(w, bytes([9, 0, 0]))
    with pytest.raises(ValueError, match="report id 9"):
        FdReportSource(r, {1: 7}).read_reports()
