"""OpenCV / UVC camera (a /dev/video* device, its index, or a video file) behind a capture thread.

Frames come out RGB (H, W, 3) uint8. The sensor timestamp is OpenCV's
CAP_PROP_POS_MSEC (the V4L2 buffer time on a device, the position in a file).
A file is paced at `fps` (it would otherwise be read as fast as the disk
allows) and either loops or, at its end, stops delivering, which the camera
then reports as a fault after `stale_after_s`, like an unplugged webcam.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import numpy as np

from hardware.cameras.base import CameraError, Grab, ThreadedCamera


def _cv2():
    try:
        import cv2
    except ImportError:
        raise ImportError("OpenCV cameras need OpenCV: pip install -e .[lerobot] (it brings "
                          "opencv-python-headless) or pip install opencv-python-headless") from None
    return cv2


@dataclass(frozen=True)
class OpenCVCameraConfig:
    """source: device index ("0"), device path (/dev/video0) or video file. width/height/fps: requested
    mode (a device that delivers another size is an error naming both). loop: restart a file at its end.
    stale_after_s: frame age that counts as "stopped delivering"."""

    source: str = "0"
    width: int = 640
    height: int = 480
    fps: float = 30.0
    loop: bool = False
    stale_after_s: float = 0.5


class OpenCVCamera(ThreadedCamera):
    """A UVC device or video file read by cv2.VideoCapture in a capture thread."""

    def __init__(self, name: str, config: OpenCVCameraConfig | None = None) -> None:
        self.config = config or OpenCVCameraConfig()
        super().__init__(name, self.config.stale_after_s)
        self.shape = (self.config.height, self.config.width, 3)
        self.device = f"opencv {self.config.source}"
        self._cap = None
        self._is_file = False
        self._next_t = 0.0

    def _open(self) -> None:
        cv2 = _cv2()

        src = self.config.source
        self._is_file = os.path.isfile(src)
        if not self._is_file and not src.isdigit() and not os.path.exists(src):
            raise CameraError(f"camera {self.name!r}: {src!r} is neither a device index, a device path nor a "
                              "file; run `robot find-cameras` to list cameras")
        cap = cv2.VideoCapture(int(src) if src.isdigit() else src)
        if not cap.isOpened():
            raise CameraError(f"camera {self.name!r}: cannot open {src!r} with OpenCV (in use by another "
                              "program, or not a camera); run `robot find-cameras`")
        if not self._is_file:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.config.width)
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.config.height)
            cap.set(cv2.CAP_PROP_FPS, self.config.fps)
        w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        if (w, h) != (self.config.width, self.config.height):
            cap.release()
            raise CameraError(f"camera {self.name!r} ({src}) delivers {w}x{h}, config asks for "
                              f"{self.config.width}x{self.config.height}; set width/height to a mode it supports")
        self._cap = cap
        self._next_t = time.monotonic()

    def _grab(self) -> Grab | None:
        cv2 = _cv2()

        if self._is_file:  # pace a file at its fps
            delay = self._next_t - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self._next_t = max(self._next_t + 1.0 / self.config.fps, time.monotonic() - 1.0 / self.config.fps)
        ok, bgr = self._cap.read()
        if not ok:
            if self._is_file and self.config.loop:
                self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            else:
                time.sleep(1.0 / self.config.fps)  # end of file or no frame: do not spin
            return None
        pos_ms = float(self._cap.get(cv2.CAP_PROP_POS_MSEC))
        return np.ascontiguousarray(bgr[..., ::-1]), pos_ms, None

    def _close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


def list_opencv_cameras(max_index: int = 10) -> list[dict[str, object]]:
    """Cameras OpenCV can open: /dev/video* on Linux, else indices 0..max_index-1; each with its mode."""
    import glob
    import sys

    cv2 = _cv2()

    # Linux names every camera /dev/videoN; probing indices without one only makes OpenCV complain.
    sources = sorted(glob.glob("/dev/video*")) if sys.platform.startswith("linux") else [str(i) for i in range(max_index)]
    found = []
    for src in sources:
        cap = cv2.VideoCapture(int(src) if src.isdigit() else src)
        if cap.isOpened():
            found.append({"kind": "opencv", "source": src, "width": int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
                          "height": int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)), "fps": float(cap.get(cv2.CAP_PROP_FPS))})
        cap.release()
    return found
