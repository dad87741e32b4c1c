"""The fine-tuning run: checks, collection waves, learning curves, checkpoints, resume, final table.

    result = finetune(cfg, base_checkpoint, "peg_insert", "runs/peg_rl")

Run folder: finetune.json (method, task, base, config), curves.csv (base, train
and eval rows: env steps, wall clock, success, return), learning_curve.png,
checkpoints/step_XXXXXXX/ (the fine-tuned policy, loadable by `robot eval`,
plus train_state.safetensors/json), `latest` naming the newest, result.json.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from policies.checkpoint import load_policy, save_policy
from policies.eval import episode_limit, evaluate
from policies.finetune.config import FinetuneConfig
from policies.finetune.dsrl import DSRLSAC
from policies.finetune.ppo import ResidualPPO
from policies.finetune.rollout import Timing, privileged_dim
from policies.finetune.wrappers import NoiseSteeredPolicy, ResidualPolicy
from policies.pipeline import EvalConfig
from robot.config import to_dict
from robot.errors import UserError
from robot.keys import is_image_key
from robot.progress import progress as progress_bar
from sim.vector import make_vector_env

RUN_META = "finetune.json"
CURVES = "curves.csv"
STATE_T, STATE_J = "train_state.safetensors", "train_state.json"
COLUMNS = ("kind", "env_steps", "wall_s", "success_rate", "ci95_low", "ci95_high", "mean_return")


class FinetuneInputError(UserError, ValueError):
    """A user mistake found before training (the CLI prints it and exits 2)."""


def check_inputs(base: Any, method: str, task: str, out: Path, resume: bool, env_overrides: dict) -> None:
    """Everything that can be wrong before any training starts, each with a clear message."""
    if method not in ("residual", "noise"):
        raise FinetuneInputError(f"unknown method {method!r}; use residual or noise")
    if method == "noise" and not (hasattr(base, "head") and hasattr(base.head, "sample")):
        raise FinetuneInputError("noise steering needs a generative (diffusion / flow / vla) checkpoint; "
                                 f"this one is {type(base).__name__}: use --method residual")
    if "finetune" in getattr(base.spec, "extra", {}):
        raise FinetuneInputError("the checkpoint is already a fine-tuned policy; pass its base checkpoint "
                                 "(the base/ folder inside it) or the original `robot train` run")
    from sim.registry import make_env

    try:
        env = make_env(task, **env_overrides)
    except KeyError as e:
        raise FinetuneInputError(str(e).strip("'\"")) from None
    try:
        da = int(np.prod(env.body_spec.action.shape))
        if da != base.spec.action_dim:
            raise FinetuneInputError(f"task {task!r} has {da} action dims but the checkpoint's policy outputs "
                                     f"{base.spec.action_dim}; fine-tune on the task the policy was trained on")
        obs, _ = env.reset(seed=0)
        for k, s in base.spec.observations.items():
            if k not in obs or tuple(np.shape(obs[k])) != tuple(s.shape):
                got = tuple(np.shape(obs[k])) if k in obs else "nothing"
                raise FinetuneInputError(f"the policy reads {k!r} {tuple(s.shape)} but task {task!r} gives {got}")
    finally:
        env.close()
    meta = out / RUN_META
    if resume and meta.is_file():
        prev = json.loads(meta.read_text())
        if prev.get("method") != method:
            raise FinetuneInputError(f"{out} is a --method {prev.get('method')} run; resume it with that method "
                                     "or pass a new --out")
        if prev.get("task") != task:
            raise FinetuneInputError(f"{out} fine-tunes task {prev.get('task')!r}, not {task!r}")
    elif not resume and (out / "latest").is_file():
        raise FinetuneInputError(f"{out} already holds a fine-tuning run; pass --resume or a new --out")


def _flat_optim(opts: dict[str, torch.optim.Optimizer]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors: dict[str, torch.Tensor] = {}
    meta: dict[str, Any] = {}
    for name, opt in opts.items():
        sd = opt.state_dict()
        scalars: dict[str, dict[str, Any]] = {}
        for idx, st in sd["state"].items():
            for k, v in st.items():
                if torch.is_tensor(v):
                    tensors[f"optim/{name}/{idx}/{k}"] = v.detach().cpu().contiguous().clone()
                else:
                    scalars.setdefault(str(idx), {})[k] = v
        meta[name] = {"param_groups": sd["param_groups"], "scalars": scalars, "ids": sorted(sd["state"])}
    return tensors, meta


def _load_optim(opts: dict[str, torch.optim.Optimizer], tensors: dict[str, torch.Tensor], meta: dict) -> None:
    for name, opt in opts.items():
        m = meta[name]
        state = {}
        for idx in m["ids"]:
            st = {k.rsplit("/", 1)[1]: v for k, v in tensors.items() if k.startswith(f"optim/{name}/{idx}/")}
            st.update(m["scalars"].get(str(idx), {}))
            state[idx] = st
        opt.load_state_dict({"state": state, "param_groups": m["param_groups"]})


class Finetuner:
    """Holds the wrapper, the learner and the run folder; `train()` runs to cfg.env_steps."""

    def __init__(self, cfg: FinetuneConfig, base_ckpt: str | Path, task: str, out: str | Path,
                 resume: bool = False, progress: bool = True) -> None:
        self.cfg, self.task, self.out, self.progress = cfg, task, Path(out), progress
        self.base_ckpt = Path(base_ckpt)
        base = load_policy(self.base_ckpt)
        env_over = dict(cfg.env)
        if not any(is_image_key(k) for k in base.spec.observations) and "cameras" not in env_over \
                and not task.startswith("gym:"):
            env_over["cameras"] = ()  # nobody reads images: do not render them
        self.env_over = env_over
        check_inputs(base, cfg.method, task, self.out, resume, env_over)
        torch.manual_seed(cfg.seed)
        self.rng = np.random.default_rng(cfg.seed)
        self.vec = make_vector_env(task, cfg.n_envs, settle_ticks=cfg.settle_ticks, stop_on_success=True, **env_over)
        self.vec.reset(seed=cfg.seed)
        extra = privileged_dim(self.vec, cfg.privileged_critic)
        if cfg.method == "residual":
            self.policy: Any = ResidualPolicy(base, cfg.residual)
            self.learner: Any = ResidualPPO(self.policy, cfg.ppo, extra, cfg.residual.progressive_steps,
                                            cfg.privileged_critic, cfg.absorbing_success)
        else:
            self.policy = NoiseSteeredPolicy(base, cfg.noise)
            self.learner = DSRLSAC(self.policy, cfg.sac, extra, cfg.privileged_critic, cfg.absorbing_success)
        self.limit = episode_limit(self.vec.envs[0], cfg.max_steps)
        self.env_steps, self.waves, self.wall_s, self.next_eval, self.next_ckpt = 0, 0, 0.0, 0, cfg.checkpoint_every
        self.timing = Timing()
        self.out.mkdir(parents=True, exist_ok=True)
        if resume and (self.out / "latest").is_file():
            self._load(self.out / (self.out / "latest").read_text().strip())
        else:
            (self.out / RUN_META).write_text(json.dumps({
                "method": cfg.method, "task": task, "base_checkpoint": str(self.base_ckpt),
                "config": to_dict(cfg)}, indent=1))
            _truncate_curves(self.out / CURVES, 0)

    # -- evaluation and curves ------------------------------------------------------------
    def evaluate(self, policy: Any, episodes: int) -> dict[str, Any]:
        ev = EvalConfig(episodes=episodes, n_envs=min(self.cfg.n_envs, episodes), seed=self.cfg.eval_seed,
                        max_steps=self.cfg.max_steps, settle_ticks=self.cfg.settle_ticks)
        self.timing.tic("eval")
        try:
            return evaluate(policy, self.task, ev, envs=self.vec.envs, progress=False)
        finally:
            self.timing.toc("eval")

    def _row(self, kind: str, succ: int, n: int, ret: float) -> None:
        from robot.metrics import wilson_interval

        lo, hi = wilson_interval(succ, n)
        row = [kind, self.env_steps, round(self.wall_s, 3), succ / max(1, n), lo, hi, ret]
        path = self.out / CURVES
        new = not path.is_file()
        with path.open("a", newline="") as f:
            w = csv.writer(f)
            if new:
                w.writerow(COLUMNS)
            w.writerow(row)

    # -- checkpoints ----------------------------------------------------------------------
    def save(self) -> Path:
        final = self.out / "checkpoints" / f"step_{self.env_steps:07d}"
        tmp = final.with_name(final.name + ".tmp")
        if tmp.exists():
            shutil.rmtree(tmp)
        save_policy(self.policy, tmp)
        tensors, opt_meta = _flat_optim(self.learner.optimizers)
        for k, v in self.learner.state_dict().items():
            tensors[f"learner/{k}"] = v.detach().cpu().contiguous().clone()
        meta: dict[str, Any] = {"env_steps": self.env_steps, "waves": self.waves, "wall_s": self.wall_s,
                                "next_eval": self.next_eval, "next_ckpt": self.next_ckpt, "optim": opt_meta,
                                "timing": self.timing.as_dict(), "method": self.cfg.method,
                                "rng_numpy": self.rng.bit_generator.state}
        tensors["rng/torch"] = torch.get_rng_state()
        if isinstance(self.learner, DSRLSAC):
            rep = self.learner.replay
            tensors.update({f"replay/{k}": torch.from_numpy(v[: rep.n].copy()) for k, v in rep.data.items()})
            meta.update(replay_n=rep.n, replay_i=rep.i, rl_steps=self.learner.rl_steps)
        save_file(tensors, str(tmp / STATE_T))
        (tmp / STATE_J).write_text(json.dumps(meta, indent=1, default=int))
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        (self.out / "latest.tmp").write_text(f"checkpoints/{final.name}\n")
        os.replace(self.out / "latest.tmp", self.out / "latest")
        return final

    def _load(self, ckpt: Path) -> None:
        loaded = load_policy(ckpt)
        self.policy.load_state_dict({k: v for k, v in loaded.state_dict().items()}, strict=True)
        tensors = load_file(str(ckpt / STATE_T))
        meta = json.loads((ckpt / STATE_J).read_text())
        self.learner.load_state_dict({k[len("learner/"):]: v for k, v in tensors.items() if k.startswith("learner/")})
        _load_optim(self.learner.optimizers, tensors, meta["optim"])
        self.env_steps, self.waves, self.wall_s = meta["env_steps"], meta["waves"], meta["wall_s"]
        self.next_eval, self.next_ckpt = meta["next_eval"], meta["next_ckpt"]
        for k, v in meta["timing"].items():
            setattr(self.timing, k, v)
        self.rng.bit_generator.state = meta["rng_numpy"]
        torch.set_rng_state(tensors["rng/torch"])
        if isinstance(self.learner, DSRLSAC):
            rep = self.learner.replay
            for k in rep.data:
                rep.data[k][: meta["replay_n"]] = tensors[f"replay/{k}"].numpy()
            rep.n, rep.i, self.learner.rl_steps = meta["replay_n"], meta["replay_i"], meta["rl_steps"]
        _truncate_curves(self.out / CURVES, self.env_steps)

    # -- the loop -------------------------------------------------------------------------
    def train(self, stop_after_steps: int | None = None) -> dict[str, Any]:
        """Train to cfg.env_steps (or stop once `stop_after_steps` more have run: tests of resume)."""
        cfg = self.cfg
        bar = progress_bar(total=cfg.env_steps, initial=self.env_steps, desc="finetune", unit="step",
                           disable=not self.progress)
        start_steps = self.env_steps
        if self.env_steps == 0 and self.next_eval == 0:
            # the reference line: the base policy as it is, then the wrapper before any update
            # (the residual starts at the base exactly; the noise actor starts at w ~ 0, not w ~ N(0, I))
            for kind, pol in (("base", self.policy.base), ("eval", self.policy)):
                res = self.evaluate(pol, cfg.eval_episodes)
                self._row(kind, res["successes"], res["episodes"], res["mean_return"])
            self.next_eval = cfg.eval_every
        t0 = time.perf_counter() - self.wall_s
        while self.env_steps < cfg.env_steps:
            if stop_after_steps is not None and self.env_steps - start_steps >= stop_after_steps:
                break
            seeds = [cfg.seed * 1_000_003 + self.waves * cfg.n_envs + i for i in range(cfg.n_envs)]
            if isinstance(self.learner, ResidualPPO):
                flat, stats = self.learner.collect(self.vec, seeds, self.limit, self.env_steps, self.rng, self.timing)
                info = self.learner.update(flat, self.timing)
            else:
                stats = self.learner.collect(self.vec, seeds, self.limit, self.rng, self.timing)
                info = dict(self.learner.last)
            self.waves += 1
            self.env_steps += stats["env_steps"]
            self.wall_s = time.perf_counter() - t0
            self._row("train", stats["successes"], stats["episodes"], stats["mean_return"])
            bar.set_postfix(success=f"{stats['successes']}/{stats['episodes']}", ret=f"{stats['mean_return']:.1f}")
            bar.update(stats["env_steps"])
            if self.env_steps >= self.next_eval or self.env_steps >= cfg.env_steps:
                res = self.evaluate(self.policy, cfg.eval_episodes)
                self._row("eval", res["successes"], res["episodes"], res["mean_return"])
                self.next_eval = self.env_steps + cfg.eval_every
            if self.env_steps >= self.next_ckpt:
                self.save()
                self.next_ckpt = self.env_steps + cfg.checkpoint_every
            self.last_info = info
        bar.close()
        self.wall_s = time.perf_counter() - t0
        self.save()
        return {"env_steps": self.env_steps, "wall_s": self.wall_s, "timing": self.timing.as_dict()}

    def final_table(self, episodes: int | None = None) -> dict[str, Any]:
        """Base vs fine-tuned success on the same held-out seeds, with Wilson 95% intervals."""
        n = episodes or self.cfg.final_episodes
        base = self.evaluate(self.policy.base, n)
        tuned = self.evaluate(self.policy, n)
        keep = ("successes", "episodes", "success_rate", "ci95_low", "ci95_high", "mean_return")
        result = {"task": self.task, "method": self.cfg.method, "env_steps": self.env_steps, "wall_s": self.wall_s,
                  "base": {k: base[k] for k in keep}, "finetuned": {k: tuned[k] for k in keep},
                  "timing": self.timing.as_dict(), "checkpoint": (self.out / "latest").read_text().strip()}
        (self.out / "result.json").write_text(json.dumps(result, indent=1))
        return result

    def close(self) -> None:
        self.vec.close()


def _truncate_curves(path: Path, env_steps: int) -> None:
    """Drop rows past `env_steps` (a resumed run rewrites them); 0 starts a fresh file."""
    if env_steps == 0 or not path.is_file():
        path.unlink(missing_ok=True)
        return
    with path.open() as f:
        rows = list(csv.reader(f))
    kept = [rows[0]] + [r for r in rows[1:] if int(r[1]) <= env_steps]
    with path.open("w", newline="") as f:
        csv.writer(f).writerows(kept)


def plot_curves(run: str | Path, out_png: str | Path | None = None) -> Path:
    """Success and return vs env steps and vs wall clock; the base policy's success as a dashed line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt


    run = Path(run)
    rows = []
    with (run / CURVES).open() as f:
        for r in csv.DictReader(f):
            rows.append({k: (v if k == "kind" else float(v)) for k, v in r.items()})
    ev = [r for r in rows if r["kind"] == "eval"]
    tr = [r for r in rows if r["kind"] == "train"]
    base = next((r for r in rows if r["kind"] == "base"), ev[0] if ev else None)
    fig, axes = plt.subplots(2, 2, figsize=(10, 7))
    for col, x in enumerate(("env_steps", "wall_s")):
        ax = axes[0][col]
        if ev:
            xs = [r[x] for r in ev]
            ax.plot(xs, [r["success_rate"] for r in ev], "o-", label="fine-tuned (eval)")
            ax.fill_between(xs, [r["ci95_low"] for r in ev], [r["ci95_high"] for r in ev], alpha=0.2)
        if base is not None:
            ax.axhline(base["success_rate"], ls="--", color="gray", label="base policy")
        if tr:
            ax.plot([r[x] for r in tr], [r["success_rate"] for r in tr], ".", alpha=0.4, label="training waves")
        ax.set_ylim(-0.02, 1.02)
        ax.set_ylabel("success rate")
        ax.legend(fontsize=8)
        ax2 = axes[1][col]
        if ev:
            ax2.plot([r[x] for r in ev], [r["mean_return"] for r in ev], "o-", label="eval")
        if base is not None:
            ax2.axhline(base["mean_return"], ls="--", color="gray", label="base policy")
        if tr:
            ax2.plot([r[x] for r in tr], [r["mean_return"] for r in tr], ".", alpha=0.4, label="training waves")
        ax2.set_xlabel("env steps" if x == "env_steps" else "wall clock (s)")
        ax2.set_ylabel("mean return")
        ax2.legend(fontsize=8)
    fig.tight_layout()
    png = Path(out_png) if out_png else run / "learning_curve.png"
    fig.savefig(png, dpi=100)
    plt.close(fig)
    return png
