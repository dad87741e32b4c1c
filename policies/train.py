"""One config-driven trainer for every policy family (diffusion, flow, VLA).

AdamW, linear warm-up + cosine decay, gradient clipping, an EMA copy of the
weights (used for evaluation and saved as the policy), bf16 autocast on CUDA
only, DDP through `policies.ddp`, seeded and exactly resumable.

Run folder (`--out runs/<name>`):
    config.yaml                  the PipelineConfig of the run
    metrics.csv                  step, loss, lr, grad_norm, ema_decay, data/step time, model metrics
    eval.csv                     step, success rate (+95% CI), mean reward, during training
    val.csv                      step, EMA policy loss on held-out episodes (data.val_ratio > 0)
    checkpoints/step_XXXXXXX/    model.safetensors + policy.json (EMA policy, `save_policy`)
                                 train_state.safetensors + train_state.json (raw weights,
                                 optimizer, EMA, RNG states, step)
    latest                       text: the newest complete checkpoint folder

Why exact resume holds: the learning rate is a pure function of the step; the
batch at step s is a pure function of (seed, s) (`StepBatchSampler`); the
optimizer, EMA and every RNG state (torch, CUDA, numpy, python) are restored;
and the DataLoader gets its own generator so creating it draws nothing from
the global torch RNG. Multi-process runs resume exactly on rank 0; other
ranks reseed from (seed, rank, step).
"""

from __future__ import annotations

import copy
import csv
import json
import math
import os
import random
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler

from policies.ddp import DistInfo, all_reduce_mean, barrier, unwrap_ddp, wrap_for_training
from policies.pipeline import TrainConfig
from robot.errors import CheckpointError, UserError

