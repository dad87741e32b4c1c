"""Generative heads on their own: exact samplers with ideal networks, shapes, batch independence."""

from __future__ import annotations

import pytest
import torch

from policies.config import HeadConfig
from policies.heads import DenoiserNet, make_head
from policies.heads.base import masked_mse
from policies.heads.diffusion import DiffusionHead
from policies.heads.flow import TIME_SCALE, FlowHead

B, TA, DA, DC = 3, 8, 2, 6
HEAD = HeadConfig(unet_down_dims=(16, 32), d_model=32, n_layers=1, n_heads=2, time_embed_dim=16,
                  mlp_hidden=32, mlp_layers=1, num_train_timesteps=100, inference_steps=4)


class IdealNet(DenoiserNet):
    """Knows the clean chunk: returns the exact velocity / clean sample for `target` (tests only)."""

    def __init__(self, target: torch.Tensor, mode: str) -> None:
        super().__init__()
        self.target, self.mode = target, mode
        self.calls = 0

    def prepare(self, cond):
        return cond

    def step(self, x, t, ctx):
        self.calls += 1
        if self.mode == "velocity":  # rectified flow towards a single point
            tt = (t / TIME_SCALE)[:, None, None]
            return (self.target - x) / (1.0 - tt)
        return self.target.expand_as(x)


def test_flow_euler_reaches_the_target_with_one_or_few_steps():
    target = torch.rand(B, TA, DA) * 2 - 1
    head = FlowHead(IdealNet(target, "velocity"), HEAD, TA, DA)
    for steps in (1, 2, 4):
        out = head.sample(torch.zeros(B, DC), torch.randn(B, TA, DA), steps=steps)
        torch.testing.assert_close(out, target, rtol=0, atol=1e-5)
    assert head.net.calls == 7, "one network call per Euler step"


@pytest.mark.parametrize("scheduler", ["ddim", "dpmsolver"])
def test_diffusion_sampler_with_sample_prediction_returns_the_clean_chunk(scheduler):
    target = torch.rand(B, TA, DA) * 1.6 - 0.8
    cfg = HeadConfig(**{**HEAD.__dict__, "prediction_type": "sample", "scheduler": scheduler})
    head = DiffusionHead(IdealNet(target, "sample"), cfg, TA, DA)
    sampler = head.sampler
    out = head.sample(torch.zeros(B, DC), torch.randn(B, TA, DA), steps=5)
    torch.testing.assert_close(out, target, rtol=0, atol=1e-4)
    out2 = head.sample(torch.zeros(B, DC), torch.randn(B, TA, DA), steps=5)
    torch.testing.assert_close(out2, target, rtol=0, atol=1e-4)
    assert head.sampler is sampler, "the scheduler is built once, not per call"
    assert head.net.calls == 10


def test_flow_time_sampling_distributions():
    head = make_head("flow", HEAD, DA, TA, DC)
    for name, mean in (("beta", 1 - (0.999 * 0.6 + 0.001)), ("logit_normal", 0.5), ("uniform", 0.5)):
        head.cfg = HeadConfig(**{**HEAD.__dict__, "time_sampling": name})
        t = head.sample_time(20000, torch.device("cpu"))
        assert t.min() >= 0 and t.max() < 1
        assert abs(t.mean().item() - mean) < 0.02, (name, t.mean())


@pytest.mark.parametrize("kind", ["diffusion", "flow"])
@pytest.mark.parametrize("network", ["unet", "transformer", "mlp"])
def test_heads_shapes_and_batch_independence(kind, network):
    torch.manual_seed(0)
    head = make_head(kind, HEAD, DA, TA, DC, network=network).eval()
    cond, noise = torch.randn(B, DC), torch.randn(B, TA, DA)
    loss, metrics = head.loss(torch.rand(B, TA, DA) * 2 - 1, cond)
    loss.backward()
    assert loss.ndim == 0 and metrics["loss"] == pytest.approx(loss.item())
    full = head.sample(cond, noise, steps=3)
    assert full.shape == (B, TA, DA)
    # GroupNorm/LayerNorm are per sample: row 1 alone must equal row 1 of the batch.
    row = head.sample(cond[1:2], noise[1:2], steps=3)
    torch.testing.assert_close(row, full[1:2], rtol=1e-4, atol=1e-5)


def test_transformer_takes_tokens_and_unet_rejects_them():
    tokens = torch.randn(B, 5, DC)
    head = make_head("flow", HEAD, DA, TA, DC, network="transformer")
    assert head.sample(tokens, steps=2).shape == (B, TA, DA)
    unet = make_head("flow", HEAD, DA, TA, DC, network="unet")
    with pytest.raises(ValueError, match=r"global condition \(B, Dc\)"):
        unet.sample(tokens, steps=2)
    mlp = make_head("flow", HEAD, DA, TA, DC, network="mlp")
    with pytest.raises(ValueError, match=r"global condition \(B, Dc\)"):
        mlp.sample(tokens, steps=2)
    with pytest.raises(KeyError, match="registered"):
        make_head("gan", HEAD, DA, TA, DC)


def test_masked_mse_ignores_padded_steps():
    pred, target = torch.zeros(1, 4, 2), torch.zeros(1, 4, 2)
    target[0, 3] = 10.0  # only the padded step is wrong
    mask = torch.tensor([[True, True, True, False]])
    assert masked_mse(pred, target, mask).item() == 0.0
    assert masked_mse(pred, target, None).item() == pytest.approx(100 * 2 / 8)


def test_gemm_convolutions_match_the_native_ones():
    from policies.heads.unet import GemmConv1d, GemmConvTranspose1d

    torch.manual_seed(0)
    for b, c, t in [(1, 16, 8), (3, 8, 4), (40, 8, 8)]:  # the last one exceeds GEMM_MAX_ROWS: native path
        x = torch.randn(b, c, t)
        up = GemmConvTranspose1d(c, c, 4, 2, 1)
        ref_up = torch.nn.ConvTranspose1d(c, c, 4, 2, 1)
        ref_up.load_state_dict(up.state_dict())
        torch.testing.assert_close(up(x), ref_up(x), rtol=1e-4, atol=1e-5)
        for k, s, p in [(5, 1, 2), (3, 2, 1), (1, 1, 0)]:
            conv = GemmConv1d(c, 2 * c, k, s, p)
            ref = torch.nn.Conv1d(c, 2 * c, k, s, p)
            ref.load_state_dict(conv.state_dict())
            torch.testing.assert_close(conv(x), ref(x), rtol=1e-4, atol=1e-5)


def test_mlp_denoiser_splits_its_input_layer_exactly():
    """prepare(cond) + step(x, t) equals one linear layer on concat(chunk, time features, cond)."""
    torch.manual_seed(0)
    net = make_head("flow", HEAD, DA, TA, DC, network="mlp").net
    x, t, cond = torch.randn(B, TA, DA), torch.rand(B) * TIME_SCALE, torch.randn(B, DC)
    w = torch.cat([net.x_in.weight, net.t_in.weight, net.cond_in.weight], dim=1)
    h = torch.cat([x.reshape(B, -1), net.time_embed(t), cond], dim=1) @ w.t() + net.x_in.bias
    torch.testing.assert_close(net.step(x, t, net.prepare(cond)), net.out(net.blocks(h)).view(B, TA, DA))
