"""Inference latency per chunk on CPU, one thread: p50 / p99 over many calls after warm-up.

Wall-clock p50/p99 is what a caller waits on this machine; `cpu_p50_ms` is the
thread's CPU time per call, which leaves out time spent waiting for a core
on a shared machine (it approximates the latency on a dedicated core).

Cases (B=1, To=2, Ta=16, Da=7, state Ds=10):
  state diffusion, DDIM 10 steps    target <= 10 ms
  state flow, Euler 4 steps         target <= 4 ms
  two 96x96 cameras + state, diffusion DDIM 10 steps   target <= 40 ms
  two 96x96 cameras + state, flow 4 steps              target <= 15 ms
at the Diffusion Policy U-Net size (256, 512, 1024), a small (64, 128, 256)
and a tiny (32, 64, 128) size, and the MLP denoiser (`head.network: mlp`, 512 x 3);
the deployable lift preset (`so101_lift_flow`: 64x64 cameras, To=1) as committed;
plus an ablation of the GEMM convolutions (native conv1d instead) and a small
VLA (one camera, flow 4 steps). `--compile` adds torch.compile on the small U-Net
and on the MLP. Prints one JSON object; `--only` keeps the cases whose name
contains one of its substrings (then the ablations run only if named too).

    python benchmarks/bench_inference.py [--calls 200] [--max-seconds 20] [--only mlp --out PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import torch
from _results import write_results

from policies.config import PolicyConfig
from policies.heads.unet import GemmConv1d
from policies.pipeline import config_hash, load_pipeline
from policies.registry import build_spec, make_policy
from robot.specs import ArraySpec

DS, DA = 10, 7
DP_SIZE, SMALL, TINY = (256, 512, 1024), (64, 128, 256), (32, 64, 128)
MLP = {"head": {"network": "mlp"}}
MLP256 = {"head": {"network": "mlp", "mlp_hidden": 256}}
RATIOS = {  # same-run CPU-time ratios: robust to the shared machine's load, unlike absolute times
    "flow4_cpu_tiny_unet_over_mlp": ("state_flow_euler4_tiny", "state_flow_euler4_mlp"),
    "flow4_cpu_tiny_unet_over_mlp256": ("state_flow_euler4_tiny", "state_flow_euler4_mlp256"),
    "ddim10_cpu_tiny_unet_over_mlp": ("state_diffusion_ddim10_tiny", "state_diffusion_ddim10_mlp"),
    "ddim10_cpu_tiny_unet_over_mlp256": ("state_diffusion_ddim10_tiny", "state_diffusion_ddim10_mlp256"),
    "two_cams_flow4_cpu_small_unet_over_mlp": ("two_cams_96_flow_euler4_small", "two_cams_96_flow_euler4_mlp"),
}
LIFT_PRESET = "so101_lift_flow"


def build(kind: str, down_dims, steps: int, cameras: int = 0, extra: dict | None = None):
    """A default-config policy of `kind` for Ds=10 state (+ 96x96 cameras)."""
    keys = ["state"] + [f"images.cam{i}" for i in range(cameras)]
    cfg = PolicyConfig.from_config(
        {"kind": kind, "obs_keys": keys, "head": {"unet_down_dims": list(down_dims), "inference_steps": steps},
         **(extra or {})}
    )
    obs_specs = {"state": ArraySpec((DS,))} | {f"images.cam{i}": ArraySpec((96, 96, 3), "uint8") for i in range(cameras)}
    stats = {"state": {"min": -np.ones(DS), "max": np.ones(DS)}, "action": {"min": -np.ones(DA), "max": np.ones(DA)}}
    torch.manual_seed(0)
    policy = make_policy(cfg, build_spec(cfg, obs_specs, DA, fps=10.0), stats).eval()
    rng = np.random.default_rng(0)
    obs = {"state": rng.uniform(-1, 1, (1, 2, DS)).astype(np.float32)}
    for i in range(cameras):
        obs[f"images.cam{i}"] = rng.integers(0, 256, (1, 2, 96, 96, 3), dtype=np.uint8)
    if kind == "vla":
        obs["instruction"] = ["pick up the red cube"]
    return policy, obs


def build_preset(name: str):
    """The policy of pipeline preset `name` with its env's image size, joint state Ds=6, Da=6."""
    cfg = load_pipeline(name)
    side = int(cfg.task.env.get("image_size", [96])[0])
    keys = cfg.policy.obs_keys
    obs_specs = {k: ArraySpec((side, side, 3), "uint8") if k.startswith("images.") else ArraySpec((6,)) for k in keys}
    stats = {k: {"min": -np.ones(6), "max": np.ones(6)} for k in ("state", "action")}
    torch.manual_seed(0)
    policy = make_policy(cfg.policy, build_spec(cfg.policy, obs_specs, 6, fps=30.0), stats).eval()
    rng = np.random.default_rng(0)
    to = cfg.policy.n_obs_steps
    obs = {k: rng.integers(0, 256, (1, to, side, side, 3), dtype=np.uint8) if k.startswith("images.")
           else rng.uniform(-1, 1, (1, to, 6)).astype(np.float32) for k in keys}
    return cfg, side, policy, obs


