"""The policies modules import in one direction: pipeline -> trainer / evaluator -> their configs.

Before the split, `policies/train.py` and `policies/eval.py` imported their
configs from `policies/pipeline.py`, which imported them back (lazily) to run a
pipeline: a circle that made `import policies.train` load the pipeline. Each
check runs in a fresh interpreter so modules loaded by other tests cannot hide
an import.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def loaded_after(module: str) -> set[str]:
    """Module names in sys.modules after importing `module` alone in a fresh interpreter."""
    code = f"import json, sys, {module}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("module", ["policies.train", "policies.eval", "policies.train_state",
                                    "policies.train_config", "policies.eval_config", "policies.checkpoint"])
def test_trainer_evaluator_and_state_io_load_without_the_pipeline(module):
    loaded = loaded_after(module)
    assert module in loaded
    assert "policies.pipeline" not in loaded, f"{module} imports policies.pipeline (the circle is back)"


def test_pipeline_composes_the_configs_without_torch_or_the_trainer():
    loaded = loaded_after("policies.pipeline")
    assert {"policies.train_config", "policies.eval_config", "policies.config"} <= loaded
    heavy = {"torch", "numpy", "mujoco", "zarr", "policies.train", "policies.train_state", "policies.eval"} & loaded
    assert not heavy, f"importing the pipeline config loads {sorted(heavy)}; `robot train --help` would be slow"


def test_old_import_paths_still_resolve_to_the_one_class():
    from policies.eval import EvalConfig
    from policies.eval_config import EvalConfig as OwnEvalConfig
    from policies.pipeline import EvalConfig as PipelineEvalConfig
    from policies.pipeline import PipelineConfig, TrainConfig
    from policies.train_config import TrainConfig as OwnTrainConfig

    assert PipelineEvalConfig is EvalConfig is OwnEvalConfig and TrainConfig is OwnTrainConfig
    from policies import train, train_log, train_state

    for name in ("latest_checkpoint", "seed_everything", "trainable_state", "CHECKPOINT_DIR", "LATEST"):
        assert getattr(train, name) is getattr(train_state, name)
    assert train.MetricsLog is train_log.MetricsLog
    assert PipelineConfig().train == OwnTrainConfig() and PipelineConfig().eval == EvalConfig()
