"""Cameras behind `robot.interfaces.Camera`: a capture thread each, `read_latest()` never waits.

`make_camera(kind, name=..., **cfg)` builds one from the registry below
(`opencv`: UVC device or video file; `realsense`: pyrealsense2 by serial or a
recording). SDKs are imported when a camera opens, not here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hardware.cameras.base import CameraError, Frame, ThreadedCamera


def _opencv(name: str, **cfg: Any) -> ThreadedCamera:
    from hardware.cameras.opencv import OpenCVCamera, OpenCVCameraConfig
    from robot.config import from_dict

    return OpenCVCamera(name, from_dict(OpenCVCameraConfig, cfg, "camera"))


def _realsense(name: str, device: Any = None, **cfg: Any) -> ThreadedCamera:
    from hardware.cameras.realsense import RealSenseCamera, RealSenseCameraConfig
    from robot.config import from_dict

    return RealSenseCamera(name, from_dict(RealSenseCameraConfig, cfg, "camera"), device=device)


CAMERAS: dict[str, Callable[..., ThreadedCamera]] = {
    "opencv": _opencv,
    "realsense": _realsense,
}
"""kind -> factory(name, **config)."""


def make_camera(kind: str, name: str = "front", **cfg: Any) -> ThreadedCamera:
    """A camera of `kind` named `name` (its observation key is `images.<name>`), not yet connected."""
    if kind not in CAMERAS:
        raise ValueError(f"camera kind {kind!r} unknown; choose one of {sorted(CAMERAS)}")
    return CAMERAS[kind](name, **cfg)


__all__ = ["CAMERAS", "CameraError", "Frame", "ThreadedCamera", "make_camera"]
