"""Polling helper shared by the hardware tests (threads that deliver frames or state on their own)."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(cond: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll `cond` every 10 ms until it holds (True) or `timeout` seconds pass (False)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.01)
    return False
