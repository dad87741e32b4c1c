"""The pipeline: one YAML preset composes the task, data, policy, train and eval sections.

Each section's config lives beside the module that uses it (`PolicyConfig` in
`policies/config.py`, `TrainConfig` in `policies/train_config.py`, `EvalConfig`
in `policies/eval_config.py`); the task and data sections are used only here. The
pipeline imports them, never the other way round, so the trainer and the
evaluator load without it. This module imports no torch, so the CLI can list
every dotted override (`--train.steps=2000`) in `robot train --help` without
slowing `robot --help`; `run_training` imports the trainer when called.

Usage:
    cfg = load_pipeline("configs/pipelines/so101_lift_flow.yaml", ["train.steps=200"])  # cameras + joints
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints

from policies.config import PolicyConfig
from policies.eval_config import EvalConfig
from policies.train_config import TrainConfig
from robot.config import ConfigError, load_config, merge, read_yaml, to_dict


@dataclass(frozen=True)
class TaskConfig:
    """Which env to train for and evaluate on.

    name: a `sim/registry.py` task (`so101_lift`, `pusht`, ...) or `gym:<gymnasium id>`.
    env: overrides of the task's own config (e.g. `{images: true}`), passed to `make_env`.
    """

    name: str = "so101_lift"
    env: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DataConfig:
    """Where the demonstrations are and how the sampler splits them.

    path: the Zarr episode store (`robot train --data` overrides it).
    val_ratio: fraction of episodes held out (never trained on); the EMA policy's loss
        on them goes to val.csv at every checkpoint (0 disables it).
    num_workers: DataLoader worker processes (0 loads in the training process).
    """

    path: str = ""
    val_ratio: float = 0.0
    num_workers: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.val_ratio < 1.0:
            raise ConfigError(f"data.val_ratio: {self.val_ratio} must be in [0, 1)")
        if self.num_workers < 0:
            raise ConfigError(f"data.num_workers: {self.num_workers} must be >= 0")


@dataclass(frozen=True)
class PipelineConfig:
    """Everything one `robot train` run needs, saved as `config.yaml` in the run folder."""

    name: str = "run"
    task: TaskConfig = field(default_factory=TaskConfig)
    data: DataConfig = field(default_factory=DataConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)


CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"
"""The repository's YAML presets (`configs/pipelines`, `configs/policies`)."""


def resolve_preset(path_or_name: str | Path, kind: str = "pipelines") -> Path:
    """A preset path as given, or `configs/<kind>/<name>.yaml` for a bare name."""
    p = Path(path_or_name)
    if p.suffix in (".yaml", ".yml") or p.exists():
        return p
    candidate = CONFIG_DIR / kind / f"{p.name}.yaml"
    if not candidate.is_file():
        known = sorted(q.stem for q in (CONFIG_DIR / kind).glob("*.yaml"))
        raise ConfigError(f"no {kind} preset {str(path_or_name)!r}; known: {', '.join(known)}")
    return candidate


def load_pipeline(
    path: str | Path | None = None,
    overrides: list[str] = (),
    policy_preset: str | Path | None = None,
) -> PipelineConfig:
    """Defaults, then the pipeline preset, then a policy preset (its `policy` section), then overrides.

    `policy_preset` names a file of `configs/policies/` holding only a policy
    section; it replaces the pipeline's policy section, so one pipeline can be
    trained with diffusion, flow or VLA without copying it.
    """
    if policy_preset is None:
        return load_config(PipelineConfig, resolve_preset(path) if path else None, list(overrides))
    data = read_yaml(resolve_preset(path)) if path else {}
    data["policy"] = read_yaml(resolve_preset(policy_preset, "policies"))
    from robot.config import from_dict, parse_overrides

    try:
        return from_dict(PipelineConfig, merge(data, parse_overrides(list(overrides))))
    except ConfigError as e:
        raise ConfigError(f"{e} (from {path} + {policy_preset})") from None


