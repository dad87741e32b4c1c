"""One config-driven trainer for every policy family (diffusion, flow, VLA).

AdamW, linear warm-up + cosine decay, gradient clipping, an EMA copy of the
weights (used for evaluation and saved as the policy), bf16 autocast on CUDA
only, DDP through `policies.ddp`, seeded and exactly resumable.

Run folder (`--out runs/<name>`): config.yaml (the PipelineConfig of the run),
the CSV logs of `policies/train_log.py` (metrics.csv, eval.csv, val.csv), and the
checkpoints and `latest` marker of `policies/train_state.py`, which also holds
the state I/O (weights, optimizer, EMA, RNG states, step). This module is the
loop that composes them; its config is `policies/train_config.py`.

Why exact resume holds: the learning rate is a pure function of the step; the
batch at step s is a pure function of (seed, s) (`StepBatchSampler`); the
optimizer, EMA and every RNG state (torch, CUDA, numpy, python) are restored;
and the DataLoader gets its own generator so creating it draws nothing from
the global torch RNG. Multi-process runs resume exactly on rank 0; other
ranks reseed from (seed, rank, step).
"""

from __future__ import annotations

import copy
import math
import random
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler

from policies.ddp import DistInfo, all_reduce_mean, barrier, unwrap_ddp, wrap_for_training
from policies.train_config import TrainConfig
from policies.train_log import ExternalLoggers, MetricsLog
from policies.train_state import (
    CHECKPOINT_DIR,
    LATEST,
    latest_checkpoint,
    load_module_state,
    load_optimizer_state,
    module_state,
    optimizer_state,
    read_train_state,
    rng_state,
    seed_everything,
    set_rng_state,
    trainable_state,
    write_checkpoint,
)
from robot.errors import UserError

