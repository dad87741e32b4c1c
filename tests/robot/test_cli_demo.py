"""`robot demo` end to end at toy scale: real collection, training and evaluation on so101_lift."""

from __future__ import annotations

import json

from robot.cli import main


def test_demo_collects_trains_evaluates_and_reports(tmp_path, capsys):
    out = tmp_path / "demo"
    args = ["demo", "--episodes", "2", "--steps", "2", "--eval-episodes", "2", "--envs", "2", "--videos", "1",
            "--eval-max-steps", "12", "--threads", "1", "--out", str(out), "--no-progress",
            "--set", "eval.every=0", "--set", "train.batch_size=8",
            "--set", "policy.head.unet_down_dims=[16,32,64]"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    results = json.loads((out / "results.json").read_text())
    assert results["task"] == "so101_lift" and results["policy"] == "flow"
    assert results["n_demos"] == 2 and results["train_steps"] == 2 and results["eval_episodes"] == 2
    assert 0.0 <= results["ci95"][0] <= results["success_rate"] <= results["ci95"][1] <= 1.0
    assert (out / "success.png").read_bytes()[:4] == b"\x89PNG"
    assert len(results["videos"]) == 1 and (out / "eval" / "eval.json").is_file()
    assert str(out / "results.json") in printed and "success" in printed
    # running it again continues instead of starting over: nothing to collect, training already done
    assert main(args) == 0
    again = json.loads((out / "results.json").read_text())
    assert again["n_demos"] == 2 and again["train_steps"] == 2
