"""Preflight checks: the store fits the preset before training, the checkpoint fits the task before eval.

Without them a mismatch shows up late and far from its cause: `robot collect`
without `privileged_state` followed by a privileged preset trained silently on a
6-D, cube-blind state, and `robot eval` then crashed on a 15-D observation. Both
checks compare per-step shapes key by key against what the task itself gives
(its `body_spec`, built from the same task config the policy will run with) and
raise ONE `PreflightError` listing every mismatch and the `robot collect` (or
`robot eval --env`) options that would fix it. The CLI prints it and exits 2.

    check_store(store, cfg)                              # in run_training, before the first step
    check_policy_on_task(policy.spec, task, env_opts)    # in robot eval, before any rollout
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from robot import keys
from robot.config import ConfigError
from sim.registry import ENVS

PRIVILEGED = "privileged_state"
"""The task config flag that appends the simulator's object state to `state`."""


class PreflightError(ConfigError):
    """The data, preset, checkpoint and task disagree; the message says where and how to fix it."""


@dataclass
class _Report:
    """Mismatches found so far and the options that would fix them (kept in order, once each)."""

    problems: list[str] = field(default_factory=list)
    collect_opts: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, problem: str, *opts: str) -> None:
        self.problems.append(problem)
        self.collect_opts.extend(o for o in opts if o not in self.collect_opts)


def _fmt(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(s) for s in shape) + (",)" if len(shape) == 1 else ")")


def task_spec(task: str, env_overrides: dict[str, Any] | None = None) -> tuple[Any, Any]:
    """(body_spec, task config or None) of `task` built with `env_overrides`; no episode is run."""
    from sim.registry import make_env

    try:
        env = make_env(task, **dict(env_overrides or {}))
    except KeyError as e:
        raise PreflightError(f"task {task!r}: {e.args[0]}") from None
    except Exception as e:  # noqa: BLE001 - a wrong task.env key or value, a gym env not installed
        raise PreflightError(f"cannot build task {task!r} with {dict(env_overrides or {})}: {e}") from None
    try:
        return env.body_spec, getattr(env, "config", None)
    finally:
        close = getattr(env, "close", None)
        if callable(close):
            close()


def _privileged_flip(task: str, env_overrides: dict[str, Any], config: Any, want: tuple[int, ...]) -> bool | None:
    """The `privileged_state` value under which `task` gives a `state` of shape `want` (None: neither)."""
    current = getattr(config, PRIVILEGED, None)
    if not isinstance(current, bool):
        return None
    body, _ = task_spec(task, {**env_overrides, PRIVILEGED: not current})
    state = body.observations.get(keys.STATE)
    return (not current) if state is not None and tuple(state.shape) == tuple(want) else None


