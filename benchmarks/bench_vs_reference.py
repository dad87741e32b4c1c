"""Our diffusion policy vs the Diffusion Policy reference ConditionalUnet1D at equal sizes.

The reference is NOT part of this repo: export it from the upstream repository
(real-stanford/diffusion_policy) to a folder outside the repo and pass it:

    git --git-dir=<mirror> show HEAD:diffusion_policy/model/diffusion/conditional_unet1d.py > /tmp/dp_ref/...
    python benchmarks/bench_vs_reference.py --ref /tmp/dp_ref

Setup mirrors the reference's PushT low-dim config: Da=2, obs 20-d, To=2
(global condition 40-d), Ta=16, kernel 5, 8 groups, step embedding 128,
FiLM scale+bias. Both sides use diffusers' DDPMScheduler for training and
DDIMScheduler (10 steps) for inference, as the reference policy does.

training: samples/s of forward + backward + AdamW step on the same batch.
inference: latency of one chunk (B=1), one thread; ours is `predict_chunk`
(observation encoded once, FiLM observation part once per chunk, GEMM convs),
the reference its `conditional_sample` loop. Calls alternate between the two
so machine load hits both alike. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import DDIMScheduler, DDPMScheduler

from policies.config import PolicyConfig
from policies.registry import build_spec, make_policy
from robot.specs import ArraySpec

DA, DOBS, TO, TA = 2, 20, 2, 16


def reference_unet(ref_dir: str, down_dims) -> torch.nn.Module:
    """The reference ConditionalUnet1D at the PushT low-dim settings."""
    sys.path.insert(0, ref_dir)
    try:
        from diffusion_policy.model.diffusion.conditional_unet1d import ConditionalUnet1D
    except ImportError as e:
        raise SystemExit(
            f"cannot import the reference from --ref {ref_dir}: {e}; export "
            "diffusion_policy/model/diffusion/{conditional_unet1d,conv1d_components,positional_embedding}.py there"
        ) from None
    return ConditionalUnet1D(
        input_dim=DA, global_cond_dim=DOBS * TO, diffusion_step_embed_dim=128, down_dims=list(down_dims),
        kernel_size=5, n_groups=8, cond_predict_scale=True,
    )


def our_policy(down_dims):
    """Our diffusion policy with the same network: state passed through (no MLP), same U-Net."""
    cfg = PolicyConfig.from_config({
        "kind": "diffusion", "n_obs_steps": TO, "horizon": TA, "n_action_steps": 8,
        "encoder": {"state_hidden": []},
        "head": {"unet_down_dims": list(down_dims), "kernel_size": 5, "n_groups": 8, "time_embed_dim": 128,
                 "num_train_timesteps": 100, "inference_steps": 10, "scheduler": "ddim"},
    })
    stats = {"state": {"min": -np.ones(DOBS), "max": np.ones(DOBS)}, "action": {"min": -np.ones(DA), "max": np.ones(DA)}}
    return make_policy(cfg, build_spec(cfg, {"state": ArraySpec((DOBS,))}, DA, 10.0), stats)


def load_reference_weights(net: torch.nn.Module, ref: torch.nn.Module, dsed: int = 128) -> None:
    """Copy the reference U-Net's weights into ours (same blocks; per-block FiLM linears concatenated)."""
    r = ref.state_dict()
    out = {"time_mlp.1.weight": r["diffusion_step_encoder.1.weight"], "time_mlp.1.bias": r["diffusion_step_encoder.1.bias"],
           "time_mlp.3.weight": r["diffusion_step_encoder.3.weight"], "time_mlp.3.bias": r["diffusion_step_encoder.3.bias"]}
    blocks = []  # (our prefix, reference prefix) in traversal order: down, mid, up
    for i in range(len(net.down)):
        blocks += [(f"down.{i}.{j}", f"down_modules.{i}.{j}") for j in (0, 1)]
        if not isinstance(net.downsample[i], torch.nn.Identity):
            out[f"downsample.{i}.weight"], out[f"downsample.{i}.bias"] = r[f"down_modules.{i}.2.conv.weight"], r[f"down_modules.{i}.2.conv.bias"]
    blocks += [(f"mid.{j}", f"mid_modules.{j}") for j in (0, 1)]
    for i in range(len(net.up)):
        blocks += [(f"up.{i}.{j}", f"up_modules.{i}.{j}") for j in (0, 1)]
        out[f"upsample.{i}.weight"], out[f"upsample.{i}.bias"] = r[f"up_modules.{i}.2.conv.weight"], r[f"up_modules.{i}.2.conv.bias"]
    film_w, film_b = [], []
    for ours, theirs in blocks:
        for a, b in (("block1", "blocks.0"), ("block2", "blocks.1")):
            for kind, idx in (("conv", 0), ("norm", 1)):
                for p in ("weight", "bias"):
                    out[f"{ours}.{a}.{kind}.{p}"] = r[f"{theirs}.{b}.block.{idx}.{p}"]
        if f"{theirs}.residual_conv.weight" in r:
            out[f"{ours}.skip.weight"], out[f"{ours}.skip.bias"] = r[f"{theirs}.residual_conv.weight"], r[f"{theirs}.residual_conv.bias"]
        film_w.append(r[f"{theirs}.cond_encoder.1.weight"])
        film_b.append(r[f"{theirs}.cond_encoder.1.bias"])
    w = torch.cat(film_w)  # their cond = [time embedding, observation]
    out["film_time.weight"], out["film_obs.weight"], out["film_time.bias"] = w[:, :dsed], w[:, dsed:], torch.cat(film_b)
    for ours, theirs in (("final.0.conv", "final_conv.0.block.0"), ("final.0.norm", "final_conv.0.block.1"), ("final.1", "final_conv.1")):
        out[f"{ours}.weight"], out[f"{ours}.bias"] = r[f"{theirs}.weight"], r[f"{theirs}.bias"]
    net.load_state_dict(out, strict=True)