def dotted_keys(cls: type = PipelineConfig, prefix: str = "") -> list[tuple[str, Any]]:
    """Every leaf key of a config class as (`section.key`, type), for CLI overrides."""
    out: list[tuple[str, Any]] = []
    hints = get_type_hints(cls)
    for f in dataclasses.fields(cls):
        key = f"{prefix}{f.name}"
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            out.extend(dotted_keys(tp, key + "."))
        else:
            out.append((key, tp))
    return out


def pipeline_to_dict(cfg: PipelineConfig) -> dict[str, Any]:
    """Plain dict of a pipeline config (YAML/JSON ready)."""
    return to_dict(cfg)


HASH_NEUTRAL_DEFAULTS: dict[str, Any] = {
    "encoder.image_backbone": "resnet",
    "encoder.image_size": 0,
    "encoder.image_obs_steps": 0,
    "head.mlp_hidden": 512,
    "head.mlp_layers": 3,
    "vla.grounding": False,
    "vla.language_queries": 2,
    "vla.slot_init": 0.02,
    "vla.image_tokens": "patches",
}
"""Policy options (`section.name` under `policy`) added after figures were recorded, at the default
that reproduces the old model: `config_hash` leaves such a field out while it holds this value, so
adding an option does not mark every recorded figure stale; set to anything else, it counts. Add a
new policy option here only with its backward-compatible default."""


