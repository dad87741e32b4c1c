"""`robot preview`: an mp4 per camera per episode and a PNG of state/action traces.

    robot preview demos.zarr --episodes 0 1 --out previews/

Writes `<out>/episode_<i>_<camera>.mp4` (H.264 via imageio-ffmpeg, at the
store's fps) and `<out>/episode_<i>_traces.png` (one panel per state and
action dimension group, x axis in seconds from the recorded timestamps).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `robot preview`."""
    parser.add_argument("store", help="Zarr episode store")
    parser.add_argument("--episodes", type=int, nargs="+", default=None,
                        help="episode indices (default: the first 3; negative counts from the end)")
    parser.add_argument("--out", default="previews", help="output directory (default: previews/)")
    parser.add_argument("--no-video", action="store_true", help="only the trace plots")


def write_video(path: Path, frames: Any, fps: float) -> None:
    """(T, H, W, 3) uint8 frames -> H.264 mp4 at `fps`."""
    import imageio.v2 as imageio

    # macro_block_size=2 keeps small frames (96x96) unscaled; H.264 yuv420p needs even sizes.
    with imageio.get_writer(str(path), fps=float(fps), codec="libx264", macro_block_size=2,
                            ffmpeg_log_level="error") as writer:
        for frame in frames:
            writer.append_data(frame)


def plot_traces(path: Path, episode: dict[str, Any], specs: dict[str, Any], title: str) -> None:
    """One panel each for `state` and `action`, a line per named dimension, against time (s)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from robot import keys as K

    panels = [k for k in (K.STATE, K.ACTION) if k in episode]
    t = np.asarray(episode.get(K.TIMESTAMP, np.arange(len(episode[panels[0]]))), dtype=float)
    fig, axes = plt.subplots(len(panels), 1, figsize=(9, 2.8 * len(panels)), sharex=True, squeeze=False)
    for ax, key in zip(axes[:, 0], panels, strict=True):
        values = np.asarray(episode[key], dtype=float).reshape(len(t), -1)
        names = list(specs[key].names) if key in specs and specs[key].names else []
        units = specs[key].units if key in specs else ""
        for d in range(values.shape[1]):
            ax.plot(t, values[:, d], label=names[d] if d < len(names) else f"{key}[{d}]", lw=1.2)
        ax.set_ylabel(f"{key} ({units})" if units else key)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, ncol=min(6, values.shape[1]), loc="upper right")
    axes[-1, 0].set_xlabel("time (s)")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def run(args: argparse.Namespace) -> int:
    """Write the previews; prints one line per file written."""
    from data import EpisodeStore
    from robot import keys as K
    from robot.progress import progress

    store = EpisodeStore.open(args.store, readonly=True)
    n = store.num_episodes
    if n == 0:
        print(f"robot preview: {args.store} holds no episodes", file=sys.stderr)
        return 1
    episodes = args.episodes if args.episodes is not None else list(range(min(3, n)))
    bad = [i for i in episodes if not -n <= i < n]
    if bad:
        print(f"robot preview: episodes {bad} out of range; {args.store} holds {n} (0..{n - 1})", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cams = [k for k in store.keys if K.is_image_key(k)]
    written = []
    for i in progress(episodes, desc="preview", unit="ep"):
        i %= n
        meta = store.episode_meta(i)
        ep = store.episode(i)
        if not args.no_video:
            for key in cams:
                path = out / f"episode_{i}_{K.camera_of(key)}.mp4"
                write_video(path, ep[key], store.fps)
                written.append(path)
        path = out / f"episode_{i}_traces.png"
        title = (f"{args.store} episode {i}: {meta.get('task', '')} ({meta.get('source', '')}), "
                 f"success={meta.get('success')}, {meta['length']} ticks")
        plot_traces(path, ep, store.specs, title)
        written.append(path)
    for p in written:
        print(p)
    return 0
