"""`robot demo` end to end at toy scale: real collection, training and evaluation on so101_lift."""

from __future__ import annotations

import json

import pytest

from robot.cli import main
from robot.metrics import wilson_interval


def test_demo_collects_trains_evaluates_and_reports(tmp_path, capsys):
    out = tmp_path / "demo"
    args = ["demo", "--episodes", "2", "--steps", "2", "--eval-episodes", "2", "--envs", "2", "--videos", "1",
            "--eval-max-steps", "12", "--threads", "1", "--out", str(out), "--no-progress",
            "--set", "eval.every=0", "--set", "train.batch_size=8",
            "--set", "policy.head.mlp_hidden=32",
            "--set", "policy.encoder.image_channels=[8,16]"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    results = json.loads((out / "results.json").read_text())
    assert results["task"] == "so101_lift" and results["policy"] == "flow"
    assert results["n_demos"] == 2 and results["train_steps"] == 2 and results["eval_episodes"] == 2
    # Two training steps of a tiny net cannot lift the cube in 12 ticks (the expert needs ~55):
    # the report must say 0/2 with the Wilson interval of 0/2, the same counts as eval.json.
    evaluated = json.loads((out / "eval" / "eval.json").read_text())
    assert evaluated["successes"] == 0 and results["success_rate"] == 0.0
    assert results["ci95"] == pytest.approx(list(wilson_interval(0, 2)))
    assert (out / "success.png").read_bytes()[:4] == b"\x89PNG"
    assert len(results["videos"]) == 1 and (out / "eval" / "eval.json").is_file()
    assert str(out / "results.json") in printed and "success" in printed
    # running it again continues instead of starting over: nothing to collect, training already done
    assert main(args) == 0
    again = json.loads((out / "results.json").read_text())
    assert again["n_demos"] == 2 and again["train_steps"] == 2
