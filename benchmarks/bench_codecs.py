"""Pick the store's codecs and chunk lengths by measurement; prints JSON.

Frames come from scripted-expert rollouts of the MuJoCo `so101_lift` task
(2 cameras, 96x96), so the images have the texture and frame-to-frame
redundancy of real recordings. For each codec and chunk length (frames per
chunk) we write the frames through Zarr and report: compression ratio,
encode cost in ms per frame (the recorder pays it on its flush thread), and
the cost of reading one random To=2 window (what the sampler pays on a cache
miss). State/action get the same treatment with their own candidates.

    MUJOCO_GL=egl python benchmarks/bench_codecs.py [--rollouts 3] [--steps 150]
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
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import zarr  # noqa: E402
from zarr.codecs import BloscCodec, Crc32cCodec, ZstdCodec  # noqa: E402

IMAGE_CODECS = {
    "zstd-1": lambda: ZstdCodec(level=1),
    "zstd-3": lambda: ZstdCodec(level=3),
    "zstd-5": lambda: ZstdCodec(level=5),
    "zstd-9": lambda: ZstdCodec(level=9),
    "blosc-lz4-5": lambda: BloscCodec(cname="lz4", clevel=5, shuffle="noshuffle"),
    "blosc-zstd-3": lambda: BloscCodec(cname="zstd", clevel=3, shuffle="noshuffle"),
}
LOWDIM_CODECS = {
    "zstd-3": lambda: ZstdCodec(level=3),
    "blosc-lz4-5-shuffle": lambda: BloscCodec(cname="lz4", clevel=5, shuffle="shuffle"),
    "blosc-zstd-3-shuffle": lambda: BloscCodec(cname="zstd", clevel=3, shuffle="shuffle"),
    "blosc-zstd-3-bitshuffle": lambda: BloscCodec(cname="zstd", clevel=3, shuffle="bitshuffle"),
}


def rollout_frames(rollouts: int, steps: int) -> dict[str, np.ndarray]:
    """Frames of `rollouts` expert episodes of so101_lift: images (N, 96, 96, 3), state, action."""
    from sim.registry import make_env, make_expert

    env = make_env("so101_lift")
    out: dict[str, list] = {}
    for seed in range(rollouts):
        obs, _ = env.reset(seed=seed)
        expert = make_expert("so101_lift", env, seed=seed)
        expert.reset(obs)
        for _ in range(steps):
            action = expert.get_action(obs).action
            for k, v in obs.items():
                if k != "instruction":
                    out.setdefault(k, []).append(np.asarray(v))
            out.setdefault("action", []).append(np.asarray(action, dtype=np.float32))
            obs, _, _, _, _ = env.step(action)
    env.close()
    return {k: np.stack(v) for k, v in out.items()}


def measure(data: np.ndarray, codec, chunk: int, tmp: Path, windows: int, rng,
            repeats: int = 3) -> dict[str, float]:
    """Write `data` with `codec` and `chunk` frames per chunk; size, encode and window-read cost.

    Times are the best of `repeats` runs: the machine is shared, and the minimum
    is the least disturbed estimate of the codec's own cost.
    """
    encode, read = [], []
    starts = rng.integers(0, len(data) - 2, windows)
    for _ in range(repeats):
        path = tmp / "a.zarr"
        shutil.rmtree(path, ignore_errors=True)
        arr = zarr.create_array(zarr.storage.LocalStore(path), shape=data.shape, dtype=data.dtype,
                                chunks=(chunk, *data.shape[1:]), compressors=(codec, Crc32cCodec()),
                                fill_value=0)
        t0 = time.process_time()
        for start in range(0, len(data), chunk):  # chunk-wise, as the recorder flushes
            arr[start:start + chunk] = data[start:start + chunk]
        encode.append(time.process_time() - t0)
        t0 = time.perf_counter()
        for s in starts:
            arr[s:s + 2]
        read.append(time.perf_counter() - t0)
    stored = sum(f.stat().st_size for f in (path / "c").rglob("*") if f.is_file())
    return {"ratio": round(data.nbytes / stored, 2),
            "encode_ms_per_frame": round(1e3 * min(encode) / len(data), 4),
            "window_read_ms": round(1e3 * min(read) / windows, 3)}


def raw_zstd(images: np.ndarray, chunk: int = 16, repeats: int = 3) -> dict[str, dict[str, float]]:
    """Pure zstd cost per level on `chunk`-frame blocks (numcodecs, one thread, no Zarr overhead):
    what the level itself costs, which Zarr's per-chunk overhead hides at 96x96."""
    import numcodecs

    blocks = [images[i:i + chunk].tobytes() for i in range(0, len(images) - chunk + 1, chunk)]
    out = {}
    for level in (1, 3, 5, 9):
        codec = numcodecs.Zstd(level=level)
        enc, dec = [], []
        for _ in range(repeats):
            t0 = time.process_time()
            packed = [codec.encode(b) for b in blocks]
            enc.append(time.process_time() - t0)
            t0 = time.process_time()
            for b in packed:
                codec.decode(b)
            dec.append(time.process_time() - t0)
        size = sum(len(b) for b in packed)
        out[f"zstd-{level}"] = {"ratio": round(sum(len(b) for b in blocks) / size, 2),
                                "encode_ms_per_frame": round(1e3 * min(enc) / (len(blocks) * chunk), 4),
                                "decode_ms_per_chunk": round(1e3 * min(dec) / len(blocks), 4)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rollouts", type=int, default=3)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--windows", type=int, default=200)
    parser.add_argument("--raw-only", action="store_true", help="only the pure zstd level comparison")
    args = parser.parse_args()
    frames = rollout_frames(args.rollouts, args.steps)
    rng = np.random.default_rng(0)
    results: dict = {"frames": int(len(frames["action"])), "source": "so101_lift expert rollouts",
                     "images": {}, "lowdim": {}}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        images = np.concatenate([frames["images.front"], frames["images.wrist"]])
        results["images_raw_zstd_chunk16"] = raw_zstd(images)
        if args.raw_only:
            print(json.dumps(results, indent=1))
            return
        for name, make in IMAGE_CODECS.items():
            for chunk in (1, 4, 16, 64):
                results["images"][f"{name}/chunk{chunk}"] = measure(images, make(), chunk, tmp,
                                                                    args.windows, rng)
        lowdim = np.concatenate([frames["state"].astype(np.float32), frames["action"]], axis=1)
        for name, make in LOWDIM_CODECS.items():
            for chunk in (64, 256, 1024):
                results["lowdim"][f"{name}/chunk{chunk}"] = measure(lowdim, make(), chunk, tmp,
                                                                    args.windows, rng)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
