"""An emulated RealSense device: a real `rs.software_device` fed with synthetic frames at a fixed rate.

The SDK handles it like a camera (sensors, stream profiles, syncer, align,
recorder), so `RealSenseCamera` runs its real code path on it. Colour frames
are a moving gradient whose first pixel encodes the frame number (mod 256);
depth frames are constant `1000 + frame number` (mm at depth_units 0.001).
`pause()` stops delivery (a camera that stops sending frames).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np


class EmulatedRealSense:
    """A software RealSense device with colour (+ depth) sensors and a feeding thread.

    serial: reported serial. width/height/fps: the one mode offered. depth: add a depth sensor.
    """

    def __init__(self, serial: str = "000000000001", width: int = 64, height: int = 48, fps: int = 30,
                 depth: bool = True) -> None:
        import pyrealsense2 as rs

        self.rs, self.width, self.height, self.fps = rs, width, height, fps
        self.device = rs.software_device()
        self.device.register_info(rs.camera_info.serial_number, serial)
        self.device.register_info(rs.camera_info.name, "Emulated RealSense")
        intr = rs.intrinsics()
        intr.width, intr.height, intr.fx, intr.fy = width, height, 0.8 * width, 0.8 * width
        intr.ppx, intr.ppy, intr.model = width / 2, height / 2, rs.distortion.none
        self._streams: list[tuple[Any, Any, int]] = []  # (sensor, profile, bytes per pixel)
        specs = [("RGB Camera", rs.stream.color, rs.format.rgb8, 3)]
        if depth:
            specs.append(("Stereo Module", rs.stream.depth, rs.format.z16, 2))
        for uid, (sensor_name, stream, fmt, bpp) in enumerate(specs):
            sensor = self.device.add_sensor(sensor_name)
            vs = rs.video_stream()
            vs.type, vs.index, vs.uid, vs.width, vs.height = stream, 0, uid, width, height
            vs.fps, vs.bpp, vs.fmt, vs.intrinsics = fps, bpp, fmt, intr
            profile = sensor.add_video_stream(vs)
            if stream == rs.stream.depth:
                sensor.add_read_only_option(rs.option.depth_units, 0.001)
            self._streams.append((sensor, profile, bpp))
        self.device.create_matcher(rs.matchers.default)
        self.frame_number = 0
        self._paused = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        ramp = np.linspace(0, 255, width, dtype=np.float32)
        self._base = np.broadcast_to(ramp[None, :, None], (height, width, 3)).astype(np.uint8)

    def push(self) -> None:
        """Deliver one frame on every sensor (frame number, hardware timestamp in ms)."""
        rs, i = self.rs, self.frame_number
        for sensor, profile, bpp in self._streams:
            if bpp == 3:
                pixels = np.roll(self._base, i, axis=1).copy()
                pixels[0, 0] = i % 256
            else:
                pixels = np.full((self.height, self.width), 1000 + i % 60000, dtype=np.uint16)
            f = rs.software_video_frame()
            f.pixels, f.bpp, f.stride = pixels, bpp, self.width * bpp
            f.timestamp, f.domain, f.frame_number = i * 1000.0 / self.fps, rs.timestamp_domain.hardware_clock, i
            f.profile = profile.as_video_stream_profile()
            sensor.on_video_frame(f)
        self.frame_number += 1

    def start(self) -> EmulatedRealSense:
        """Feed frames at `fps` in a background thread."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="emulated-realsense", daemon=True)
        self._thread.start()
        return self

    def pause(self, paused: bool = True) -> None:
        """Stop (or resume) delivering frames, as a camera whose stream stalls."""
        if paused:
            self._paused.set()
        else:
            self._paused.clear()

    def stop(self) -> None:
        """Stop the feeding thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None

    def __enter__(self) -> EmulatedRealSense:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        period, t_next = 1.0 / self.fps, time.monotonic()
        while not self._stop.is_set():
            if not self._paused.is_set():
                self.push()
            t_next += period
            self._stop.wait(max(0.0, t_next - time.monotonic()))
