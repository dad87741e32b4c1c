"""A run folder's checkpoints and training state on disk: written atomically, read back exactly.

    <run>/latest                                text: the newest complete checkpoint folder
    <run>/checkpoints/step_XXXXXXX/             model.safetensors + policy.json (the EMA policy,
                                                `policies.checkpoint.save_policy`),
                                                train_state.safetensors + train_state.json

train_state.safetensors holds tensors only (raw and EMA weights under `model/`
and `ema/`, optimizer tensors under `optim/<param id>/`, RNG states under
`rng/`); train_state.json the rest (step, optimizer scalars and groups, numpy and
python RNG, losses, the run config). No pickle: nothing stored is executed.

This module knows files, RNGs and the optimizer's state layout, not the
trainer; `policies/train.py` composes it, and `robot eval` / `robot deploy`
find checkpoints through `latest_checkpoint` without importing the trainer.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from robot.errors import CheckpointError

CHECKPOINT_DIR = "checkpoints"
LATEST = "latest"
STATE_TENSORS = "train_state.safetensors"
STATE_JSON = "train_state.json"


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (CPU and CUDA) RNGs."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def trainable_state(module: nn.Module, like: nn.Module | None = None) -> dict[str, torch.Tensor]:
    """Parameters that train plus all buffers: what changes during training (frozen encoders excluded).

    `like`: take the trainable names from this module (the EMA copy has requires_grad off).
    """
    trains = {n for n, p in (like or module).named_parameters() if p.requires_grad}
    out = {n: p for n, p in module.named_parameters() if n in trains}
    out.update(dict(module.named_buffers()))
    return out


def _cpu(t: torch.Tensor) -> torch.Tensor:
    return t.detach().to("cpu").contiguous().clone()


def rng_state() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Every RNG state (torch, CUDA, numpy, python) as (tensors, JSON-ready meta)."""
    tensors = {"rng/torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng/cuda/{i}"] = s
    np_state = np.random.get_state()
    tensors["rng/numpy"] = torch.from_numpy(np_state[1].astype(np.int64))
    py_state = random.getstate()
    meta = {"rng_numpy": [np_state[0], int(np_state[2]), int(np_state[3]), float(np_state[4])],
            "rng_python": [py_state[0], list(py_state[1]), py_state[2]]}
    return tensors, meta


def set_rng_state(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    """Inverse of `rng_state`."""
    torch.set_rng_state(tensors["rng/torch"])
    cuda = [tensors[k] for k in sorted(tensors) if k.startswith("rng/cuda/")]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)
    name, pos, has_gauss, cached = meta["rng_numpy"]
    np.random.set_state((name, tensors["rng/numpy"].numpy().astype(np.uint32), pos, has_gauss, cached))
    version, internal, gauss = meta["rng_python"]
    random.setstate((version, tuple(internal), gauss))


def module_state(prefix: str, module: nn.Module, like: nn.Module | None = None) -> dict[str, torch.Tensor]:
    """`trainable_state` of `module` as CPU copies under `prefix` (e.g. "model/")."""
    return {f"{prefix}{k}": _cpu(v) for k, v in trainable_state(module, like).items()}


def load_module_state(prefix: str, module: nn.Module, like: nn.Module, tensors: dict[str, torch.Tensor],
                      where: Path) -> None:
    """Copy the tensors saved under `prefix` into `module`; the key sets must match exactly."""
    target = trainable_state(module, like)
    saved = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
    if set(saved) != set(target):
        diff = sorted(set(saved) ^ set(target))[:5]
        raise CheckpointError(f"checkpoint {where} does not match this policy ({prefix} keys differ: {diff}); "
                         "resume with the same policy config")
    with torch.no_grad():
        for k, t in target.items():
            t.copy_(saved[k])


def optimizer_state(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The optimizer's state as (tensors under `optim/<id>/<name>`, JSON-ready meta)."""
    opt = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for idx, st in opt["state"].items():
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"optim/{idx}/{k}"] = _cpu(v)
            else:
                scalars.setdefault(str(idx), {})[k] = v
    meta = {"param_groups": opt["param_groups"], "optim_scalars": scalars, "optim_state_ids": sorted(opt["state"])}
    return tensors, meta


def load_optimizer_state(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor],
                         meta: dict[str, Any]) -> None:
    """Inverse of `optimizer_state`."""
    state: dict[int, dict[str, Any]] = {}
    for idx in meta["optim_state_ids"]:
        st = {k.split("/")[-1]: v for k, v in tensors.items() if k.startswith(f"optim/{idx}/")}
        st.update(meta["optim_scalars"].get(str(idx), {}))
        state[int(idx)] = st
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def write_checkpoint(run_dir: Path, step: int, write_policy: Callable[[Path], None],
                     tensors: dict[str, torch.Tensor], meta: dict[str, Any], keep: int) -> Path:
    """Write checkpoint `step` of `run_dir` atomically, point `latest` at it, keep the newest `keep`.

    The folder is filled under a `.tmp` name and renamed, and `latest` is
    replaced only after that, so `latest` always names a complete folder even
    if the process dies mid-write.
    """
    final = run_dir / CHECKPOINT_DIR / f"step_{step:07d}"
    tmp = final.with_name(final.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    write_policy(tmp)
    save_file(tensors, str(tmp / STATE_TENSORS))
    (tmp / STATE_JSON).write_text(json.dumps(meta, indent=1))
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    latest_tmp = run_dir / (LATEST + ".tmp")
    latest_tmp.write_text(f"{CHECKPOINT_DIR}/{final.name}\n")
    os.replace(latest_tmp, run_dir / LATEST)
    kept = sorted(p for p in (run_dir / CHECKPOINT_DIR).glob("step_*") if not p.name.endswith(".tmp"))
    for old in kept[:-keep]:
        shutil.rmtree(old)
    return final


def read_train_state(ckpt: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(tensors, meta) of a checkpoint folder's training state."""
    ckpt = Path(ckpt)
    if not (ckpt / STATE_TENSORS).is_file() or not (ckpt / STATE_JSON).is_file():
        raise FileNotFoundError(f"{ckpt} holds no training state ({STATE_TENSORS}, {STATE_JSON}); "
                                "resume needs a checkpoint written by `robot train`")
    return load_file(str(ckpt / STATE_TENSORS)), json.loads((ckpt / STATE_JSON).read_text())


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
