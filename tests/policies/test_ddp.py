"""DDP on CPU (gloo): two spawned processes train a real tiny policy of every family; replicas stay identical."""

from __future__ import annotations

import json
import os
import socket

import pytest
import torch
import torch.multiprocessing as mp


def _worker(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    import torch.distributed as dist
    from families import KINDS, Windows, tiny_policy

    from policies.checkpoint import save_policy
    from policies.ddp import dist_from_env, init_distributed, shutdown_distributed
    from policies.train import Trainer
    from policies.train_config import TrainConfig
    from policies.train_state import seed_everything

    info = dist_from_env()
    init_distributed(info, torch.device("cpu"))
    for kind in KINDS:  # one spawn for all families: importing diffusers + MiniLM costs seconds per process
        run = os.path.join(out, kind)
        seed_everything(rank * 1000)  # different init per rank: DDP must broadcast rank 0's weights
        policy = tiny_policy(kind)
        mine = torch.cat([p.detach().flatten() for p in policy.parameters()])
        gathered_init = [torch.zeros_like(mine) for _ in range(world)]
        dist.all_gather(gathered_init, mine)
        train_cfg = TrainConfig(steps=3, batch_size=4, lr=1e-2, warmup_steps=1, log_every=1, checkpoint_every=3)
        # rank 0 alone holds an evaluator (as in run_training); every rank must still meet its barrier
        evaluate = (lambda pol: {"success_rate": float(sum(p.sum() for p in pol.parameters()) > -1e9)}) \
            if rank == 0 else None
        trainer = Trainer(policy, Windows(policy.spec.n_obs_steps), train_cfg, run, save_policy=save_policy,
                          dist=info, progress=False, evaluate=evaluate, eval_every=2)
        trainer.fit()
        flat = torch.cat([p.detach().flatten() for p in policy.parameters()])
        gathered = [torch.zeros_like(flat) for _ in range(world)]
        dist.all_gather(gathered, flat)
        ema = torch.cat([p.detach().flatten() for p in trainer.ema.module.parameters()])
        gathered_ema = [torch.zeros_like(ema) for _ in range(world)]
        dist.all_gather(gathered_ema, ema)
        report = {"max_param_diff": max(float((g - gathered[0]).abs().max()) for g in gathered),
                  "max_ema_diff": max(float((g - gathered_ema[0]).abs().max()) for g in gathered_ema),
                  "init_diff": float((gathered_init[1] - gathered_init[0]).abs().max()),
                  # training moved the weights away from rank 0's initial ones (which DDP broadcast)
                  "changed": float((flat - gathered_init[0]).abs().max()),
                  "losses": trainer.losses}
        with open(os.path.join(run, f"rank{rank}.json"), "w") as f:
            json.dump(report, f)
    shutdown_distributed()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ddp_runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    mp.spawn(_worker, args=(2, _free_port(), str(out)), nprocs=2, join=True)
    return out


@pytest.mark.parametrize("kind", ["diffusion", "flow", "vla"])
def test_two_process_ddp_replicas_stay_identical(ddp_runs, kind):
    run = ddp_runs / kind
    r0 = json.loads((run / "rank0.json").read_text())
    r1 = json.loads((run / "rank1.json").read_text())
    assert r0["init_diff"] > 0  # the ranks really started from different weights
    assert r0["max_param_diff"] == 0.0 and r0["max_ema_diff"] == 0.0
    assert r0["changed"] > 0 and r1["changed"] == r0["changed"]  # and they trained, in step
    assert r0["losses"] != r1["losses"]  # each rank trained on its own slice of the global batch
    # only rank 0 wrote: one checkpoint, one metrics log
    assert (run / "latest").read_text().strip() == "checkpoints/step_0000003"
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step_0000003"]
    assert (run / "metrics.csv").read_text().count("\n") == 4
    assert [r.split(",")[0] for r in (run / "eval.csv").read_text().splitlines()[1:]] == ["2", "3"]
