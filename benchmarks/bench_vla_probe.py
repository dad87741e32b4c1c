"""Probe of a trained so101_multi VLA: does its motion follow the colour word and the goal word?

Colour: on one layout, the same start state is rolled out under "pick up the
{red, green, blue} cube" until a cube is grasped (at most `--colour-ticks`
ticks); the probe records which cube was grasped (else the cube nearest to the
gripper in xy). Swapping the colour word must send the motion to the other cube.

Goal: the named cube is picked under a lift phrasing until it is `grasp_height`
above the table; then the same state (replayed: the sim is deterministic for
the same actions) is continued for `--goal-ticks` ticks under the lift phrasing
and under the place phrasing of the same colour. Place must carry the cube
towards the bowl, lift must keep it where it is (post-grasp motion follows the
goal word).

    python benchmarks/bench_vla_probe.py                        # suite vla_privileged of bench_vla.py
    python benchmarks/bench_vla_probe.py --suite vla --layouts 20   # the camera preset, once trained

Needs the run of `benchmarks/bench_vla.py --suite <suite>` (its checkpoint in
runs/bench_vla/<suite>/train). Writes benchmarks/results/bench_vla_probe.json.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from _results import write_results  # noqa: E402
from bench_success import SUITES  # noqa: E402

LIFT, PLACE = "pick up the {c} cube", "put the {c} cube in the bowl"
RESULTS = Path(__file__).resolve().parent / "results" / "bench_vla_probe.json"


def act(policy, env, obs: dict, text: str, ticks: int, log: list | None = None, until=None) -> dict:
    """Run `policy` closed loop (chunks of Te actions, as deployed) under instruction `text` for
    `ticks` ticks or until `until()` holds; returns the last obs (actions appended to `log`)."""
    import torch

    te = policy.spec.n_action_steps
    done = 0
    while done < ticks:
        batch = {k: np.asarray(obs[k])[None, None] for k in policy.config.obs_keys}
        with torch.no_grad():
            chunk = policy.predict_chunk({**batch, "instruction": [text]}).numpy()[0]
        for a in chunk[:te]:
            obs = env.step(a)[0]
            if log is not None:
                log.append(a)
            done += 1
            if done >= ticks or (until is not None and until()):
                return obs
    return obs


def colour_probe(policy, env, seeds: list[int], ticks: int) -> dict:
    """Per layout and colour word: the cube the gripper grasps first (else the one nearest to it in xy)."""
    import torch

    colours = env.config.colors
    hits, grasped_named, grasped_other, rows = 0, 0, 0, []
    for seed in seeds:
        picked = {}
        for c in colours:
            torch.manual_seed(seed)
            obs = env.reset(seed=seed)[0]

            def held() -> list[str]:
                return [k for k in colours if env.grasping(f"cube_{k}")]  # noqa: B023

            act(policy, env, obs, LIFT.format(c=c), ticks, until=lambda: bool(held()))
            if held():
                picked[c] = held()[0]
                grasped_named += picked[c] == c
                grasped_other += picked[c] != c
            else:
                dist = {k: np.linalg.norm(env.ee_pos[:2] - env.body_pos(f"cube_{k}")[:2]) for k in colours}
                picked[c] = min(dist, key=dist.get)
            hits += picked[c] == c
        rows.append({"seed": seed, "picked": picked})
    n = len(seeds) * len(colours)
    return {"rollouts": n, "ticks": ticks, "heads_to_named_cube": hits, "rate": hits / n,
            "grasped_named_cube": grasped_named, "grasped_other_cube": grasped_other,
            "layouts_all_three_distinct": sum(len(set(r["picked"].values())) == len(colours) for r in rows),
            "chance": 1 / len(colours), "per_layout": rows}


def goal_probe(policy, env, seeds: list[int], max_pick: int, ticks: int, grasp_height: float) -> dict:
    """Lift vs place continuation from the same grasped state."""
    import torch

    rows = []
    h = env.config.cube_half_size
    for seed in seeds:
        obs = env.reset(seed=seed)[0]
        c = env.target_color
        cube = f"cube_{c}"
        torch.manual_seed(seed)
        log: list = []

        def lifted() -> bool:
            return env.body_pos(cube)[2] - h >= grasp_height and env.grasping(cube)  # noqa: B023

        obs = act(policy, env, obs, LIFT.format(c=c), max_pick, log, until=lifted)
        if not lifted():
            rows.append({"seed": seed, "grasped": False})
            continue
        row = {"seed": seed, "grasped": True, "grasp_tick": len(log)}
        for goal, text in (("lift", LIFT), ("place", PLACE)):
            env.reset(seed=seed)
            for a in log:  # replay to the same grasped state
                obs = env.step(a)[0]
            d0 = np.linalg.norm(env.body_pos(cube)[:2] - env.target_pos[:2])
            torch.manual_seed(seed + 1)
            act(policy, env, obs, text.format(c=c), ticks)
            row[goal] = {"cube_to_bowl_drop_m": float(d0 - np.linalg.norm(env.body_pos(cube)[:2] - env.target_pos[:2])),
                         "cube_height_m": float(env.body_pos(cube)[2] - h)}
        rows.append(row)
    grasped = [r for r in rows if r["grasped"]]
    toward = [r["place"]["cube_to_bowl_drop_m"] > r["lift"]["cube_to_bowl_drop_m"] + 0.03 for r in grasped]
    return {"layouts": len(seeds), "grasped": len(grasped),
            "place_carries_further_to_bowl_than_lift": sum(toward),
            "rate": sum(toward) / max(1, len(grasped)),
            "mean_drop_m": {g: float(np.mean([r[g]["cube_to_bowl_drop_m"] for r in grasped] or [0.0]))
                            for g in ("lift", "place")},
            "per_layout": rows}


def main() -> int:
    """Probe the suite's checkpoint; write and print the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="vla_privileged", choices=("vla_privileged", "vla"))
    parser.add_argument("--out", default="runs/bench_vla", help="bench_vla.py's work folder")
    parser.add_argument("--steps", type=int, help="the --steps bench_vla.py trained with (default the suite's)")
    parser.add_argument("--layouts", type=int, default=30, help="unseen layouts (seeds) per probe")
    parser.add_argument("--colour-ticks", type=int, default=150)
    parser.add_argument("--goal-ticks", type=int, default=60)
    parser.add_argument("--results", default=str(RESULTS))
    args = parser.parse_args()
    import torch

    from policies.checkpoint import load_policy
    from policies.pipeline import config_hash, load_pipeline
    from policies.train import latest_checkpoint
    from sim.registry import make_env

    torch.set_num_threads(1)
    task, preset, _, steps, _ = SUITES[args.suite]
    overrides = [f"train.steps={args.steps or steps}", "train.num_threads=1", "eval.every=0"]
    cfg = load_pipeline(preset, overrides)
    run = Path(args.out) / args.suite / "train"
    try:
        policy = load_policy(latest_checkpoint(run))
    except FileNotFoundError as e:
        print(f"error: {e}; run `python benchmarks/bench_vla.py --suite {args.suite}` first", file=sys.stderr)
        return 2
    env_opts = dict(cfg.task.env)
    if not any(k.startswith("images.") for k in policy.config.obs_keys):
        env_opts["cameras"] = ()
    env = make_env(task, **env_opts)
    seeds = list(range(100_000, 100_000 + args.layouts))  # unseen: demos use seeds from 0
    report = {
        "benchmark": "bench_vla_probe", "task": task, "preset": preset, "overrides": overrides,
        "config_hash": config_hash(cfg), "checkpoint": str(latest_checkpoint(run)),
        "colour": colour_probe(policy, env, seeds, args.colour_ticks),
        "goal": goal_probe(policy, env, seeds, 200, args.goal_ticks, grasp_height=0.03),
    }
    write_results(report, args.results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
