"""Video files of LeRobot datasets: encode camera frames into mp4, decode them back, in-process (PyAV).

A LeRobot v3.0 video file holds the frames of consecutive episodes of one
camera, one frame every 1/fps seconds; an episode is the span
[from_timestamp, to_timestamp) of its file. Frames are uint8 (H, W, 3) RGB.

Codec presets (measured on rendered 96x96 frames, see docs/data.md):
- `h264-rgb` (default): libx264rgb, qp 0: bit-exact round trip; RGB H.264,
  which ffmpeg-based readers decode (PyAV, torchcodec: LeRobot's reader reads
  it bit-exactly, benchmarks/lerobot_side_check.py), browsers do not.
- `h264-444`: libx264, yuv444p, qp 0: near-lossless, the RGB->YUV rounding
  only (max abs error 2 of 255, mean < 0.5); about 20% smaller.
- `av1`: libsvtav1, yuv420p, crf 30, what LeRobot records by default: small
  and lossy (chroma subsampling, quantization).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from data.errors import StoreError


@dataclass(frozen=True)
class VideoCodec:
    """One encoder setting: PyAV encoder name, pixel format, encoder options, keyframe interval."""

    encoder: str
    pix_fmt: str
    options: tuple[tuple[str, str], ...]
    gop: int = 2  # a keyframe every 2 frames, as LeRobot records: cheap random access for training


CODECS: dict[str, VideoCodec] = {
    "h264-444": VideoCodec("libx264", "yuv444p", (("qp", "0"), ("preset", "veryfast"))),
    "h264-rgb": VideoCodec("libx264rgb", "rgb24", (("qp", "0"), ("preset", "veryfast"))),
    "av1": VideoCodec("libsvtav1", "yuv420p", (("crf", "30"), ("svtav1-params", "log-level=0"))),
}
"""Named codec presets (see the module docstring)."""


def codec(name: str) -> VideoCodec:
    """The preset `name`, or a StoreError listing the known ones."""
    if name not in CODECS:
        raise StoreError(f"unknown video codec {name!r}; use one of {', '.join(CODECS)}")
    return CODECS[name]


def _av():
    try:
        import av
    except ImportError:  # a declared dependency; only a broken install lacks it
        raise StoreError("LeRobot videos need PyAV: pip install av") from None
    return av


class VideoFileWriter:
    """Appends frames to one mp4 file at a fixed fps; the frame counter is the presentation clock."""

    def __init__(self, path: Path, fps: float, height: int, width: int, preset: VideoCodec) -> None:
        av = _av()
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.frames = 0
        self._container = av.open(str(path), "w")
        rate = Fraction(fps).limit_denominator(1001)
        self._stream = self._container.add_stream(preset.encoder, rate=rate)
        self._stream.width, self._stream.height, self._stream.pix_fmt = width, height, preset.pix_fmt
        self._stream.codec_context.time_base = 1 / rate
        self._stream.options = {**dict(preset.options), "g": str(preset.gop)}
        self._av = av

    def write(self, frames: np.ndarray) -> None:
        """Encode (n, H, W, 3) uint8 frames."""
        for image in frames:
            frame = self._av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            frame.pts = self.frames
            self.frames += 1
            for packet in self._stream.encode(frame):
                self._container.mux(packet)

    def close(self) -> None:
        """Flush the encoder and finish the file."""
        if self._container is None:
            return
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()
        self._container = None


def encoded_size(frames: np.ndarray, fps: float, preset: VideoCodec, scratch: Path) -> int:
    """Bytes `frames` take once encoded alone (decides whether an episode still fits a file)."""
    writer = VideoFileWriter(scratch, fps, frames.shape[1], frames.shape[2], preset)
    try:
        writer.write(frames)
    finally:
        writer.close()
    size = scratch.stat().st_size
    scratch.unlink()
    return size


def probe(path: Path) -> tuple[int, float, int, int, str, str]:
    """(frames, fps, height, width, codec name, pixel format) of the first video stream of `path`."""
    av = _av()
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        ctx = stream.codec_context
        frames = stream.frames or sum(1 for p in container.demux(stream) if p.size)
        return int(frames), float(stream.average_rate or 0), ctx.height, ctx.width, ctx.name, ctx.pix_fmt or ""


class VideoFileReader:
    """Decodes one mp4 front to back; `read(start, n)` returns frames [start, start+n) as (n, H, W, 3).

    Calls must ask for increasing `start` (episodes are read in file order);
    frames are located by their presentation time, frame k at k/fps.
    """

    def __init__(self, path: Path, fps: float) -> None:
        av = _av()
        self.path, self.fps = path, fps
        self._container = av.open(str(path))
        self._stream = self._container.streams.video[0]
        self._frames: Iterator = self._container.decode(self._stream)
        self._next = 0  # index of the next frame the decoder yields

    def read(self, start: int, n: int) -> np.ndarray:
        """Frames [start, start+n) of the file; a StoreError names the file if it holds fewer."""
        if start < self._next:
            raise StoreError(f"{self.path}: frames must be read in order (asked {start}, at {self._next})")
        out = []
        for frame in self._frames:
            index = round(float(frame.time) * self.fps) if frame.time is not None else self._next
            self._next = index + 1
            if index < start:
                continue
            out.append(frame.to_ndarray(format="rgb24"))
            if len(out) == n:
                break
        if len(out) != n:
            raise StoreError(f"{self.path}: holds too few frames: wanted [{start}, {start + n}), "
                             f"got {len(out)} from {start}")
        return np.stack(out)

    def close(self) -> None:
        """Release the file."""
        self._container.close()
