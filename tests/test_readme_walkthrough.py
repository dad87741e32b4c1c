"""The README's step-by-step pipeline runs as written, at tiny sizes.

The ```bash block under "## The pipeline, step by step" is parsed (comments
dropped, `\\` continuations joined) and every `robot ...` line runs in order,
in-process through `robot.cli.main`, in an empty folder, and must exit 0.

Substitution rule (sizes only; every other flag stays as written; a collect with
    `--teleop-opt noise=...` tops the store up to 4, so the recovery demos are really recorded):
  - `collect`: `--episodes 2`;  `train`: `--train.steps=2` (`=4` with `--resume`)
    and, for a new run, TINY_MODEL overrides that shrink the widths (the preset's
    observation keys, task and windows' meaning stay);  `eval`: 1 episode in 1 env,
    1 video, at most 10 steps;  `deploy --policy`: 1 episode of at most 10 ticks;
    `demo`: 2 demos, 2 steps, 1 evaluation episode of at most 10 steps, no video,
    one fine-tune wave (`--finetune-steps 10`), TINY_MODEL through `--set`;  `data split`: a `--seed` under which the two tiny
    episodes fall on both sides (the split is a fixed hash of each episode's random
    id: 100 demos at 0.1 leave about 10 for validation, 2 demos usually none).
Skip rule: a line that needs hardware or a person (an interactive teleop
device, a serial `--port`, a physical `--robot`, `--rerun-connect` to a viewer)
is skipped, and so is a line that reads what a skipped line writes; each skip
carries its reason and the set of skipped lines is asserted, so a new README
line cannot be skipped silently.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from robot.cli import main

ROOT = Path(__file__).resolve().parents[1]
HEADING = "## The pipeline, step by step"
INTERACTIVE_TELEOPS = {"keyboard", "gamepad", "spacemouse", "leader"}

TINY_MODEL = [
    "policy.horizon=8", "policy.n_action_steps=4", "policy.encoder.state_hidden=[16]", "policy.encoder.state_out=16",
    "policy.encoder.image_channels=[8,16]", "policy.encoder.num_keypoints=4", "policy.encoder.image_out=16",
    "policy.head.unet_down_dims=[16,32]", "policy.head.mlp_hidden=32", "policy.head.time_embed_dim=16", "policy.head.inference_steps=2",
    "train.batch_size=4", "train.warmup_steps=1", "train.num_threads=1", "eval.every=0",
]
TINY = {
    "collect": {"--episodes": "2"},
    "eval": {"--episodes": "1", "--envs": "1", "--videos": "1", "--max-steps": "10"},
    "deploy": {"--episodes": "1", "--max-steps": "10"},
    "demo": {"--episodes": "2", "--steps": "2", "--eval-episodes": "1", "--envs": "1", "--videos": "0",
             "--eval-max-steps": "10", "--finetune-steps": "10", "--no-progress": None},
}
EXPECTED_SKIPS = {
    "collect --task so101_lift --teleop keyboard": "an interactive teleop device (a person at the keyboard)",
    "data merge all.zarr demos.zarr mine.zarr": "reads mine.zarr, which a skipped line writes",
    "collect --task so101_lift --robot so101": "a physical arm on a serial port",
    "deploy --robot so101": "a physical arm on a serial port",
}


def readme_commands(text: str) -> list[str]:
    """The shell lines of the bash block under HEADING, comments dropped, continuations joined."""
    section = text[text.index(HEADING):]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block, f"no ```bash block under {HEADING!r} in README.md"
    joined = block.group(1).replace("\\\n", " ")
    lines = []
    for raw in joined.splitlines():
        line = raw.split("  #")[0].split(" # ")[0].strip()
        if line and not line.startswith("#"):
            lines.append(" ".join(line.split()))
    return lines


def _set(argv: list[str], flag: str, value: str | None) -> list[str]:
    """argv with `flag` set to `value` (replacing `--flag v` or `--flag=v`), or appended."""
    out, i, done = [], 0, False
    while i < len(argv):
        a = argv[i]
        if a == flag:
            out += [flag] if value is None else [flag, value]
            # a valued flag consumes its value; `--episodes 0 1` (preview) is not substituted
            i += 2 if value is not None and i + 1 < len(argv) and not argv[i + 1].startswith("--") else 1
            done = True
            continue
        if a.startswith(flag + "="):
            out.append(flag if value is None else f"{flag}={value}")
            done = True
        else:
            out.append(a)
        i += 1
    if not done:
        out += [flag] if value is None else [flag, value]
    return out


def shrink(argv: list[str]) -> list[str]:
    """The tiny-size version of one `robot` command line (argv without `robot`); see the module docstring."""
    cmd = argv[0]
    if cmd == "train":
        argv = _set(argv, "--train.steps", "4" if "--resume" in argv else "2")
        if "--config" in argv:
            argv += [f"--{o}" for o in TINY_MODEL]
        return argv
    if cmd == "deploy" and "--policy" not in argv:
        return argv
    if argv[:2] == ["data", "split"]:
        return _set(argv, "--seed", str(_seed_splitting_both_ways(argv[2], float(argv[argv.index("--val-ratio") + 1]))))
    for flag, value in TINY.get(cmd, {}).items():
        argv = _set(argv, flag, value)
    if cmd == "collect" and any(a.startswith("noise=") for a in argv):
        # the recovery line tops the store up to twice its clean demos: 2 more, from the noisy expert
        argv = _set(argv, "--episodes", "4")
    if cmd == "finetune":  # one short wave, one episode each side of the closing table
        for o in ("env_steps=16", "n_envs=2", "max_steps=8", "eval_every=16", "eval_episodes=1", "final_episodes=1",
                  "sac.batch=8", "sac.warmup_steps=1", "ppo.minibatch=8"):
            argv += ["--set", o]
        return argv
    if cmd == "demo":
        for o in TINY_MODEL:
            argv += ["--set", o]
    return argv


def _seed_splitting_both_ways(store_path: str, val_ratio: float) -> int:
    """The first split seed that leaves episodes on both sides of the store's train/val split."""
    from data import EpisodeStore
    from data.ops import episode_split

    ids = [m["episode_id"] for m in EpisodeStore.open(store_path, readonly=True).all_meta()]
    return next(s for s in range(10_000) if 0 < episode_split(ids, val_ratio, s).sum() < len(ids))