def _cli_value(value: Any) -> str:
    """A config value as `--env-opt key=VALUE` takes it (YAML flow, no spaces)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_cli_value(v) for v in value) + "]"
    return str(value)


def check_store(store: Any, cfg: Any) -> None:
    """Raise PreflightError unless `store` holds what the pipeline `cfg` trains on, as its task gives it.

    Checks every `policy.obs_keys` entry (present in the store and given by the
    task, same per-step shape), the action dimension, and for a VLA the
    instruction (given by the task, recorded with every episode).
    """
    task, env_opts, p = cfg.task.name, dict(cfg.task.env), cfg.policy
    body, task_cfg = task_spec(task, env_opts)
    given = body.observations
    have = store.specs
    where = f"task {task!r}" + (f" with task.env {env_opts}" if env_opts else "")
    r = _Report()
    for key in p.obs_keys:
        in_store, in_task = key in have, key in given
        if not in_task:
            r.add(f"policy.obs_keys has {key!r}, which {where} does not give (it gives "
                  f"{sorted(k for k in given if k != keys.INSTRUCTION)}); fix the preset")
            continue
        if not in_store:
            if keys.is_image_key(key):
                cams = [keys.camera_of(k) for k in p.obs_keys if keys.is_image_key(k)]
                opts = ["--images"]
                if any(keys.is_image_key(k) for k in have):  # images recorded, but not this camera
                    opts.append(f"--env-opt cameras=[{','.join(cams)}]")
                r.add(f"{key}: the policy reads camera {keys.camera_of(key)!r}, the store has no images of it "
                      f"(it holds {sorted(have)})", *opts)
            else:
                r.add(f"{key}: the policy reads it, the store has no such array (it holds {sorted(have)})")
            continue
        want, got = tuple(given[key].shape), tuple(have[key].shape)
        if want == got:
            continue
        if key == keys.STATE:
            flip = _privileged_flip(task, env_opts, task_cfg, got)
            if flip is True:
                r.add(f"state: the store's state is {_fmt(got)}, {where} gives {_fmt(want)}: the store was recorded "
                      "with the simulator's object state (privileged, no real arm has it)",
                      f"--env-opt {PRIVILEGED}=false")
                r.notes.append(_preset_hint(cfg.name, privileged=True))
            elif flip is False:
                r.add(f"state: the store's state is {_fmt(got)}, {where} gives {_fmt(want)} (joints plus the "
                      "simulator's object state): the store was recorded without it",
                      f"--env-opt {PRIVILEGED}=true")
                r.notes.append(_preset_hint(cfg.name, privileged=False))
            else:
                r.add(f"state: the store's state is {_fmt(got)}, {where} gives {_fmt(want)}")
        elif keys.is_image_key(key) and len(want) == 3 and len(got) == 3:
            r.add(f"{key}: the store's frames are {_fmt(got)}, {where} renders {_fmt(want)}",
                  f"--env-opt image_size=[{want[0]},{want[1]}]")
        else:
            r.add(f"{key}: the store's per-step shape is {_fmt(got)}, {where} gives {_fmt(want)}")
    if keys.ACTION not in have:
        r.add(f"the store has no {keys.ACTION!r} array")
    elif tuple(have[keys.ACTION].shape) != tuple(body.action.shape):
        r.add(f"action: the store's actions are {_fmt(tuple(have[keys.ACTION].shape))}, {where} takes "
              f"{_fmt(tuple(body.action.shape))}")
    metas = store.all_meta() if store.num_episodes else []
    if p.kind == "vla":
        if not body.instructions:
            r.add(f"policy.kind is vla (language-conditioned) but {where} gives no instruction; "
                  "train it on a language task (e.g. so101_multi)")
        missing = sum(1 for m in metas if not str(m.get(keys.INSTRUCTION) or "").strip())
        if missing:
            r.add(f"instruction: {missing} of {len(metas)} episodes were recorded without one; a VLA "
                  "needs the instruction of every episode (record a language task, e.g. so101_multi)")
    recorded = sorted({str(m.get("task")) for m in metas if m.get("task")})
    if task in ENVS and recorded and task not in recorded and all(t in ENVS for t in recorded):
        r.add(f"task: the store holds {', '.join(recorded)} episodes, the preset trains for {task}")
    if r.problems:
        # The whole recipe, not the delta: a store that fits is recorded with the preset's own task config.
        recipe = ["--images"] if any(keys.is_image_key(k) for k in p.obs_keys) else []
        recipe += [f"--env-opt {k}={_cli_value(v)}" for k, v in env_opts.items()]
        r.collect_opts = recipe + [o for o in r.collect_opts if o not in recipe and o.split("=")[0] not in
                                   {x.split("=")[0] for x in recipe}]
        raise PreflightError(_message(f"the store {store.path} does not fit preset {cfg.name!r}", r,
                                      "robot collect", f"--task {task}", "--out NEW.zarr"))


def _preset_hint(name: str, privileged: bool) -> str:
    """Point at the sibling preset (`x` <-> `x_privileged`) when it exists."""
    from policies.pipeline import CONFIG_DIR

    suffix = "_privileged"
    other = name[: -len(suffix)] if name.endswith(suffix) else name + suffix
    if not (CONFIG_DIR / "pipelines" / f"{other}.yaml").is_file():
        return ""
    if privileged:
        return f"or train this store with `--config {other}` (sim-only: privileged state)"
    return f"or train on what a real arm observes with `--config {other}`"


def _message(head: str, r: _Report, command: str, *fixed: str) -> str:
    lines = [f"{head}:"] + [f"  - {p}" for p in r.problems]
    if r.collect_opts:
        lines.append(f"fix: {' '.join([command, *fixed[:1], *r.collect_opts, *fixed[1:]])}")
    lines.extend(n for n in r.notes if n)
    return "\n".join(lines)


def check_policy_on_task(spec: Any, task: str, env_overrides: dict[str, Any] | None = None,
                         checkpoint: str = "RUN") -> None:
    """Raise PreflightError unless the task (with `env_overrides`) gives what a checkpoint's `spec` reads.

    checkpoint: how the user named the checkpoint, for the `robot eval` line that fixes it.
    """
    env_opts = dict(env_overrides or {})
    body, task_cfg = task_spec(task, env_opts)
    given = body.observations
    where = f"task {task!r}" + (f" with {env_opts}" if env_opts else "")
    r = _Report()
    for key, want_spec in spec.observations.items():
        want = tuple(want_spec.shape)
        if key not in given:
            hint = ("--env cameras=[" + ",".join(keys.camera_of(k) for k in spec.observations
                                                  if keys.is_image_key(k)) + "]") if keys.is_image_key(key) else ""
            r.add(f"{key}: the policy reads it, {where} does not give it (it gives "
                  f"{sorted(k for k in given if k != keys.INSTRUCTION)})", *([hint] if hint else []))
            continue
        got = tuple(given[key].shape)
        if got == want:
            continue
        flip = _privileged_flip(task, env_opts, task_cfg, want) if key == keys.STATE else None
        if flip is not None:
            r.add(f"state: the policy was trained on {_fmt(want)}, {where} gives {_fmt(got)}",
                  f"--env {PRIVILEGED}={_cli_value(flip)}")
        elif keys.is_image_key(key) and len(want) == 3:
            r.add(f"{key}: the policy was trained on {_fmt(want)} frames, {where} renders {_fmt(got)}",
                  f"--env image_size=[{want[0]},{want[1]}]")
        else:
            r.add(f"{key}: the policy was trained on {_fmt(want)}, {where} gives {_fmt(got)}")
    if int(spec.action_dim) != int(body.action.shape[0]):
        r.add(f"action: the policy outputs {spec.action_dim} values per step, {where} takes "
              f"{_fmt(tuple(body.action.shape))}; evaluate on the task it was trained for")
    if spec.uses_instruction and not body.instructions:
        r.add(f"the policy is language-conditioned, {where} gives no instruction; evaluate on a language task")
    if r.problems:
        raise PreflightError(_message("the checkpoint does not fit the task", r, "robot eval", f"--checkpoint {checkpoint}"))
