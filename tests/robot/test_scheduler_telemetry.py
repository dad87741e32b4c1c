"""Scheduler wake-up jitter and misses, per-tick telemetry records, on an injected clock."""

from __future__ import annotations

import numpy as np
import pytest

from robot.runtime.scheduler import (
    TELEMETRY_PREFIX,
    LoopTelemetry,
    RateScheduler,
    TickRecord,
    telemetry_specs,
)


def fake_time(oversleep: list[float] | None = None):
    """A clock; `sleep(dt)` advances it by dt plus the next queued oversleep (a loaded machine)."""
    now = [0.0]
    extra = list(oversleep or [])

    def sleep(dt: float) -> None:
        now[0] += dt + (extra.pop(0) if extra else 0.0)

    return now, (lambda: now[0]), sleep


def run_ticks(sched: RateScheduler, now: list[float], works: list[float]):
    sched.start()
    out = []
    for w in works:
        sched.begin()
        now[0] += w
        out.append(sched.end())
    return out


def test_oversleeping_counts_as_a_miss_even_when_work_is_fast():
    # 50 Hz: 20 ms grid, 2 ms tolerance. The second sleep overshoots by 5 ms (a loaded machine).
    now, clock, sleep = fake_time([0.0, 0.005, 0.0, 0.0])
    timings = run_ticks(RateScheduler(50.0, clock=clock, sleep=sleep), now, [0.001] * 5)
    assert [t.late for t in timings] == [False] * 5  # compute never overran
    assert [t.miss for t in timings] == [False, False, True, False, False]
    assert timings[2].jitter == pytest.approx(0.005)
    assert timings[2].deadline == pytest.approx(0.04)
    assert timings[3].jitter == pytest.approx(0.0, abs=1e-9)  # back on the grid


def test_an_overrun_makes_the_next_tick_late_once_and_skips_whole_deadlines():
    now, clock, sleep = fake_time()
    timings = run_ticks(RateScheduler(10.0, clock=clock, sleep=sleep), now, [0.01, 0.25, 0.01, 0.01])
    assert timings[1].late and timings[1].missed == 1
    # tick 2 starts at 0.35, its last passed grid point is 0.3: 50 ms late
    assert timings[2].miss and timings[2].jitter == pytest.approx(0.05)
    assert not timings[3].miss
    tel = LoopTelemetry(10.0)
    for t in timings:
        tel.add(t)
    s = tel.summary()
    assert s["misses"] == 1 and s["late_ticks"] == 1 and s["missed_deadlines"] == 1
    assert s["jitter_ms_max"] == pytest.approx(50.0)


def test_tolerance_is_configurable_and_fast_mode_never_misses():
    now, clock, sleep = fake_time([0.0, 0.0015])
    tight = run_ticks(RateScheduler(50.0, clock=clock, sleep=sleep, wake_tolerance=0.001), now, [0.001] * 3)
    assert [t.miss for t in tight] == [False, False, True]
    now, clock, sleep = fake_time()
    fast = run_ticks(RateScheduler(50.0, realtime=False, clock=clock, sleep=sleep), now, [0.5] * 3)
    assert not any(t.miss or t.late for t in fast)


def test_tick_record_rows_match_the_store_specs():
    rec = TickRecord(deadline=1.0, wakeup=1.0005, obs_age_ms=3.0, inference_ms=float("nan"), queue_depth=4,
                     stalled_ticks=0, requested=np.r_[np.ones(5), np.nan], command=np.zeros(6), clamp=7, miss=True,
                     intervention=False, held=False)
    row, specs = rec.row(), telemetry_specs(6)
    assert set(row) == set(specs) and all(k.startswith(TELEMETRY_PREFIX) for k in row)
    for k, v in row.items():
        assert np.asarray(v).shape == specs[k].shape and np.asarray(v).dtype == np.dtype(specs[k].dtype), k
    assert rec.jitter_ms == pytest.approx(0.5)
    assert row["telemetry.clamp"] == 7 and row["telemetry.miss"] == 1
    # the store holds finite numbers only: unknown -> -1, a NaN request -> 0 (clamp bit 1 says so)
    assert row["telemetry.inference_ms"] == -1.0 and row["telemetry.requested"][5] == 0.0
