"""Tiny real policies of every family (diffusion, flow, vla) and sampler-contract windows for them.

Shared by the exact-resume test (test_train.py) and the DDP test (test_ddp.py), so
"every policy family trains, resumes exactly and runs under DDP" is tested on the
real `GenerativePolicy` of each kind, only smaller.
"""

from __future__ import annotations

import numpy as np
import torch

from policies.config import PolicyConfig
from policies.registry import build_spec, make_policy
from robot.specs import ArraySpec

KINDS = ("diffusion", "flow", "vla")
DS, DA, TA = 3, 2, 8
INSTRUCTIONS = ("pick up the red cube", "pick up the blue cube")
_UNET = {"unet_down_dims": [16, 32], "time_embed_dim": 16, "inference_steps": 2}
CONFIGS = {
    "diffusion": {"kind": "diffusion", "horizon": TA, "n_action_steps": 4,
                  "encoder": {"state_hidden": [16], "state_out": 16}, "head": _UNET},
    "flow": {"kind": "flow", "horizon": TA, "n_action_steps": 4,
             "encoder": {"state_hidden": [16], "state_out": 16}, "head": _UNET},
    "vla": {"kind": "vla", "horizon": TA, "n_action_steps": 4, "n_obs_steps": 1,
            "encoder": {"state_hidden": [16], "state_out": 16},
            "head": {"network": "transformer", "d_model": 32, "n_layers": 1, "n_heads": 2, "time_embed_dim": 16,
                     "inference_steps": 2},
            "vla": {"d_model": 32, "n_layers": 1, "n_heads": 2, "language_film": True}},
}
STATS = {"state": {"min": -np.ones(DS), "max": np.ones(DS), "mean": np.zeros(DS), "std": np.ones(DS)},
         "action": {"min": -np.ones(DA), "max": np.ones(DA), "mean": np.zeros(DA), "std": np.ones(DA)}}


def tiny_policy(kind: str) -> torch.nn.Module:
    """A real `GenerativePolicy` of `kind` (state (DS,) in, chunks (TA, DA) out), seeded by the caller."""
    cfg = PolicyConfig.from_config(CONFIGS[kind])
    return make_policy(cfg, build_spec(cfg, {"state": ArraySpec((DS,))}, DA, fps=30.0), STATS)


class Windows(torch.utils.data.Dataset):
    """Sampler-contract windows from a fixed seed: state (To, DS), action (TA, DA), pad mask, instruction.

    The action repeats the last state's first DA values, or their negation for the
    second instruction, so the VLA has something language-dependent to learn.
    """

    def __init__(self, n_obs_steps: int, n: int = 64):
        g = np.random.default_rng(0)
        self.state = g.uniform(-1, 1, size=(n, n_obs_steps, DS)).astype(np.float32)
        sign = np.where(np.arange(n) % 2 == 0, 1.0, -1.0).astype(np.float32)[:, None, None]
        self.action = (sign * np.repeat(self.state[:, -1:, :DA], TA, axis=1)).astype(np.float32)

    def __len__(self) -> int:
        return len(self.state)

    def __getitem__(self, i: int) -> dict:
        return {"state": torch.from_numpy(self.state[i]), "action": torch.from_numpy(self.action[i]),
                "action_is_pad": torch.zeros(TA, dtype=torch.bool), "instruction": INSTRUCTIONS[i % 2]}
