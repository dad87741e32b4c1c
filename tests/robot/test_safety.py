"""The safety layer: no command leaves unclamped, whatever the source sends and wherever the arm is."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from robot.runtime.loop import StopEpisode
from robot.runtime.safety import CLAMPS, SafetyConfig, SafetyLayer, clamp_names
from robot.specs import ArraySpec, BodySpec

NAMES = ("j0", "j1", "j2")
LOW, HIGH = (-1.0, -2.0, -0.5), (1.0, 2.0, 1.5)
SPEC = BodySpec("arm3", {"state": ArraySpec((3,), names=NAMES)}, ArraySpec((3,), names=NAMES), fps=50.0,
                action_low=LOW, action_high=HIGH)
CFG = SafetyConfig(max_step=(0.3, 0.5, 0.2), max_velocity=(5.0,), workspace_low=(-0.8, -1.5, -0.4),
                   workspace_high=(0.8, 1.5, 1.2), nonfinite_stop_after=3)


def fk(q: np.ndarray) -> np.ndarray:
    """A made-up arm whose end effector sits at its joint values (a box in joint space)."""
    return np.asarray(q, dtype=np.float64)[:3]


def obs_at(q) -> dict:
    return {"state": np.asarray(q, dtype=np.float32)}


floats = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=32),
                   st.floats(-1e30, 1e30), st.floats(-3, 3))
actions = st.lists(floats, min_size=3, max_size=3).map(lambda v: np.asarray(v, dtype=np.float64))
states = st.lists(st.floats(-3, 3), min_size=3, max_size=3).map(np.asarray)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(start=st.lists(st.floats(-0.4, 0.4), min_size=3, max_size=3), ticks=st.lists(st.tuples(actions, states),
                                                                                       min_size=1, max_size=25))
def test_no_command_leaves_unclamped(start, ticks):
    layer = SafetyLayer(SPEC, CFG, fk=fk)
    low, high = np.asarray(LOW), np.asarray(HIGH)
    box_lo, box_hi = np.asarray(CFG.workspace_low), np.asarray(CFG.workspace_high)
    prev = np.asarray(start, dtype=np.float64)
    layer(prev, obs_at(prev))  # the arm starts inside its box, at rest
    prev = layer.last_command
    for action, q in ticks:
        try:
            out = layer(action, obs_at(q)).astype(np.float64)
        except StopEpisode:
            assert layer.nonfinite_streak >= CFG.nonfinite_stop_after
            return
        assert out.dtype == np.float64 and np.all(np.isfinite(out))
        assert np.all(out >= low) and np.all(out <= high)
        # the velocity window around the previous command always holds
        assert np.all(np.abs(out - prev) <= layer.max_delta + 1e-6)
        # the step window around the measured position holds wherever it overlaps the window of
        # commands allowed by the limits, the velocity and the box (fk is the identity here);
        # elsewhere the command walks toward the arm at the velocity limit. A box clamp instead
        # pulls the whole move back toward the previous command (checked by the box assert).
        window_lo = np.maximum(np.maximum(low, box_lo), prev - layer.max_delta)
        window_hi = np.minimum(np.minimum(high, box_hi), prev + layer.max_delta)
        gap = np.maximum(np.maximum(window_lo - q, q - window_hi), 0.0)
        if not layer.last_clamp & CLAMPS["workspace"]:
            assert np.all(np.abs(out - q) <= np.maximum(layer.max_step, gap) + 1e-6)
        assert np.all(fk(out) >= box_lo - 1e-6) and np.all(fk(out) <= box_hi + 1e-6)
        if not np.all(np.isfinite(action)):
            assert layer.last_clamp & CLAMPS["nonfinite"]  # held: the previous command, still step-limited
        prev = out


def test_nan_holds_the_last_safe_command_then_stops():
    layer = SafetyLayer(SPEC, CFG)
    q = np.zeros(3)
    good = layer(np.array([0.05, 0.0, 0.0]), obs_at(q))
    held = layer(np.array([np.nan, 0.0, 0.0]), obs_at(q))
    assert np.array_equal(held, good) and clamp_names(layer.last_clamp) == ["nonfinite"]
    layer(np.array([0.05, 0.0, 0.0]), obs_at(q))  # a finite one resets the streak
    layer(np.full(3, np.inf), obs_at(q))
    layer(np.full(3, -np.inf), obs_at(q))
    with pytest.raises(StopEpisode, match="3 consecutive non-finite"):
        layer(np.full(3, np.nan), obs_at(q))
    assert layer.summary()["nonfinite"] == 4


def test_each_clamp_is_reported_by_name():
    layer = SafetyLayer(SPEC, CFG, fk=fk)
    q = np.zeros(3)
    layer(q, obs_at(q))
    layer(np.array([1e9, 0.0, 0.0]), obs_at(q))  # past the limit and far beyond one tick's velocity
    assert {"joint_limit", "velocity"} <= set(clamp_names(layer.last_clamp))
    # an arm lagging 0.15 rad behind its command: the velocity window allows up to 0.1, the
    # step window (0.2 around the arm) only up to 0.05
    layer.reset()
    layer(np.zeros(3), obs_at(np.zeros(3)))
    out = layer(np.array([0.0, 0.0, 0.08]), obs_at([0.0, 0.0, -0.15]))
    assert clamp_names(layer.last_clamp) == ["step"] and out[2] == pytest.approx(0.05)
    # workspace: j2 above 1.2 is outside the box even though the joint limit allows 1.5
    layer.reset()
    top = np.array([0.0, 0.0, 1.15])
    layer(top, obs_at(top))
    out = layer(np.array([0.0, 0.0, 1.25]), obs_at(top))
    assert "workspace" in clamp_names(layer.last_clamp) and out[2] <= 1.2 + 1e-6


def test_a_body_without_fk_skips_the_box_and_wrong_shapes_stop():
    layer = SafetyLayer(SPEC, CFG)  # no fk: logged, box skipped
    q = np.array([0.0, 0.0, 1.3])
    assert layer(q, obs_at(q))[2] == pytest.approx(1.3)
    with pytest.raises(StopEpisode, match="shape"):
        layer(np.zeros(4), obs_at(q))
    with pytest.raises(ValueError, match="max_velocity"):
        SafetyConfig(max_velocity=(0.0,))
