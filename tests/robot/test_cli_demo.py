"""`robot demo` end to end at toy scale: real collection, training, evaluation, fine-tuning and twin deployment
on so101_lift."""

from __future__ import annotations

import json

import imageio.v3 as iio
import pytest

from data import EpisodeStore
from policies.checkpoint import load_policy
from robot.cli import main
from robot.metrics import wilson_interval


def test_demo_collects_trains_evaluates_deploys_and_reports(tmp_path, capsys):
    out = tmp_path / "demo"
    # --eval.episodes: the preset's eval section takes overrides like any other (--eval-episodes is its short form)
    args = ["demo", "--episodes", "2", "--steps", "2", "--eval.episodes=2", "--envs", "2", "--videos", "1",
            "--eval-max-steps", "12", "--deploy-episodes", "1", "--deploy-max-steps", "8", "--threads", "1",
            "--out", str(out), "--no-progress", "--eval.every=0", "--train.batch_size=8",
            "--set", "policy.head.unet_down_dims=[16,32]", "--policy.encoder.image_channels=[8,16]",  # --set: the older spelling, still accepted
            # noise steering (the default) for one wave of 2 envs x 12 ticks (the fine-tune caps episodes like evaluation does)
            "--finetune-steps", "24", "--finetune.n_envs=2", "--set", "finetune.sac.batch=8"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    results = json.loads((out / "results.json").read_text())
    assert results["task"] == "so101_lift" and results["policy"] == "flow"
    # 2 clean demos, then (on an arm task, by default) as many recovery demos from the noisy expert
    assert results["n_demos"] == 4 and results["train_steps"] == 2 and results["eval_episodes"] == 2
    # Two training steps of a tiny net cannot lift the cube in 12 ticks (the expert needs ~55):
    # the report must say 0/2 with the Wilson interval of 0/2, the same counts as eval.json.
    evaluated = json.loads((out / "eval" / "eval.json").read_text())
    assert evaluated["successes"] == 0 and results["success_rate"] == 0.0
    assert results["ci95"] == pytest.approx(list(wilson_interval(0, 2)))
    assert results["inference_ms_p50"] > 0
    assert (out / "success.png").read_bytes()[:4] == b"\x89PNG"
    assert len(results["videos"]) == 1
    assert iio.imread(results["videos"][0]).shape[1:] == (240, 320, 3)  # a size a person can watch
    # the fine-tune stage: noise steering on the trained checkpoint, before and after on the same 2 held-out seeds
    tuned = results["finetune"]
    assert tuned["method"] == "noise" and tuned["env_steps"] >= 24 and not tuned["reused"]
    assert tuned["before"]["episodes"] == tuned["after"]["episodes"] == 2
    assert tuned["before"]["successes"] == 0  # the base policy is the one stage 3 evaluated (0/2 above)
    k = tuned["after"]["successes"]
    assert [tuned["after"]["ci95_low"], tuned["after"]["ci95_high"]] == pytest.approx(list(wilson_interval(k, 2)))
    assert (out / "finetune" / "curves.csv").is_file() and (out / "finetune" / "learning_curve.png").is_file()
    finetuned = load_policy(tuned["checkpoint"])  # a policy like any other, whose base is the trained one
    assert finetuned.spec.extra["finetune"] == "noise"
    assert set(results["stage_minutes"]) == {"collect", "train", "eval", "finetune", "deploy"}
    assert all(v >= 0 for v in results["stage_minutes"].values())
    # the deployment on the twin ran the fine-tuned policy: its summary, every tick recorded, a rerun recording
    deployed = results["deploy"]
    assert json.loads((out / "deploy" / "deploy.json").read_text())["policy"] == tuned["checkpoint"]
    # 8 commanded ticks, all recorded; the loop also counts the ticks it waited for the first chunk
    assert deployed["episodes"] == 1 and deployed["ticks"] >= 8 and deployed["jitter_ms_p99"] >= 0
    assert EpisodeStore.open(out / "deploy" / "run.zarr", readonly=True).num_frames == 8
    assert (out / "deploy" / "deploy.rrd").stat().st_size > 0
    # stdout holds the closing table only (the stages' own lines go to stderr)
    assert printed.startswith("robot demo: so101_lift, flow policy from state")
    for row in ("demos", "training", "success in sim", "inference p50", "fine-tuning", "noise steering (DSRL)",
                "before fine-tuning", "after fine-tuning", "twin deployment", "loop jitter",
                "deadline misses", str(out / "deploy" / "deploy.rrd"), tuned["checkpoint"]):
        assert row in printed, row
    before_row = next(line for line in printed.splitlines() if "before fine-tuning" in line)
    assert "0/2 = 0% (95% CI" in before_row
    # running it again continues instead of starting over: nothing to collect, training and fine-tune done
    again_args = list(args)
    again_args[again_args.index("--deploy-episodes") + 1] = "0"
    assert main(again_args) == 0
    again = json.loads((out / "results.json").read_text())
    assert again["n_demos"] == 4 and again["train_steps"] == 2 and again["deploy"] is None
    assert again["finetune"]["reused"] and again["finetune"]["after"] == tuned["after"]
    # more fine-tune steps on the same folder resume the fine-tune from its checkpoint (not a new run)
    more_args = list(again_args)
    more_args[more_args.index("--finetune-steps") + 1] = "48"
    assert main(more_args) == 0
    more = json.loads((out / "results.json").read_text())["finetune"]
    assert more["env_steps"] >= 48 and not more["reused"]
    kept = {p.name for p in (out / "finetune" / "checkpoints").iterdir()}
    assert {f"step_{tuned['env_steps']:07d}", f"step_{more['env_steps']:07d}"} <= kept
    # --finetune none skips the stage (and says so in the table)
    assert main([*again_args, "--finetune", "none"]) == 0
    skipped = json.loads((out / "results.json").read_text())
    assert skipped["finetune"] is None and "finetune" not in skipped["stage_minutes"]
    assert "skipped: --finetune none" in capsys.readouterr().out
    # the other fine-tune method on this folder is refused, with one line, before anything is written
    written = sorted(p.name for p in (out / "finetune" / "checkpoints").iterdir())
    assert main([*again_args, "--finetune", "residual"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--finetune noise" in err and "residual" in err
    assert sorted(p.name for p in (out / "finetune" / "checkpoints").iterdir()) == written
    assert json.loads((out / "finetune" / "finetune.json").read_text())["method"] == "noise"
    # training further moves the base checkpoint: the fine-tune of the old base starts over, saying so
    further = list(again_args)
    further[further.index("--steps") + 1] = "4"
    assert main(further) == 0
    assert "starting it over" in capsys.readouterr().err
    redone = json.loads((out / "results.json").read_text())
    assert redone["train_steps"] == 4 and not redone["finetune"]["reused"]
    base = json.loads((out / "finetune" / "finetune.json").read_text())["base_checkpoint"]
    assert base == redone["checkpoint"] and base.endswith("step_0000004")
    # another policy on the same folder is refused before anything is loaded or written
    before = sorted(p.name for p in (out / "train" / "checkpoints").iterdir())
    assert main(["demo", "--policy", "diffusion", "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "cannot resume" in err and "diffusion" in err
    assert sorted(p.name for p in (out / "train" / "checkpoints").iterdir()) == before
