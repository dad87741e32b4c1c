"""Key helpers and specs: the names every layer agrees on."""

import numpy as np
import pytest

from robot import keys
from robot.specs import ArraySpec, BodySpec


def test_image_keys_round_trip():
    k = keys.image_key("front")
    assert k == "images.front" and keys.is_image_key(k) and keys.camera_of(k) == "front"
    assert not keys.is_image_key(keys.STATE)
    assert not keys.is_image_key("images.")
    with pytest.raises(ValueError):
        keys.image_key("a.b")
    with pytest.raises(ValueError):
        keys.camera_of("state")


def test_array_spec_validates_and_serializes():
    spec = ArraySpec((2,), "float32", "rad", ("a", "b"))
    assert ArraySpec.from_dict(spec.to_dict()) == spec
    assert spec.to_dict()["shape"] == [2]
    with pytest.raises(ValueError, match="2 names for shape"):
        ArraySpec((3,), names=("a", "b"))
    with pytest.raises(TypeError):
        ArraySpec((3,), dtype="notadtype")


def test_body_spec_lists_cameras_in_order():
    spec = BodySpec(
        name="t",
        observations={
            "state": ArraySpec((3,)),
            "images.top": ArraySpec((8, 8, 3), "uint8"),
            "images.wrist": ArraySpec((8, 8, 3), "uint8"),
        },
        action=ArraySpec((2,)),
        fps=10,
    )
    assert spec.cameras == ("top", "wrist")
    assert np.dtype(spec.observations["images.top"].dtype) == np.uint8
