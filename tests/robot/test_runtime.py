"""The control loop, scheduler and recorder hook on a tiny real env (no mocks of the loop)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from robot.interfaces import TeleopCommand, TeleopEvent
from robot.runtime import (
    ControlLoop,
    LoopConfig,
    Outcome,
    RateScheduler,
    StopEpisode,
    StoreRecorder,
    collect,
)
from robot.specs import ArraySpec, BodySpec


class PointEnv:
    """1-D point mass: action is the new position target; success within 0.05 of the goal."""

    def __init__(self, fail_seeds=()):
        self.body_spec = BodySpec(
            name="point", observations={"state": ArraySpec((2,))}, action=ArraySpec((1,)), fps=50.0
        )
        self.fail_seeds = set(fail_seeds)
        self.x = 0.0
        self.goal = 1.0
        self.steps = 0

    def _obs(self):
        return {"state": np.array([self.x, self.goal], np.float32), "instruction": "reach"}

    def reset(self, *, seed=None, options=None):
        self.x, self.steps = 0.0, 0
        # A "failing" seed puts the goal out of reach of the clipped action.
        self.goal = 5.0 if seed in self.fail_seeds else 1.0
        return self._obs(), {}

    def step(self, action):
        self.x = float(np.clip(action[0], -2.0, 2.0))
        self.steps += 1
        ok = abs(self.x - self.goal) < 0.05
        return self._obs(), float(ok), False, False, {"success": ok, "reward_terms": {}}

    def render(self, camera=None):
        return np.zeros((4, 4, 3), np.uint8)

    def close(self):
        pass


class StepSource:
    """Moves the target 0.25 per tick towards the goal; emits scripted events at given ticks."""

    def __init__(self, events=None):
        self.events = events or {}
        self.calls = 0
        self.resets = 0

    def connect(self):
        pass

    def disconnect(self):
        pass

    def reset(self, obs):
        self.resets += 1
        self.calls = 0

    def get_action(self, obs):
        x, goal = obs["state"]
        ev = set(self.events.get(self.calls, ()))
        self.calls += 1
        return TeleopCommand(np.array([x + np.clip(goal - x, -0.25, 0.25)], np.float32), ev)


class ListStore:
    """In-memory store with the EpisodeStore writer contract (begin/append/commit/discard)."""

    def __init__(self):
        self.episodes, self.metas = [], []

    def begin_episode(self, task, instruction="", source="teleop", **extra):
        store, rows = self, []

        class Writer:
            def append(self, row):
                rows.append(dict(row))

            def commit(self, success, note=""):
                store.episodes.append(rows)
                store.metas.append({"task": task, "instruction": instruction, "source": source, "success": success, "note": note})

            def discard(self):
                rows.clear()

        return Writer()


def fake_time():
    """A clock whose sleep advances it exactly, and a knob to add work time."""
    now = [100.0]
    return now, (lambda: now[0]), (lambda dt: now.__setitem__(0, now[0] + dt))


def test_scheduler_counts_late_ticks_and_skips_missed_deadlines():
    now, clock, sleep = fake_time()
    s = RateScheduler(10.0, realtime=True, clock=clock, sleep=sleep)
    s.start()
    timings = []
    for work in (0.01, 0.02, 0.25, 0.01, 0.01):
        s.begin()
        now[0] += work
        timings.append(s.end())
    assert [t.late for t in timings] == [False, False, True, False, False]
    # 0.25 s of work on a 0.1 s grid passes the deadline by 0.15 s: one whole deadline skipped.
    assert timings[2].missed == 1
    assert timings[1].period == pytest.approx(0.1)
    # The tick after the overrun starts at once (100.45) with the skipped deadline's
    # successor (100.5) as its own deadline, so the one after it is back on the grid.
    assert timings[3].start == pytest.approx(100.45)
    assert timings[4].start == pytest.approx(100.5)
    # The overrun shows as tick 3 waking 50 ms after its grid point (100.4): one miss, counted once.
    assert [t.miss for t in timings] == [False, False, False, True, False]
    assert timings[3].jitter == pytest.approx(0.05)


def test_scheduler_holds_rate_on_the_real_clock():
    s = RateScheduler(100.0, realtime=True)
    t0 = s.start()
    for _ in range(20):
        s.begin()
        s.end()
    elapsed = time.monotonic() - t0
    # 20 deadlines of 10 ms: never early. The upper bound is generous because a loaded 2-core
    # machine can oversleep; the exact tick arithmetic is tested on the fake clock above.
    assert 0.19 <= elapsed < 2.0


def test_loop_records_every_tick_until_success_settles():
    env, store = PointEnv(), ListStore()
    loop = ControlLoop(env, StepSource(), StoreRecorder(store, ["state"]),
                       LoopConfig(realtime=False, max_steps=50, settle_ticks=3), task="point", source_kind="scripted")
    res = loop.run_episode(seed=0)
    assert res.outcome is Outcome.SUCCESS and res.success and res.saved
    # 4 ticks to reach x=1.0, then 3 settle ticks.
    assert res.steps == 7 and env.steps == 7
    rows = store.episodes[0]
    assert len(rows) == 7
    # The recorded observation is the one the action was computed from (before the step).
    assert rows[0]["state"][0] == 0.0 and rows[0]["action"][0] == pytest.approx(0.25)
    assert rows[1]["state"][0] == pytest.approx(0.25)
    assert [r["timestamp"] for r in rows[:3]] == pytest.approx([0.0, 0.02, 0.04])
    assert store.metas[0] == {"task": "point", "instruction": "reach", "source": "scripted", "success": True, "note": ""}
    assert res.telemetry.ticks == 7


@pytest.mark.parametrize(
    "event, outcome, saved",
    [(TeleopEvent.DISCARD, Outcome.DISCARDED, False), (TeleopEvent.QUIT, Outcome.QUIT, False),
     (TeleopEvent.STOP, Outcome.STOPPED, False)],
)
def test_operator_events_end_the_episode(event, outcome, saved):
    store = ListStore()
    loop = ControlLoop(PointEnv(), StepSource({2: [event]}), StoreRecorder(store, ["state"]),
                       LoopConfig(realtime=False))
    res = loop.run_episode(seed=0)
    assert res.outcome is outcome and res.steps == 2 and res.saved is saved
    assert store.episodes == []  # stop before success: dropped unless keep_failed


def test_stop_keeps_unsuccessful_episode_when_asked():
    store = ListStore()
    loop = ControlLoop(PointEnv(), StepSource({2: [TeleopEvent.STOP]}),
                       StoreRecorder(store, ["state"], keep_failed=True), LoopConfig(realtime=False))
    res = loop.run_episode(seed=0)
    assert res.saved and len(store.episodes[0]) == 2 and store.metas[0]["success"] is False


def test_wait_for_start_polls_without_stepping():
    env = PointEnv()
    now, clock, sleep = fake_time()
    src = StepSource({3: [TeleopEvent.START]})
    loop = ControlLoop(env, src, None, LoopConfig(realtime=True, max_steps=2, wait_for_start=True),
                       clock=clock, sleep=sleep)
    res = loop.run_episode(seed=0)
    assert res.outcome is Outcome.MAX_STEPS and res.steps == 2
    assert src.calls == 4 + 2 and env.steps == 2  # 4 polls while waiting, then 2 ticks


def test_intervention_hands_control_to_the_operator_and_back():
    class Hold(StepSource):
        def get_action(self, obs):
            ev = set(self.events.get(self.calls, ()))
            self.calls += 1
            return TeleopCommand(np.array([-1.0], np.float32), ev)

    store = ListStore()
    op = Hold({1: [TeleopEvent.INTERVENE], 3: [TeleopEvent.INTERVENE]})
    loop = ControlLoop(PointEnv(), StepSource(), StoreRecorder(store, ["state"], keep_failed=True),
                       LoopConfig(realtime=False, max_steps=5), operator=op)
    res = loop.run_episode(seed=0)
    acts = [float(r["action"][0]) for r in store.episodes[0]]
    assert acts[:4] == pytest.approx([0.25, -1.0, -1.0, -0.75])
    assert res.intervened and store.metas[0]["note"] == "intervened"
    assert op.resets == 2  # reset at episode start and when it took over


def test_action_filter_can_clip_and_abort():
    store = ListStore()

    def clip(a, obs):
        return np.minimum(a, 0.3)

    def estop(a, obs):
        if obs["state"][0] >= 0.3:
            raise StopEpisode("workspace limit")
        return a

    loop = ControlLoop(PointEnv(), StepSource(), StoreRecorder(store, ["state"]),
                       LoopConfig(realtime=False), action_filters=[clip, estop])
    res = loop.run_episode(seed=0)
    assert res.outcome is Outcome.ABORTED and res.steps == 2 and not res.saved
    assert res.info["abort_reason"] == "workspace limit"


def test_realtime_loop_stamps_wall_time_and_reports_late_ticks():
    now, clock, sleep = fake_time()

    class Slow(StepSource):
        def get_action(self, obs):
            now[0] += 0.03 if self.calls == 2 else 0.001  # one tick overruns the 20 ms period
            return super().get_action(obs)

    store = ListStore()
    loop = ControlLoop(PointEnv(), Slow(), StoreRecorder(store, ["state"], keep_failed=True),
                       LoopConfig(realtime=True, max_steps=5), clock=clock, sleep=sleep)
    res = loop.run_episode(seed=0)
    stamps = [r["timestamp"] for r in store.episodes[0]]
    assert stamps[:4] == pytest.approx([0.0, 0.02, 0.04, 0.07])
    assert res.telemetry.late_ticks == 1
    assert res.telemetry.summary()["compute_ms_max"] == pytest.approx(30.0, abs=0.01)


def test_session_rerecords_discards_and_skips_failed_seeds():
    class DiscardOnce(StepSource):
        episodes = 0

        def reset(self, obs):
            super().reset(obs)
            DiscardOnce.episodes += 1
            self.events = {1: [TeleopEvent.DISCARD]} if DiscardOnce.episodes == 2 else {}

    env, store = PointEnv(fail_seeds={11}), ListStore()
    loop = ControlLoop(env, DiscardOnce(), StoreRecorder(store, ["state"]),
                       LoopConfig(realtime=False, max_steps=12))
    seeds = []
    summary = collect(loop, 3, already_successful=1, first_seed=10,
                      on_episode=lambda r, s: seeds.append((r.seed, r.outcome)))
    # seed 10 ok, seed 11 discarded then re-recorded (fails: goal out of reach), 12 ok.
    assert seeds == [(10, Outcome.SUCCESS), (11, Outcome.DISCARDED), (11, Outcome.MAX_STEPS), (12, Outcome.SUCCESS)]
    assert summary.successes == 3 and summary.failed == 1 and summary.discarded == 1
    assert summary.next_seed == 13 and len(store.episodes) == 2


def test_recorder_names_missing_observation_keys():
    loop = ControlLoop(PointEnv(), StepSource(), StoreRecorder(ListStore(), ["state", "images.front"]),
                       LoopConfig(realtime=False))
    with pytest.raises(KeyError, match="images.front"):
        loop.run_episode(seed=0)


def test_an_exception_mid_episode_drops_the_open_episode():
    class Crashing(StepSource):
        def get_action(self, obs):
            if self.calls == 3:
                raise KeyboardInterrupt
            return super().get_action(obs)

    store = ListStore()
    recorder = StoreRecorder(store, ["state"], keep_failed=True)
    with pytest.raises(KeyboardInterrupt):
        ControlLoop(PointEnv(), Crashing(), recorder, LoopConfig(realtime=False)).run_episode(seed=0)
    assert not recorder.recording and store.episodes == []


class ClippingArm:
    """A real-time Robot whose driver clips commands to +-0.5 and reports what it sent."""

    def __init__(self):
        self.body_spec = PointEnv().body_spec
        self.connected = False
        self.x = 0.0

    @property
    def is_connected(self):
        return self.connected

    def connect(self):
        self.connected = True

    def disconnect(self):
        self.connected = False

    def get_observation(self):
        return {"state": np.array([self.x, 1.0], np.float32)}, time.monotonic()

    def send_action(self, action):
        sent = np.clip(action, -0.5, 0.5)
        self.x = float(sent[0])
        return sent


def test_robot_body_records_the_command_actually_sent():
    arm, store = ClippingArm(), ListStore()
    loop = ControlLoop(arm, StepSource(), StoreRecorder(store, ["state"], keep_failed=True),
                       LoopConfig(realtime=False, max_steps=4))
    with pytest.raises(RuntimeError, match="not connected"):
        loop.run_episode()
    arm.connect()
    res = loop.run_episode()
    assert res.outcome is Outcome.MAX_STEPS and not res.success  # a robot cannot tell success
    assert [float(r["action"][0]) for r in store.episodes[0]] == pytest.approx([0.25, 0.5, 0.5, 0.5])
