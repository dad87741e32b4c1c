"""`robot finetune` end to end through robot.cli.main: a tiny run, eval of its output, bad input -> exit 2."""

from __future__ import annotations

import json

import pytest
import torch
from test_eval import tiny_policy  # sibling test module

from policies.checkpoint import save_policy
from policies.finetune.wrappers import ResidualPolicy
from robot.cli import main
from sim.registry import make_env

TINY = ["--set", "n_envs=2", "--set", "max_steps=20", "--set", "eval_episodes=2", "--set", "final_episodes=2",
        "--set", "eval_every=40", "--set", "checkpoint_every=40", "--set", "ppo.minibatch=32",
        "--set", "sac.warmup_steps=8", "--set", "sac.batch=16", "--set", "sac.critic_hidden=[32,32]"]


@pytest.fixture(scope="module")
def bases(tmp_path_factory):
    root = tmp_path_factory.mktemp("bases")
    torch.manual_seed(0)
    lift = tiny_policy(make_env("so101_lift", cameras=()))
    save_policy(lift, root / "lift")
    save_policy(tiny_policy(make_env("pusht")), root / "pusht")
    save_policy(ResidualPolicy(lift), root / "lift_residual")
    return root


def _run(args, capsys):
    code = main(["finetune", "--no-progress", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_finetune_then_eval_the_result(bases, tmp_path, capsys):
    run = tmp_path / "run"
    code, out, _ = _run(["--method", "residual", "--checkpoint", str(bases / "lift"), "--task", "so101_lift",
                         "--out", str(run), "--set", "env_steps=80", *TINY], capsys)
    assert code == 0
    assert "base" in out and "finetuned" in out and "95% CI" in out
    result = json.loads((run / "result.json").read_text())
    assert result["env_steps"] >= 80 and result["base"]["episodes"] == 2
    assert (run / "learning_curve.png").is_file() and (run / "curves.csv").is_file()
    # the fine-tuned policy loads in `robot eval` unchanged
    assert main(["eval", "--checkpoint", str(run), "--task", "so101_lift", "--episodes", "1", "--envs", "1",
                 "--max-steps", "5", "--env", "cameras=[]", "--out", str(tmp_path / "ev")]) == 0
    # resume with more steps continues the same run; the other method is refused before training
    code, _, err = _run(["--method", "noise", "--checkpoint", str(bases / "lift"), "--task", "so101_lift",
                         "--out", str(run), "--resume", *TINY], capsys)
    assert code == 2 and "residual run" in err and "Traceback" not in err
    code, _, _ = _run(["--method", "residual", "--checkpoint", str(bases / "lift"), "--task", "so101_lift",
                       "--out", str(run), "--resume", "--set", "env_steps=120", *TINY], capsys)
    assert code == 0 and json.loads((run / "result.json").read_text())["env_steps"] >= 120


@pytest.mark.parametrize("case, want", [
    ("noise_on_residual", "needs a generative"),
    ("action_mismatch", "action dims"),
    ("rerun_without_resume", "already holds"),
    ("resume_nothing", "no fine-tuning checkpoint"),
])
def test_bad_input_is_one_message_and_exit_2(bases, tmp_path, capsys, case, want):
    ckpt, task, extra = bases / "lift", "so101_lift", []
    if case == "noise_on_residual":
        ckpt = bases / "lift_residual"
    elif case == "action_mismatch":
        ckpt = bases / "pusht"
    elif case == "rerun_without_resume":
        (tmp_path / "run").mkdir()
        (tmp_path / "run" / "latest").write_text("checkpoints/step_0000001\n")
    elif case == "resume_nothing":
        extra = ["--resume"]
    code, _, err = _run(["--method", "noise", "--checkpoint", str(ckpt), "--task", task,
                         "--out", str(tmp_path / "run"), *extra, *TINY], capsys)
    assert code == 2 and want in err and "Traceback" not in err
    assert not (tmp_path / "run" / "curves.csv").exists()  # nothing trained


@pytest.mark.parametrize("method", ["residual", "noise"])
def test_robot_deploy_runs_a_finetuned_policy_on_the_twin(bases, tmp_path, capsys, method):
    """Deployable by construction: the twin gives the base's keys, and that is all the wrapper reads."""
    from policies.checkpoint import load_policy
    from policies.finetune.wrappers import NoiseSteeredPolicy

    base = load_policy(bases / "lift")
    pol = ResidualPolicy(base) if method == "residual" else NoiseSteeredPolicy(base)
    ckpt = save_policy(pol, tmp_path / "ckpt")
    twin = ["--robot-opt", "cameras=[front]", "--robot-opt", "image_size=[32,32]", "--robot-opt", "camera_fps=15",
            "--watchdog", "max_obs_age=2.0", "--watchdog", "max_consecutive_misses=10000", "--watchdog", "grace_s=5"]
    rc = main(["deploy", "--policy", str(ckpt), "--episodes", "1", "--max-steps", "8", "--out", str(tmp_path / "d"),
               *twin])
    assert rc == 0, capsys.readouterr().err
    summary = json.loads((tmp_path / "d" / "deploy.json").read_text())
    assert summary["ticks"] >= 8 and summary["safe_stops"] == 0  # a loaded machine may add hold ticks