def config_hash(cfg: Any) -> str:
    """SHA-256 (16 hex digits) of a resolved config, to tell which preset version a result came from.

    Machine-local paths (`data.path` of a PipelineConfig) are left out, so the same
    preset and overrides hash the same on every machine. Benchmarks store it next
    to their figures; `tests/test_results_fresh.py` recomputes it from the current
    presets and fails when a figure's config has changed since it was measured.
    Options of HASH_NEUTRAL_DEFAULTS at their default are left out too.
    """
    import hashlib
    import json

    plain = to_dict(cfg)
    if isinstance(cfg, PipelineConfig):
        plain["data"].pop("path", None)
    policy = plain.get("policy", {}) if isinstance(cfg, PipelineConfig) else plain
    for dotted, default in HASH_NEUTRAL_DEFAULTS.items():
        section, name = dotted.split(".")
        if isinstance(policy, dict) and policy.get(section, {}).get(name, default) == default:
            policy.get(section, {}).pop(name, None)
    blob = json.dumps(plain, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


# ---- building and running a pipeline (torch imported lazily, inside the functions) ----

def policy_spec_from_store(store: Any, cfg: PolicyConfig) -> Any:
    """The PolicySpec of a policy trained on `store`: its obs keys' specs, Da, To, Ta, Te, fps."""
    from robot import keys
    from robot.specs import PolicySpec

    specs = store.specs
    missing = [k for k in cfg.obs_keys if k not in specs]
    if missing:
        raise ConfigError(f"policy.obs_keys: {missing} not in the store {store.path} (keys: {list(specs)}); "
                          "record them (e.g. `robot collect --images`) or change policy.obs_keys")
    if keys.ACTION not in specs:
        raise ConfigError(f"the store {store.path} has no '{keys.ACTION}' array")
    action = specs[keys.ACTION]
    return PolicySpec(
        observations={k: specs[k] for k in cfg.obs_keys}, action_dim=int(action.shape[0]),
        n_obs_steps=cfg.n_obs_steps, horizon=cfg.horizon, n_action_steps=cfg.n_action_steps,
        fps=float(store.fps), uses_instruction=cfg.kind == "vla",
    )


def run_training(cfg: PipelineConfig, out_dir: str | Path, resume: bool = False,
                 progress: bool = True) -> dict[str, Any]:
    """Build store, sampler, policy and evaluator from `cfg`, then train into `out_dir`.

    `resume=True` continues from `out_dir`'s latest checkpoint with the config
    saved there (overrides may change non-structural keys such as train.steps).
    Works under torchrun (DDP); only rank 0 writes. Returns the trainer's summary.
    """
    import json

    import torch
    import yaml

    from data import EpisodeStore, SequenceDataset
    from policies.checkpoint import save_policy
    from policies.ddp import dist_from_env, init_distributed, select_device, shutdown_distributed
    from policies.eval import evaluate, make_envs, state_only_overrides
    from policies.preflight import check_store
    from policies.registry import make_policy
    from policies.train import Trainer
    from policies.train_state import latest_checkpoint, seed_everything

    out = Path(out_dir)
    if not cfg.data.path:
        raise ConfigError("data.path: no episode store given; pass --data demos.zarr")
    info = dist_from_env()
    device = select_device(cfg.train.device, info)
    init_distributed(info, device)
    try:
        if cfg.train.num_threads > 0:
            torch.set_num_threads(cfg.train.num_threads)
        store = EpisodeStore.open(cfg.data.path, readonly=True)
        if store.num_episodes == 0:
            raise ConfigError(f"data.path: {cfg.data.path} holds no episodes; collect some first")
        check_store(store, cfg)  # the store fits the preset's policy and task, before any step
        p = cfg.policy
        dataset = SequenceDataset(store, n_obs_steps=p.n_obs_steps, horizon=p.horizon, keys=list(p.obs_keys),
                                  split="train" if cfg.data.val_ratio > 0 else None,
                                  val_ratio=cfg.data.val_ratio, seed=cfg.train.seed)
        val_dataset = None
        n_val = int(dataset.val_mask.sum()) if cfg.data.val_ratio > 0 else 0
        if cfg.data.val_ratio > 0 and n_val == store.num_episodes:
            raise ConfigError(f"data.val_ratio={cfg.data.val_ratio}: all {n_val} episodes of {cfg.data.path} "
                              "fall in the validation split, none is left to train on; lower it or record "
                              "more episodes")
        if cfg.data.val_ratio > 0 and n_val == 0:
            # The split is a fixed hash per episode (stable as the store grows), never rebalanced.
            if info.is_main:
                print(f"warning: data.val_ratio={cfg.data.val_ratio}: none of the {store.num_episodes} episodes "
                      "falls in the validation split, so no validation loss is computed; record more "
                      "episodes or raise data.val_ratio", file=sys.stderr)
        elif cfg.data.val_ratio > 0:
            val_dataset = SequenceDataset(store, n_obs_steps=p.n_obs_steps, horizon=p.horizon,
                                          keys=list(p.obs_keys), split="val", val_ratio=cfg.data.val_ratio,
                                          seed=cfg.train.seed)
        spec = policy_spec_from_store(store, p)
        seed_everything(cfg.train.seed)  # identical initial weights on every rank
        policy = make_policy(p, spec, store.stats())
        evaluate_fn = None
        if cfg.eval.every > 0 and info.is_main:
            quick = dataclasses.replace(cfg.eval, episodes=cfg.eval.train_episodes, videos=0,
                                        n_envs=min(cfg.eval.n_envs, cfg.eval.train_episodes))
            envs = make_envs(cfg.task.name, quick.n_envs, state_only_overrides(cfg.task.name, policy, cfg.task.env))

            def evaluate_fn(pol: Any) -> dict[str, Any]:
                return evaluate(pol, cfg.task.name, quick, envs=envs, progress=False)

        trainer = Trainer(policy, dataset, cfg.train, out, save_policy=save_policy,
                          num_workers=cfg.data.num_workers, evaluate=evaluate_fn, eval_every=cfg.eval.every,
                          device=device, dist=info, run_config=to_dict(cfg), progress=progress,
                          val_dataset=val_dataset)
        if resume:
            trainer.load_checkpoint(latest_checkpoint(out))
        if info.is_main:
            out.mkdir(parents=True, exist_ok=True)
            (out / "config.yaml").write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))
        summary = trainer.fit()
        summary.update(n_episodes=store.num_episodes, n_windows=len(dataset), device=str(device),
                       world_size=info.world_size, out=str(out))
        if info.is_main:
            (out / "train_summary.json").write_text(json.dumps(summary, indent=1, default=str))
        return summary
    finally:
        shutdown_distributed()


def load_run_config(run_dir: str | Path, overrides: list[str] = ()) -> PipelineConfig:
    """The config saved in a run folder, with overrides applied (for `--resume`)."""
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise ConfigError(f"{run_dir} has no config.yaml; is it a `robot train` run folder?")
    return load_config(PipelineConfig, path, list(overrides))
