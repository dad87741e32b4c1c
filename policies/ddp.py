"""Multi-process training: torchrun / spawn setup, DDP wrapping, rank helpers.

Launch multi-GPU or multi-node training with torchrun, which sets RANK,
WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT:

    torchrun --nproc_per_node=4 -m robot.cli train --config ... --data ... --out ...
    torchrun --nnodes=2 --node_rank=$R --master_addr=$HOST --nproc_per_node=8 -m robot.cli train ...

Backend: nccl on CUDA, gloo on CPU. Only rank 0 writes checkpoints, logs and
runs evaluation; every rank reads the same store and takes its own slice of
each global batch (see `policies.train.StepBatchSampler`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the job: rank in [0, world_size), local_rank on its node."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """True on the process that writes files (rank 0)."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """True when more than one process takes part."""
        return self.world_size > 1


def dist_from_env() -> DistInfo:
    """Read torchrun's environment variables (a single process when they are unset)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", str(rank)))
    if not 0 <= rank < world:
        raise RuntimeError(f"RANK={rank} is outside WORLD_SIZE={world}; check the torchrun flags")
    return DistInfo(rank=rank, world_size=world, local_rank=local)


def init_distributed(info: DistInfo, device: torch.device) -> None:
    """Join the process group (nccl on CUDA, gloo on CPU); a no-op for one process.

    Needs MASTER_ADDR / MASTER_PORT in the environment (torchrun sets them).
    """
    if not info.distributed or dist.is_initialized():
        return
    for var in ("MASTER_ADDR", "MASTER_PORT"):
        if var not in os.environ:
            raise RuntimeError(f"{var} is not set; launch multi-process training with torchrun")
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend=backend, rank=info.rank, world_size=info.world_size)


def shutdown_distributed() -> None:
    """Leave the process group if this process joined one."""
    if dist.is_available() and dist.is_initialized():
        # Tear down together: a rank that destroys its gloo group while a peer is
        # still mid-collective can abort ("terminate called without an active
        # exception"; seen in about 1 of 6 runs of tests/policies/test_ddp.py).
        dist.barrier()
        dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    """Wait for every rank (a no-op for one process)."""
    if info.distributed and dist.is_initialized():
        dist.barrier()


def select_device(name: str, info: DistInfo) -> torch.device:
    """"auto" -> this rank's GPU when CUDA is available, else the CPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and info.distributed:
        name = f"cuda:{info.local_rank}"
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"train.device={name!r} but CUDA is not available; use device=cpu")
    return device


class LossModule(nn.Module):
    """Routes `forward(batch)` to `policy.compute_loss(batch)` so DDP's hooks see the loss path.

    DDP synchronizes gradients only for computations that go through its
    wrapped module's `forward`; a policy's loss lives in `compute_loss`.
    """

    def __init__(self, policy: nn.Module) -> None:
        super().__init__()
        self.policy = policy

    def forward(self, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        return self.policy.compute_loss(batch)


def wrap_for_training(
    policy: nn.Module, info: DistInfo, device: torch.device, find_unused_parameters: bool = False
) -> nn.Module:
    """A module whose `forward(batch)` returns `(loss, metrics)`; DDP-wrapped when distributed."""
    module = LossModule(policy)
    if not info.distributed:
        return module
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=ids, find_unused_parameters=find_unused_parameters)


def unwrap_ddp(model: nn.Module) -> nn.Module:
    """The module inside a DistributedDataParallel wrapper (the model itself when not wrapped)."""
    from torch.nn.parallel import DistributedDataParallel

    return model.module if isinstance(model, DistributedDataParallel) else model


def all_reduce_mean(value: float, info: DistInfo, device: torch.device) -> float:
    """Mean of a scalar over ranks (for logging the global loss)."""
    if not info.distributed:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return float(t.item()) / info.world_size
