"""Trainer: two steps then resume (openpi style), exact resume, schedule, EMA, sampler, config errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from policies.pipeline import load_pipeline
from policies.train import EMA, StepBatchSampler, Trainer, lr_at
from policies.train_config import TrainConfig
from policies.train_state import latest_checkpoint
from robot.config import ConfigError


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """Two real scripted PushT episodes recorded by `robot collect`."""
    from robot.cli import main

    path = tmp_path_factory.mktemp("data") / "pusht.zarr"
    assert main(["collect", "--task", "pusht", "--episodes", "2", "--out", str(path), "--no-progress"]) == 0
    return path


def make_trainer(out, steps, store_path, **kw):
    """A real tiny flow policy on the real sampler over the recorded store."""
    from data import EpisodeStore, SequenceDataset
    from policies.checkpoint import save_policy
    from policies.config import EncoderConfig, HeadConfig, PolicyConfig
    from policies.pipeline import policy_spec_from_store
    from policies.registry import make_policy

    st = EpisodeStore.open(store_path, readonly=True)
    cfg = PolicyConfig(kind="flow", horizon=8, n_action_steps=4,
                       encoder=EncoderConfig(state_hidden=(16,), state_out=16),
                       head=HeadConfig(unet_down_dims=(16, 32), time_embed_dim=16, inference_steps=2))
    torch.manual_seed(0)
    policy = make_policy(cfg, policy_spec_from_store(st, cfg), st.stats())
    dataset = SequenceDataset(st, n_obs_steps=2, horizon=8, keys=["state"])
    train_cfg = TrainConfig(steps=steps, batch_size=8, lr=1e-2, warmup_steps=2, log_every=1, checkpoint_every=3,
                            ema_decay=0.99, **kw)
    return Trainer(policy, dataset, train_cfg, out, save_policy=save_policy, progress=False)


def test_two_steps_then_resume(tmp_path, store):
    first = make_trainer(tmp_path, steps=2, store_path=store)
    first.fit()
    ckpt = latest_checkpoint(tmp_path)
    assert ckpt.name == "step_0000002"
    for name in ("model.safetensors", "policy.json", "train_state.safetensors", "train_state.json"):
        assert (ckpt / name).is_file(), name
    second = make_trainer(tmp_path, steps=4, store_path=store)
    second.load_checkpoint(ckpt)
    assert second.step == 2
    summary = second.fit()
    assert summary["step"] == 4 and summary["steps_this_run"] == 2
    assert latest_checkpoint(tmp_path).name == "step_0000004"
    steps = [int(r.split(",")[0]) for r in (tmp_path / "metrics.csv").read_text().splitlines()[1:]]
    assert steps == [1, 2, 3, 4]  # resumed log continues, nothing duplicated


def test_exact_resume_matches_uninterrupted(tmp_path, store):
    straight = make_trainer(tmp_path / "a", steps=8, store_path=store)
    straight.fit()
    interrupted = make_trainer(tmp_path / "b", steps=8, store_path=store)
    interrupted.fit(until=4)  # stops as if killed right after its step-4 checkpoint
    assert latest_checkpoint(tmp_path / "b").name == "step_0000004"
    resumed = make_trainer(tmp_path / "b", steps=8, store_path=store)
    resumed.load_checkpoint(latest_checkpoint(tmp_path / "b"))
    resumed.fit()
    assert len(straight.losses) == len(resumed.losses) == 8
    np.testing.assert_allclose(resumed.losses, straight.losses, rtol=1e-6, atol=1e-7)
    for (n, p), (_, q) in zip(straight.policy.state_dict().items(), resumed.policy.state_dict().items(), strict=True):
        torch.testing.assert_close(p, q, msg=n)
    for p, q in zip(straight.ema.module.parameters(), resumed.ema.module.parameters(), strict=True):
        torch.testing.assert_close(p, q)


def test_lr_schedule_warmup_then_cosine():
    cfg = TrainConfig(steps=100, lr=1.0, warmup_steps=10, min_lr_ratio=0.1)
    assert lr_at(0, cfg) == pytest.approx(0.1)
    assert lr_at(9, cfg) == pytest.approx(1.0)
    assert lr_at(10, cfg) == pytest.approx(1.0)
    assert lr_at(55, cfg) == pytest.approx(0.55)
    assert lr_at(100, cfg) == pytest.approx(0.1)
    assert all(lr_at(s, cfg) >= lr_at(s + 1, cfg) for s in range(10, 99))


def test_ema_follows_and_excludes_frozen():
    net = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
    net[1].weight.requires_grad_(False)
    ema = EMA(net, max_decay=0.5, power=1.0)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
    before = ema.module[1].weight.clone()
    ema.update(net, step=100)  # decay = min(0.5, ...) = 0.5
    torch.testing.assert_close(ema.module[0].bias, (net[0].bias - 1.0) * 0.5 + net[0].bias * 0.5)
    torch.testing.assert_close(ema.module[1].weight, before)  # frozen weights are not averaged


def test_step_sampler_is_pure_function_of_step_and_ranks_disjoint():
    full = StepBatchSampler(10, 4, seed=3, start_step=0, total_steps=6)
    late = StepBatchSampler(10, 4, seed=3, start_step=3, total_steps=6)
    assert list(full)[3:] == list(late)
    r0 = StepBatchSampler(10, 5, seed=1, start_step=0, total_steps=1, rank=0, world_size=2)
    r1 = StepBatchSampler(10, 5, seed=1, start_step=0, total_steps=1, rank=1, world_size=2)
    assert sorted(next(iter(r0)) + next(iter(r1))) == list(range(10))  # one epoch split between ranks


def test_resume_rejects_a_folder_without_state(tmp_path, store):
    trainer = make_trainer(tmp_path, steps=2, store_path=store)
    with pytest.raises(FileNotFoundError, match="no training state"):
        trainer.load_checkpoint(tmp_path)
    with pytest.raises(FileNotFoundError, match="latest"):
        latest_checkpoint(tmp_path)


def test_wrong_config_key_names_the_key(tmp_path):
    with pytest.raises(ConfigError, match="train.stepz"):
        load_pipeline(None, ["train.stepz=3"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("policy:\n  head:\n    netwrk: unet\n")
    with pytest.raises(ConfigError, match=r"policy\.head\.netwrk.*bad\.yaml"):
        load_pipeline(bad)
    with pytest.raises(ConfigError, match="train.steps"):
        load_pipeline(None, ["train.steps=many"])


@pytest.mark.parametrize("kind", ["diffusion", "flow", "vla"])
def test_exact_resume_for_every_policy_family(tmp_path, kind):
    """6 steps straight == 3 steps, checkpoint, new process state, resume, 3 more: losses, weights, EMA."""
    from families import Windows, tiny_policy

    from policies.checkpoint import save_policy

    def trainer(out):
        torch.manual_seed(0)
        policy = tiny_policy(kind)
        cfg = TrainConfig(steps=6, batch_size=8, lr=1e-2, warmup_steps=2, log_every=1, checkpoint_every=3,
                          ema_decay=0.99)
        return Trainer(policy, Windows(policy.spec.n_obs_steps), cfg, out, save_policy=save_policy, progress=False)

    straight = trainer(tmp_path / "a")
    straight.fit()
    trainer(tmp_path / "b").fit(until=3)
    resumed = trainer(tmp_path / "b")
    torch.manual_seed(12345)  # a fresh process would not share the RNG state: resume must restore it
    resumed.load_checkpoint(latest_checkpoint(tmp_path / "b"))
    resumed.fit()
    assert len(straight.losses) == len(resumed.losses) == 6
    assert straight.losses[0] != straight.losses[-1]
    np.testing.assert_allclose(resumed.losses, straight.losses, rtol=1e-6, atol=1e-7)
    for (n, p), (_, q) in zip(straight.policy.state_dict().items(), resumed.policy.state_dict().items(), strict=True):
        torch.testing.assert_close(p, q, msg=n)
    for p, q in zip(straight.ema.module.parameters(), resumed.ema.module.parameters(), strict=True):
        torch.testing.assert_close(p, q)
