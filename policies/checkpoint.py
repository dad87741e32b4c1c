"""Policy checkpoints: model.safetensors + policy.json, never pickle.

policy.json holds the PolicyConfig (robot.config.to_dict), the PolicySpec and
the normalization stats as lists, so a checkpoint is readable and loads
without executing any stored code. Training state (optimizer, EMA, RNG) is
the trainer's business and lives elsewhere.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from safetensors.torch import load_file, save_file

from policies.config import PolicyConfig
from policies.normalize import stats_from_json, stats_to_json
from policies.policy import GenerativePolicy
from robot.config import ConfigError, from_dict, to_dict
from robot.errors import CheckpointError
from robot.specs import ArraySpec, PolicySpec

WEIGHTS = "model.safetensors"
META = "policy.json"
FORMAT_VERSION = 1


def spec_to_dict(spec: PolicySpec) -> dict[str, Any]:
    """PolicySpec -> JSON-ready dict."""
    return {
        "observations": {k: v.to_dict() for k, v in spec.observations.items()},
        "action_dim": spec.action_dim,
        "n_obs_steps": spec.n_obs_steps,
        "horizon": spec.horizon,
        "n_action_steps": spec.n_action_steps,
        "fps": spec.fps,
        "uses_instruction": spec.uses_instruction,
        "extra": spec.extra,
    }


def spec_from_dict(d: dict[str, Any]) -> PolicySpec:
    """Inverse of `spec_to_dict`."""
    d = dict(d)
    d["observations"] = {k: ArraySpec.from_dict(v) for k, v in d["observations"].items()}
    return PolicySpec(**d)


def save_policy(policy: GenerativePolicy, directory: str | Path) -> Path:
    """Write `directory`/model.safetensors and `directory`/policy.json; returns the directory.

    Fine-tuned policies (policies/finetune) write their own layout (actor + base/).
    """
    if hasattr(policy, "save_checkpoint"):
        return policy.save_checkpoint(directory)
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in policy.state_dict().items()}
    meta = {
        "format": FORMAT_VERSION,
        "config": to_dict(policy.config),
        "spec": spec_to_dict(policy.spec),
        "stats": stats_to_json(policy.stats),
    }
    # Write to temporary names first so a crash never leaves a half-written checkpoint.
    tmp_w, tmp_m = out / (WEIGHTS + ".tmp"), out / (META + ".tmp")
    save_file(tensors, str(tmp_w), metadata={"format": str(FORMAT_VERSION)})
    tmp_m.write_text(json.dumps(meta, indent=2))
    tmp_w.replace(out / WEIGHTS)
    tmp_m.replace(out / META)
    return out


def load_policy(directory: str | Path, device: str = "cpu") -> GenerativePolicy:
    """Rebuild a policy from `directory` (json + safetensors only) on `device`, in eval mode."""
    from policies.registry import make_policy

    src = Path(directory)
    meta_path, weights_path = src / META, src / WEIGHTS
    for p in (meta_path, weights_path):
        if not p.is_file():
            raise FileNotFoundError(f"{p} does not exist; a policy checkpoint holds {META} and {WEIGHTS}")
    try:
        meta = json.loads(meta_path.read_text())
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{meta_path} is not valid JSON: {e}") from None
    if meta.get("format") != FORMAT_VERSION:
        raise CheckpointError(f"{meta_path}: format {meta.get('format')!r} unsupported (expected {FORMAT_VERSION})")
    if "finetune" in meta:  # a frozen base + learned actor (policies/finetune)
        from policies.finetune.wrappers import load_finetuned

        return load_finetuned(src, meta, device)
    try:
        cfg = from_dict(PolicyConfig, meta["config"], "config")
    except ConfigError as e:
        raise ConfigError(f"{meta_path}: {e}") from None
    policy = make_policy(cfg, spec_from_dict(meta["spec"]), stats_from_json(meta["stats"]))
    state = load_file(str(weights_path), device="cpu")
    try:
        result = policy.load_state_dict(state, strict=False)
    except RuntimeError as e:  # shape mismatches
        raise CheckpointError(f"{weights_path} does not match the config in {meta_path}: {e}") from None
    if result.missing_keys or result.unexpected_keys:
        raise CheckpointError(
            f"{weights_path} does not match the config in {meta_path}: missing {result.missing_keys[:5]}, "
            f"unexpected {result.unexpected_keys[:5]}"
        )
    return policy.to(device).eval()
