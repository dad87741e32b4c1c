"""Image-policy training cost per option, side by side: samples/s of one optimizer step on one thread.

Every case is the flow policy preset (`configs/policies/flow.yaml`) reading
joint state + two cameras, plus overrides: today's 96x96 To=2 setting, the
Diffusion Policy reference's vision encoder (ResNet-18 with GroupNorm +
spatial softmax, `encoder.image_backbone=resnet18`) at the same input sizes,
and the cheaper options (64 px frames, To=1 or images at To=1 only, a resize
in the encoder), and the deployable lift preset's policy as it is committed.
Batches are synthetic (random frames, batch 64) and already in memory, so
only the model's cost counts (the loader is benchmarks/bench_image_train_step.py).
Cases run interleaved, one step each per round, so they share the machine's load;
on a shared machine the thread-CPU figures (`step_cpu_s`, `speedup_vs_today_cpu`)
are the robust ones, wall time includes waiting for a core.

    python benchmarks/bench_image_encoder.py [--rounds 3] [--out benchmarks/results/bench_image_encoder.json]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _results import write_results  # noqa: E402

from policies.config import PolicyConfig  # noqa: E402
from policies.pipeline import config_hash, load_pipeline, resolve_preset  # noqa: E402
from policies.registry import build_spec, make_policy  # noqa: E402
from robot.config import load_config  # noqa: E402
from robot.specs import ArraySpec  # noqa: E402

CAMS = "obs_keys=[state,images.front,images.wrist]"
CASES: dict[str, tuple[int, list[str]]] = {
    # name: (frame side in pixels, flow-preset overrides)
    "today_96px_to2": (96, [CAMS]),
    "dp_reference_resnet18_96px_to2": (96, [CAMS, "encoder.image_backbone=resnet18"]),
    "to1_96px": (96, [CAMS, "n_obs_steps=1"]),
    "images_to1_state_to2_96px": (96, [CAMS, "encoder.image_obs_steps=1"]),
    "resize_to_48_96px_to1": (96, [CAMS, "n_obs_steps=1", "encoder.image_size=48"]),
    "64px_to1": (64, [CAMS, "n_obs_steps=1"]),
    "dp_reference_resnet18_64px_to1": (64, [CAMS, "n_obs_steps=1", "encoder.image_backbone=resnet18"]),
    "64px_to1_channels_8_16_32_64": (64, [CAMS, "n_obs_steps=1", "encoder.image_channels=[8,16,32,64]"]),
    "64px_to1_mlp_head": (64, [CAMS, "n_obs_steps=1", "head.network=mlp"]),
    "64px_to1_channels_8_16_32_64_mlp_head": (64, [CAMS, "n_obs_steps=1", "encoder.image_channels=[8,16,32,64]",
                                                    "head.network=mlp"]),
    "resize_to_48_64px_to1_channels_8_16_32_64_mlp_head": (64, [CAMS, "n_obs_steps=1", "encoder.image_size=48",
                                                                "encoder.image_channels=[8,16,32,64]",
                                                                "head.network=mlp"]),
}
LIFT_PRESET = "so101_lift_flow"
BATCH, DS, DA = 64, 6, 6


def build(cfg: PolicyConfig, side: int):
    """(policy, optimizer, batch) for `cfg` with synthetic 6-D state and side x side frames."""
    specs = {"state": ArraySpec((DS,))}
    specs |= {k: ArraySpec((side, side, 3), "uint8") for k in cfg.obs_keys if k.startswith("images.")}
    stats = {"state": {"min": -np.ones(DS), "max": np.ones(DS)}, "action": {"min": -np.ones(DA), "max": np.ones(DA)}}
    torch.manual_seed(0)
    policy = make_policy(cfg, build_spec(cfg, specs, DA, fps=30.0), stats).train()
    rng = np.random.default_rng(0)
    to = cfg.n_obs_steps
    batch = {k: torch.as_tensor(rng.integers(0, 256, (BATCH, to, side, side, 3), dtype=np.uint8))
             for k in cfg.obs_keys if k.startswith("images.")}
    batch["state"] = torch.as_tensor(rng.uniform(-1, 1, (BATCH, to, DS)).astype(np.float32))
    batch["action"] = torch.as_tensor(rng.uniform(-1, 1, (BATCH, cfg.horizon, DA)).astype(np.float32))
    return policy, torch.optim.AdamW(policy.parameters(), lr=1e-4), batch


def step(policy, optim, batch) -> tuple[float, float]:
    """(wall s, thread CPU s) of one forward + backward + AdamW step."""
    t0, c0 = time.perf_counter(), time.thread_time()
    loss, _ = policy.compute_loss(batch)
    loss.backward()
    optim.step()
    optim.zero_grad(set_to_none=True)
    return time.perf_counter() - t0, time.thread_time() - c0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="measured steps per case (interleaved)")
    parser.add_argument("--out", default="benchmarks/results/bench_image_encoder.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    built, records = {}, {}
    for name, (side, overrides) in CASES.items():
        cfg = load_config(PolicyConfig, resolve_preset("flow", "policies"), overrides)
        built[name] = build(cfg, side)
        records[name] = {"policy_preset": "flow", "policy_overrides": overrides, "config_hash": config_hash(cfg),
                         "frame_px": side}
    lift = load_pipeline(LIFT_PRESET)
    side = int(lift.task.env.get("image_size", [96])[0])
    built["preset_" + LIFT_PRESET] = build(lift.policy, side)
    records["preset_" + LIFT_PRESET] = {"preset": LIFT_PRESET, "overrides": [], "config_hash": config_hash(lift),
                                        "frame_px": side}
    for b in built.values():  # warm-up: allocator, oneDNN kernel selection
        step(*b)
    times: dict[str, list[tuple[float, float]]] = {k: [] for k in built}
    for _ in range(args.rounds):
        for name, b in built.items():
            times[name].append(step(*b))
            print(name, f"{times[name][-1][0]:.3f} s", file=sys.stderr, flush=True)
    base = float(np.median([t[0] for t in times["today_96px_to2"]]))
    base_cpu = float(np.median([t[1] for t in times["today_96px_to2"]]))
    for name, (policy, _, _) in built.items():
        wall = float(np.median([t[0] for t in times[name]]))
        cpu = float(np.median([t[1] for t in times[name]]))
        enc = policy.encoder
        records[name] |= {
            "n_obs_steps": policy.config.n_obs_steps, "image_frames_per_sample": len(enc.image_keys) * enc.image_obs_steps,
            "encoder_params_M": round(sum(p.numel() for p in enc.parameters()) / 1e6, 3),
            "params_M": round(sum(p.numel() for p in policy.parameters()) / 1e6, 3),
            "step_wall_s": round(wall, 4), "step_cpu_s": round(cpu, 4),
            "samples_per_s": round(BATCH / wall, 1), "samples_per_cpu_s": round(BATCH / cpu, 1),
            "speedup_vs_today": round(base / wall, 2), "speedup_vs_today_cpu": round(base_cpu / cpu, 2),
        }
    write_results({
        "benchmark": "bench_image_encoder", "batch_size": BATCH, "threads": 1, "rounds": args.rounds,
        "torch": torch.__version__, "cpu_cores_visible": os.cpu_count(),
        "load_avg_1min": round(os.getloadavg()[0], 2), "cases": records,
    }, args.out)


if __name__ == "__main__":
    main()
