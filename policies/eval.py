"""Batched policy evaluation in simulation: success rate with a 95% Wilson interval.

Runtime semantics match deployment: every env keeps a history of the last To
observations (the first one repeated at the start), the policy predicts a
chunk of Ta actions, the first Te (`n_action_steps`) are executed, then the
policy predicts again. Envs of one wave run in lockstep in one `sim.vector.VectorEnv` (the
rollout path RL collection uses too), so one batched
`predict_chunk` call serves all of them. An episode counts as a success when
the env's `success` holds for `settle_ticks` ticks after its first one (as
`robot collect` requires of a demo), or when the env terminates on it;
`reached_success` records episodes that touched success at least once.

Usage:
    result = evaluate(policy, "so101_lift", EvalConfig(episodes=50, n_envs=10, videos=2), out_dir="eval/")
"""

from __future__ import annotations

import json
import math
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from policies.eval_config import EvalConfig
from robot import keys
from robot.errors import CheckpointError
from robot.metrics import wilson_interval
from robot.runtime.observers import EpisodeFeed
from sim.vector import VectorEnv, make_vector_env

FALLBACK_MAX_STEPS = 1000
VIDEO_SIZE = (320, 240)
"""(width, height) of evaluation videos: large enough to watch (observation images are often 96x96)."""



def make_envs(task: str, n: int, env_overrides: dict[str, Any] | None = None) -> list[Any]:
    """`n` independent envs of a registered task or `gym:<id>`."""
    return make_vector_env(task, n, **dict(env_overrides or {})).envs


def state_only_overrides(task: str, policy: Any, env_overrides: dict[str, Any] | None) -> dict[str, Any]:
    """Task overrides, plus `cameras=()` for a registry task when the policy reads no images.

    Rendering observation images nobody reads costs most of an arm env's step
    time; videos still render through `env.render(camera)`.
    """
    from sim.registry import GYM_PREFIX

    out = dict(env_overrides or {})
    if not task.startswith(GYM_PREFIX) and "cameras" not in out \
            and not any(keys.is_image_key(k) for k in policy.spec.observations):
        out["cameras"] = ()
    return out


def episode_limit(env: Any, cap: int) -> int:
    """Steps allowed per episode: `cap` if > 0, else the env's own limit (config or gym spec)."""
    if cap > 0:
        return cap
    for owner in (env, getattr(env, "config", None), getattr(env, "cfg", None)):
        for name in ("max_episode_steps", "max_steps", "episode_steps"):
            value = getattr(owner, name, None) if owner is not None else None
            if isinstance(value, int) and value > 0:
                return value
    spec = getattr(env, "spec", None)
    if spec is not None and getattr(spec, "max_episode_steps", None):
        return int(spec.max_episode_steps)
    return FALLBACK_MAX_STEPS


def check_compatible(policy: Any, obs: dict[str, Any], task: str) -> None:
    """Every observation the policy reads exists in the env with the same per-step shape.

    A mismatch is the user's (a checkpoint evaluated on another task): CheckpointError, exit 2 at the CLI.
    """
    for key, spec in policy.spec.observations.items():
        if key not in obs:
            raise CheckpointError(f"the policy reads observation {key!r} but task {task!r} gives "
                             f"{sorted(k for k in obs if k != keys.INSTRUCTION)}; enable it in the task config "
                             "(e.g. --env images=true) or evaluate on the task the policy was trained on")
        shape = tuple(np.asarray(obs[key]).shape)
        if shape != tuple(spec.shape):
            raise CheckpointError(f"observation {key!r}: the policy expects shape {tuple(spec.shape)}, "
                             f"task {task!r} gives {shape}")
    if policy.spec.uses_instruction and keys.INSTRUCTION not in obs:
        raise CheckpointError(f"the policy is language-conditioned but task {task!r} gives no instruction")


def stack_history(history: Sequence[dict[str, Any]], policy: Any) -> dict[str, Any]:
    """The last To batched observations (each key (B, ...)) -> (B, To, ...) arrays of the policy's keys.

    Instructions (a list of B strings per tick) come from the latest tick.
    """
    batch: dict[str, Any] = {key: np.stack([np.asarray(o[key]) for o in history], axis=1)
                             for key in policy.spec.observations}
    if policy.spec.uses_instruction:
        batch[keys.INSTRUCTION] = [str(x) for x in history[-1][keys.INSTRUCTION]]
    return batch


