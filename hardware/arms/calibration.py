"""lerobot calibration files of follower arms: where they live, loading, and matching them to the servos.

lerobot writes `<calibration_dir>/<id>.json` after `lerobot-calibrate`, with
`calibration_dir` defaulting to `$HF_LEROBOT_CALIBRATION/robots/<robot type>`
(`HF_LEROBOT_CALIBRATION` defaults to `$HF_HOME/lerobot/calibration`, i.e.
~/.cache/huggingface/lerobot/calibration). Each entry is a MotorCalibration:
`{joint: {id, drive_mode, homing_offset, range_min, range_max}}`. The servos
also hold range_min/max and the homing offset in EEPROM, so a
file from another arm is caught by comparing the two.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hardware.arms.units import JOINTS

LEROBOT_NAMES = {"so101": "so101_follower", "so100": "so100_follower", "koch": "koch_follower"}
"""Arm kind -> lerobot robot type (the calibration sub-folder and `--robot.type`)."""


class CalibrationError(RuntimeError):
    """The arm's calibration file is missing, unreadable or belongs to another arm."""


def calibration_path(kind: str, arm_id: str, calibration_dir: str = "") -> Path:
    """Where lerobot keeps the calibration file of arm `arm_id` of `kind`."""
    if calibration_dir:
        return Path(calibration_dir) / f"{arm_id}.json"
    home = Path(os.getenv("HF_HOME", "~/.cache/huggingface")).expanduser()
    base = Path(os.getenv("HF_LEROBOT_CALIBRATION", home / "lerobot" / "calibration")).expanduser()
    return base / "robots" / LEROBOT_NAMES[kind] / f"{arm_id}.json"


def _how(config: Any) -> str:
    return (f"calibrate it with `lerobot-calibrate --robot.type={LEROBOT_NAMES[config.kind]} "
            f"--robot.port={config.port} --robot.id={config.id}`")


def load_calibration_file(config: Any, device: str) -> dict[str, dict[str, int]]:
    """The calibration dict for `config` (a LeRobotArmConfig); CalibrationError says what to do."""
    path = config.calibration_path()
    if not path.is_file():
        raise CalibrationError(f"{device}: no calibration file at {path}; {_how(config)} "
                               "(or set calibration_dir / HF_LEROBOT_CALIBRATION to where it is)")
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise CalibrationError(f"{device}: calibration file {path} is unreadable ({e}); {_how(config)}") from None
    missing = [j for j in JOINTS if j not in data]
    if missing:
        raise CalibrationError(f"{device}: calibration file {path} has no entry for joints {missing} "
                               f"(it has {sorted(data)}): it is for another arm type; {_how(config)}")
    return data


def check_bus_calibration(bus: Any, file_cal: Mapping[str, Mapping[str, int]], config: Any, device: str) -> None:
    """Compare the file with the servos' EEPROM (lerobot `bus.read_calibration()`); name every joint that differs."""
    on_bus = bus.read_calibration()
    keys = ("range_min", "range_max", "homing_offset")
    wrong = []
    for joint in JOINTS:
        f, b = file_cal[joint], on_bus[joint]
        if any(int(f[k]) != int(getattr(b, k)) for k in keys):
            wrong.append(f"joint '{joint}' (id {b.id}): file {[int(f[k]) for k in keys]} vs servo "
                         f"{[int(getattr(b, k)) for k in keys]} ({'/'.join(keys)})")
    if wrong:
        raise CalibrationError(f"{device}: calibration file {config.calibration_path()} does not match the servos, "
                               f"it is from another arm: {'; '.join(wrong)}. Use the id this arm was calibrated "
                               "with, or recalibrate with `lerobot-calibrate`")
