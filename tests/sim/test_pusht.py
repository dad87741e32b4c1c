"""PushT in MuJoCo: exact coverage, env contract, dynamics, rendering and config errors."""

from __future__ import annotations

import math

import mujoco
import numpy as np
import pytest

from robot.config import ConfigError
from robot.interfaces import Env
from sim.pusht import GOAL_POSE, T_AREA, PushTConfig, PushTEnv, coverage, point_in_t
from sim.registry import make_env

# ------------------------------------------------------------------ coverage


def test_coverage_is_one_at_goal_and_zero_far_away():
    assert coverage(GOAL_POSE) == pytest.approx(1.0, abs=1e-12)
    assert coverage((0.0, 0.0, math.pi / 4 + 2 * math.pi)) == pytest.approx(1.0, abs=1e-12)
    assert coverage((0.2, 0.2, 0.0)) == 0.0


@pytest.mark.parametrize(
    "pose, expected",
    [
        # shift along x by 1 cm: bar keeps 11 x 3 cm, stem 2 x 9 cm
        ((0.01, 0.0, 0.0), (0.11 * 0.03 + 0.02 * 0.09) / T_AREA),
        # shift along y by 1 cm: bar 12 x 2, stem 3 x 8, moved bar over goal stem 3 x 1
        ((0.0, 0.01, 0.0), (0.12 * 0.02 + 0.03 * 0.08 + 0.03 * 0.01) / T_AREA),
        # turned half round: the bar flips to the other side of the origin, no overlap
        ((0.0, 0.0, math.pi), 0.0),
        # turned half round and lifted 3 cm: the bars coincide exactly, stems apart
        ((0.0, 0.03, math.pi), 0.12 * 0.03 / T_AREA),
    ],
)
def test_coverage_exact_cases(pose, expected):
    assert coverage(pose, (0.0, 0.0, 0.0)) == pytest.approx(expected, abs=1e-12)


def test_coverage_matches_shapely_on_random_poses():
    import shapely.geometry as sg  # installed with gym-pusht (the `bench` extra)

    from sim.pusht import t_rect_corners

    rng = np.random.default_rng(0)
    goal = sg.MultiPolygon([sg.Polygon(r) for r in t_rect_corners(GOAL_POSE)])
    for _ in range(200):
        pose = (*rng.uniform(-0.06, 0.06, 2), rng.uniform(-math.pi, math.pi))
        block = sg.MultiPolygon([sg.Polygon(r) for r in t_rect_corners(pose)])
        assert coverage(pose) == pytest.approx(block.intersection(goal).area / goal.area, abs=1e-9)


def test_point_in_t():
    assert point_in_t((0.0, 0.01), (0.0, 0.0, 0.0))
    assert point_in_t((0.0, 0.1), (0.0, 0.0, 0.0))
    assert not point_in_t((0.05, 0.1), (0.0, 0.0, 0.0))
    assert point_in_t((0.0, -0.01), (0.0, 0.0, 0.0), margin=0.015)


# ----------------------------------------------------------------------- env


def _state(env, pusher, block):
    obs, info = env.reset(options={"reset_to_state": [*pusher, *block]})
    return obs, info


def test_env_contract_shapes_and_finite_values():
    env = make_env("pusht")
    assert isinstance(env, Env)
    spec = env.body_spec
    assert spec.fps == 10.0 and spec.action.shape == (2,) and spec.observations["state"].shape == (5,)
    obs, info = env.reset(seed=0)
    assert set(obs) == {"state"} and obs["state"].dtype == np.float32
    assert info["success"] is False and set(info["reward_terms"]) == {"coverage"}
    rng = np.random.default_rng(0)
    for _ in range(5):
        obs, reward, terminated, truncated, info = env.step(rng.uniform(-0.25, 0.25, 2))
        assert obs["state"].shape == (5,) and np.all(np.isfinite(obs["state"]))
        assert 0.0 <= reward <= 1.0 and reward == info["reward_terms"]["coverage"]
        assert 0.0 <= obs["state"][4] < 2 * math.pi
    assert env.observation_space.contains(obs)
    with pytest.raises(ValueError, match="shape"):
        env.step(np.zeros(3))
    with pytest.raises(ValueError, match="NaN"):
        env.step(np.array([np.nan, 0.0]))


def test_reset_at_goal_succeeds_and_terminates():
    env = make_env("pusht")
    obs, info = _state(env, (0.15, 0.15), GOAL_POSE)
    assert info["success"] and info["reward_terms"]["coverage"] == pytest.approx(1.0)
    np.testing.assert_allclose(obs["state"], [0.15, 0.15, *GOAL_POSE], atol=1e-6)
    _, reward, terminated, truncated, info = env.step(np.array([0.15, 0.15]))
    assert terminated and not truncated and info["success"] and reward > 0.99


def test_truncates_at_max_steps():
    env = make_env("pusht", max_steps=3)
    env.reset(seed=1)
    flags = [env.step(np.zeros(2))[3] for _ in range(3)]
    assert flags == [False, False, True]


