"""Store -> LeRobot v3.0 -> store round trip per image setting: image error, size, time; prints JSON.

Frames: one rendered so101_lift scripted rollout (2 cameras, 96x96), cut into
episodes, with a jittery measured clock. For each setting (three video codec
presets and PNG-in-parquet) the store is exported, checked with our format
checker and imported back; reported: the max / mean absolute pixel error of
the imported images (0..255), whether every non-image value and the episode
metadata came back exactly, the dataset's size on disk, and export / import
seconds (one run each, after a warm-up export; 1 torch thread, 2 shared CPU cores).

    MUJOCO_GL=egl .venv/bin/python benchmarks/bench_lerobot_roundtrip.py [--steps 150]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("MUJOCO_GL", "egl")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from _frames import rendered_pool  # noqa: E402
from lerobot_side_check import build_store  # noqa: E402

from data.lerobot_check import check_lerobot  # noqa: E402
from data.lerobot_format import ExportOptions, export_lerobot, import_lerobot  # noqa: E402

SETTINGS = {
    "h264-444": ExportOptions(codec="h264-444"),
    "h264-rgb": ExportOptions(codec="h264-rgb"),
    "av1": ExportOptions(codec="av1"),
    "png": ExportOptions(video=False),
}


def _size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--out", type=Path, default=HERE / "results" / "bench_lerobot_roundtrip.json")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    pool = {k: v for k, v in rendered_pool(steps=args.steps, seed=1).items() if k != "timestamp"}
    pool["state"] = pool["state"].astype(np.float32)
    lengths = [args.steps // 3, args.steps // 3, args.steps - 2 * (args.steps // 3)]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        store = build_store(work / "s.zarr", pool, lengths)
        raw = sum(p.stat().st_size for p in (work / "s.zarr").rglob("*") if p.is_file())
        export_lerobot(store.path, work / "warmup", ExportOptions())  # warm-up: codecs, imports
        for name, opts in SETTINGS.items():
            t0 = time.perf_counter()
            export_lerobot(store.path, work / name, opts)
            t1 = time.perf_counter()
            back = import_lerobot(work / name, work / f"{name}.zarr")
            t2 = time.perf_counter()
            errors, exact = {}, True
            for i in range(store.num_episodes):
                a, b = store.episode(i), back.episode(i)
                exact &= back.episode_meta(i) == store.episode_meta(i)
                for key in store.keys:
                    if key.startswith("images."):
                        d = np.abs(a[key].astype(np.int16) - b[key].astype(np.int16))
                        e = errors.setdefault(key, {"max": 0, "sum": 0.0, "n": 0})
                        e["max"], e["sum"], e["n"] = max(e["max"], int(d.max())), e["sum"] + float(d.sum()), \
                            e["n"] + d.size
                    else:
                        exact &= bool(np.array_equal(a[key], b[key]))
            results[name] = {
                "image_max_abs_error": {k: e["max"] for k, e in errors.items()},
                "image_mean_abs_error": {k: round(e["sum"] / e["n"], 4) for k, e in errors.items()},
                "non_image_values_and_metadata_exact": exact and bool(
                    np.array_equal(back.episode_ends, store.episode_ends)),
                "checker_ok": check_lerobot(work / name).ok,
                "dataset_bytes": _size(work / name), "export_s": round(t1 - t0, 3), "import_s": round(t2 - t1, 3),
            }
            shutil.rmtree(work / name)
    out = {"frames": args.steps, "episodes": lengths, "cameras": 2, "image": "96x96x3",
           "store_bytes": raw, "settings": results,
           "command": f"MUJOCO_GL=egl .venv/bin/python benchmarks/bench_lerobot_roundtrip.py --steps {args.steps}"}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
