"""E-stop triggers (call, file, signal, key on a terminal) and watchdog verdicts on a fake clock."""

from __future__ import annotations

import os
import signal
import time

import pytest

from robot.runtime.estop import EStop, EStopConfig
from robot.runtime.watchdog import TickHealth, Verdict, Watchdog, WatchdogConfig


def test_trigger_latches_and_keeps_the_first_reason():
    e = EStop(EStopConfig(signals=False))
    assert not e.poll()
    e.trigger("first")
    e.trigger("second")
    assert e.triggered and e.reason == "first"
    e.clear()
    assert not e.triggered


def test_trigger_file(tmp_path):
    path = tmp_path / "estop"
    e = EStop(EStopConfig(signals=False, trigger_file=str(path)))
    assert not e.poll()
    path.touch()
    assert e.poll() and str(path) in e.reason


def test_sigterm_and_sigint_trigger_instead_of_killing():
    before = signal.getsignal(signal.SIGTERM)
    with EStop() as e:
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(100):  # the handler runs between bytecodes of the main thread
            if e.triggered:
                break
            time.sleep(0.001)
        assert e.triggered and "SIGTERM" in e.reason
    assert signal.getsignal(signal.SIGTERM) == before  # restored on close


def test_key_on_a_terminal():
    master, slave = os.openpty()
    try:
        with EStop(EStopConfig(signals=False, key_tty=os.ttyname(slave), key="e")) as e:
            os.write(master, b"w")
            time.sleep(0.2)
            assert not e.triggered
            os.write(master, b"e")
            deadline = time.monotonic() + 10.0
            while not e.triggered and time.monotonic() < deadline:
                time.sleep(0.01)
            assert e.triggered and "'e'" in e.reason
    finally:
        os.close(master)
        os.close(slave)


def test_bad_key_tty_is_a_clear_error():
    with pytest.raises(OSError, match="cannot open key terminal /nonexistent/tty"):
        EStop(EStopConfig(signals=False, key_tty="/nonexistent/tty")).start()


def test_watchdog_holds_for_the_grace_then_stops_and_recovers_before_it():
    now = [0.0]
    wd = Watchdog(WatchdogConfig(max_obs_age=0.05, grace_s=0.1, max_consecutive_misses=3), clock=lambda: now[0])
    assert wd.check(TickHealth(obs_time=0.0)) is Verdict.OK
    now[0] = 0.06
    assert wd.check(TickHealth(obs_time=0.0)) is Verdict.HOLD and "stale observation: 60 ms" in wd.reason
    now[0] = 0.1
    assert wd.check(TickHealth(obs_time=0.1)) is Verdict.OK  # fresh again: resume
    for t in (0.2, 0.25):
        now[0] = t
        assert wd.check(TickHealth(obs_time=0.1)) is Verdict.HOLD
    now[0] = 0.31
    assert wd.check(TickHealth(obs_time=0.1)) is Verdict.STOP and wd.reason.startswith("held 0.11 s")
    wd.reset()
    verdicts = [wd.check(TickHealth(miss=True)) for _ in range(3)]
    assert verdicts == [Verdict.OK, Verdict.OK, Verdict.HOLD] and "3 late ticks in a row" in wd.reason
    assert [e.split(":")[0] for e in wd.events] == ["deadlines slipping"]


def test_watchdog_config_errors_name_the_key():
    with pytest.raises(ValueError, match="watchdog.grace_s"):
        WatchdogConfig(grace_s=0)