def time_calls(policy, obs, calls: int, max_seconds: float, warmup: int = 10, steps: int | None = None) -> dict:
    """p50/p99/mean latency (ms) of predict_chunk (`steps`: the head's default) over `calls` calls or `max_seconds`."""
    for _ in range(warmup):
        policy.predict_chunk(obs, steps=steps)
    times, cpu = [], []
    start = time.perf_counter()
    while len(times) < calls and (time.perf_counter() - start) < max_seconds:
        t0, c0 = time.perf_counter(), time.thread_time()
        policy.predict_chunk(obs, steps=steps)
        cpu.append((time.thread_time() - c0) * 1e3)
        times.append((time.perf_counter() - t0) * 1e3)
    a, c = np.asarray(times), np.asarray(cpu)
    return {"calls": len(a), "p50_ms": round(float(np.median(a)), 3), "p99_ms": round(float(np.percentile(a, 99)), 3),
            "mean_ms": round(float(a.mean()), 3), "cpu_p50_ms": round(float(np.median(c)), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--max-seconds", type=float, default=20.0, help="time cap per case (slow DP sizes)")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile on the small state policy")
    parser.add_argument("--only", nargs="*", help="run only cases whose name contains one of these substrings")
    parser.add_argument("--out", help="also write the JSON here (benchmarks/results/<name>.json)")
    args = parser.parse_args()

    def wanted(name: str) -> bool:
        return not args.only or any(part in name for part in args.only)

    torch.set_num_threads(1)
    cases = [
        ("state_diffusion_ddim10_dp_size", "diffusion", DP_SIZE, 10, 0, 10.0, None),
        ("state_diffusion_ddim10_small", "diffusion", SMALL, 10, 0, 10.0, None),
        ("state_diffusion_ddim10_tiny", "diffusion", TINY, 10, 0, 10.0, None),
        ("state_diffusion_dpmsolver5_small", "diffusion", SMALL, 5, 0, None, {"head": {"scheduler": "dpmsolver"}}),
        ("state_flow_euler4_dp_size", "flow", DP_SIZE, 4, 0, 4.0, None),
        ("state_flow_euler4_small", "flow", SMALL, 4, 0, 4.0, None),
        ("state_flow_euler4_tiny", "flow", TINY, 4, 0, 4.0, None),
        ("state_flow_euler1_small", "flow", SMALL, 1, 0, None, None),
        ("two_cams_96_diffusion_ddim10_dp_size", "diffusion", DP_SIZE, 10, 2, 40.0, None),
        ("two_cams_96_diffusion_ddim10_small", "diffusion", SMALL, 10, 2, 40.0, None),
        ("two_cams_96_diffusion_ddim10_tiny", "diffusion", TINY, 10, 2, 40.0, None),
        ("two_cams_96_flow_euler4_small", "flow", SMALL, 4, 2, 15.0, None),
        ("vla_one_cam_96_flow4", "vla", SMALL, 4, 1, None, None),
        ("state_flow_euler4_mlp", "flow", SMALL, 4, 0, 4.0, MLP),
        ("state_flow_euler10_mlp", "flow", SMALL, 10, 0, None, MLP),
        ("state_diffusion_ddim10_mlp", "diffusion", SMALL, 10, 0, 10.0, MLP),
        ("state_flow_euler4_mlp256", "flow", SMALL, 4, 0, 4.0, MLP256),
        ("state_diffusion_ddim10_mlp256", "diffusion", SMALL, 10, 0, 10.0, MLP256),
        ("two_cams_96_flow_euler4_mlp", "flow", SMALL, 4, 2, 15.0, MLP),
        ("two_cams_96_flow_euler4_mlp_images_to1", "flow", SMALL, 4, 2, 15.0,
         {**MLP, "encoder": {"image_obs_steps": 1}}),
    ]
    results: dict[str, dict] = {}
    for name, kind, dims, steps, cams, target, extra in cases:
        if not wanted(name):
            continue
        merged = dict(extra or {})
        if "head" in merged:
            merged["head"] = {**merged["head"], "unet_down_dims": list(dims), "inference_steps": steps}
        policy, obs = build(kind, dims, steps, cams, merged)
        r = time_calls(policy, obs, args.calls, args.max_seconds)
        r["params_M"] = round(sum(p.numel() for p in policy.parameters()) / 1e6, 2)
        if kind != "vla":
            r["unet_down_dims"] = list(dims)
        if target is not None:
            r["target_ms"] = target
            r["target_met_p50"] = r["p50_ms"] <= target
            r["target_met_cpu_p50"] = r["cpu_p50_ms"] <= target
        results[name] = r
        print(name, r, flush=True)
    for steps in (10, 4):  # the deployable lift preset as committed (its own steps: 10), and at flow 4
        name = f"preset_{LIFT_PRESET}_flow{steps}"
        if not wanted(name):
            continue
        cfg, side, policy, obs = build_preset(LIFT_PRESET)
        r = time_calls(policy, obs, args.calls, args.max_seconds, steps=steps)
        r |= {"preset": LIFT_PRESET, "overrides": [], "config_hash": config_hash(cfg), "frame_px": side,
              "inference_steps": steps, "params_M": round(sum(p.numel() for p in policy.parameters()) / 1e6, 2),
              "target_ms": 15.0, "target_met_p50": r["p50_ms"] <= 15.0, "target_met_cpu_p50": r["cpu_p50_ms"] <= 15.0}
        results[name] = r
        print(name, r, flush=True)
    if args.compile and wanted("compile_state_flow_euler4_mlp"):
        policy, obs = build("flow", SMALL, 4, 0, MLP)
        eager = time_calls(policy, obs, args.calls, args.max_seconds)
        t0 = time.perf_counter()
        policy.compile_for_inference()
        policy.predict_chunk(obs)
        compile_s = time.perf_counter() - t0
        compiled = time_calls(policy, obs, args.calls, args.max_seconds)
        results["compile_state_flow_euler4_mlp"] = {
            "eager_p50_ms": eager["p50_ms"], "compiled_p50_ms": compiled["p50_ms"],
            "compiled_p99_ms": compiled["p99_ms"], "compile_seconds": round(compile_s, 1),
            "speedup_compiled_over_eager": round(eager["p50_ms"] / compiled["p50_ms"], 2),
        }
        print("compile_state_flow_euler4_mlp", results["compile_state_flow_euler4_mlp"], flush=True)
    if args.only and not any(wanted(n) for n in ("ablation_gemm_conv", "ablation_image_encoder_width")):
        finish(args, results)
        return
    # Ablation: the same DP-size state policy with the native conv1d path (GEMM off).
    policy, obs = build("diffusion", DP_SIZE, 10)
    saved = GemmConv1d.GEMM_MAX_ROWS
    GemmConv1d.GEMM_MAX_ROWS = 0
    try:
        native = time_calls(policy, obs, args.calls, args.max_seconds)
    finally:
        GemmConv1d.GEMM_MAX_ROWS = saved
    gemm = time_calls(policy, obs, args.calls, args.max_seconds)
    results["ablation_gemm_conv_dp_size_ddim10"] = {
        "native_conv_p50_ms": native["p50_ms"], "gemm_conv_p50_ms": gemm["p50_ms"],
        "speedup_gemm_over_native": round(native["p50_ms"] / gemm["p50_ms"], 2),
    }
    # Ablation: image encoder widths, four 96x96 frames (2 cameras x To=2), calls interleaved.
    from policies.config import EncoderConfig
    from policies.encoders import ImageEncoder

    frames = torch.randint(0, 256, (4, 96, 96, 3), dtype=torch.uint8)
    widths = {"16_32_64_128": (16, 32, 64, 128), "32_64_128_256": (32, 64, 128, 256)}
    encoders = {k: ImageEncoder(EncoderConfig(image_channels=w)).eval() for k, w in widths.items()}
    enc_times: dict[str, list[float]] = {k: [] for k in widths}
    with torch.inference_mode():
        for _ in range(5):
            for enc in encoders.values():
                enc(frames)
        for _ in range(min(args.calls, 150)):
            for k, enc in encoders.items():
                t0 = time.perf_counter()
                enc(frames)
                enc_times[k].append((time.perf_counter() - t0) * 1e3)
    p50 = {k: float(np.median(v)) for k, v in enc_times.items()}
    results["ablation_image_encoder_width_4_frames"] = {
        **{f"p50_ms_{k}": round(v, 3) for k, v in p50.items()},
        "speedup_default_over_wide": round(p50["32_64_128_256"] / p50["16_32_64_128"], 2),
    }
    if args.compile and wanted("compile_state_diffusion_ddim10_small"):
        policy, obs = build("diffusion", SMALL, 10)
        eager = time_calls(policy, obs, args.calls, args.max_seconds)
        t0 = time.perf_counter()
        policy.compile_for_inference()
        policy.predict_chunk(obs)
        compile_s = time.perf_counter() - t0
        compiled = time_calls(policy, obs, args.calls, args.max_seconds)
        results["compile_state_diffusion_ddim10_small"] = {
            "eager_p50_ms": eager["p50_ms"], "compiled_p50_ms": compiled["p50_ms"],
            "compiled_p99_ms": compiled["p99_ms"], "compile_seconds": round(compile_s, 1),
            "speedup_compiled_over_eager": round(eager["p50_ms"] / compiled["p50_ms"], 2),
        }
    finish(args, results)


def finish(args: argparse.Namespace, results: dict[str, dict]) -> None:
    """Print (and with --out write) the JSON of `results`."""
    ratios = {name: round(results[a]["cpu_p50_ms"] / results[b]["cpu_p50_ms"], 2)
              for name, (a, b) in RATIOS.items() if a in results and b in results}
    out = {
        "benchmark": "bench_inference", "only": args.only or None,
        "device": "cpu", "threads": torch.get_num_threads(), "torch": torch.__version__,
        "machine": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
        "load_avg_1min": round(os.getloadavg()[0], 2),
        "batch": 1, "n_obs_steps": 2, "horizon": 16, "action_dim": DA, "state_dim": DS,
        "results": results, "cpu_time_ratios": ratios,
    }
    if args.out:
        write_results(out, args.out)
    else:
        print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