@torch.no_grad()
def same_function(ref: torch.nn.Module, ours) -> float:
    """Max |difference| of one denoiser call with the reference's weights loaded into ours (B=1 and B=4)."""
    net = ours.head.net
    load_reference_weights(net, ref)
    ref.eval()
    net.eval()
    worst = 0.0
    for b in (1, 4):  # B=1 takes the GEMM path, B=4 the native conv at the finest level
        x, cond = torch.randn(b, TA, DA), torch.randn(b, TO * DOBS)
        t = torch.randint(0, 100, (b,))
        worst = max(worst, (ref(x, t, global_cond=cond) - net(x, t, cond)).abs().max().item())
    return worst


def count(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def compare_training(ref, ours, batch: int, iters: int) -> dict:
    """Samples/s of one optimizer step on the same batch, alternating the two."""
    g = torch.Generator().manual_seed(0)
    obs = torch.rand(batch, TO, DOBS, generator=g) * 2 - 1
    act = torch.rand(batch, TA, DA, generator=g) * 2 - 1
    data = {"state": obs, "action": act, "action_is_pad": torch.zeros(batch, TA, dtype=torch.bool)}
    sched = DDPMScheduler(num_train_timesteps=100, beta_schedule="squaredcos_cap_v2", clip_sample=True,
                          prediction_type="epsilon")
    opt_ref = torch.optim.AdamW(ref.parameters(), lr=1e-4)
    opt_ours = torch.optim.AdamW(ours.parameters(), lr=1e-4)
    ref.train()
    ours.train()

    def ref_step():  # the reference policy's compute_loss (obs as global condition)
        noise = torch.randn_like(act)
        t = torch.randint(0, 100, (batch,))
        noisy = sched.add_noise(act, noise, t)
        loss = F.mse_loss(ref(noisy, t, global_cond=obs.reshape(batch, -1)), noise)
        opt_ref.zero_grad()
        loss.backward()
        opt_ref.step()

    def our_step():
        loss, _ = ours.compute_loss(data)
        opt_ours.zero_grad()
        loss.backward()
        opt_ours.step()

    ref_step(), our_step()  # warm-up
    wall: dict[str, list[float]] = {"ref": [], "ours": []}
    cpu: dict[str, list[float]] = {"ref": [], "ours": []}
    steps = {"ref": ref_step, "ours": our_step}
    for i in range(iters):
        # Alternate who goes first so neither side always follows the other's allocations.
        for name in (("ref", "ours") if i % 2 == 0 else ("ours", "ref")):
            t0, c0 = time.perf_counter(), time.thread_time()
            steps[name]()
            cpu[name].append(time.thread_time() - c0)
            wall[name].append(time.perf_counter() - t0)
    ref_sps, our_sps = batch / np.median(wall["ref"]), batch / np.median(wall["ours"])
    ref_cpu, our_cpu = batch / np.median(cpu["ref"]), batch / np.median(cpu["ours"])
    pairs = np.asarray(wall["ref"]) / np.asarray(wall["ours"])
    return {"batch": batch, "iters": iters, "reference_samples_per_s": round(ref_sps, 2),
            "ours_samples_per_s": round(our_sps, 2), "ratio_ours_over_reference": round(our_sps / ref_sps, 3),
            "ratio_median_of_pairs": round(float(np.median(pairs)), 3),
            "reference_cpu_samples_per_s": round(ref_cpu, 2), "ours_cpu_samples_per_s": round(our_cpu, 2),
            "ratio_cpu": round(our_cpu / ref_cpu, 3)}


def compare_inference(ref, ours, steps: int, calls: int, max_seconds: float) -> dict:
    """Chunk latency (B=1) at equal DDIM steps, alternating reference and ours."""
    sched = DDIMScheduler(num_train_timesteps=100, beta_schedule="squaredcos_cap_v2", clip_sample=True,
                          prediction_type="epsilon")
    ref.eval()
    ours.eval()
    obs = np.random.default_rng(0).uniform(-1, 1, (1, TO, DOBS)).astype(np.float32)

    @torch.no_grad()
    def ref_chunk():  # the reference's predict_action -> conditional_sample
        cond = torch.from_numpy(obs).reshape(1, -1)
        x = torch.randn(1, TA, DA)
        sched.set_timesteps(steps)
        for t in sched.timesteps:
            out = ref(x, t, global_cond=cond)
            x = sched.step(out, t, x).prev_sample
        return x

    def our_chunk():
        return ours.predict_chunk({"state": obs}, steps=steps)

    for _ in range(5):
        ref_chunk(), our_chunk()
    t_ref, t_ours, c_ref, c_ours = [], [], [], []
    start = time.perf_counter()
    while len(t_ref) < calls and time.perf_counter() - start < max_seconds:
        t0, c0 = time.perf_counter(), time.thread_time()
        ref_chunk()
        c_ref.append(time.thread_time() - c0)
        t_ref.append(time.perf_counter() - t0)
        t0, c0 = time.perf_counter(), time.thread_time()
        our_chunk()
        c_ours.append(time.thread_time() - c0)
        t_ours.append(time.perf_counter() - t0)
    r, o = np.asarray(t_ref) * 1e3, np.asarray(t_ours) * 1e3
    cr, co = np.median(c_ref) * 1e3, np.median(c_ours) * 1e3
    return {"steps": steps, "calls": len(r),
            "reference_cpu_p50_ms": round(float(cr), 3), "ours_cpu_p50_ms": round(float(co), 3),
            "speedup_cpu_p50": round(float(cr / co), 3),
            "reference_p50_ms": round(float(np.median(r)), 3), "reference_p99_ms": round(float(np.percentile(r, 99)), 3),
            "ours_p50_ms": round(float(np.median(o)), 3), "ours_p99_ms": round(float(np.percentile(o, 99)), 3),
            "speedup_p50": round(float(np.median(r) / np.median(o)), 3),
            "speedup_median_of_pairs": round(float(np.median(r / o)), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref", required=True, help="folder holding the exported diffusion_policy package")
    parser.add_argument("--batch", type=int, default=32, help="training batch (the reference default is 256)")
    parser.add_argument("--train-iters", type=int, default=12)
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--max-seconds", type=float, default=40.0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    results = {}
    for label, dims in (("dp_size", (256, 512, 1024)), ("small", (64, 128, 256))):
        torch.manual_seed(0)
        ref, ours = reference_unet(args.ref, dims), our_policy(dims)
        row = {"unet_down_dims": list(dims), "reference_params": count(ref), "ours_params": count(ours),
               "max_abs_diff_with_reference_weights": same_function(ref, ours)}
        torch.manual_seed(1)  # fresh, independent weights for the timing runs
        ref, ours = reference_unet(args.ref, dims), our_policy(dims)
        row["training"] = compare_training(ref, ours, args.batch, args.train_iters)
        row["inference_ddim10"] = compare_inference(ref, ours, 10, args.calls, args.max_seconds)
        results[label] = row
        print(label, json.dumps(row), flush=True)
    out = {"benchmark": "bench_vs_reference", "reference": "real-stanford/diffusion_policy ConditionalUnet1D",
           "threads": torch.get_num_threads(), "torch": torch.__version__, "cpu_count": os.cpu_count(),
           "load_avg_1min": round(os.getloadavg()[0], 2), "results": results}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