CHECKPOINT_DIR = "checkpoints"
LATEST = "latest"
STATE_TENSORS = "train_state.safetensors"
STATE_JSON = "train_state.json"


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (CPU and CUDA) RNGs."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Learning rate for optimizer step `step` (0-based): linear warm-up, then cosine to lr*min_lr_ratio."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    span = max(1, cfg.steps - cfg.warmup_steps)
    progress = min(1.0, (step - cfg.warmup_steps) / span)
    floor = cfg.lr * cfg.min_lr_ratio
    return floor + (cfg.lr - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def trainable_state(module: nn.Module, like: nn.Module | None = None) -> dict[str, torch.Tensor]:
    """Parameters that train plus all buffers: what changes during training (frozen encoders excluded).

    `like`: take the trainable names from this module (the EMA copy has requires_grad off).
    """
    trains = {n for n, p in (like or module).named_parameters() if p.requires_grad}
    out = {n: p for n, p in module.named_parameters() if n in trains}
    out.update(dict(module.named_buffers()))
    return out


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


class MetricsLog:
    """Append-only CSV with a fixed header; on resume, rows past the resumed step are dropped."""

    def __init__(self, path: Path, resume_step: int | None) -> None:
        self.path, self.fields = path, None
        if resume_step is not None and path.is_file():
            with path.open() as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) <= resume_step]
            if rows:
                self.fields = list(rows[0])
                self._write(rows, "w")
            else:
                path.unlink()
        elif path.is_file():
            path.unlink()

    def _write(self, rows: list[dict], mode: str) -> None:
        with self.path.open(mode, newline="") as f:
            w = csv.DictWriter(f, fieldnames=self.fields, extrasaction="ignore")
            if mode == "w":
                w.writeheader()
            w.writerows(rows)

    def append(self, row: dict[str, Any]) -> None:
        """Write one row; the first row fixes the columns."""
        if self.fields is None:
            self.fields = list(row)
            self._write([row], "w")
        else:
            self._write([row], "a")


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
        self._writers: list[Any] = []

    # ---- checkpoints -------------------------------------------------------------
    def save_checkpoint(self) -> Path:
        """Write the EMA policy and the full training state for this step (rank 0 only)."""
        final = self.out / CHECKPOINT_DIR / f"step_{self.step:07d}"
        tmp = final.with_name(final.name + ".tmp")
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        self.save_policy_fn(self.ema.module, tmp)
        tensors, meta = self._state_dict()
        save_file(tensors, str(tmp / STATE_TENSORS))
        (tmp / STATE_JSON).write_text(json.dumps(meta, indent=1))
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        latest_tmp = self.out / (LATEST + ".tmp")
        latest_tmp.write_text(f"{CHECKPOINT_DIR}/{final.name}\n")
        os.replace(latest_tmp, self.out / LATEST)  # atomic: latest always names a complete folder
        kept = sorted(p for p in (self.out / CHECKPOINT_DIR).glob("step_*") if not p.name.endswith(".tmp"))
        for old in kept[: -self.cfg.keep_checkpoints]:
            shutil.rmtree(old)
        return final

    def _state_dict(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        def cpu(t: torch.Tensor) -> torch.Tensor:
            return t.detach().to("cpu").contiguous().clone()

        tensors = {f"model/{k}": cpu(v) for k, v in trainable_state(self.policy).items()}
        tensors.update({f"ema/{k}": cpu(v) for k, v in trainable_state(self.ema.module, self.policy).items()})
        opt = self.optimizer.state_dict()
        opt_scalars: dict[str, dict[str, Any]] = {}
        for idx, st in opt["state"].items():
            for k, v in st.items():
                if torch.is_tensor(v):
                    tensors[f"optim/{idx}/{k}"] = cpu(v)
                else:
                    opt_scalars.setdefault(str(idx), {})[k] = v
        tensors["rng/torch"] = torch.get_rng_state()
        if torch.cuda.is_available():
            for i, s in enumerate(torch.cuda.get_rng_state_all()):
                tensors[f"rng/cuda/{i}"] = s
        np_state = np.random.get_state()
        tensors["rng/numpy"] = torch.from_numpy(np_state[1].astype(np.int64))
        py_state = random.getstate()
        meta = {
            "step": self.step,
            "world_size": self.dist.world_size,
            "param_groups": opt["param_groups"],
            "optim_scalars": opt_scalars,
            "optim_state_ids": sorted(opt["state"]),
            "rng_numpy": [np_state[0], int(np_state[2]), int(np_state[3]), float(np_state[4])],
            "rng_python": [py_state[0], list(py_state[1]), py_state[2]],
            "losses": self.losses,
            "config": self.run_config,
        }
        return tensors, meta

    def load_checkpoint(self, ckpt: str | Path) -> None:
        """Restore weights, optimizer, EMA, RNG states and step from a checkpoint folder."""
        ckpt = Path(ckpt)
        if not (ckpt / STATE_TENSORS).is_file() or not (ckpt / STATE_JSON).is_file():
            raise FileNotFoundError(f"{ckpt} holds no training state ({STATE_TENSORS}, {STATE_JSON}); "
                                    "resume needs a checkpoint written by `robot train`")
        tensors = load_file(str(ckpt / STATE_TENSORS))
        meta = json.loads((ckpt / STATE_JSON).read_text())
        for prefix, module in (("model/", self.policy), ("ema/", self.ema.module)):
            target = trainable_state(module, self.policy)
            saved = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
            if set(saved) != set(target):
                diff = sorted(set(saved) ^ set(target))[:5]
                raise CheckpointError(f"checkpoint {ckpt} does not match this policy ({prefix} keys differ: {diff}); "
                                 "resume with the same policy config")
            with torch.no_grad():
                for k, t in target.items():
                    t.copy_(saved[k])
        state: dict[int, dict[str, Any]] = {}
        for idx in meta["optim_state_ids"]:
            st = {k.split("/")[-1]: v for k, v in tensors.items() if k.startswith(f"optim/{idx}/")}
            st.update(meta["optim_scalars"].get(str(idx), {}))
            state[int(idx)] = st
        self.optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
        self.step = int(meta["step"])
        self.losses = [float(x) for x in meta["losses"]]
        if self.dist.rank == 0:
            torch.set_rng_state(tensors["rng/torch"])
            cuda = [tensors[k] for k in sorted(tensors) if k.startswith("rng/cuda/")]
            if cuda and torch.cuda.is_available():
                torch.cuda.set_rng_state_all(cuda)
            name, pos, has_gauss, cached = meta["rng_numpy"]
            np.random.set_state((name, tensors["rng/numpy"].numpy().astype(np.uint32), pos, has_gauss, cached))
            version, internal, gauss = meta["rng_python"]
            random.setstate((version, tuple(internal), gauss))
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

    def _open_writers(self) -> None:
        if self.cfg.tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._writers.append(("tb", SummaryWriter(str(self.out / "tensorboard"))))
            except ImportError:
                print("train.tensorboard=true but tensorboard is not installed; logging to CSV only")
        if self.cfg.wandb:
            try:
                import wandb

                run = wandb.init(project="robot-stack", dir=str(self.out), config=self.run_config,
                                 resume="allow", name=self.out.name)
                self._writers.append(("wandb", run))
            except ImportError:
                print("train.wandb=true but wandb is not installed; logging to CSV only")

    def _log_external(self, row: dict[str, Any], prefix: str) -> None:
        for kind, w in self._writers:
            scalars = {f"{prefix}/{k}": v for k, v in row.items() if k != "step" and isinstance(v, (int, float))}
            if kind == "tb":
                for k, v in scalars.items():
                    w.add_scalar(k, v, row["step"])
            else:
                w.log(scalars, step=row["step"])

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
        self._log_external(row, "eval")
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
            self._open_writers()
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
                    self._log_external(row, "train")
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
        for kind, w in self._writers:
            w.close() if kind == "tb" else w.finish()
        minutes = (time.perf_counter() - t_start) / 60.0
        # Free DDP's reducer while every rank still holds the process group: freed after a peer
        # has left, the gloo group's destructor waits forever on its threads (a hang seen in test_ddp).
        self.model = unwrap_ddp(self.model)
        return {"step": self.step, "final_loss": self.losses[-1] if self.losses else float("nan"),
                "train_minutes": minutes, "steps_this_run": steps_done, "last_eval": last_eval}


def latest_checkpoint(run_dir: str | Path) -> Path:
    """The newest complete checkpoint folder of a run (from its `latest` file)."""
    run_dir = Path(run_dir)
    marker = run_dir / LATEST
    if not marker.is_file():
        raise FileNotFoundError(f"{run_dir} has no '{LATEST}' file: not a `robot train` run folder, "
                                "or it has not written a checkpoint yet")
    ckpt = run_dir / marker.read_text().strip()
    if not ckpt.is_dir():
        raise FileNotFoundError(f"{marker} names {ckpt}, which does not exist; the run folder is damaged")
    return ckpt
