"""Every registered arm task: reset, step, render, spaces, seeding, config errors, DR (real MuJoCo)."""

from __future__ import annotations

import numpy as np
import pytest

from robot import keys
from robot.config import ConfigError
from robot.interfaces import Env
from sim.registry import make_env

ARM_TASKS = ("so101_lift", "so101_place", "so101_multi", "peg_insert")


@pytest.fixture(scope="module", params=ARM_TASKS)
def env(request):
    e = make_env(request.param, cameras=["front", "wrist"], privileged_state=True)
    yield e
    e.close()


def _check_obs(env, obs):
    assert set(obs) - {keys.INSTRUCTION} == set(env.body_spec.observations)
    for key, spec in env.body_spec.observations.items():
        assert obs[key].shape == spec.shape, key
        assert obs[key].dtype == np.dtype(spec.dtype), key
        assert np.all(np.isfinite(obs[key])), key
    assert env.observation_space.contains(obs)


def test_reset_step_render_shapes(env):
    assert isinstance(env, Env)
    obs, info = env.reset(seed=0)
    _check_obs(env, obs)
    assert info["success"] is False
    assert env.body_spec.cameras == ("front", "wrist")
    assert env.action_space.shape == (6,) and env.body_spec.action.names[0] == "shoulder_pan"
    # the state names the joints first, in the real arm's order, then the privileged features
    assert env.body_spec.observations[keys.STATE].names[:6] == (
        "shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper")
    np.testing.assert_allclose(obs[keys.STATE][:6], env.joint_positions, atol=1e-6)
    first = obs[keys.STATE].copy()
    rng = np.random.default_rng(0)
    for _ in range(3):
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample() * 0 + obs[keys.STATE][:6]
                                                            + rng.normal(0, 0.05, 6).astype(np.float32))
        _check_obs(env, obs)
        assert isinstance(info["success"], bool)
        assert reward == pytest.approx(sum(info["reward_terms"].values()))
        assert all(np.isfinite(v) for v in info["reward_terms"].values())
    assert not np.allclose(first[:5], obs[keys.STATE][:5])  # the arm moved
    for cam in env.body_spec.cameras:
        img = obs[keys.image_key(cam)]
        assert img.dtype == np.uint8 and img.std() > 5  # a real picture, not a blank frame
    big = env.render("front", width=160, height=120)
    assert big.shape == (120, 160, 3)
    with pytest.raises(KeyError, match="unknown camera"):
        env.render("nope")


def test_substeps_match_fps(env):
    assert env.substeps * env.model.opt.timestep == pytest.approx(1.0 / env.config.fps)


def test_seeding_is_deterministic_and_varies(env):
    a = env.reset(seed=7)[0][keys.STATE]
    b = env.reset(seed=7)[0][keys.STATE]
    c = env.reset(seed=8)[0][keys.STATE]
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a[6:], c[6:])  # objects moved between seeds


def test_bad_actions_are_rejected(env):
    env.reset(seed=0)
    with pytest.raises(ValueError, match="shape"):
        env.step(np.zeros(5, dtype=np.float32))
    with pytest.raises(ValueError, match="NaN"):
        env.step(np.full(6, np.nan, dtype=np.float32))
    env.step(np.full(6, 100.0, dtype=np.float32))  # clipped to ctrlrange, not an error
    assert np.all(env.data.ctrl[env._act] <= env.action_high + 1e-6)


@pytest.mark.parametrize("name", ARM_TASKS)
def test_state_only_and_config_errors(name):
    env = make_env(name, {"cameras": [], "privileged_state": False, "max_steps": 2})
    obs, _ = env.reset(seed=0)
    assert obs[keys.STATE].shape == (6,) and not any(keys.is_image_key(k) for k in obs)
    env.step(obs[keys.STATE])
    assert env.step(obs[keys.STATE])[3] is True  # truncated at max_steps
    with pytest.raises(ConfigError, match="bogus"):
        make_env(name, bogus=1)
    with pytest.raises(ConfigError, match="cameras"):
        make_env(name, cameras=["ceiling"])
    with pytest.raises(ConfigError, match="fps"):
        make_env(name, fps="fast")


def test_domain_randomization_changes_and_restores():
    env = make_env("so101_lift", cameras=[], randomization={"color": 0.3, "mass": [0.5, 0.6], "light": 0.5,
                                                           "camera_pos": 0.02, "friction": [0.5, 0.6]})
    cube_geom, cube_body = env.model.geom("cube").id, env.model.body("cube").id
    nominal_mass = env._nominal["body_mass"][cube_body]
    env.reset(seed=0)
    rgba0, cam0 = env.model.geom_rgba[cube_geom].copy(), env.model.cam_pos.copy()
    assert 0.5 * nominal_mass <= env.model.body_mass[cube_body] <= 0.6 * nominal_mass
    assert 0.5 <= env.model.geom_friction[cube_geom, 0] / env._nominal["geom_friction"][cube_geom, 0] <= 0.6
    env.reset(seed=1)
    assert not np.allclose(rgba0, env.model.geom_rgba[cube_geom])
    assert not np.allclose(cam0, env.model.cam_pos)
    plain = make_env("so101_lift", cameras=[])
    plain.reset(seed=0)
    np.testing.assert_array_equal(plain.model.geom_rgba, plain._nominal["geom_rgba"])
    with pytest.raises(ConfigError, match="mass"):
        make_env("so101_lift", randomization={"mass": [1.2, 0.8]})


def test_multi_instructions_and_heldout_split():
    env = make_env("so101_multi", cameras=[])
    train = set(env.instructions())
    seen = set()
    for seed in range(6):
        obs, info = env.reset(seed=seed)
        assert obs[keys.INSTRUCTION] == info[keys.INSTRUCTION] == env.instruction
        assert env.instruction in train and env.target_color in env.instruction
        seen.add(env.instruction)
    assert len(seen) > 1
    held = make_env("so101_multi", cameras=[], instruction_split="heldout")
    assert not set(held.instructions()) & train
    obs, _ = held.reset(seed=0)
    assert obs[keys.INSTRUCTION] in held.instructions()
    assert held.body_spec.instructions == held.instructions()
    with pytest.raises(ValueError, match="colors"):
        make_env("so101_multi", colors=["purple"])
    two = make_env("so101_multi", cameras=[], colors=["red", "green"], privileged_state=True)
    assert two.reset(seed=0)[0][keys.STATE].shape == (6 + 2 * 5 + 3,)
