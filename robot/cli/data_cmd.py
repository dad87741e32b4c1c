"""`robot data info | check | merge | split | drop | keep | export | import | view`: inspect, edit, convert stores.

    robot data view demos.zarr --episode 3 --out ep3.rrd     # then: rerun ep3.rrd

Heavy modules (zarr, numpy, torch) are imported inside `run` so `robot --help` stays fast.
"""

from __future__ import annotations

import argparse
import sys

from robot.errors import UserError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the `data` subcommands."""
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    p = sub.add_parser("info", help="summary of a store: episodes, frames, keys, tasks, success")
    p.add_argument("path")
    p.add_argument("--episodes", action="store_true", help="also list every episode")
    p.add_argument("--stats", action="store_true", help="also print normalization statistics")
    p = sub.add_parser("check", help="find every inconsistency (of a store, or of a LeRobot dataset "
                       "folder); exits 1 when any is found")
    p.add_argument("path")
    p = sub.add_parser("merge", help="concatenate stores with identical specs into a new store")
    p.add_argument("out")
    p.add_argument("inputs", nargs="+")
    p.add_argument("--overwrite", action="store_true")
    p = sub.add_parser("split", help="write train and validation stores, split by episode")
    p.add_argument("path")
    p.add_argument("--val-ratio", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--train-out", help="default: <path stem>.train.zarr")
    p.add_argument("--val-out", help="default: <path stem>.val.zarr")
    for name, text in (("drop", "remove episodes"), ("keep", "keep only these episodes")):
        p = sub.add_parser(name, help=f"{text} (in place, or into --out)")
        p.add_argument("path")
        p.add_argument("episodes", help="comma-separated indices and ranges, e.g. 0,3,5-7")
        p.add_argument("--out")
    p = sub.add_parser("view", help="write episodes as a rerun recording (.rrd), the live view's logging")
    p.add_argument("path")
    p.add_argument("--episode", default="0", help="episode index or list, e.g. 3 or 0,2-4 (default 0)")
    p.add_argument("--out", required=True, help="rerun file to write, e.g. ep3.rrd (open with `rerun ep3.rrd`)")
    _add_lerobot_arguments(sub)


def _add_lerobot_arguments(sub) -> None:
    # Defaults live in data/lerobot_format.py (ExportOptions); not imported here to keep --help fast.
    p = sub.add_parser("export", help="write a store as a LeRobot dataset v3.0 folder")
    p.add_argument("--format", choices=["lerobot"], required=True)
    p.add_argument("path", help="the episode store (.zarr)")
    p.add_argument("out", help="the dataset folder to create")
    p.add_argument("--repo-id", default="local/robot-stack", help="recorded in info.json (robot_stack)")
    p.add_argument("--video", action=argparse.BooleanOptionalAction, default=True,
                   help="cameras as mp4 videos (default) or as PNG images in the parquet files")
    p.add_argument("--codec", default="h264-rgb",
                   help="h264-rgb (default): lossless; h264-444: near-lossless (max error 2/255); "
                   "av1: small and lossy, as LeRobot records")
    p.add_argument("--data-file-mb", type=float, help="roll to a new data file past this (default 100)")
    p.add_argument("--video-file-mb", type=float, help="roll to a new video file past this (default 200)")
    p.add_argument("--overwrite", action="store_true")
    p = sub.add_parser("import", help="read a LeRobot dataset v3.0 folder into a new store")
    p.add_argument("path", help="the LeRobot dataset folder (with meta/info.json)")
    p.add_argument("out", help="the episode store (.zarr) to create")
    p.add_argument("--robot", help="robot name for the store (default: info.json robot_type)")
    p.add_argument("--overwrite", action="store_true")


def _lerobot(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from data.lerobot_check import check_lerobot
    from data.lerobot_format import ExportOptions, export_lerobot, import_lerobot

    if args.data_command == "export":
        limits = {k: v for k, v in (("data_file_mb", args.data_file_mb), ("video_file_mb", args.video_file_mb))
                  if v is not None}
        opts = ExportOptions(repo_id=args.repo_id, video=args.video, codec=args.codec, **limits)
        info = export_lerobot(args.path, args.out, opts, overwrite=args.overwrite)
        rep = check_lerobot(args.out)
        for problem in rep.problems:  # our own export must pass: say so loudly if not
            print(f"PROBLEM: {problem}", file=sys.stderr)
        summary = {k: info[k] for k in ("codebase_version", "total_episodes", "total_frames", "total_tasks", "fps")}
        print(json.dumps({**summary, "root": str(Path(args.out)), "repo_id": args.repo_id, "check": rep.ok}))
        return 0 if rep.ok else 1
    store = import_lerobot(args.path, args.out, overwrite=args.overwrite, robot=args.robot)
    print(json.dumps({"store": str(store.path), "episodes": store.num_episodes, "frames": store.num_frames,
                      "keys": store.keys}))
    return 0


def _parse_episodes(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        lo, _, hi = part.partition("-")
        try:
            out.extend(range(int(lo), int(hi) + 1) if hi else [int(lo)])
        except ValueError:
            raise UserError(f"cannot parse episode list {text!r} (use e.g. 0,3,5-7)") from None
    return out


def _info(args: argparse.Namespace) -> int:
    from collections import Counter

    from data import EpisodeStore

    store = EpisodeStore.open(args.path, readonly=True)
    metas = store.all_meta()
    lengths = store.episode_lengths
    print(f"store      {store.path}")
    print(f"robot      {store.robot or '-'}   fps {store.fps:g}   schema v{store.attrs['schema_version']}")
    print(f"episodes   {store.num_episodes}   frames {store.num_frames} "
          f"({store.num_frames / store.fps:.1f} s)")
    if len(lengths):
        print(f"length     min {lengths.min()}  mean {lengths.mean():.1f}  max {lengths.max()} frames")
    print("keys")
    for key, spec in store.specs.items():
        names = f"  [{', '.join(spec.names)}]" if spec.names else ""
        print(f"  {key:<20} {str(spec.shape):<14} {spec.dtype:<8} {spec.units}{names}")
    known = [m["success"] for m in metas if m.get("success") is not None]
    if known:
        print(f"success    {sum(known)}/{len(known)} ({100 * sum(known) / len(known):.0f}%)")
    for field in ("task", "source"):
        counts = Counter(m.get(field, "") for m in metas)
        print(f"{field:<10} " + ", ".join(f"{k or '-'}: {v}" for k, v in counts.most_common()))
    if args.episodes:
        core = {"task", "instruction", "source", "success", "note", "length", "recorded_at", "episode_id"}
        print(f"{'#':>5} {'frames':>7} {'success':>7} {'source':<12} task / instruction / note / extras")
        for i, m in enumerate(metas):
            extras = " ".join(f"{k}={v}" for k, v in m.items() if k not in core)
            print(f"{i:>5} {m['length']:>7} {str(m.get('success')):>7} {m.get('source', ''):<12} "
                  f"{m.get('task', '')} / {m.get('instruction', '')} / {m.get('note', '')} / {extras}")
    if args.stats:
        import numpy as np

        np.set_printoptions(precision=4, suppress=True, linewidth=120)
        for key, st in store.stats().items():
            print(f"stats {key}")
            for name, value in st.items():
                print(f"  {name:<5} {value}")
    return 0


def _check(args: argparse.Namespace) -> int:
    from pathlib import Path

    from data.check import check_store
    from data.lerobot_check import check_lerobot

    if not Path(args.path).exists():
        raise UserError(f"{args.path} does not exist; give an episode store (.zarr) or a LeRobot dataset folder")
    if (Path(args.path) / "meta" / "info.json").is_file():  # a LeRobot dataset folder
        rep = check_lerobot(args.path)
        for problem in rep.problems:
            print(f"PROBLEM: {problem}")
        print(f"{args.path}: LeRobot dataset, {'; '.join(rep.notes) or 'unreadable'}: "
              f"{'OK' if rep.ok else f'{len(rep.problems)} problem(s)'}")
        return 0 if rep.ok else 1
    rep = check_store(args.path, progress=sys.stderr.isatty())
    for note in rep.notes:
        print(f"note: {note}")
    for problem in rep.problems:
        print(f"PROBLEM: {problem}")
    verdict = "OK" if rep.ok else f"{len(rep.problems)} problem(s)"
    print(f"{args.path}: {rep.num_episodes} episodes, {rep.num_frames} frames: {verdict}")
    return 0 if rep.ok else 1


def _view(args: argparse.Namespace) -> int:
    from data import EpisodeStore
    from robot import keys as K
    from robot.runtime.rerun_log import log_episode, open_recording
    from robot.specs import BodySpec

    store = EpisodeStore.open(args.path, readonly=True)
    episodes = _parse_episodes(args.episode)
    bad = [i for i in episodes if not 0 <= i < store.num_episodes]
    if bad or not episodes:
        print(f"robot data view: episode(s) {bad or args.episode} not in {args.path} "
              f"(it holds {store.num_episodes}: 0-{store.num_episodes - 1})", file=sys.stderr)
        return 2
    if K.ACTION not in store.specs:
        print(f"robot data view: {args.path} has no 'action' key", file=sys.stderr)
        return 2
    obs_specs = {k: s for k, s in store.specs.items() if k == K.STATE or K.is_image_key(k)}
    spec = BodySpec(store.robot or "store", obs_specs, store.specs[K.ACTION], store.fps)
    try:
        rec = open_recording(f"robot_data_{spec.name}", save=args.out)
    except (ImportError, ValueError) as e:
        print(f"robot data view: {e}", file=sys.stderr)
        return 2
    ticks = 0
    for i in episodes:
        ticks += log_episode(rec, store.episode(i), spec, store.fps, store.episode_meta(i), episode=i)
    rec.flush()
    rec.disconnect()
    print(f"{args.out}: {len(episodes)} episode(s), {ticks} ticks; open it with `rerun {args.out}`")
    return 0


def run(args: argparse.Namespace) -> int:
    """Dispatch to the chosen action; store errors (the user's) print one line and exit 2."""
    from pathlib import Path

    from data import ops
    from data.errors import StoreError

    action = args.data_command
    try:
        if action == "info":
            return _info(args)
        if action == "check":
            return _check(args)
        if action in ("export", "import"):
            return _lerobot(args)
        if action == "view":
            return _view(args)
        if action == "merge":
            out = ops.merge_stores(args.inputs, args.out, overwrite=args.overwrite, progress=True)
            print(f"merged {len(args.inputs)} stores into {out.path}: {out.num_episodes} episodes")
        elif action == "split":
            path = Path(args.path)
            stem = path.with_suffix("") if path.suffix == ".zarr" else path
            train_out = args.train_out or f"{stem}.train.zarr"
            val_out = args.val_out or f"{stem}.val.zarr"
            train, val = ops.split_store(path, train_out, val_out, args.val_ratio, args.seed, progress=True)
            print(f"train: {train.path} ({train.num_episodes} episodes); "
                  f"val: {val.path} ({val.num_episodes} episodes)")
        elif action in ("drop", "keep"):
            fn = ops.drop_episodes if action == "drop" else ops.keep_episodes
            out = fn(args.path, _parse_episodes(args.episodes), out=args.out, progress=True)
            print(f"{out.path}: {out.num_episodes} episodes, {out.num_frames} frames")
    except StoreError as e:  # a missing store, a bad episode list, a layout clash: the user's to fix
        raise StoreError(f"{action}: {e}") from e  # robot.cli.main prints it in one line (exit 2)
    return 0
