"""What `robot demo` checks before it starts and prints when it ends.

`check_resumable` refuses an `--out` folder that holds another demo (a
different task, policy or observation set) before anything is written, so a
second run never loads an incompatible checkpoint. `summary_table` is the
table the main job ends with.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from robot.errors import UserError


def _diff_keys(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two nested dicts."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for k in sorted(set(old) | set(new)):
            out += _diff_keys(old.get(k), new.get(k), f"{prefix}{k}.")
        return out
    return [] if old == new else [prefix.rstrip(".")]


def check_resumable(out: Path, cfg: Any, images: bool, finetune: str = "none") -> None:
    """UserError naming what differs when `out` holds a demo this config cannot continue.

    Continuing means: the store holds demos of the same task (with images if the
    policy reads them), the checkpoint in `out/train` has the same task and
    policy section (train.steps and other training keys may change; they resume),
    and `out/finetune` (if any) used the same fine-tune method (`none` skips it).
    """
    from robot.config import to_dict

    store_path, train_dir = out / "demos.zarr", out / "train"
    fix = f"choose another --out, or delete {out} to start over"
    meta = out / "finetune" / "finetune.json"
    if finetune != "none" and meta.is_file():
        import json

        old_method = json.loads(meta.read_text()).get("method")
        if old_method != finetune:
            raise UserError(f"{out}/finetune holds a --finetune {old_method} run and this run asks for --finetune "
                            f"{finetune}; re-run with --finetune {old_method} (or none), or delete {out}/finetune "
                            "to fine-tune anew")
    if (train_dir / "config.yaml").is_file():
        from policies.pipeline import load_run_config

        old = load_run_config(train_dir)
        differ = _diff_keys({"task": to_dict(old.task), "policy": to_dict(old.policy)},
                            {"task": to_dict(cfg.task), "policy": to_dict(cfg.policy)})
        if differ:
            shown = ", ".join(differ[:4]) + (f" and {len(differ) - 4} more" if len(differ) > 4 else "")
            raise UserError(f"{out} holds a demo of {old.task.name} with a {old.policy.kind} policy "
                            f"({', '.join(old.policy.obs_keys)}); this run asks for {cfg.task.name} with a "
                            f"{cfg.policy.kind} policy ({', '.join(cfg.policy.obs_keys)}), so it cannot resume "
                            f"that checkpoint (differs in {shown}); {fix}")
    if store_path.is_dir():
        from data import EpisodeStore
        from robot import keys as K

        store = EpisodeStore.open(store_path, readonly=True)
        tasks = sorted({str(m.get("task", "")) for m in store.all_meta()})
        if tasks and cfg.task.name not in tasks:
            raise UserError(f"{store_path} holds demos of {', '.join(tasks)}, this run is for {cfg.task.name}; "
                            f"{fix}")
        has_images = any(K.is_image_key(k) for k in store.specs)
        if images and not has_images:
            raise UserError(f"{store_path} was recorded without camera images and this {cfg.policy.kind} policy "
                            f"reads {[k for k in cfg.policy.obs_keys if K.is_image_key(k)]}; {fix}")
        if has_images and not images:  # collection would append state-only episodes: another layout
            raise UserError(f"{store_path} was recorded with camera images and this {cfg.policy.kind} policy "
                            f"reads {list(cfg.policy.obs_keys)} only; {fix}")


def _pct(x: float) -> str:
    return f"{100.0 * x:.0f}%"


def _k_of_n(e: dict[str, Any]) -> str:
    """'k/n = p% (95% CI lo-hi)' of an evaluation's counts."""
    return (f"{e['successes']}/{e['episodes']} = {_pct(e['success_rate'])} "
            f"(95% CI {_pct(e['ci95_low'])}-{_pct(e['ci95_high'])})")


def _finetune_rows(r: dict[str, Any]) -> list[tuple[str, str]]:
    """Fine-tuning: env steps and minutes, then success before and after on the same held-out seeds."""
    f = r.get("finetune")
    if not f:
        skipped = r.get("finetune_skipped")
        return [("fine-tuning", f"skipped: {skipped}")] if skipped else []
    name = {"residual": "residual PPO", "noise": "noise steering (DSRL)"}.get(f["method"], f["method"])
    again = ", re-used" if f.get("reused") else ""
    return [("fine-tuning", f"{name}, {f['env_steps']} env steps, {f['train_minutes']:.1f} min{again}"),
            ("  before fine-tuning", _k_of_n(f["before"])),
            ("  after fine-tuning", _k_of_n(f["after"]) + " (same seeds)")]


def summary_table(results: dict[str, Any]) -> str:
    """The main job's closing table (plain text, one row per figure), from results.json's fields."""
    r = results
    lo, hi = r["ci95"]
    rows = [
        ("demos", f"{r['n_demos']} scripted ({r['collect_minutes']:.1f} min)"),
        ("training", f"{r['train_steps']} steps, {r['train_minutes']:.1f} min, final loss {r['final_loss']:.4f}"),
        ("success in sim", f"{r['successes']}/{r['eval_episodes']} = {_pct(r['success_rate'])} "
                           f"(95% CI {_pct(lo)}-{_pct(hi)})"),
        ("inference p50", f"{r['inference_ms_p50']:.1f} ms per chunk (eval, batch of {r['eval_envs']})"),
    ]
    rows += _finetune_rows(r)
    d = r.get("deploy")
    if d:
        dlo, dhi = d["ci95"]
        rows += [
            ("twin deployment", f"{d['successes']}/{d['episodes']} = {_pct(d['success_rate'])} "
                                f"(95% CI {_pct(dlo)}-{_pct(dhi)}), {d['ticks']} ticks at {d['fps']:g} Hz"),
            ("  policy", d.get("policy", "")),
            # a residual acts every tick from the latest observation: `robot deploy` runs it synchronously
            ("  inference p50", f"{d['inference_ms_p50']:.1f} ms per call "
                                f"({'sync' if 'Sync' in d.get('source', '') else 'async'}, one observation)"),
            ("  loop jitter", f"p50 {d['jitter_ms_p50']:.2f} ms, p99 {d['jitter_ms_p99']:.2f} ms, "
                              f"max {d['jitter_ms_max']:.2f} ms"),
            # as `robot deploy` counts them (robot/runtime/scheduler.py): a miss is a tick that woke up late
            ("  deadline misses", f"{d['misses']} of {d['ticks']} ticks woke up late; {d['late_ticks']} overran "
                                  f"their deadline, {d['missed_deadlines']} deadlines skipped"),
        ]
    elif r.get("deploy_skipped"):
        rows.append(("twin deployment", f"skipped: {r['deploy_skipped']}"))
    rows.append(("total", f"{r['total_minutes']:.1f} min"))
    width = max(len(k) for k, _ in rows)
    title = f"robot demo: {r['task']}, {r['policy']} policy from {', '.join(r['obs_keys'])}"
    lines = [title, "-" * len(title)] + [f"{k:<{width}}  {v}" for k, v in rows]
    lines.append(f"\noutput folder {r['out']}:")
    for label, path in r["files"]:
        lines.append(f"  {label:<{width}}  {path}")
    return "\n".join(lines)
