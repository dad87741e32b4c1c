"""ChunkExecutor alone: aggregators, dropping past actions, guarded splices (integer ticks, no clock)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from robot.runtime.executor import AGGREGATORS, ChunkExecutor, ExecutorConfig


def ramp(start: float, n: int, da: int = 2) -> np.ndarray:
    return (start + np.arange(n, dtype=np.float32))[:, None].repeat(da, axis=1)


def test_registry_names_and_pairwise_rules():
    assert set(AGGREGATORS) == {"latest_only", "weighted_average", "average", "temporal_ensemble"}
    old, new = np.array([1.0, 2.0]), np.array([3.0, 6.0])
    np.testing.assert_allclose(AGGREGATORS["latest_only"](old, new, 1, 0.0), new)
    np.testing.assert_allclose(AGGREGATORS["weighted_average"](old, new, 1, 0.0), 0.3 * old + 0.7 * new)
    np.testing.assert_allclose(AGGREGATORS["average"](old, new, 1, 0.0), [2.0, 4.0])
    with pytest.raises(KeyError, match="registered: average, latest_only"):
        ExecutorConfig(aggregation="conservative")


def test_temporal_ensemble_matches_act_weights_over_three_chunks():
    m = 0.5
    ex = ChunkExecutor(ExecutorConfig("temporal_ensemble", temporal_ensemble_coeff=m))
    values = [1.0, 4.0, 10.0]  # three chunks that all cover tick 5, oldest first
    for start, v in zip((3, 4, 5), values, strict=True):
        ex.add_chunk(np.full((6, 1), v, np.float32), start_tick=start, now_tick=0)
    w = [math.exp(-m * i) for i in range(3)]
    want = sum(wi * v for wi, v in zip(w, values, strict=True)) / sum(w)
    assert ex.pop(5)[0] == pytest.approx(want, rel=1e-6)
    assert w[0] > w[2], "ACT: the oldest chunk weighs most for m > 0"


def test_actions_in_the_past_are_dropped_and_the_rest_execute_in_order():
    ex = ChunkExecutor()
    report = ex.add_chunk(ramp(0, 8), start_tick=0, now_tick=3)  # arrived 3 ticks late
    assert (report.added, report.dropped_past) == (5, 3)
    got = [ex.pop(t) for t in range(3, 9)]
    assert [a[0] for a in got[:5]] == [3, 4, 5, 6, 7]
    assert got[5] is None  # ran dry: nothing stale is invented


def test_overlap_blends_and_only_new_ticks_append():
    ex = ChunkExecutor(ExecutorConfig("weighted_average"))
    ex.add_chunk(ramp(0, 8), start_tick=0)
    assert ex.pop(0)[0] == 0 and ex.pop(1)[0] == 1
    report = ex.add_chunk(ramp(100, 8), start_tick=2, now_tick=2)
    assert (report.blended, report.added, report.dropped_past) == (6, 2, 0)
    assert ex.pop(2)[0] == pytest.approx(0.3 * 2 + 0.7 * 100)
    assert ex.pop(8)[0] == pytest.approx(106)  # tick 8 only the new chunk covers
    assert ex.remaining(9) == 1


def test_a_late_chunk_never_jumps_back_in_time():
    ex = ChunkExecutor(ExecutorConfig("latest_only"))
    ex.add_chunk(ramp(10, 8), start_tick=10, now_tick=10)
    executed = [ex.pop(t)[0] for t in (10, 11, 12)]
    # An older request (tick 4) finishing after a newer one is refused whole.
    report = ex.add_chunk(ramp(4, 8), start_tick=4, now_tick=13)
    assert report.rejected and report.added == report.blended == 0
    # A chunk whose every action is already past adds nothing (no splice past the queue).
    ex2 = ChunkExecutor()
    ex2.pop(20)
    assert ex2.add_chunk(ramp(0, 8), start_tick=12).added == 0
    assert ex2.pop(21) is None
    executed += [ex.pop(t)[0] for t in (13, 14)]
    assert executed == [10, 11, 12, 13, 14]
    # Ticks already handed out are never queued again, even with now_tick behind.
    ex.add_chunk(ramp(14, 8), start_tick=14, now_tick=0)
    assert ex.pop(15)[0] == 15 and ex.remaining(0) == ex.remaining(16)


def test_non_finite_chunks_are_refused_and_truncation_and_prefix():
    ex = ChunkExecutor(ExecutorConfig(actions_per_chunk=4))
    bad = ramp(0, 8)
    bad[2, 1] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        ex.add_chunk(bad, start_tick=0)
    assert ex.remaining(0) == 0
    ex.add_chunk(ramp(0, 8), start_tick=0)
    assert ex.remaining(0) == 4
    np.testing.assert_array_equal(ex.committed(1)[:, 0], [1, 2, 3])
    assert ex.committed(7).shape[0] == 0