def skip_reason(argv: list[str], skipped_outputs: set[str]) -> str:
    """Why a line cannot run on this machine ("" when it can)."""
    teleop = argv[argv.index("--teleop") + 1] if "--teleop" in argv else ""
    robot = argv[argv.index("--robot") + 1] if "--robot" in argv else "twin"
    if "--port" in argv or robot != "twin":
        return "a physical arm on a serial port"
    if teleop in INTERACTIVE_TELEOPS:
        return "an interactive teleop device (a person at the keyboard)"
    if "--rerun-connect" in argv:
        return "a rerun viewer to connect to"
    needs = sorted(set(argv[1:]) & skipped_outputs)
    if needs:
        return f"reads {', '.join(needs)}, which a skipped line writes"
    return ""


def test_readme_commands_parse_into_the_expected_steps():
    lines = readme_commands((ROOT / "README.md").read_text())
    assert lines[0] == ". .venv/bin/activate"
    robot_lines = [shlex.split(line)[1] for line in lines[1:]]
    assert all(shlex.split(line)[0] == "robot" for line in lines[1:]), "every step is a `robot` command"
    for step in ("collect", "preview", "data", "train", "eval", "finetune", "deploy", "demo"):
        assert step in robot_lines


def test_readme_pipeline_runs_at_tiny_sizes(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    skipped: dict[str, str] = {}
    skipped_outputs: set[str] = set()
    for line in readme_commands((ROOT / "README.md").read_text())[1:]:  # [0] activates the venv
        argv = shlex.split(line)[1:]
        reason = skip_reason(argv, skipped_outputs)
        if reason:
            skipped[line] = reason
            if "--out" in argv:
                skipped_outputs.add(argv[argv.index("--out") + 1])
            continue
        rc = main(shrink(argv))
        out = capsys.readouterr()
        assert rc == 0, f"`{line}` (run as `robot {' '.join(shrink(argv))}`) exited {rc}:\n{out.err[-3000:]}"
    for prefix, reason in EXPECTED_SKIPS.items():
        assert any(line.startswith(f"robot {prefix}") and r == reason for line, r in skipped.items()), \
            f"expected `robot {prefix}` to be skipped ({reason}); skipped: {skipped}"
    unexpected = {line: r for line, r in skipped.items()
                  if not any(line.startswith(f"robot {p}") for p in EXPECTED_SKIPS)}
    assert not unexpected, f"README lines skipped without being expected: {unexpected}"
    # What the walk-through made: a camera store, a resumed run, its evaluation, a recorded twin deployment.
    assert (tmp_path / "runs/lift/latest").read_text().strip().endswith("step_0000004")
    from data import EpisodeStore

    assert EpisodeStore.open(tmp_path / "demos.zarr", readonly=True).num_episodes == 4  # 2 clean + 2 recovery
    assert (tmp_path / "runs/lift/eval/eval.json").is_file()
    assert (tmp_path / "runs/deploy/run.zarr").is_dir()
    assert (tmp_path / "back.zarr").is_dir() and (tmp_path / "ep0.rrd").is_file()
