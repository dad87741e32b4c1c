"""Batched envs: equal to N single envs, no auto-reset, done masks, partial resets, subprocesses."""

from __future__ import annotations

import numpy as np
import pytest

from sim.registry import ENVS, make_env
from sim.vector import SubprocVectorEnv, VectorEnv, make_vector_env


def _actions(n_steps: int, n_envs: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-0.2, 0.2, (n_steps, n_envs, 2)).astype(np.float32)


def test_vector_equals_single_envs_with_same_seeds():
    n = 3
    vec = make_vector_env("pusht", n, max_steps=6)
    singles = [make_env("pusht", max_steps=6) for _ in range(n)]
    obs, infos = vec.reset(seed=[4, 5, 6])
    assert obs["state"].shape == (n, 5) and len(infos) == n
    for env, s, row in zip(singles, [4, 5, 6], obs["state"], strict=True):
        np.testing.assert_array_equal(env.reset(seed=s)[0]["state"], row)
    for acts in _actions(6, n):
        obs, rew, term, trunc, infos = vec.step(acts)
        assert rew.shape == term.shape == trunc.shape == (n,)
        for i, env in enumerate(singles):
            o, r, te, tr, info = env.step(acts[i])
            np.testing.assert_array_equal(o["state"], obs["state"][i])
            assert (r, te, tr, info["success"]) == (rew[i], term[i], trunc[i], infos[i]["success"])
    assert vec.done.all() and trunc.all()


def test_int_seed_gives_consecutive_seeds_and_none_is_random():
    vec = make_vector_env("pusht", 2)
    a = vec.reset(seed=10)[0]["state"]
    np.testing.assert_array_equal(a[1], make_env("pusht").reset(seed=11)[0]["state"])
    assert vec.reset()[0]["state"].shape == (2, 5)
    with pytest.raises(ValueError, match="seeds"):
        vec.reset(seed=[1, 2, 3])


def test_finished_envs_freeze_until_reset():
    vec = make_vector_env("pusht", 2)
    goal = [0.2, 0.2, 0.0, 0.0, np.pi / 4]
    # env 0 starts solved (terminates on its first step), env 1 from a seeded start
    vec.reset(seed=[0, 1])
    obs, _ = vec.reset(options={"reset_to_state": goal}, indices=[0])
    obs, rew, term, trunc, infos = vec.step(np.zeros((2, 2), np.float32))
    assert term[0] and not term[1] and vec.done.tolist() == [True, False]
    frozen_state = obs["state"][0].copy()
    obs, rew, term, trunc, infos = vec.step(np.full((2, 2), -0.2, np.float32))
    np.testing.assert_array_equal(obs["state"][0], frozen_state)
    assert rew[0] == 0.0 and not term[0] and infos[0]["frozen"] and not infos[1]["frozen"]
    assert vec.success.tolist()[0] is True
    obs, _ = vec.reset(seed=[3], indices=[0])
    assert not vec.done.any()
    with pytest.raises(ValueError, match="actions"):
        vec.step(np.zeros((3, 2)))


def test_render_stacks_cameras():
    vec = make_vector_env("pusht", 2, cameras=["top"])
    obs, _ = vec.reset(seed=0)
    assert obs["images.top"].shape == (2, 96, 96, 3) and obs["images.top"].dtype == np.uint8
    frames = vec.render("top")
    assert frames.shape == (2, 96, 96, 3)
    np.testing.assert_array_equal(frames, obs["images.top"])
    assert not np.array_equal(frames[0], frames[1])


def test_subprocess_variant_matches_in_process():
    acts = _actions(4, 2, seed=1)
    with make_vector_env("pusht", 2, subprocess=True) as sub, make_vector_env("pusht", 2) as local:
        assert isinstance(sub, SubprocVectorEnv) and isinstance(local, VectorEnv)
        assert sub.body_spec == local.body_spec
        np.testing.assert_array_equal(sub.reset(seed=7)[0]["state"], local.reset(seed=7)[0]["state"])
        for a in acts:
            so, sr, *_ = sub.step(a)
            lo, lr, *_ = local.step(a)
            np.testing.assert_array_equal(so["state"], lo["state"])
            np.testing.assert_array_equal(sr, lr)
        with pytest.raises(RuntimeError, match="worker 0 failed"):
            sub.step(np.full((2, 2), np.nan))
        # the failed step left no stale answers behind: the next step is in sync again
        with pytest.raises(ValueError, match="NaN"):
            local.step(np.full((2, 2), np.nan))
        np.testing.assert_array_equal(sub.step(acts[0])[0]["state"], local.step(acts[0])[0]["state"])


@pytest.mark.parametrize("name", sorted(ENVS))
def test_every_registry_task_vectorizes(name):
    # No skip: a registered task whose module fails to import is a broken registry entry.
    vec = make_vector_env(name, 2)
    obs, infos = vec.reset(seed=0)
    spec = vec.body_spec
    assert obs["state"].shape == (2, *spec.observations["state"].shape)
    low, high = np.array(spec.action_low), np.array(spec.action_high)
    obs, rew, term, trunc, infos = vec.step(np.stack([(low + high) / 2] * 2))
    assert np.all(np.isfinite(obs["state"])) and rew.shape == (2,)
    assert all("success" in info for info in infos)
    vec.close()


def test_stop_on_success_freezes_an_env_once_success_has_settled():
    """pusht started solved: success from the first step; with settle_ticks=0 it freezes at once."""
    goal = [0.2, 0.2, 0.0, 0.0, np.pi / 4]
    vec = VectorEnv([make_env("pusht", max_steps=50) for _ in range(2)], settle_ticks=0, stop_on_success=True)
    vec.reset(seed=[0, 1])
    vec.reset(options={"reset_to_state": goal}, indices=[0])
    vec.step(np.zeros((2, 2), np.float32))
    assert vec.succeeded.tolist() == [True, False] and vec.reached[0] and vec.done[0]
    vec.reset(seed=[2], indices=[0])
    assert not vec.succeeded.any() and not vec.done.any()
    with pytest.raises(ValueError, match="settle_ticks"):
        VectorEnv([make_env("pusht")], stop_on_success=True)
