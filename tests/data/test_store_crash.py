"""SIGKILL a recording process at random moments, many times: committed episodes survive bit-exact.

A child process (store_crash_child.py) records seeded episodes in a loop; the test
kills it with SIGKILL at a random moment after it has opened the store, then
reopens the store and checks every committed episode against the data the
child deterministically wrote, and that the next child resumes appending.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np

from data import EpisodeStore

sys.path.insert(0, str(Path(__file__).parent))
from store_crash_child import episode_data  # noqa: E402

CHILD = Path(__file__).parent / "store_crash_child.py"
KILLS = 24


def _verify(path: Path, log: Path) -> int:
    store = EpisodeStore.open(path, readonly=True)
    logged = [int(x) for x in log.read_text().split()] if log.exists() else []
    # A kill after the commit point but before the child logged leaves an episode
    # committed and unlogged; later children go on logging, so the log may have
    # gaps (one per such kill). What must hold: the log is increasing, every
    # episode whose commit() returned is there, and at most one episode lies
    # beyond the last logged one (the one the final kill caught after its commit point).
    assert logged == sorted(set(logged)), logged
    last = logged[-1] + 1 if logged else 0
    assert store.num_episodes >= last, (store.num_episodes, logged[-3:])
    assert store.num_episodes <= last + 1, (store.num_episodes, logged[-3:])
    for i in range(store.num_episodes):
        want = episode_data(i)
        got = store.episode(i)
        for key, value in want.items():
            assert got[key].dtype == value.dtype, (i, key)
            np.testing.assert_array_equal(got[key], value, err_msg=f"episode {i} key {key}")
        meta = store.episode_meta(i)
        assert meta["k"] == i and meta["success"] == bool(i % 2) and meta["length"] == len(want["state"])
    return store.num_episodes


def _run_child(path: Path, log: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(CHILD), str(path), str(log), *args],
                            stdout=subprocess.PIPE, text=True)


def test_sigkill_while_recording_loses_at_most_the_open_episode(tmp_path):
    path, log = tmp_path / "crash.zarr", tmp_path / "committed.log"
    rng = random.Random(1234)
    counts = []
    torn = 0  # kills that left rows of an unfinished episode behind
    for _ in range(KILLS):
        child = _run_child(path, log)
        line = child.stdout.readline()
        assert line.startswith("ready"), line
        # Kill anywhere in the recording: mid-append, mid-flush, mid-commit.
        try:
            child.wait(timeout=rng.uniform(0.0, 0.25))
        except subprocess.TimeoutExpired:
            os.kill(child.pid, signal.SIGKILL)
        child.wait()
        child.stdout.close()
        assert child.returncode == -signal.SIGKILL
        raw = EpisodeStore.open(path, readonly=True)
        torn += raw.array("images.front").shape[0] > raw.num_frames
        counts.append(_verify(path, log))
    # Appending resumed after every kill: the count never went down and grew overall.
    assert counts == sorted(counts) and counts[-1] > KILLS // 2, counts
    assert torn >= 3, f"only {torn} kills hit an unfinished episode; the test lost its teeth"
    # A clean run after all the kills appends on top, with no leftover temp files.
    child = _run_child(path, log, "3")
    assert child.wait(timeout=60) == 0
    child.stdout.close()
    assert _verify(path, log) == counts[-1] + 3
    assert not list(path.rglob("*.partial"))
