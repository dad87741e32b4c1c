"""`robot deploy` on the real twin: records, summarizes, replays; every fault ends safe with its reason and recording."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from data import EpisodeStore
from data.check import check_store
from hardware.registry import make_robot
from hardware.twin import Twin
from policies.checkpoint import save_policy
from policies.config import PolicyConfig
from policies.registry import build_spec, make_policy
from robot.cli import main
from robot.cli.deploy_session import DeploySession
from sim.registry import make_env

sys.path.insert(0, str(Path(__file__).parent))
from deploy_fakes import StallingSource  # noqa: E402

TWIN = ["--robot-opt", "cameras=[front]", "--robot-opt", "image_size=[32,32]", "--robot-opt", "camera_fps=15"]
# generous watchdog for the runs that test something else: a loaded CI machine must not abort them
CALM = ["--watchdog", "max_obs_age=2.0", "--watchdog", "max_consecutive_misses=10000", "--watchdog", "grace_s=5"]


def tiny_checkpoint(path: Path, obs_keys=("state",), privileged=False, nan=False, action_dim=6) -> Path:
    env = make_env("so101_lift", cameras=("front", "wrist"), image_size=(32, 32), privileged_state=privileged)
    bs = env.body_spec
    ds = bs.observations["state"].shape[0]
    lo = np.r_[bs.action_low, [-1.0] * (action_dim - 6)][:action_dim]
    hi = np.r_[bs.action_high, [1.0] * (action_dim - 6)][:action_dim]
    stats = {"state": {"min": -np.ones(ds), "max": np.ones(ds), "mean": np.zeros(ds), "std": np.ones(ds)},
             "action": {"min": lo, "max": hi, "mean": (lo + hi) / 2, "std": (hi - lo) / 4}}
    cfg = PolicyConfig.from_config({
        "kind": "flow", "horizon": 8, "n_action_steps": 4, "obs_keys": list(obs_keys),
        "encoder": {"image_channels": [8, 16], "state_hidden": [16], "state_out": 8, "num_keypoints": 4,
                    "image_out": 8},
        "head": {"unet_down_dims": [16, 32], "time_embed_dim": 16, "inference_steps": 2}})
    torch.manual_seed(0)
    policy = make_policy(cfg, build_spec(cfg, bs.observations, action_dim, bs.fps), stats)
    if nan:
        with torch.no_grad():
            for p in policy.parameters():
                p.fill_(float("nan"))
    env.close()
    return save_policy(policy, path)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "state")


def test_deploy_records_every_tick_and_replays(tmp_path, ckpt, capsys):
    store = tmp_path / "run.zarr"
    rc = main(["deploy", "--policy", str(ckpt), "--episodes", "2", "--max-steps", "12", "--out", str(tmp_path),
               "--record", str(store), *TWIN, *CALM])
    assert rc == 0, capsys.readouterr().err
    summary = json.loads((tmp_path / "deploy.json").read_text())
    assert summary["episodes"] == 2 and summary["ticks"] == 24 and summary["clean"]
    assert 0 <= summary["ci95_low"] <= summary["success_rate"] <= summary["ci95_high"] <= 1
    assert {"jitter_ms_p50", "jitter_ms_p99", "jitter_ms_max", "misses", "clamps"} <= set(summary)
    assert summary["source"] in ("SyncPolicySource", "PolicySource") and summary["safe_stops"] == 0
    s = EpisodeStore.open(store, readonly=True)
    assert s.num_episodes == 2 and check_store(store).ok
    assert {"images.front", "telemetry.inference_ms", "telemetry.clamp", "telemetry.requested"} <= set(s.keys)
    ep = s.episode(0)
    assert ep["images.front"].shape == (12, 32, 32, 3) and ep["images.front"].std() > 0
    assert ep["telemetry.inference_ms"][0] > 0  # the first tick inferred a chunk (-1 = unknown)
    assert np.all(ep["telemetry.obs_age_ms"] >= 0)
    meta = s.episode_meta(0)
    assert meta["source"] == "policy" and meta["seed"] == 100_000
    s.close() if hasattr(s, "close") else None
    rc = main(["deploy", "--replay", str(store), "--episode", "1", "--out", str(tmp_path / "replay"), *TWIN, *CALM])
    assert rc == 0
    rep = json.loads((tmp_path / "replay" / "deploy.json").read_text())
    assert rep["per_episode"][0]["seed"] == 100_001 and rep["replay"]["ticks"] == 12


@pytest.mark.parametrize("kind,expect", [
    ("dim", "action dim: the policy outputs 7"),
    ("privileged", "privileged state: the policy reads ['cube_x', 'cube_y', 'cube_z'"),
    ("camera", "observation key 'images.wrist'"),
])
def test_a_checkpoint_that_does_not_fit_fails_before_anything_moves(tmp_path, monkeypatch, capsys, kind, expect):
    if kind == "dim":
        path = tiny_checkpoint(tmp_path / "c", action_dim=7)
    elif kind == "privileged":
        path = tiny_checkpoint(tmp_path / "c", privileged=True)
    else:
        path = tiny_checkpoint(tmp_path / "c", obs_keys=("state", "images.wrist"))

    def never(self, *a, **k):
        raise AssertionError("connect() called: the body would have moved")

    monkeypatch.setattr(Twin, "connect", never)
    rc = main(["deploy", "--policy", str(path), "--out", str(tmp_path), *TWIN])
    err = capsys.readouterr().err
    assert rc == 2 and expect in err and "nothing was moved" in err
    if kind == "privileged":
        assert "privileged_state=true" in err


@pytest.mark.parametrize("argv,expect", [
    ([], "give --policy"),
    (["--policy", "/nonexistent/ckpt"], "/nonexistent/ckpt does not exist"),
    (["--policy", "CKPT", "--safety", "enabled=false"], "cannot be turned off"),
    (["--policy", "CKPT", "--robot", "ur5"], "unknown robot 'ur5'"),
    (["--policy", "CKPT", "--robot-opt", "colour=red"], "unknown key twin.colour"),
    (["--replay", "/nonexistent/store.zarr"], "no such store"),
    (["--policy", "CKPT", "--estop-file", "CKPT"], "remove it to arm the run"),
])
def test_user_mistakes_exit_2_with_one_message(ckpt, capsys, argv, expect):
    argv = [str(ckpt) if a == "CKPT" else a for a in argv]
    assert main(["deploy", *argv]) == 2
    err = capsys.readouterr().err
    assert expect in err and "Traceback" not in err


def test_policy_returning_nan_is_stopped_and_recorded(tmp_path, capsys):
    path = tiny_checkpoint(tmp_path / "nan", nan=True)
    store = tmp_path / "nan.zarr"
    rc = main(["deploy", "--policy", str(path), "--max-steps", "30", "--out", str(tmp_path), "--record",
               str(store), "--source", "sync", *TWIN, *CALM])
    assert rc == 1
    summary = json.loads((tmp_path / "deploy.json").read_text())
    ep = summary["per_episode"][0]
    assert ep["outcome"] == "aborted" and "non-finite" in ep["reason"] and summary["safe_stops"] == 1
    assert "non-finite" in capsys.readouterr().err


def session(tmp_path, source, **wd):
    robot = make_robot("twin", cameras=["front"], image_size=[32, 32], camera_fps=15.0)
    args = argparse.Namespace(robot="twin", episodes=1, seed=0, max_steps=150, record=str(tmp_path / "f.zarr"),
                              estop_file=str(tmp_path / "estop"), estop_tty="", estop_key=" ", intervene="",
                              teleop_opt=[], inference_steps=0, fps=30.0, source="sync")
    calm = {"max_obs_age": 2.0, "max_consecutive_misses": 10000, "grace_s": 0.5}
    return robot, DeploySession(args, robot, None, None, {}, {**calm, **wd}, source=source)


def run_with_fault(tmp_path, source, fault, at_tick=30, **wd):
    """Run one episode; `fault(robot)` fires when the loop asks the source for its `at_tick`-th action.

    Tied to the loop's progress (about 1 s at 30 Hz), not to a wall-clock timer, so a
    loaded machine cannot move the fault before the run starts or after it ends.
    """
    robot, sess = session(tmp_path, source, **wd)
    asked = [0]
    get_action = source.get_action

    def counting_get_action(obs):
        asked[0] += 1
        if asked[0] == at_tick:
            fault(robot)
        return get_action(obs)

    source.get_action = counting_get_action
    try:
        summary = sess.run()
    finally:
        robot.close()
    s = EpisodeStore.open(tmp_path / "f.zarr", readonly=True)
    assert s.num_episodes == 1 and check_store(tmp_path / "f.zarr").ok  # the recording is intact
    return robot, summary, s


class Ramp(StallingSource):
    """Moves the shoulder slowly; never stalls unless told."""

    def __init__(self, stall_at=10**9):
        super().__init__(stall_at)

    def get_action(self, obs):
        cmd = super().get_action(obs)
        if cmd.action is not None:
            cmd.action = np.asarray(obs["state"], np.float32) + np.array([0.02, 0, 0, 0, 0, 0], np.float32)
        return cmd


def test_camera_that_stops_on_the_twin(tmp_path):
    robot, summary, _ = run_with_fault(tmp_path, Ramp(), lambda r: r.cameras["front"].pause(), max_frame_age=0.3)
    ep = summary["per_episode"][0]
    assert ep["outcome"] == "aborted" and "camera 'front' stopped" in ep["reason"] and robot._stopped


def test_body_that_stops_answering_on_the_twin(tmp_path):
    robot, summary, s = run_with_fault(tmp_path, Ramp(), lambda r: r.set_unresponsive(True))
    ep = summary["per_episode"][0]
    assert ep["outcome"] == "aborted" and "stopped answering" in ep["reason"] and robot._stopped
    assert s.episode(0)["telemetry.held"][-1] == 1  # it held before it stopped


def test_inference_stall_on_the_twin(tmp_path):
    robot, summary, _ = run_with_fault(tmp_path, Ramp(stall_at=20), lambda r: None, max_stalled_ticks=10)
    ep = summary["per_episode"][0]
    assert ep["outcome"] == "aborted" and "inference stalled" in ep["reason"] and robot._stopped


def test_estop_file_mid_motion_on_the_twin(tmp_path):
    sent_times: list[float] = []
    fired: list[float] = []

    def fault(robot):
        import time

        (tmp_path / "estop").touch()
        fired.append(time.monotonic())

    robot, sess = session(tmp_path, Ramp())
    original = robot.send_action

    def spy(a):
        import time

        if len(sent_times) == 30:  # about 1 s into the run at 30 Hz, tied to the loop's progress
            fault(robot)
        sent_times.append(time.monotonic())
        return original(a)

    robot.send_action = spy
    try:
        summary = sess.run()
    finally:
        robot.close()
    ep = summary["per_episode"][0]
    assert ep["outcome"] == "estop" and "estop" in ep["reason"] and robot._stopped and not summary["clean"]
    # the file is polled at the top of each tick and again right before each send:
    # at most the one command already past that check can follow the trigger
    assert sum(t > fired[0] for t in sent_times) <= 1
    assert EpisodeStore.open(tmp_path / "f.zarr", readonly=True).num_episodes == 1


def test_keyboard_takes_over_mid_run_and_those_ticks_are_marked(tmp_path, ckpt, monkeypatch):
    import os

    master, slave = os.openpty()
    store = tmp_path / "iv.zarr"
    sends = []
    original = Twin.send_action

    def counting(self, a):
        sends.append(1)
        if len(sends) == 5:  # the policy has driven 5 ticks: take over, then move the gripper forward
            os.write(master, b"i")
        elif 5 < len(sends) < 10:
            os.write(master, b"w")
        return original(self, a)

    monkeypatch.setattr(Twin, "send_action", counting)
    try:
        rc = main(["deploy", "--policy", str(ckpt), "--max-steps", "40", "--out", str(tmp_path), "--record",
                   str(store), "--intervene", "keyboard", "--teleop-opt", f"tty={os.ttyname(slave)}", *TWIN, *CALM])
    finally:
        os.close(master)
        os.close(slave)
    assert rc == 0
    s = EpisodeStore.open(store, readonly=True)
    flags = s.episode(0)["telemetry.intervention"].astype(int)
    assert flags[:5].tolist() == [0] * 5 and flags[-1] == 1 and np.all(np.diff(flags) >= 0)  # policy, then human
    assert "intervened" in s.episode_meta(0)["note"]
    assert json.loads((tmp_path / "deploy.json").read_text())["per_episode"][0]["intervened"]


def test_a_source_that_dies_mid_run_stops_safe_with_a_message(tmp_path, ckpt, monkeypatch, capsys):
    from robot.runtime.sync_source import SyncPolicySource

    calls = []
    original = SyncPolicySource._infer

    def dies(self):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("inference worker died")
        original(self)

    monkeypatch.setattr(SyncPolicySource, "_infer", dies)
    stopped = []
    monkeypatch.setattr(Twin, "safe_stop", lambda self, _orig=Twin.safe_stop: (stopped.append(1), _orig(self)))
    store = tmp_path / "died.zarr"
    rc = main(["deploy", "--policy", str(ckpt), "--max-steps", "40", "--out", str(tmp_path), "--record", str(store),
               "--source", "sync", *TWIN, *CALM])
    err = capsys.readouterr().err
    assert rc == 1 and "the run stopped: RuntimeError: inference worker died" in err and "Traceback" not in err
    assert stopped
    s = EpisodeStore.open(store, readonly=True)
    assert s.num_episodes == 1 and s.episode_meta(0)["note"] == "stopped by RuntimeError: inference worker died"


def test_deploy_streams_the_run_to_rerun(tmp_path, ckpt, capsys):
    rrd = tmp_path / "deploy.rrd"
    rc = main(["deploy", "--policy", str(ckpt), "--max-steps", "10", "--out", str(tmp_path),
               "--rerun-save", str(rrd), *TWIN, *CALM])
    assert rc == 0, capsys.readouterr().err
    import rerun.dataframe as rdf

    entities = {c.entity_path for c in rdf.load_recording(str(rrd)).schema().component_columns()}
    # the camera the policy sees, measured and commanded joints, and the episode events
    assert any("front" in e for e in entities) and any("commanded" in e for e in entities), entities
    assert any("measured" in e for e in entities) and any("event" in e for e in entities), entities
