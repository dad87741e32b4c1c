"""Intel RealSense camera through pyrealsense2: colour and optional aligned depth, by serial.

The device is chosen by serial from the connected ones (or is a recording
played back from a file, or a device object the caller built, e.g. an
`rs.software_device`). Its colour (and depth) sensors are opened in the
configured mode and started into an `rs.syncer`; the capture thread takes
framesets with `try_wait_for_frames(frame_timeout_ms)`, aligns depth to colour
when asked, and keeps the newest. A late or missing frame only counts in
`late` and shows as frame age; the loop never waits for one. Frames carry the
device's hardware timestamp (ms) besides the host time.

Recordings: librealsense 2.59 records through `rs.recorder` into rosbag2
(`.db3`) files; older versions write `.bag`; `playback` takes either.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from hardware.cameras.base import CameraError, Grab, ThreadedCamera


def _rs() -> Any:
    try:
        import pyrealsense2 as rs
    except ImportError:
        raise ImportError("RealSense cameras need pyrealsense2: pip install -e .[realsense]") from None
    return rs


@dataclass(frozen=True)
class RealSenseCameraConfig:
    """serial: device serial ('' = the only connected one). playback: a recording to play instead.
    width/height/fps: colour (and depth) mode. depth: also stream depth. align_depth: align it to colour.
    frame_timeout_ms: the capture thread's wait per frameset (a miss counts as late).
    stale_after_s: frame age that counts as "stopped delivering". playback_realtime: play at recorded speed."""

    serial: str = ""
    playback: str = ""
    width: int = 640
    height: int = 480
    fps: int = 30
    depth: bool = False
    align_depth: bool = True
    frame_timeout_ms: int = 200
    stale_after_s: float = 0.5
    playback_realtime: bool = True


def connected_serials() -> list[str]:
    """Serials of the RealSense devices connected now."""
    rs = _rs()
    return [d.get_info(rs.camera_info.serial_number) for d in rs.context().query_devices()]


class RealSenseCamera(ThreadedCamera):
    """A RealSense device (live, played back, or software) streaming through a syncer in a capture thread.

    device: an already built `rs.device` (e.g. an emulated `rs.software_device`) used instead of a serial lookup.
    """

    def __init__(self, name: str, config: RealSenseCameraConfig | None = None, device: Any | None = None) -> None:
        self.config = config or RealSenseCameraConfig()
        super().__init__(name, self.config.stale_after_s)
        self.shape = (self.config.height, self.config.width, 3)
        where = f"playback {self.config.playback}" if self.config.playback else f"serial {self.config.serial or '(any)'}"
        self.device = f"realsense {where}"
        self._given_device = device
        self._device: Any = None
        self._ctx: Any = None
        self._sensors: list[Any] = []
        self._syncer: Any = None
        self._align: Any = None

    def _find_device(self) -> Any:
        rs = _rs()
        if self._given_device is not None:
            return self._given_device
        self._ctx = rs.context()
        if self.config.playback:
            try:
                dev = self._ctx.load_device(self.config.playback)
            except RuntimeError as e:
                raise CameraError(f"camera {self.name!r}: cannot play back {self.config.playback!r}: {e}") from None
            dev.as_playback().set_real_time(self.config.playback_realtime)
            return dev
        devices = list(self._ctx.query_devices())
        serials = [d.get_info(rs.camera_info.serial_number) for d in devices]
        if self.config.serial:
            if self.config.serial not in serials:
                raise CameraError(f"camera {self.name!r}: RealSense serial {self.config.serial} is not connected "
                                  f"(connected: {serials or 'none'}); check the USB cable or run `robot find-cameras`")
            return devices[serials.index(self.config.serial)]
        if len(devices) != 1:
            raise CameraError(f"camera {self.name!r}: {len(devices)} RealSense devices connected ({serials}); "
                              "set serial to choose one")
        return devices[0]

    def _profile(self, stream: Any, fmt: Any) -> tuple[Any, Any]:
        """(sensor, profile) of the device delivering `stream` in the configured mode."""
        cfg = self.config
        modes = []
        for sensor in self._device.query_sensors():
            for p in sensor.get_stream_profiles():
                if p.stream_type() != stream:
                    continue
                v = p.as_video_stream_profile()
                modes.append(f"{v.width()}x{v.height()}@{p.fps()} {p.format()}")
                if (v.width(), v.height(), p.fps(), p.format()) == (cfg.width, cfg.height, cfg.fps, fmt):
                    return sensor, p
        raise CameraError(f"camera {self.name!r} ({self.device}): no {stream} mode {cfg.width}x{cfg.height}@{cfg.fps} "
                          f"{fmt}; it offers {sorted(set(modes)) or 'none'}")

    def _open(self) -> None:
        rs = _rs()
        self._device = self._find_device()
        wanted = [(rs.stream.color, rs.format.rgb8)] + ([(rs.stream.depth, rs.format.z16)] if self.config.depth else [])
        chosen = [self._profile(s, f) for s, f in wanted]
        self._syncer = rs.syncer()
        self._sensors = []
        for sensor, profile in chosen:
            sensor.open(profile)
            sensor.start(self._syncer)
            self._sensors.append(sensor)
        self._align = rs.align(rs.stream.color) if self.config.depth and self.config.align_depth else None

    def _grab(self) -> Grab | None:
        ok, frames = self._syncer.try_wait_for_frames(self.config.frame_timeout_ms)
        if not ok:
            return None
        if self._align is not None and frames.get_depth_frame() and frames.get_color_frame():
            frames = self._align.process(frames)
        color = frames.get_color_frame()
        if not color:
            return None  # a depth-only set (streams out of step): wait for colour
        depth_frame = frames.get_depth_frame() if self.config.depth else None
        depth = np.asanyarray(depth_frame.get_data()).copy() if depth_frame else None
        return np.asanyarray(color.get_data()).copy(), float(color.get_timestamp()), depth

    def _close(self) -> None:
        for sensor in self._sensors:
            try:
                sensor.stop()
                sensor.close()
            except RuntimeError:
                pass
        self._sensors = []