def _row(obs: dict[str, Any], i: int) -> dict[str, Any]:
    """Env i's observation out of a batched one."""
    return {k: v[i] for k, v in obs.items()}


def _write_video(path: Path, frames: list[np.ndarray], fps: float) -> None:
    import imageio.v2 as imageio

    # macro_block_size=1 keeps small frames (96x96) unscaled; libx264 needs even sides
    frames = [f[: f.shape[0] // 2 * 2, : f.shape[1] // 2 * 2] for f in frames]
    imageio.mimwrite(str(path), frames, fps=max(1, round(fps)), macro_block_size=1, codec="libx264",
                     quality=7)


def video_frame(env: Any, camera: str | None, size: tuple[int, int] | None) -> np.ndarray:
    """One video frame of `env`: (H, W, 3) uint8 at `size` = (width, height), or the env's own size.

    Videos are for people: the policy's 96x96 camera is too small to watch, so
    registry tasks render the same camera larger; a gym env without sized
    rendering gives its own frame.
    """
    if size is None:
        return env.render(camera)
    try:
        return env.render(camera, width=int(size[0]), height=int(size[1]))
    except TypeError:  # a render() without width/height (gym adapters)
        return env.render(camera)


def evaluate(policy: Any, task: str, cfg: EvalConfig, out_dir: str | Path | None = None,
             envs: list[Any] | None = None, env_overrides: dict[str, Any] | None = None,
             progress: bool = True, observers: Sequence[Any] = (),
             video_size: tuple[int, int] | None = VIDEO_SIZE) -> dict[str, Any]:
    """Roll out `policy` for `cfg.episodes` episodes, `cfg.n_envs` at a time; returns (and saves) results.

    Returns a JSON-ready dict: success_rate, ci95 [low, high], mean_return,
    mean_max_reward (PushT: coverage), mean_final_reward, mean_length, per-episode
    records, video paths, mean inference time per chunk (ms).
    The global torch RNG is left as it was (training resumes exactly).
    observers: live view (robot.runtime.observers) of env 0 of every wave; given
      any, the waves run in real time at the task's fps so a person can watch.
    video_size: (width, height) of the videos, pixels (None: the env's image size).
    """
    import torch

    from robot.progress import progress as progress_bar

    n_envs = min(cfg.n_envs, cfg.episodes)
    if envs is None:
        envs = make_envs(task, n_envs, state_only_overrides(task, policy, env_overrides))
    if len(envs) < n_envs:
        raise ValueError(f"{len(envs)} envs given for n_envs={n_envs}")
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        (out / "videos").mkdir(parents=True, exist_ok=True) if cfg.videos else out.mkdir(parents=True, exist_ok=True)
    to, te = policy.spec.n_obs_steps, cfg.n_action_steps or policy.spec.n_action_steps
    if not 1 <= te <= policy.spec.horizon:
        raise ValueError(f"eval.n_action_steps={te} must be in [1, horizon={policy.spec.horizon}]")
    fps = float(getattr(getattr(envs[0], "body_spec", None), "fps", 10.0) or 10.0)
    cams = tuple(getattr(getattr(envs[0], "body_spec", None), "cameras", ()) or ()) \
        or tuple(getattr(envs[0], "camera_names", ()) or ())
    camera = cfg.camera or (cams[0] if cams else None)
    steps_kw = {"steps": cfg.inference_steps} if cfg.inference_steps > 0 else {}
    was_training = getattr(policy, "training", False)
    if hasattr(policy, "eval"):
        policy.eval()
    episodes: list[dict[str, Any]] = []
    videos: list[str] = []
    infer_s, n_infer, infer_times = 0.0, 0, []
    t_start = time.perf_counter()
    feed = EpisodeFeed(observers, fps) if observers else None
    bar = progress_bar(total=cfg.episodes, desc=f"eval {task}", unit="ep", disable=not progress)
    with torch.random.fork_rng(devices=[]):
        for first in range(0, cfg.episodes, n_envs):
            k = min(n_envs, cfg.episodes - first)
            # The one batched rollout path (sim/vector.py), also what RL collection steps.
            vec = VectorEnv(envs[:k], settle_ticks=cfg.settle_ticks, stop_on_success=cfg.stop_on_success)
            torch.manual_seed(cfg.seed + first)  # sampling noise reproducible per wave
            seeds = [cfg.seed + first + i for i in range(k)]
            obs, _ = vec.reset(seed=seeds)
            if first == 0:
                check_compatible(policy, _row(obs, 0), task)
            hist: deque = deque([obs] * to, maxlen=to)
            queue: deque = deque()
            rec = [{"episode": first + i, "seed": s, "success": False, "reached_success": False, "return": 0.0,
                    "max_reward": -math.inf, "final_reward": 0.0, "length": 0} for i, s in enumerate(seeds)]
            frames: list[list[np.ndarray] | None] = [
                [video_frame(env, camera, video_size)] if first + i < cfg.videos else None
                for i, env in enumerate(vec.envs)]
            limit = min(episode_limit(env, cfg.max_steps) for env in vec.envs)
            if feed is not None:
                feed.start(_row(obs, 0), task, seeds[0])
            policy.reset()
            for _ in range(limit):
                if vec.done.all():
                    break
                if not queue:
                    # all envs of a wave are in lockstep, so every one needs a chunk now; finished
                    # envs ride along so the batch (and any warm-start state) keeps its size
                    t0 = time.perf_counter()
                    chunk = policy.predict_chunk(stack_history(hist, policy), **steps_kw)
                    chunk = chunk.detach().float().cpu().numpy() if torch.is_tensor(chunk) else np.asarray(chunk)
                    infer_times.append(time.perf_counter() - t0)
                    infer_s += infer_times[-1]
                    n_infer += 1
                    if not np.isfinite(chunk).all():
                        raise FloatingPointError("the policy returned non-finite actions")
                    queue = deque(np.swapaxes(chunk[:k, :te], 0, 1).astype(np.float32))
                live = ~vec.done
                action = queue.popleft()
                obs, rew, term, trunc, _ = vec.step(action)
                hist.append(obs)
                for i in np.flatnonzero(live):
                    r = float(rew[i])
                    rec[i]["return"] += r
                    rec[i]["max_reward"] = max(rec[i]["max_reward"], r)
                    rec[i]["final_reward"] = r
                    rec[i]["length"] += 1
                    # Held for settle_ticks ticks after the first, as collection requires (or the env ended
                    # the episode on it): a cube that touches the goal and drops is not a success.
                    rec[i]["reached_success"] = bool(vec.reached[i])
                    rec[i]["success"] = bool(vec.succeeded[i])
                    if frames[i] is not None:
                        frames[i].append(video_frame(vec.envs[i], camera, video_size))
                    if vec.done[i]:
                        bar.update(1)
                if feed is not None and live[0]:
                    feed.tick(_row(obs, 0), action[0], rec[0]["success"], bool(term[0]), bool(trunc[0]))
                    if vec.done[0]:
                        feed.end(rec[0]["success"], bool(term[0]))
            bar.update(int((~vec.done).sum()))
            if feed is not None and not vec.done[0]:
                feed.end(rec[0]["success"])
            episodes.extend(rec)
            for i, f in enumerate(frames):
                if f is not None and out is not None:
                    path = out / "videos" / f"episode_{first + i:03d}{'_success' if rec[i]['success'] else ''}.mp4"
                    _write_video(path, f, fps)
                    videos.append(str(path))
    bar.close()
    if was_training and hasattr(policy, "train"):
        policy.train()
    n = len(episodes)
    wins = sum(e["success"] for e in episodes)
    lo, hi = wilson_interval(wins, n)
    result = {
        "task": task, "episodes": n, "n_envs": n_envs, "seed": cfg.seed, "successes": wins,
        "success_rate": wins / n, "ci95_low": lo, "ci95_high": hi, "settle_ticks": cfg.settle_ticks,
        "reached_success": sum(e["reached_success"] for e in episodes),
        "mean_return": float(np.mean([e["return"] for e in episodes])),
        "mean_max_reward": float(np.mean([e["max_reward"] for e in episodes])),
        "mean_final_reward": float(np.mean([e["final_reward"] for e in episodes])),
        "mean_length": float(np.mean([e["length"] for e in episodes])),
        "inference_ms_per_chunk": 1000.0 * infer_s / max(1, n_infer),
        "inference_ms_p50": 1000.0 * float(np.median(infer_times)) if infer_times else 0.0,
        "wall_s": time.perf_counter() - t_start,
        "n_obs_steps": to, "n_action_steps": te, "videos": videos, "per_episode": episodes,
    }
    if out is not None:
        (out / "eval.json").write_text(json.dumps(result, indent=1))
    return result
