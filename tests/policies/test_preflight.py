"""Preflight checks through the `robot` CLI: a store that does not fit the preset stops `robot train`
before the first step, a checkpoint that does not fit the task stops `robot eval` before any rollout;
both with one message naming the mismatch and the options that fix it, exit 2, no traceback.

Also: every pipeline preset reads only what its own task gives, and every preset not named
`*_privileged` observes what the real setup provides (joint state and cameras, no simulator state).
"""

from __future__ import annotations

import json

import pytest

from policies.pipeline import CONFIG_DIR, load_pipeline
from policies.preflight import task_spec
from robot import keys
from robot.cli import main

PRESETS = sorted(p.stem for p in (CONFIG_DIR / "pipelines").glob("*.yaml"))
LOW_DIM_BY_NAME = {"pusht_flow": "the classic low-dim PushT benchmark, named in benchmarks/results/bench_success.json"}
"""Presets on privileged state that keep a name without `_privileged`, and why."""


def _deployable_params() -> list:
    return [n for n in PRESETS if not n.endswith("_privileged") and n not in LOW_DIM_BY_NAME]

TINY = ["--policy.horizon=8", "--policy.n_action_steps=4", "--policy.encoder.state_hidden=[16]",
        "--policy.encoder.state_out=16", "--policy.head.unet_down_dims=[16,32]", "--policy.head.time_embed_dim=16",
        "--policy.head.inference_steps=2", "--train.batch_size=4", "--train.warmup_steps=1", "--eval.every=0",
        "--train.num_threads=1", "--no-progress"]


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_reads_what_its_task_gives(name):
    cfg = load_pipeline(name)
    body, _ = task_spec(cfg.task.name, cfg.task.env)
    missing = [k for k in cfg.policy.obs_keys if k not in body.observations]
    assert not missing, f"{name}: policy.obs_keys {missing} are not given by {cfg.task.name} {cfg.task.env}"
    if cfg.policy.kind == "vla":
        assert body.instructions, f"{name}: a VLA preset on a task without instructions"


@pytest.mark.parametrize("name", _deployable_params())
def test_presets_without_privileged_in_the_name_observe_what_a_real_setup_has(name):
    cfg = load_pipeline(name)
    _, task_cfg = task_spec(cfg.task.name, cfg.task.env)
    assert getattr(task_cfg, "privileged_state", False) is False, f"{name} reads the simulator's object state"
    cameras = [keys.camera_of(k) for k in cfg.policy.obs_keys if keys.is_image_key(k)]
    assert cameras, f"{name} reads no camera"
    if cfg.task.name.startswith("so101") or cfg.task.name == "peg_insert":
        assert set(cameras) == {"front", "wrist"}, f"{name}: the SO-101 setup has a front and a wrist camera"


def test_privileged_presets_have_a_deployable_sibling():
    privileged = [n for n in PRESETS if n.endswith("_privileged")]
    assert {"so101_place_flow_privileged", "peg_insert_flow_privileged"} <= set(privileged)
    for name in privileged:
        assert name[: -len("_privileged")] in PRESETS, f"{name} has no deployable preset beside it"


@pytest.fixture(scope="module")
def joints_store(tmp_path_factory):
    """One scripted so101_place episode as `robot collect` records it by default: joints only, no cameras."""
    path = tmp_path_factory.mktemp("data") / "place.zarr"
    assert main(["collect", "--task", "so101_place", "--episodes", "1", "--out", str(path), "--no-progress"]) == 0
    return path


def _fails_cleanly(capsys, argv: list[str]) -> str:
    """Run the CLI, expect exit 2 and one message without a traceback; return stderr."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("robot ") >= 1
    return err


def test_train_stops_when_the_store_lacks_privileged_state(joints_store, tmp_path, capsys):
    run = tmp_path / "run"
    err = _fails_cleanly(capsys, ["train", "--config", "so101_place_flow_privileged", "--data", str(joints_store),
                                  "--out", str(run), "--train.steps=2", *TINY])
    assert "state" in err and "(6,)" in err and "(14,)" in err
    assert "robot collect --task so101_place --env-opt privileged_state=true" in err
    assert "--config so101_place_flow" in err  # the deployable preset fits what the store has
    assert not (run / "latest").exists()  # stopped before the first step


def test_train_stops_when_the_store_lacks_the_cameras(joints_store, tmp_path, capsys):
    err = _fails_cleanly(capsys, ["train", "--config", "so101_place_flow", "--data", str(joints_store),
                                  "--out", str(tmp_path / "run"), "--train.steps=2", *TINY])
    assert "images.front" in err and "images.wrist" in err
    assert "robot collect --task so101_place --images --env-opt image_size=[64,64]" in err


def test_train_stops_when_a_vla_store_has_no_instructions(joints_store, tmp_path, capsys):
    err = _fails_cleanly(capsys, ["train", "--config", "so101_multi_vla", "--data", str(joints_store),
                                  "--out", str(tmp_path / "run"), "--train.steps=2"])
    assert "instruction" in err and "so101_place episodes" in err


def test_eval_stops_when_the_task_gives_other_observations(joints_store, tmp_path, capsys):
    run = tmp_path / "run"
    # A store that fits trains: the privileged preset with privileged state turned off reads the 6 joints.
    assert main(["train", "--config", "so101_place_flow_privileged", "--data", str(joints_store), "--out", str(run),
                 "--train.steps=2", "--task.env={privileged_state: false}", *TINY]) == 0
    assert json.loads(capsys.readouterr().out)["step"] == 2
    err = _fails_cleanly(capsys, ["eval", "--checkpoint", str(run), "--env", "privileged_state=true",
                                  "--episodes", "1", "--envs", "1"])
    assert "(6,)" in err and "(14,)" in err and f"robot eval --checkpoint {run} --env privileged_state=false" in err
    err = _fails_cleanly(capsys, ["eval", "--checkpoint", str(run), "--task", "pusht", "--episodes", "1"])
    assert "action" in err and "takes (2,)" in err
    assert not (run / "eval" / "eval.json").exists()  # nothing was rolled out


def test_train_stops_when_the_store_holds_privileged_state_for_a_deployable_preset(tmp_path, capsys):
    store = tmp_path / "privileged.zarr"
    assert main(["collect", "--task", "so101_place", "--episodes", "1", "--env-opt", "privileged_state=true",
                 "--out", str(store), "--no-progress"]) == 0
    capsys.readouterr()
    err = _fails_cleanly(capsys, ["train", "--config", "so101_place_flow", "--data", str(store),
                                  "--out", str(tmp_path / "run"), "--train.steps=2", *TINY])
    assert "(14,)" in err and "(6,)" in err and "simulator's object state" in err
    assert "images.front" in err
    assert "robot collect --task so101_place --images --env-opt image_size=[64,64] --env-opt privileged_state=false" in err
    assert "--config so101_place_flow_privileged" in err
