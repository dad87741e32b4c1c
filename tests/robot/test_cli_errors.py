"""Every mistake a user can make at the `robot` command: one line on stderr, exit 2, no traceback.

Each case runs the real subcommand through `robot.cli.main` on real stores
and a real (tiny) checkpoint; `--debug` adds the traceback; an internal error
is one line with exit 1 and a hint to rerun with --debug.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from robot.cli import main

TINY = ["--policy.horizon=8", "--policy.n_action_steps=4", "--policy.encoder.state_hidden=[16]",
        "--policy.encoder.state_out=16", "--policy.head.unet_down_dims=[16,32]", "--policy.head.time_embed_dim=16",
        "--train.steps=1", "--train.batch_size=4", "--train.checkpoint_every=1", "--train.warmup_steps=1",
        "--eval.every=0", "--data.val_ratio=0"]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A real PushT store (one scripted episode) and a one-step flow run trained on it."""
    root = tmp_path_factory.mktemp("cli_errors")
    store, run = root / "pusht.zarr", root / "run"
    assert main(["collect", "--task", "pusht", "--episodes", "1", "--out", str(store), "--no-progress"]) == 0
    assert main(["train", "--config", "pusht_flow", "--data", str(store), "--out", str(run), "--no-progress",
                 *TINY]) == 0
    return root, store, run


def _cases(root, store, run) -> list[list[str]]:
    missing = str(root / "missing.zarr")
    return [
        ["collect", "--task", "no_such_task", "--out", str(root / "a.zarr")],
        ["collect", "--task", "pusht", "--env-opt", "bogus=1", "--out", str(root / "a.zarr")],
        ["collect", "--task", "pusht", "--images", "--episodes", "2", "--out", str(store)],  # layout clash
        ["train", "--config", "no_such_preset", "--data", str(store)],
        ["train", "--config", "pusht_flow", "--data", missing, "--out", str(root / "t1")],
        ["train", "--config", "so101_lift_flow", "--data", str(store), "--out", str(root / "t2")],  # wrong task
        ["train", "--config", "pusht_flow", "--data", str(store), "--out", str(root / "t3"), "--train.steps=abc"],
        ["train", "--config", "pusht_flow", "--data", str(store), "--out", str(root / "t4"), "--train.nope=1"],
        ["train", "--config", "pusht_flow", "--data", str(store), "--out", str(run)],  # already a run
        ["train", "--resume", str(root)],  # not a run folder
        ["eval", "--checkpoint", str(root / "nothing_here")],
        ["eval", "--checkpoint", str(store)],  # a store, not a checkpoint
        ["eval", "--checkpoint", str(run), "--task", "no_such_task", "--episodes", "1", "--envs", "1"],
        ["eval", "--checkpoint", str(run), "--task", "so101_lift", "--episodes", "1", "--envs", "1"],  # other task
        ["eval", "--checkpoint", str(run), "--video-size", "big"],
        ["eval", "--checkpoint", str(run), "--eval.episodes=0"],
        ["eval", "--checkpoint", str(run), "--eval.episodez=3"],  # not a key: the closest are named
        ["deploy", "--policy", str(store)],
        ["deploy", "--policy", str(run), "--safety.max_velocity=fast"],
        ["deploy", "--robot", "no_such_robot", "--policy", str(run)],
        ["deploy", "--replay", missing],
        ["collect", "--task", "so101_lift", "--robot", "so101", "--port", "/dev/ttyNOPE", "--teleop", "keyboard",
         "--out", str(root / "real.zarr")],  # no such serial port
        ["data", "info", missing],
        ["data", "check", missing],
        ["data", "split", missing],
        ["data", "drop", str(store), "x-y", "--out", str(root / "d.zarr")],
        ["data", "drop", str(store), "7", "--out", str(root / "d.zarr")],
        ["data", "view", str(store), "--episode", "9", "--out", str(root / "v.rrd")],
        ["data", "export", "--format", "lerobot", missing, str(root / "lerobot")],
        ["preview", missing],
        ["preview", str(store), "--episodes", "5"],
        ["demo", "--task", "no_such_task", "--out", str(root / "demo")],
        ["demo", "--train.nope=1", "--out", str(root / "demo")],
        ["demo", "--eval-episodes", "0", "--out", str(root / "demo")],
        ["demo", "--finetune.nope=1", "--out", str(root / "demo")],
        ["demo", "--set", "finetune.ppo.lr=fast", "--out", str(root / "demo")],
        ["demo", "--finetune-steps", "0", "--out", str(root / "demo")],
        ["demo", "--recovery-episodes", "-1", "--out", str(root / "demo")],
        ["demo", "--recovery-noise", "0", "--out", str(root / "demo")],
        ["collect", "--task", "so101_lift", "--teleop-opt", "noise=-1", "--out", str(root / "c.zarr")],
        ["serve", "--policy", str(store)],
    ]


