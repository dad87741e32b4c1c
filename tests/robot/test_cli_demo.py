"""`robot demo` end to end at toy scale: real collection, training, evaluation and twin deployment on so101_lift."""

from __future__ import annotations

import json

import imageio.v3 as iio
import pytest

from data import EpisodeStore
from robot.cli import main
from robot.metrics import wilson_interval


def test_demo_collects_trains_evaluates_deploys_and_reports(tmp_path, capsys):
    out = tmp_path / "demo"
    # --eval.episodes: the preset's eval section takes overrides like any other (--eval-episodes is its short form)
    args = ["demo", "--episodes", "2", "--steps", "2", "--eval.episodes=2", "--envs", "2", "--videos", "1",
            "--eval-max-steps", "12", "--deploy-episodes", "1", "--deploy-max-steps", "8", "--threads", "1",
            "--out", str(out), "--no-progress", "--eval.every=0", "--train.batch_size=8",
            "--set", "policy.head.mlp_hidden=32", "--policy.encoder.image_channels=[8,16]"]  # --set: the older spelling, still accepted
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
    assert results["inference_ms_p50"] > 0
    assert (out / "success.png").read_bytes()[:4] == b"\x89PNG"
    assert len(results["videos"]) == 1
    assert iio.imread(results["videos"][0]).shape[1:] == (240, 320, 3)  # a size a person can watch
    # the deployment on the twin: its summary, every tick recorded, a rerun recording
    deployed = results["deploy"]
    # 8 commanded ticks, all recorded; the loop also counts the ticks it waited for the first chunk
    assert deployed["episodes"] == 1 and deployed["ticks"] >= 8 and deployed["jitter_ms_p99"] >= 0
    assert EpisodeStore.open(out / "deploy" / "run.zarr", readonly=True).num_frames == 8
    assert (out / "deploy" / "deploy.rrd").stat().st_size > 0
    # stdout holds the closing table only (the stages' own lines go to stderr)
    assert printed.startswith("robot demo: so101_lift, flow policy from state")
    for row in ("demos", "training", "success in sim", "inference p50", "twin deployment", "loop jitter",
                "deadline misses", str(out / "deploy" / "deploy.rrd")):
        assert row in printed, row
    # running it again continues instead of starting over: nothing to collect, training already done
    again_args = list(args)
    again_args[again_args.index("--deploy-episodes") + 1] = "0"
    assert main(again_args) == 0
    again = json.loads((out / "results.json").read_text())
    assert again["n_demos"] == 2 and again["train_steps"] == 2 and again["deploy"] is None
    capsys.readouterr()
    # another policy on the same folder is refused before anything is loaded or written
    before = sorted(p.name for p in (out / "train" / "checkpoints").iterdir())
    assert main(["demo", "--policy", "diffusion", "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "cannot resume" in err and "diffusion" in err
    assert sorted(p.name for p in (out / "train" / "checkpoints").iterdir()) == before
