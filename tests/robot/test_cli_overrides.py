"""One override syntax (`--section.key=value`) with types in --help, and the one-thread default on CPU."""

from __future__ import annotations

import argparse

import pytest
import torch

from robot.cli import build_parser
from robot.cli.overrides import OVERRIDES_DEST
from robot.cli.threads import set_torch_threads


def _sub(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices[name]


def test_help_lists_keys_with_types_and_defaults():
    parser = build_parser()
    text = " ".join(_sub(parser, "train").format_help().split())
    assert "--train.steps V int (default 2000)" in text
    assert "--policy.kind V one of {diffusion,flow,vla}" in text and "--policy.obs_keys V list[str]" in text
    demo = " ".join(_sub(parser, "demo").format_help().split())
    assert "--eval.episodes V int (default 50)" in demo and "--set KEY=VALUE" in demo
    assert "--eval.inference_steps V int" in " ".join(_sub(parser, "eval").format_help().split())
    deploy = " ".join(_sub(parser, "deploy").format_help().split())
    assert "--safety.max_velocity V list[float]" in deploy and "--watchdog." in deploy
    assert "--safety.enabled" not in deploy  # the safety layer cannot be turned off from robot deploy


def test_every_spelling_lands_in_one_list():
    parser = build_parser()
    args = parser.parse_args(["demo", "--train.steps=5", "--set", "eval.episodes=3", "--policy.horizon", "8"])
    assert getattr(args, OVERRIDES_DEST) == ["train.steps=5", "eval.episodes=3", "policy.horizon=8"]
    args = parser.parse_args(["deploy", "--safety", "max_step=[0.1]", "--safety.max_velocity=[2.0]",
                              "--watchdog.grace_s=0.5"])
    assert args.safety == ["max_step=[0.1]", "max_velocity=[2.0]"] and args.watchdog == ["grace_s=0.5"]
    args = parser.parse_args(["eval", "--checkpoint", "run", "--eval.episodes=4"])
    assert args.eval_overrides == ["episodes=4"]


@pytest.fixture
def keep_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_one_thread_by_default_on_cpu_unless_told(keep_threads):
    torch.set_num_threads(2)
    assert set_torch_threads(None, "cpu") == 1
    assert set_torch_threads(2, "cpu") == 2
    assert set_torch_threads(0, "cpu") == 1  # train.num_threads=0 ("torch's default") means 1 on CPU here