def test_same_seed_same_episode_and_block_starts_clear_of_pusher():
    a, b = make_env("pusht"), make_env("pusht")
    for seed in range(5):
        sa, sb = a.reset(seed=seed)[0]["state"], b.reset(seed=seed)[0]["state"]
        np.testing.assert_array_equal(sa, sb)
        assert not point_in_t(sa[:2], sa[2:], margin=0.015)
    actions = np.random.default_rng(3).uniform(-0.2, 0.2, (10, 2))
    for act in actions:
        np.testing.assert_array_equal(a.step(act)[0]["state"], b.step(act)[0]["state"])


def test_pusher_tracks_its_target():
    env = make_env("pusht")
    _state(env, (-0.2, -0.2), (0.1, 0.1, 0.0))
    for _ in range(15):
        obs = env.step(np.array([-0.1, -0.15]))[0]
    np.testing.assert_allclose(obs["state"][:2], [-0.1, -0.15], atol=2e-3)


def test_push_moves_block_and_floor_friction_stops_it():
    env = make_env("pusht")
    # pusher below the bar's middle: the push runs through the centroid, a straight shove along +y
    obs, _ = _state(env, (0.0, -0.1), (0.0, 0.0, 0.0))
    for _ in range(10):
        obs = env.step(np.array([0.0, 0.0]))[0]  # target 1.5 cm inside the bar
    assert obs["state"][3] > 0.01, "the pusher should have shoved the block along +y"
    assert abs(obs["state"][2]) < 1e-3 and min(obs["state"][4], 2 * math.pi - obs["state"][4]) < 0.01
    for _ in range(3):
        obs = env.step(np.array([0.0, -0.1]))[0]  # pull back; floor friction must stop the block
    settled = obs["state"][2:].copy()
    for _ in range(3):
        obs = env.step(np.array([0.0, -0.1]))[0]
    np.testing.assert_allclose(obs["state"][2:], settled, atol=1e-4)
    assert abs(env.data.qpos[2]) < 1e-3, "the block stays flat on the floor"


def test_top_camera_image_matches_the_classic_orientation():
    env = make_env("pusht", cameras=["top"])
    assert env.body_spec.observations["images.top"].shape == (96, 96, 3)
    # pusher at +x, +y: right and, as in the classic pixel frame, lower half of the image
    obs, _ = _state(env, (0.15, 0.15), (-0.1, -0.12, 0.0))
    img = obs["images.top"]
    assert img.shape == (96, 96, 3) and img.dtype == np.uint8
    blue = (img[..., 2] > 180) & (img[..., 0] < 120)
    rows, cols = np.nonzero(blue)
    assert len(rows) > 10
    assert rows.mean() > 48 + 20 and cols.mean() > 48 + 20
    assert env.render("top", width=64, height=64).shape == (64, 64, 3)
    with pytest.raises(KeyError, match="camera"):
        env.render("side")


def test_config_errors_name_the_key():
    with pytest.raises(ConfigError, match="bogus"):
        make_env("pusht", bogus=1)
    with pytest.raises(ConfigError, match="floor_friction"):
        PushTEnv.from_config({"floor_friction": -1.0})
    with pytest.raises(ConfigError, match="max_steps"):
        make_env("pusht", max_steps="many")
    with pytest.raises(ValueError, match="reset_to_state"):
        make_env("pusht").reset(options={"reset_to_state": [0.0, 1.0]})


def test_domain_randomization_changes_friction_mass_colour_and_restores():
    env = PushTEnv.from_config({"randomization": {"friction": [0.5, 1.5], "mass": [0.5, 2.0], "color": 0.2}})
    assert isinstance(env.config, PushTConfig) and env.config.randomization.friction == (0.5, 1.5)
    nominal = make_env("pusht")
    floor = env._id(mujoco.mjtObj.mjOBJ_GEOM, "floor")
    block = env._id(mujoco.mjtObj.mjOBJ_BODY, "block")
    bar = env._id(mujoco.mjtObj.mjOBJ_GEOM, "bar")
    colours = set()
    masses, frictions = set(), set()
    for seed in range(4):
        env.reset(seed=seed)
        masses.add(round(float(env.model.body_mass[block]), 6))
        frictions.add(round(float(env.model.geom_friction[floor, 0]), 6))
        colours.add(tuple(np.round(env.model.geom_rgba[bar, :3], 6)))
        assert 0.5 * 0.3 <= env.model.geom_friction[floor, 0] <= 1.5 * 0.3
    assert len(masses) == 4 and len(frictions) == 4 and len(colours) == 4
    nominal.reset(seed=0)
    assert nominal.model.geom_friction[floor, 0] == pytest.approx(0.3)


def test_without_privileged_state_the_state_is_the_pusher_only_and_the_block_is_seen():
    """The image benchmark's observation: pusher xy (2,) + the top camera; the block pose is not read."""
    env = make_env("pusht", privileged_state=False, cameras=("top",), image_size=(32, 32))
    full = make_env("pusht")
    try:
        assert env.body_spec.observations["state"].shape == (2,)
        obs, _ = env.reset(seed=3)
        ref, _ = full.reset(seed=3)
        assert obs["state"].shape == (2,) and np.allclose(obs["state"], ref["state"][:2])
        assert obs["images.top"].shape == (32, 32, 3)
        obs, *_ = env.step(obs["state"] + 0.01)
        ref, *_ = full.step(ref["state"][:2] + 0.01)
        assert np.allclose(obs["state"], ref["state"][:2], atol=1e-6)
    finally:
        env.close()
        full.close()
