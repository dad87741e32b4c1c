"""Where training writes its numbers: CSV files in the run folder, TensorBoard and wandb when asked.

    metrics.csv   step, loss, lr, grad_norm, ema_decay, data/step time, model metrics
    eval.csv      step, success rate (+95% CI), mean reward, during training
    val.csv       step, EMA policy loss on held-out episodes (data.val_ratio > 0)

CSV rows past a resumed step are dropped, so a resumed run's logs read as if
it had never stopped.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any


class MetricsLog:
    """Append-only CSV with a fixed header; on resume, rows past the resumed step are dropped."""

    def __init__(self, path: Path, resume_step: int | None) -> None:
        self.path, self.fields = path, None
        if resume_step is not None and path.is_file():
            with path.open() as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) <= resume_step]
            if rows:
                self.fields = list(rows[0])
                self._write(rows, "w")
            else:
                path.unlink()
        elif path.is_file():
            path.unlink()

    def _write(self, rows: list[dict], mode: str) -> None:
        with self.path.open(mode, newline="") as f:
            w = csv.DictWriter(f, fieldnames=self.fields, extrasaction="ignore")
            if mode == "w":
                w.writeheader()
            w.writerows(rows)

    def append(self, row: dict[str, Any]) -> None:
        """Write one row; the first row fixes the columns."""
        if self.fields is None:
            self.fields = list(row)
            self._write([row], "w")
        else:
            self._write([row], "a")


class ExternalLoggers:
    """TensorBoard and / or wandb, each only when asked for and installed (else CSV only, said once)."""

    def __init__(self, out: Path, tensorboard: bool, wandb: bool, run_config: dict[str, Any]) -> None:
        self._writers: list[tuple[str, Any]] = []
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._writers.append(("tb", SummaryWriter(str(out / "tensorboard"))))
            except ImportError:
                print("train.tensorboard=true but tensorboard is not installed; logging to CSV only")
        if wandb:
            try:
                import wandb as wandb_module

                run = wandb_module.init(project="robot-stack", dir=str(out), config=run_config,
                                        resume="allow", name=out.name)
                self._writers.append(("wandb", run))
            except ImportError:
                print("train.wandb=true but wandb is not installed; logging to CSV only")

    def log(self, row: dict[str, Any], prefix: str) -> None:
        """Log the numeric values of `row` (which holds `step`) as `<prefix>/<key>`."""
        for kind, w in self._writers:
            scalars = {f"{prefix}/{k}": v for k, v in row.items() if k != "step" and isinstance(v, (int, float))}
            if kind == "tb":
                for k, v in scalars.items():
                    w.add_scalar(k, v, row["step"])
            else:
                w.log(scalars, step=row["step"])

    def close(self) -> None:
        """Flush and close every writer."""
        for kind, w in self._writers:
            w.close() if kind == "tb" else w.finish()
        self._writers = []
