"""The one control loop with the deployment guard: every fault ends safe, with a reason and its recording."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from robot.runtime import ControlLoop, LoopConfig, Outcome, StoreRecorder
from robot.runtime.estop import EStop, EStopConfig
from robot.runtime.guard import DeployGuard
from robot.runtime.safety import SafetyConfig, SafetyLayer
from robot.runtime.scheduler import telemetry_specs
from robot.runtime.sync_source import SyncPolicySource
from robot.runtime.watchdog import Watchdog, WatchdogConfig
from robot.specs import PolicySpec

sys.path.insert(0, str(Path(__file__).parent))
from deploy_fakes import (  # noqa: E402
    SPEC,
    FakeClock,
    FakeRobot,
    ListStore,
    NaNPolicy,
    Operator,
    RampSource,
    StallingSource,
)

WD = WatchdogConfig(max_obs_age=0.05, max_frame_age=0.1, max_stalled_ticks=5, max_body_errors=3, grace_s=0.2)


def deploy(robot, source, clock, max_steps=40, operator=None, estop=None, store=None):
    safety = SafetyLayer(SPEC, SafetyConfig(max_step=(0.5,), max_velocity=(5.0,)))
    guard = DeployGuard(Watchdog(WD, clock), estop or EStop(EStopConfig(signals=False)), safety)
    store = store if store is not None else ListStore()
    rec = StoreRecorder(store, ["state"], keep_failed=True, extra_keys=list(telemetry_specs(3)))
    loop = ControlLoop(robot, source, rec, LoopConfig(fps=50.0, max_steps=max_steps, settle_ticks=0,
                                                       keep_aborted=True, tick_records=True),
                       source_kind="policy", operator=operator, action_filters=[safety], guard=guard,
                       clock=clock, sleep=clock.sleep)
    return loop.run_episode(seed=0), store, guard


def test_a_clean_run_records_telemetry_every_tick():
    clock = FakeClock()
    robot = FakeRobot(clock)
    res, store, _ = deploy(robot, StallingSource(stall_at=10**6), clock, max_steps=20)
    assert res.outcome is Outcome.MAX_STEPS and res.saved and robot.safe_stops == 0
    rows = store.episodes[0]
    assert len(rows) == 20 == len(robot.sent)
    assert [r["telemetry.miss"] for r in rows] == [0] * 20
    np.testing.assert_allclose([r["telemetry.deadline"] for r in rows], 10.0 + 0.02 * np.arange(20))
    assert all(r["telemetry.inference_ms"] == 40.0 and r["telemetry.held"] == 0 for r in rows)
    np.testing.assert_array_equal(rows[5]["action"], robot.sent[5])


def test_estop_mid_motion_sends_nothing_after_and_leaves_the_body_safe():
    clock = FakeClock()
    robot = FakeRobot(clock)
    estop = EStop(EStopConfig(signals=False))
    source = RampSource(on_tick=lambda k: estop.trigger("operator pressed stop") if k == 10 else None)
    res, store, _ = deploy(robot, source, clock, estop=estop)
    assert res.outcome is Outcome.ESTOP and "operator pressed stop" in res.info["abort_reason"]
    assert len(robot.sent) == 10  # the action computed at tick 10 never left
    assert robot.safe_stops == 1
    assert res.saved and len(store.episodes[0]) == 10 and "e-stop" in store.metas[0]["note"]


def test_body_that_stops_answering_is_stopped_with_the_error_named():
    clock = FakeClock()
    robot = FakeRobot(clock, dead_from=8)
    res, store, _ = deploy(robot, RampSource(), clock)
    assert res.outcome is Outcome.ABORTED and robot.safe_stops == 1
    assert "body read/write failed (3 in a row)" in res.info["abort_reason"]
    assert "no status packet from servo 2" in res.info["abort_reason"]
    # reads 0 and 1 happen at reset, so ticks 0-5 send; ticks 6 and 7 fail, hold and are recorded as held
    rows = store.episodes[0]
    assert len(robot.sent) == 6 and len(rows) == 8 and robot.holds == 2
    assert [r["telemetry.held"] for r in rows] == [0] * 6 + [1, 1]


def test_stale_observation_holds_then_stops_after_the_grace():
    clock = FakeClock()
    robot = FakeRobot(clock, stale_from=5)
    res, store, guard = deploy(robot, RampSource(), clock)
    assert res.outcome is Outcome.ABORTED and "stale observation" in res.info["abort_reason"]
    assert "held 0.2" in res.info["abort_reason"] and robot.safe_stops == 1
    held = [r["telemetry.held"] for r in store.episodes[0]]
    # read 5 is tick 3 (two reads at reset); 0.05 s max age at 50 Hz: holds from the 4th stale tick
    assert held[:5] == [0] * 5 and held[-1] == 1 and robot.holds == sum(held) > 0


def test_a_short_glitch_is_held_then_the_run_resumes():
    clock = FakeClock()
    robot = FakeRobot(clock, stale_from=5, stale_until=9)  # 4 ticks = 80 ms, under the 200 ms grace
    res, store, _ = deploy(robot, RampSource(), clock)
    assert res.outcome is Outcome.MAX_STEPS and robot.safe_stops == 0 and robot.holds > 0
    assert store.episodes[0][-1]["telemetry.held"] == 0


def test_camera_that_stops_holds_then_stops():
    clock = FakeClock()
    res, _, _ = deploy(FakeRobot(clock, camera_stops_at=3), RampSource(), clock)
    assert res.outcome is Outcome.ABORTED and "camera 'front' stopped" in res.info["abort_reason"]


def test_stalled_inference_holds_then_stops():
    clock = FakeClock()
    robot = FakeRobot(clock)
    res, _, _ = deploy(robot, StallingSource(stall_at=6), clock)
    assert res.outcome is Outcome.ABORTED and "inference stalled" in res.info["abort_reason"]
    assert robot.holds > 0 and robot.safe_stops == 1


def test_a_hardware_fault_stops_at_once():
    clock = FakeClock()
    robot = FakeRobot(clock, fault_at=4)
    res, _, _ = deploy(robot, RampSource(), clock)
    assert res.outcome is Outcome.ABORTED and res.steps == 2  # fault_at=4 reads = tick 2
    assert "over-temperature 71 C" in res.info["abort_reason"] and robot.holds == 0


def test_policy_returning_nan_is_held_then_stopped():
    clock = FakeClock()
    robot = FakeRobot(clock)
    spec = PolicySpec(SPEC.observations, 3, n_obs_steps=2, horizon=4, n_action_steps=4, fps=50.0)
    res, store, _ = deploy(robot, SyncPolicySource(NaNPolicy(spec), clock=clock), clock)
    assert res.outcome is Outcome.ABORTED and "non-finite" in res.info["abort_reason"]
    assert robot.sent == [] or all(np.isfinite(a).all() for a in robot.sent)
    assert robot.safe_stops == 1


def test_intervention_ticks_are_recorded_as_such():
    clock = FakeClock()
    res, store, _ = deploy(FakeRobot(clock), RampSource(), clock, max_steps=10, operator=Operator(at=4))
    flags = [r["telemetry.intervention"] for r in store.episodes[0]]
    assert flags == [0, 0, 0, 1, 1, 1, 1, 1, 1, 1] and res.intervened
    assert "intervened" in store.metas[0]["note"]
    assert store.episodes[0][5]["action"][1] == pytest.approx(0.05)


def test_an_exception_in_the_source_still_ends_safe():
    clock = FakeClock()
    robot = FakeRobot(clock)

    def boom(k):
        if k == 3:
            raise RuntimeError("worker died")

    store = ListStore()
    with pytest.raises(RuntimeError, match="worker died"):
        deploy(robot, RampSource(on_tick=boom), clock, store=store)
    assert robot.safe_stops == 1
    # the three ticks before the failure are kept, with the reason
    assert len(store.episodes[0]) == 3 and store.metas[0]["note"] == "stopped by RuntimeError: worker died"
