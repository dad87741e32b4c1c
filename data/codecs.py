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


def compressors(key: str) -> tuple[Any, ...]:
    """Bytes-to-bytes codec chain for `key`: compressor, then a checksum."""
    if is_image_key(key):
        return (ZstdCodec(level=3), Crc32cCodec())
    return (BloscCodec(cname="zstd", clevel=3, shuffle="shuffle"), Crc32cCodec())


def describe() -> dict[str, Any]:
    """JSON-ready summary written into the store attributes (for humans and `data info`)."""
    return {
        "images": {"compressor": "zstd level 3", "chunk_frames": IMAGE_CHUNK_FRAMES},
        "lowdim": {"compressor": "blosc-zstd level 3, byte shuffle",
                   "chunk_bytes": LOWDIM_CHUNK_BYTES},
        "checksum": "crc32c",
    }
