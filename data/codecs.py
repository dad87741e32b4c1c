"""Compression and chunking of the store's arrays, chosen by measurement.

`benchmarks/bench_codecs.py` compares codecs and chunk lengths on rendered
96x96 camera frames and on state/action vectors; docs/data.md records the
figures. Every chain ends with a CRC32C checksum so `robot data check` finds a
corrupt chunk even when the compressor would decode garbage without error.
"""

from __future__ import annotations

from typing import Any

from zarr.codecs import BloscCodec, Crc32cCodec, ZstdCodec

from robot.keys import is_image_key

IMAGE_CHUNK_FRAMES = 16
"""Frames per image chunk: small enough that a random sampler window decodes
little it does not use, large enough that zstd sees the redundancy between
consecutive frames (see docs/data.md)."""

LOWDIM_CHUNK_BYTES = 1 << 18
"""Target raw bytes per low-dim chunk (state, action, timestamp): a few
thousand ticks, so a store has few files and a full read is one pass."""

META_CHUNK_EPISODES = 1024
"""Episodes per chunk of `meta/episode_ends` and `meta/episode_meta`."""


def chunk_frames(key: str, frame_nbytes: int) -> int:
    """Time length of one chunk for `key`, whose single frame takes `frame_nbytes` bytes."""
    if is_image_key(key):
        return IMAGE_CHUNK_FRAMES
    return max(64, min(8192, LOWDIM_CHUNK_BYTES // max(1, frame_nbytes)))


SMALL_FRAME_BYTES = 160 * 160 * 3
"""Frames up to this size (policy-resolution cameras) get zstd 9, larger ones zstd 3."""


def image_zstd_level(frame_nbytes: int) -> int:
    """zstd level for camera frames of `frame_nbytes` bytes.

    Measured on 96x96 renders (bench_codecs.py, raw zstd on 16-frame chunks):
    level 9 stores 25 % less than level 3 (ratio 30.2 vs 24.1) for 4x the encode
    time (0.065 vs 0.016 ms per frame, i.e. 0.65 % of a core for 2 cameras at
    50 Hz) and the same decode time. Encode cost grows with pixels: at 640x480
    level 9 would take ~13 % of a core for 2 cameras at 30 Hz, so large frames
    keep level 3.
    """
    return 9 if frame_nbytes <= SMALL_FRAME_BYTES else 3


def compressors(key: str, frame_nbytes: int = 0) -> tuple[Any, ...]:
    """Bytes-to-bytes codec chain for `key` (frames of `frame_nbytes`): compressor, then a checksum."""
    if is_image_key(key):
        return (ZstdCodec(level=image_zstd_level(frame_nbytes)), Crc32cCodec())
    return (BloscCodec(cname="zstd", clevel=3, shuffle="shuffle"), Crc32cCodec())


def describe() -> dict[str, Any]:
    """JSON-ready summary written into the store attributes (for humans and `data info`)."""
    return {
        "images": {"compressor": f"zstd level 9 up to {SMALL_FRAME_BYTES} bytes per frame, else 3",
                   "chunk_frames": IMAGE_CHUNK_FRAMES},
        "lowdim": {"compressor": "blosc-zstd level 3, byte shuffle",
                   "chunk_bytes": LOWDIM_CHUNK_BYTES},
        "checksum": "crc32c",
    }
