"""DDP on CPU (gloo): two spawned processes train a real tiny policy; replicas stay identical."""

from __future__ import annotations

import json
import os
import socket

import numpy as np
import torch
import torch.multiprocessing as mp


class Windows(torch.utils.data.Dataset):
    """Sampler-contract windows (state (To,Ds), action (Ta,Da), pad mask) from a fixed seed."""

    def __init__(self, n=64):
        g = np.random.default_rng(0)
        self.state = g.uniform(-1, 1, size=(n, 2, 3)).astype(np.float32)
        self.action = np.repeat(self.state[:, -1:, :2], 8, axis=1).astype(np.float32)

    def __len__(self):
        return len(self.state)

    def __getitem__(self, i):
        return {"state": torch.from_numpy(self.state[i]), "action": torch.from_numpy(self.action[i]),
                "action_is_pad": torch.zeros(8, dtype=torch.bool)}


class TinyPolicy(torch.nn.Module):
    """Policy-contract stand-in (compute_loss with random flow-matching noise).

    The real policies import diffusers and the sentence encoder (~7 s per
    process on this machine); the replica property under test is the
    trainer's, not the model's. The trainer runs the real policies in
    test_train_cli.py.
    """

    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(6 + 16 + 1, 32), torch.nn.Mish(), torch.nn.Linear(32, 16))

    def compute_loss(self, batch):
        action = batch["action"]
        noise, t = torch.randn_like(action), torch.rand(action.shape[0], 1, 1)
        x = t * noise + (1 - t) * action
        pred = self.net(torch.cat([batch["state"].flatten(1), x.flatten(1), t.flatten(1)], 1)).view_as(action)
        return ((pred - (noise - action)) ** 2).mean(), {}


def _save(policy, path):
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in policy.state_dict().items()}, str(path / "model.safetensors"))


def _worker(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    import torch.distributed as dist

    from policies.ddp import dist_from_env, init_distributed, shutdown_distributed
    from policies.pipeline import TrainConfig
    from policies.train import Trainer, seed_everything

    info = dist_from_env()
    init_distributed(info, torch.device("cpu"))
    seed_everything(rank * 1000)  # different init per rank: DDP must broadcast rank 0's weights
    policy = TinyPolicy()
    train_cfg = TrainConfig(steps=3, batch_size=4, lr=1e-2, warmup_steps=1, log_every=1, checkpoint_every=3)
    # rank 0 alone holds an evaluator (as in run_training); every rank must still meet its barrier
    evaluate = (lambda pol: {"success_rate": float(sum(p.sum() for p in pol.parameters()) > -1e9)}) \
        if rank == 0 else None
    trainer = Trainer(policy, Windows(), train_cfg, out, save_policy=_save, dist=info, progress=False,
                      evaluate=evaluate, eval_every=2)
    trainer.fit()
    flat = torch.cat([p.detach().flatten() for p in policy.parameters()])
    gathered = [torch.zeros_like(flat) for _ in range(world)]
    dist.all_gather(gathered, flat)
    ema = torch.cat([p.detach().flatten() for p in trainer.ema.module.parameters()])
    gathered_ema = [torch.zeros_like(ema) for _ in range(world)]
    dist.all_gather(gathered_ema, ema)
    report = {"max_param_diff": max(float((g - gathered[0]).abs().max()) for g in gathered),
              "max_ema_diff": max(float((g - gathered_ema[0]).abs().max()) for g in gathered_ema),
              "losses": trainer.losses, "changed": float((flat - flat.mean()).abs().sum())}
    with open(os.path.join(out, f"rank{rank}.json"), "w") as f:
        json.dump(report, f)
    shutdown_distributed()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_ddp_replicas_stay_identical(tmp_path):
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    r0 = json.loads((tmp_path / "rank0.json").read_text())
    r1 = json.loads((tmp_path / "rank1.json").read_text())
    assert r0["max_param_diff"] == 0.0 and r0["max_ema_diff"] == 0.0
    assert r0["losses"] != r1["losses"]  # each rank trained on its own slice of the global batch
    # only rank 0 wrote: one checkpoint, one metrics log
    assert (tmp_path / "latest").read_text().strip() == "checkpoints/step_0000003"
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["step_0000003"]
    assert (tmp_path / "metrics.csv").read_text().count("\n") == 4
    assert [r.split(",")[0] for r in (tmp_path / "eval.csv").read_text().splitlines()[1:]] == ["2", "3"]