# Names callers imported from here before the state I/O moved out; the home of each is train_state / train_log.
__all__ = ["EMA", "CHECKPOINT_DIR", "LATEST", "MetricsLog", "StepBatchSampler", "Trainer", "latest_checkpoint",
           "lr_at", "seed_everything", "to_device", "trainable_state"]


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Learning rate for optimizer step `step` (0-based): linear warm-up, then cosine to lr*min_lr_ratio."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    span = max(1, cfg.steps - cfg.warmup_steps)
    progress = min(1.0, (step - cfg.warmup_steps) / span)
    floor = cfg.lr * cfg.min_lr_ratio
    return floor + (cfg.lr - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


class EMA:
    """Exponential moving average of a module's trainable parameters (buffers copied).

    decay(step) = min(max_decay, 1 - (1 + step)^-power): small early, so the
    average follows the fast-moving initial weights, then approaches max_decay.
    """

    def __init__(self, module: nn.Module, max_decay: float, power: float) -> None:
        self.module = copy.deepcopy(module).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.max_decay, self.power = max_decay, power

    def decay(self, step: int) -> float:
        """EMA decay used after optimizer step `step` (1-based)."""
        return min(self.max_decay, 1.0 - (1.0 + step) ** -self.power)

    @torch.no_grad()
    def update(self, module: nn.Module, step: int) -> float:
        """Blend `module`'s weights in; returns the decay used."""
        d = self.decay(step)
        src = dict(module.named_parameters())
        for name, p in self.module.named_parameters():
            if src[name].requires_grad:
                p.lerp_(src[name].detach(), 1.0 - d)
        src_buffers = dict(module.named_buffers())
        for name, b in self.module.named_buffers():
            b.copy_(src_buffers[name])
        return d


class StepBatchSampler(Sampler[list[int]]):
    """Batches as a pure function of (seed, step): epoch permutations laid end to end.

    The global batch of step s covers sample positions [s*B*W, (s+1)*B*W) of
    the stream perm(seed, 0) ++ perm(seed, 1) ++ ...; rank r takes the r-th
    slice of B. Starting at any step reproduces the same batches, which makes
    resume exact and DDP ranks disjoint.
    """

    def __init__(self, n: int, batch_size: int, seed: int, start_step: int, total_steps: int,
                 rank: int = 0, world_size: int = 1) -> None:
        if n < 1:
            raise UserError("the dataset has no training windows; record more episodes or lower val_ratio")
        self.n, self.b, self.seed = n, batch_size, seed
        self.start, self.total, self.rank, self.world = start_step, total_steps, rank, world_size
        self._perms: dict[int, torch.Tensor] = {}

    def _perm(self, epoch: int) -> torch.Tensor:
        if epoch not in self._perms:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._perms = {epoch: torch.randperm(self.n, generator=g)}  # keep one epoch cached
        return self._perms[epoch]

    def batch(self, step: int) -> list[int]:
        """Dataset indices of this rank's batch at `step`."""
        first = (step * self.world + self.rank) * self.b
        return [int(self._perm(p // self.n)[p % self.n]) for p in range(first, first + self.b)]

    def __iter__(self) -> Iterator[list[int]]:
        for step in range(self.start, self.total):
            yield self.batch(step)

    def __len__(self) -> int:
        return max(0, self.total - self.start)


def _worker_init(worker_id: int) -> None:
    """Seed numpy and python in each DataLoader worker from torch's per-worker seed."""
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """Move tensors of a collated batch to `device`; lists (instructions) stay as they are."""
    return {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}


class Trainer:
    """Trains `policy` on `dataset`; everything about optimization, state and logging lives here.

    policy: a GenerativePolicy (`compute_loss(batch) -> (loss, metrics)`).
    dataset: a torch Dataset whose items collate into the sampler batch contract.
    evaluate: optional `fn(ema_policy) -> dict` with at least `success_rate`; run
        on rank 0 every `eval_every` steps and at the end.
    save_policy: `fn(policy, dir)` writing the policy checkpoint (the models
        engineer's `policies.checkpoint.save_policy`).
    val_dataset: held-out episodes; the EMA policy's mean loss over up to
        `val_batches` fixed batches goes to val.csv at every checkpoint (rank 0).
    """

    def __init__(self, policy: nn.Module, dataset: Dataset, cfg: TrainConfig, out_dir: str | Path, *,
                 save_policy: Callable[[nn.Module, Path], None], num_workers: int = 0,
                 evaluate: Callable[[nn.Module], dict] | None = None, eval_every: int = 0,
                 device: torch.device | None = None, dist: DistInfo | None = None,
                 run_config: dict[str, Any] | None = None, progress: bool = True,
                 val_dataset: Dataset | None = None, val_batches: int = 8) -> None:
        self.cfg, self.out = cfg, Path(out_dir)
        self.val_dataset, self.val_batches = val_dataset, val_batches
        self.dist = dist or DistInfo()
        self.device = device or torch.device("cpu")
        self.dataset, self.num_workers = dataset, num_workers
        self.save_policy_fn, self.evaluate_fn, self.eval_every = save_policy, evaluate, eval_every
        self.run_config, self.progress = run_config or {}, progress
        self.policy = policy.to(self.device)
        self.model = wrap_for_training(self.policy, self.dist, self.device, cfg.find_unused_parameters)
        params = [p for p in self.policy.parameters() if p.requires_grad]
        if not params:
            raise ValueError("the policy has no trainable parameters")
        self.params = params
        self.optimizer = torch.optim.AdamW(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
        self.ema = EMA(self.policy, cfg.ema_decay, cfg.ema_power)
        self.step = 0
        self.losses: list[float] = []
        self.amp = cfg.amp and self.device.type == "cuda"
        seed_everything(cfg.seed + self.dist.rank)
        self._loggers = ExternalLoggers(self.out, False, False, {})  # the real ones open in fit()

    # ---- checkpoints (the file layout lives in policies/train_state.py) -----------
    def save_checkpoint(self) -> Path:
        """Write the EMA policy and the full training state for this step (rank 0 only)."""
        tensors = {**module_state("model/", self.policy), **module_state("ema/", self.ema.module, self.policy)}
        opt_tensors, opt_meta = optimizer_state(self.optimizer)
        rng_tensors, rng_meta = rng_state()
        meta = {"step": self.step, "world_size": self.dist.world_size, **opt_meta, **rng_meta,
                "losses": self.losses, "config": self.run_config}
        return write_checkpoint(self.out, self.step, lambda d: self.save_policy_fn(self.ema.module, d),
                                {**tensors, **opt_tensors, **rng_tensors}, meta, self.cfg.keep_checkpoints)

    def load_checkpoint(self, ckpt: str | Path) -> None:
        """Restore weights, optimizer, EMA, RNG states and step from a checkpoint folder."""
        ckpt = Path(ckpt)
        tensors, meta = read_train_state(ckpt)
        load_module_state("model/", self.policy, self.policy, tensors, ckpt)
        load_module_state("ema/", self.ema.module, self.policy, tensors, ckpt)
        load_optimizer_state(self.optimizer, tensors, meta)
        self.step = int(meta["step"])
        self.losses = [float(x) for x in meta["losses"]]
        if self.dist.rank == 0:
            set_rng_state(tensors, meta)
        else:
            seed_everything(self.cfg.seed * 7919 + self.dist.rank * 104_729 + self.step)

    # ---- training ----------------------------------------------------------------
    def _loader(self) -> DataLoader:
        sampler = StepBatchSampler(len(self.dataset), self.cfg.batch_size, self.cfg.seed, self.step,
                                   self.cfg.steps, self.dist.rank, self.dist.world_size)
        # Own generator: creating the loader iterator must not consume the global torch RNG.
        gen = torch.Generator().manual_seed(self.cfg.seed * 31 + self.step * 7 + self.dist.rank)
        return DataLoader(self.dataset, batch_sampler=sampler, num_workers=self.num_workers,
                          worker_init_fn=_worker_init, generator=gen,
                          pin_memory=self.device.type == "cuda",
                          persistent_workers=False)

    def _train_step(self, batch: dict[str, Any]) -> dict[str, float]:
        cfg = self.cfg
        lr = lr_at(self.step, cfg)
        for g in self.optimizer.param_groups:
            g["lr"] = lr
        self.policy.train()
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            loss, metrics = self.model(batch)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss is {loss.item()} at step {self.step}; lower train.lr or check the data "
                                     "(robot data check)")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        max_norm = cfg.grad_clip if cfg.grad_clip > 0 else float("inf")
        grad_norm = float(torch.nn.utils.clip_grad_norm_(self.params, max_norm))
        self.optimizer.step()
        decay = self.ema.update(self.policy, self.step + 1)
        out = {"loss": float(loss.detach()), "lr": lr, "grad_norm": grad_norm, "ema_decay": decay}
        out.update({k: float(v) for k, v in (metrics or {}).items() if k not in out})
        return out

    @torch.no_grad()
    def validation_loss(self) -> float:
        """Mean loss of the EMA policy over the first `val_batches` batches of the val set.

        Runs in eval mode (no augmentation) inside fork_rng, so the training RNG stream is untouched.
        """
        loader = DataLoader(self.val_dataset, batch_size=self.cfg.batch_size, shuffle=False)
        total, n = 0.0, 0
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            torch.manual_seed(self.cfg.seed)
            for i, batch in enumerate(loader):
                if i >= self.val_batches:
                    break
                loss, _ = self.ema.module.compute_loss(to_device(batch, self.device))
                total, n = total + float(loss), n + 1
        return total / max(1, n)

    def run_eval(self, eval_log: MetricsLog) -> dict[str, Any]:
        """Evaluate the EMA policy (rank 0) and append a row to eval.csv."""
        result = self.evaluate_fn(self.ema.module)
        row = {"step": self.step, **{k: v for k, v in result.items() if isinstance(v, (int, float))}}
        eval_log.append(row)
        self._loggers.log(row, "eval")
        return result

    def fit(self, until: int | None = None) -> dict[str, Any]:
        """Train from `self.step` to `cfg.steps` (or stop after step `until`, checkpointed).

        Returns a summary: step, final loss, minutes, steps run, last evaluation.
        """
        from robot.progress import progress

        cfg, main = self.cfg, self.dist.is_main
        if self.dist.distributed and unwrap_ddp(self.model) is self.model:  # a second fit() call
            self.model = wrap_for_training(self.policy, self.dist, self.device, cfg.find_unused_parameters)
        resume_step = self.step if self.step > 0 else None
        if main:
            self.out.mkdir(parents=True, exist_ok=True)
            metrics_log = MetricsLog(self.out / "metrics.csv", resume_step)
            eval_log = MetricsLog(self.out / "eval.csv", resume_step)
            val_log = MetricsLog(self.out / "val.csv", resume_step)
            self._loggers = ExternalLoggers(self.out, cfg.tensorboard, cfg.wandb, self.run_config)
        barrier(self.dist)
        bar = progress(total=cfg.steps, initial=self.step, disable=not (main and self.progress), desc="train",
                       unit="step")
        acc: dict[str, float] = {}
        n_acc, data_time, step_time, last_eval = 0, 0.0, 0.0, None
        t_start, steps_done = time.perf_counter(), 0
        t_data = time.perf_counter()
        for batch in self._loader():
            t0 = time.perf_counter()
            data_time += t0 - t_data
            m = self._train_step(to_device(batch, self.device))
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)
            step_time += time.perf_counter() - t0
            self.step += 1
            steps_done += 1
            self.losses.append(m["loss"])
            for k, v in m.items():
                acc[k] = acc.get(k, 0.0) + v
            n_acc += 1
            bar.update(1)
            if self.step % cfg.log_every == 0 or self.step == cfg.steps:
                row = {k: v / n_acc for k, v in acc.items()}
                row["loss"] = all_reduce_mean(row["loss"], self.dist, self.device)
                row.update(step=self.step, data_time_s=data_time / n_acc, step_time_s=step_time / n_acc,
                           samples_per_s=n_acc * cfg.batch_size * self.dist.world_size / max(1e-9, data_time + step_time))
                if main:
                    metrics_log.append({"step": self.step, **{k: v for k, v in row.items() if k != "step"}})
                    self._loggers.log(row, "train")
                    bar.set_postfix(loss=f"{row['loss']:.4f}", lr=f"{row['lr']:.2e}")
                acc, n_acc, data_time, step_time = {}, 0, 0.0, 0.0
            at_end = self.step == cfg.steps
            stop = until is not None and self.step >= until
            if self.eval_every and (self.step % self.eval_every == 0 or at_end):
                if main and self.evaluate_fn:  # rank 0 evaluates; every rank meets at the barrier
                    last_eval = self.run_eval(eval_log)
                    bar.write(f"step {self.step}: success {last_eval.get('success_rate', float('nan')):.2f}",
                              file=sys.stderr)
                barrier(self.dist)
            if self.step % cfg.checkpoint_every == 0 or at_end or stop:
                if main:
                    if self.val_dataset is not None and len(self.val_dataset):
                        val_log.append({"step": self.step, "val_loss": self.validation_loss()})
                    self.save_checkpoint()
                barrier(self.dist)
            if stop:
                break
            t_data = time.perf_counter()
        bar.close()
        self._loggers.close()
        minutes = (time.perf_counter() - t_start) / 60.0
        # Free DDP's reducer while every rank still holds the process group: freed after a peer
        # has left, the gloo group's destructor waits forever on its threads (a hang seen in test_ddp).
        self.model = unwrap_ddp(self.model)
        return {"step": self.step, "final_loss": self.losses[-1] if self.losses else float("nan"),
                "train_minutes": minutes, "steps_this_run": steps_done, "last_eval": last_eval}

