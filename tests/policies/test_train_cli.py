"""`robot train` / `robot eval` end to end through robot.cli.main on a tiny store recorded in the test."""

from __future__ import annotations

import json

import numpy as np
import pytest

from data import EpisodeStore
from data.ops import episode_split
from robot.cli import main

TINY = [
    "--policy.horizon=8", "--policy.n_action_steps=4", "--policy.encoder.state_hidden=[16]",
    "--policy.encoder.state_out=16", "--policy.head.unet_down_dims=[16,32]", "--policy.head.time_embed_dim=16",
    "--policy.head.inference_steps=2", "--train.batch_size=8", "--train.log_every=1",
    "--train.checkpoint_every=2", "--train.warmup_steps=1", "--eval.every=2", "--eval.train_episodes=2",
    "--eval.n_envs=2", "--eval.max_steps=8", "--train.num_threads=1",
]


@pytest.fixture(scope="module")
def pusht_store(tmp_path_factory):
    """Two real scripted PushT episodes recorded by `robot collect`."""
    path = tmp_path_factory.mktemp("data") / "pusht.zarr"
    assert main(["collect", "--task", "pusht", "--episodes", "2", "--out", str(path), "--no-progress"]) == 0
    return path


def _seed_holding_out_one(store: EpisodeStore) -> tuple[int, int]:
    """A training seed whose 50% split holds out exactly one of the two episodes, and the other's length."""
    ids = [store.episode_meta(i)["episode_id"] for i in range(store.num_episodes)]
    seed = next(s for s in range(200) if episode_split(ids, 0.5, s).sum() == 1)
    kept = int(np.flatnonzero(~episode_split(ids, 0.5, seed))[0])
    return seed, store.episode_meta(kept)["length"]


def test_train_resume_then_eval(pusht_store, tmp_path, capsys):
    run = tmp_path / "run"
    seed, kept_length = _seed_holding_out_one(EpisodeStore.open(pusht_store, readonly=True))
    args = ["train", "--config", "pusht_flow", "--data", str(pusht_store), "--out", str(run),
            "--train.steps=2", "--data.val_ratio=0.5", f"--train.seed={seed}", "--no-progress", *TINY]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["step"] == 2 and summary["n_episodes"] == 2
    assert summary["n_windows"] == kept_length  # one window per tick of the one training episode
    assert (run / "latest").read_text().strip() == "checkpoints/step_0000002"
    assert (run / "config.yaml").is_file() and (run / "eval.csv").is_file()
    # a second `train` into the same folder must not clobber it
    assert main(args) == 2
    capsys.readouterr()
    # resume with more steps: continues from step 2
    assert main(["train", "--resume", str(run), "--train.steps=4", "--no-progress"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["step"] == 4 and summary["steps_this_run"] == 2
    rows = (run / "metrics.csv").read_text().splitlines()
    assert [int(r.split(",")[0]) for r in rows[1:]] == [1, 2, 3, 4]
    assert [int(r.split(",")[0]) for r in (run / "eval.csv").read_text().splitlines()[1:]] == [2, 4]
    val = [r.split(",") for r in (run / "val.csv").read_text().splitlines()[1:]]
    assert [int(r[0]) for r in val] == [2, 4] and all(float(r[1]) > 0 for r in val)

    out = tmp_path / "eval"
    assert main(["eval", "--checkpoint", str(run), "--episodes", "3", "--envs", "2", "--videos", "1",
                 "--max-steps", "8", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "pusht: success" in printed
    result = json.loads((out / "eval.json").read_text())
    assert result["task"] == "pusht" and result["episodes"] == 3
    assert result["checkpoint"].endswith("step_0000004")
    assert len(list((out / "videos").glob("*.mp4"))) == 1
    assert (out / "success.png").read_bytes()[:4] == b"\x89PNG"


def test_wrong_override_key_is_a_clear_error(pusht_store, tmp_path, capsys):
    # not a key of the pipeline config: one line naming it and the closest keys, exit 2
    assert main(["train", "--config", "so101_lift_flow", "--data", str(pusht_store), "--train.stepz=3"]) == 2
    err = capsys.readouterr().err
    assert "unknown config key --train.stepz; did you mean --train.steps" in err and len(err.splitlines()) == 1
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  lr: 0.1\n  warmup: 3\n")
    assert main(["train", "--config", str(bad), "--data", str(pusht_store), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "train.warmup" in err and "bad.yaml" in err and "warmup_steps" in err


def test_eval_rejects_a_folder_that_is_not_a_checkpoint(tmp_path, capsys):
    assert main(["eval", "--checkpoint", str(tmp_path), "--task", "pusht"]) == 2  # a user mistake: one line
    err = capsys.readouterr().err
    assert "neither a checkpoint folder" in err and "Traceback" not in err


def test_overrides_parse_exponent_numbers():
    """`--train.lr=1e-3` is a number (plain YAML 1.1 would read it as a string)."""
    from policies.pipeline import load_pipeline
    from robot.cli import build_parser

    args = build_parser().parse_args(["train", "--config", "pusht_flow", "--train.lr=1e-3", "--train.steps=7"])
    cfg = load_pipeline(args.config, args.config_overrides)
    assert cfg.train.lr == 0.001 and cfg.train.steps == 7
