"""The one place that names observation, action and metadata keys.

Every body (sim task, MuJoCo twin, physical arm), the episode store and every
policy use these names, so an observation built in one place reads the same
everywhere. Never test a key by substring elsewhere: use these helpers.
"""

from __future__ import annotations

STATE = "state"
"""Proprioceptive state vector, (Ds,) float32, in the body's own units (rad, m)."""

ACTION = "action"
"""Commanded action vector, (Da,) float32, in the body's own units."""

INSTRUCTION = "instruction"
"""Language instruction for the episode (str)."""

TIMESTAMP = "timestamp"
"""Seconds since the episode started, float64, one per tick."""

IMAGES_PREFIX = "images."
"""Camera frames are stored under `images.<camera>`, uint8 (H, W, C)."""


def image_key(camera: str) -> str:
    """Key of the frames of `camera`, e.g. `image_key("front") == "images.front"`."""
    if not camera or "." in camera or "/" in camera:
        raise ValueError(f"camera name {camera!r} must be non-empty and contain no '.' or '/'")
    return IMAGES_PREFIX + camera


def is_image_key(key: str) -> bool:
    """True for `images.<camera>` keys."""
    return key.startswith(IMAGES_PREFIX) and len(key) > len(IMAGES_PREFIX)


def camera_of(key: str) -> str:
    """Camera name of an image key: `camera_of("images.front") == "front"`."""
    if not is_image_key(key):
        raise ValueError(f"{key!r} is not an image key (expected '{IMAGES_PREFIX}<camera>')")
    return key[len(IMAGES_PREFIX):]