def test_every_user_mistake_is_one_message_and_exit_2(world, capsys):
    """One message: a headline naming the command; a preflight report adds its indented items and fix lines."""
    root, store, run = world
    for argv in _cases(root, store, run):
        rc = main(argv)
        captured = capsys.readouterr()
        lines = [ln for ln in captured.err.splitlines() if ln.strip()]
        assert rc == 2, (argv, captured.err)
        assert "Traceback" not in captured.err + captured.out, argv
        assert lines and lines[0].startswith(f"robot {argv[0]}"), (argv, lines)
        # the headline alone, or a preflight report: "  - <problem>" items, then "fix:"/"or" lines
        assert len(lines) == 1 or (lines[1].startswith("  - ") and all(
            ln.startswith(("  - ", "fix:", "or ")) for ln in lines[1:])), (argv, lines)
    assert not (root / "c.zarr").exists()  # a wrong --teleop-opt is refused before the store is created


def test_debug_adds_the_traceback(world, capsys):
    root, _store, _run = world
    for argv in (["--debug", "eval", "--checkpoint", str(root / "nothing_here")],
                 ["eval", "--checkpoint", str(root / "nothing_here"), "--debug"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "Traceback" in err and err.strip().splitlines()[-1].startswith("robot eval: "), err


def test_an_internal_error_is_one_line_with_a_hint(monkeypatch, capsys):
    import robot.cli.find_port_cmd as find_port_cmd

    def broken(args):  # stands in for a bug deep inside a subcommand
        raise RuntimeError("state went bad")

    monkeypatch.setattr(find_port_cmd, "run", broken)
    assert main(["find-port", "--list"]) == 1
    err = capsys.readouterr().err
    assert err.strip() == ("robot find-port: internal error: RuntimeError: state went bad "
                           "(run with --debug for the traceback)")
    assert main(["--debug", "find-port", "--list"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "state went bad" in err


def test_the_console_command_prints_no_traceback(tmp_path):
    argv = [sys.executable, "-m", "robot.cli", "collect", "--task", "no_such_task", "--out", str(tmp_path / "s.zarr")]
    ran = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert ran.returncode == 2 and "Traceback" not in ran.stderr
    assert ran.stderr.strip() == ("robot collect: unknown task 'no_such_task'; registered: "
                                  + ", ".join(sorted(__import__("sim.registry").registry.ENVS)))
    ran = subprocess.run([*argv, "--debug"], capture_output=True, text=True, timeout=120)
    assert ran.returncode == 2 and "Traceback" in ran.stderr


def test_a_wrong_flag_is_one_line_too(capsys):
    for argv in (["demo", "--policy", "nope"], ["data", "info"], ["train", "--config"]):
        with pytest.raises(SystemExit) as exited:  # argparse exits; the console command returns its code
            main(argv)
        err = capsys.readouterr().err.strip()
        assert exited.value.code == 2 and len(err.splitlines()) == 1, (argv, err)
        assert err.startswith(f"robot {argv[0]}") and err.endswith("--help`)"), err


def test_demo_refuses_a_folder_whose_store_holds_another_task(world, capsys):
    import shutil

    root, store, _run = world
    out = root / "old_demo"
    shutil.copytree(store, out / "demos.zarr")  # a pusht store where a so101_lift demo would collect
    assert main(["demo", "--task", "so101_lift", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("robot demo: ") and "holds demos of pusht" in err and len(err.splitlines()) == 1
    assert sorted(p.name for p in out.iterdir()) == ["demos.zarr"]  # nothing else written
