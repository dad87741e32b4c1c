"""PNG plots of a training run: success rate over training (with its 95% CI) and the loss curve.

Uses matplotlib's Agg backend (no display needed).
"""

from __future__ import annotations

import csv
from pathlib import Path


def read_csv(path: str | Path) -> list[dict[str, float]]:
    """Rows of a metrics/eval CSV as floats (empty list when the file is missing)."""
    p = Path(path)
    if not p.is_file():
        return []
    with p.open() as f:
        rows = []
        for r in csv.DictReader(f):
            rows.append({k: float(v) for k, v in r.items() if v not in ("", None)})
        return rows


def plot_run(run_dir: str | Path, out_png: str | Path, title: str = "") -> Path:
    """Success over training steps (from eval.csv) above the training loss (from metrics.csv).

    Either panel says "no data" when its CSV is missing; raises FileNotFoundError
    when the run folder has neither.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run = Path(run_dir)
    evals, metrics = read_csv(run / "eval.csv"), read_csv(run / "metrics.csv")
    if not evals and not metrics:
        raise FileNotFoundError(f"{run} has neither eval.csv nor metrics.csv; is it a `robot train` run folder?")
    fig, (ax_s, ax_l) = plt.subplots(2, 1, figsize=(6, 6), sharex=True)
    if evals:
        steps = [r["step"] for r in evals]
        rate = [r.get("success_rate", float("nan")) for r in evals]
        ax_s.plot(steps, rate, "o-", color="tab:green", label="success rate")
        if "ci95_low" in evals[0]:
            ax_s.fill_between(steps, [r["ci95_low"] for r in evals], [r["ci95_high"] for r in evals],
                              color="tab:green", alpha=0.2, label="95% Wilson CI")
        cover = [r.get("mean_max_reward", float("nan")) for r in evals]
        if all(0.0 <= c <= 1.0 for c in cover):  # a score in [0, 1] (PushT coverage) fits the same axis
            ax_s.plot(steps, cover, "s--", color="tab:orange", label="mean max reward")
        ax_s.legend(loc="lower right")
    else:
        ax_s.text(0.5, 0.5, "no evaluation during training (eval.every=0)", ha="center", transform=ax_s.transAxes)
    ax_s.set_ylim(-0.02, 1.02)
    ax_s.set_ylabel("success rate")
    ax_s.grid(alpha=0.3)
    if metrics:
        ax_l.plot([r["step"] for r in metrics], [r["loss"] for r in metrics], color="tab:blue")
        ax_l.set_yscale("log")
    ax_l.set_xlabel("training step")
    ax_l.set_ylabel("loss")
    ax_l.grid(alpha=0.3)
    fig.suptitle(title or run.name)
    fig.tight_layout()
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
