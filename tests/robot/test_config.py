"""The strict config loader: defaults, YAML presets, dotted overrides, errors that name the key."""

from dataclasses import dataclass, field
from typing import Literal

import pytest

from robot.config import ConfigError, from_dict, load_config, parse_overrides, to_dict


@dataclass(frozen=True)
class OptimConfig:
    lr: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 100
    kind: Literal["diffusion", "flow"] = "flow"
    optim: OptimConfig = field(default_factory=OptimConfig)
    cameras: tuple[str, ...] = ()
    note: str | None = None


def test_defaults_yaml_and_overrides_compose(tmp_path):
    preset = tmp_path / "p.yaml"
    preset.write_text("steps: 50\noptim:\n  lr: 0.001\ncameras: [front, wrist]\n")
    cfg = load_config(TrainConfig, preset, ["--steps=7", "optim.betas=[0.5, 0.6]", "kind=diffusion"])
    assert cfg == TrainConfig(
        steps=7,
        kind="diffusion",
        optim=OptimConfig(lr=0.001, betas=(0.5, 0.6)),
        cameras=("front", "wrist"),
    )
    # Round trip through the plain-dict form.
    assert from_dict(TrainConfig, to_dict(cfg)) == cfg


def test_exponent_floats_parse_from_yaml_and_overrides(tmp_path):
    preset = tmp_path / "p.yaml"
    preset.write_text("optim:\n  lr: 1e-3\n")  # YAML 1.1 reads this as a string
    assert load_config(TrainConfig, preset).optim.lr == 0.001
    assert load_config(TrainConfig, None, ["--optim.lr=3e-4"]).optim.lr == 0.0003
    with pytest.raises(ConfigError, match="optim.lr: expected a number, got 'fast'"):
        load_config(TrainConfig, None, ["--optim.lr=fast"])


def test_int_is_accepted_for_float_and_none_for_optional():
    cfg = from_dict(TrainConfig, {"optim": {"lr": 1}, "note": None})
    assert cfg.optim.lr == 1.0 and isinstance(cfg.optim.lr, float)
    assert cfg.note is None


@pytest.mark.parametrize(
    "data, fragment",
    [
        ({"stepz": 3}, "unknown key stepz"),
        ({"optim": {"learning_rate": 3}}, "unknown key optim.learning_rate"),
        ({"steps": "many"}, "steps: expected an integer"),
        ({"steps": True}, "steps: expected an integer"),
        ({"kind": "vae"}, "kind: 'vae' is not one of"),
        ({"optim": {"betas": [0.9]}}, "optim.betas: expected 2 items"),
        ({"optim": 3}, "optim: expected a mapping"),
    ],
)
def test_bad_keys_and_types_name_the_key(data, fragment):
    with pytest.raises(ConfigError) as err:
        from_dict(TrainConfig, data)
    assert fragment in str(err.value)


def test_unknown_key_lists_valid_keys():
    with pytest.raises(ConfigError, match="valid keys: cameras, kind, note, optim, steps"):
        from_dict(TrainConfig, {"bogus": 1})


def test_missing_and_malformed_files_are_named(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(TrainConfig, tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("steps: [unclosed\n")
    with pytest.raises(ConfigError, match="bad.yaml is not valid YAML"):
        load_config(TrainConfig, bad)
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("stepz: 1\n")
    with pytest.raises(ConfigError, match=r"unknown key stepz.*wrong\.yaml"):
        load_config(TrainConfig, wrong)


def test_override_syntax_errors():
    with pytest.raises(ConfigError, match="must look like"):
        parse_overrides(["steps"])
    assert parse_overrides(["--a.b.c=1", "a.d=x"]) == {"a": {"b": {"c": 1}, "d": "x"}}
    with pytest.raises(ConfigError, match="not a section"):
        parse_overrides(["a=1", "a.b=2"])
