"""Wilson interval against known values."""

import pytest

from robot.metrics import wilson_interval


def test_wilson_known_values():
    # 200/200: the classic lower bound 1 - z^2/(n + z^2) ~ 0.9812.
    lo, hi = wilson_interval(200, 200)
    assert lo == pytest.approx(0.98116, abs=1e-4) and hi == pytest.approx(1.0)
    lo, hi = wilson_interval(50, 100)
    assert lo == pytest.approx(0.4038, abs=1e-3) and hi == pytest.approx(0.5962, abs=1e-3)
    lo, hi = wilson_interval(10, 10)
    assert lo == pytest.approx(0.7225, abs=1e-3) and hi == pytest.approx(1.0)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    lo, hi = wilson_interval(0, 10)
    assert lo == 0.0 and 0.25 < hi < 0.35
