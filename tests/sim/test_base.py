"""MujocoEnv base mechanics on a tiny model: substeps, observation assembly, config, renderers, termination."""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np
import pytest

from robot import keys
from robot.config import ConfigError
from robot.specs import ArraySpec
from sim.base import MILD_RANDOMIZATION, MujocoEnv, MujocoEnvConfig, RandomizationConfig

XML = """<mujoco><option timestep="0.005"/><worldbody><light pos="0 0 2"/>
<camera name="top" pos="0 0 1"/><geom name="floor" type="plane" size="1 1 .1" rgba=".5 .5 .5 1"/>
<body name="slider"><joint name="x" type="slide" axis="1 0 0" range="-1 1"/>
<geom name="puck" type="box" size=".05 .05 .05" pos="0 0 .05" rgba="1 0 0 1"/></body></worldbody>
<actuator><position joint="x" kp="50" kv="5"/></actuator></mujoco>"""


@dataclass(frozen=True)
class SlideConfig(MujocoEnvConfig):
    cameras: tuple[str, ...] = ("top",)
    goal: float = 0.3


class SlideEnv(MujocoEnv):
    config_cls = SlideConfig
    name = "slide"
    dr_geoms = ("puck",)
    dr_bodies = ("slider",)

    def _build_model(self):
        return mujoco.MjModel.from_xml_string(XML)

    def _state_spec(self):
        return ArraySpec((1,), "float32", "m", ("x",))

    def _action_spec(self):
        return ArraySpec((1,), "float32", "m", ("x",)), [-0.5], [0.5]

    def _reset_task(self, rng):
        self.data.qpos[0] = rng.uniform(-0.1, 0.1)

    def _apply_action(self, action):
        self.data.ctrl[0] = action[0]

    def _get_state(self):
        return self.data.qpos[:1]

    def _evaluate(self):
        err = abs(self.data.qpos[0] - self.config.goal)
        return {"distance": -err, "bonus": float(err < 0.02)}, bool(err < 0.02)


def test_steps_render_and_terminate():
    env = SlideEnv.from_config({"fps": 20}, terminate_on_success=True)
    assert env.substeps == 10
    obs, info = env.reset(seed=0)
    assert set(obs) == {keys.STATE, "images.top"} and obs["images.top"].shape == (96, 96, 3)
    assert env.body_spec.observations[keys.STATE].names == ("x",) and env.body_spec.fps == 20.0
    t0 = env.data.time
    for _ in range(60):
        obs, reward, terminated, truncated, info = env.step(np.array([0.3], dtype=np.float32))
        if terminated:
            break
    assert terminated and info["success"] and reward == pytest.approx(sum(info["reward_terms"].values()))
    assert env.data.time - t0 == pytest.approx(env.steps / 20.0)
    env.render("top", width=64, height=48)
    env.render("top")
    assert set(env._renderers) == {(64, 48), (96, 96)}  # one renderer per size, reused
    env.close()
    assert not env._renderers


def test_from_config_merges_nested_overrides_and_rejects_bad_keys():
    env = SlideEnv.from_config(SlideConfig(goal=0.1), randomization={"color": 0.2})
    assert env.config.goal == 0.1 and env.config.randomization.color == 0.2
    assert isinstance(env.config.randomization, RandomizationConfig)
    with pytest.raises(ConfigError, match=r"slide.randomization.colour"):
        SlideEnv.from_config(randomization={"colour": 0.2})
    with pytest.raises(ConfigError, match="cameras"):
        SlideEnv.from_config(cameras=["side"])
    with pytest.raises(TypeError, match="SlideConfig"):
        SlideEnv(MujocoEnvConfig())


def test_mild_randomization_and_pose_noise():
    env = SlideEnv.from_config(randomization=MILD_RANDOMIZATION, cameras=[])
    env.reset(seed=1)
    mass = env.model.body_mass[env.model.body("slider").id]
    nominal = env._nominal["body_mass"][env.model.body("slider").id]
    assert 0.8 * nominal <= mass <= 1.2 * nominal and mass != nominal
    dx, dy, dyaw = env.object_pose_noise(np.random.default_rng(0))
    assert 0 < abs(dx) <= 0.01 and 0 < abs(dyaw) <= 0.2
