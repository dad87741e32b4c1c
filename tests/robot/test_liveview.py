"""Loop observers: operator events as they happen, the status line, the rerun stream read back by rerun."""

from __future__ import annotations

import io
import socket
import threading

import numpy as np
import pytest

from robot.interfaces import TeleopCommand, TeleopEvent
from robot.runtime import ControlLoop, LoopConfig, Outcome, StoreRecorder
from robot.runtime.rerun_log import RerunLogger, open_recording
from robot.runtime.scheduler import TickTiming
from robot.runtime.status import CLEAR_LINE, StatusLine
from robot.specs import ArraySpec, BodySpec

NAMES = ("shoulder", "gripper")


class ArmEnv:
    """Two joints (shoulder, gripper) that jump to their targets; a camera; success when shoulder >= 1."""

    def __init__(self):
        self.body_spec = BodySpec(
            name="toy_arm",
            observations={"state": ArraySpec((2,), names=NAMES), "images.front": ArraySpec((8, 8, 3), "uint8")},
            action=ArraySpec((2,), names=NAMES), fps=50.0, action_low=(-2.0, 0.0), action_high=(2.0, 1.0),
        )
        self.q = np.zeros(2, np.float32)

    @property
    def ee_pos(self):
        return np.array([0.1 * self.q[0], 0.0, 0.2])

    def _obs(self):
        img = np.full((8, 8, 3), int(40 * self.q[0]) % 255, np.uint8)
        return {"state": self.q.copy(), "images.front": img}

    def reset(self, *, seed=None, options=None):
        self.q[:] = 0.0
        return self._obs(), {}

    def step(self, action):
        self.q = np.asarray(action, np.float32).copy()
        ok = bool(self.q[0] >= 1.0)
        return self._obs(), float(ok), False, False, {"success": ok}

    def close(self):
        pass


class Script:
    """Raises the shoulder 0.25 per tick up to 0.5, gripper fully open; events at given ticks."""

    def __init__(self, events=None):
        self.events, self.calls = events or {}, 0

    def connect(self):
        pass

    def disconnect(self):
        pass

    def reset(self, obs):
        self.calls = 0

    def get_action(self, obs):
        ev = set(self.events.get(self.calls, ()))
        self.calls += 1
        return TeleopCommand(np.array([min(0.25 * self.calls, 0.5), 1.0], np.float32), ev)


class Hold(Script):
    """An operator who holds the shoulder at -1 with the gripper closed."""

    def get_action(self, obs):
        cmd = super().get_action(obs)
        return TeleopCommand(np.array([-1.0, 0.0], np.float32), cmd.events)


class Writer:
    def append(self, row):
        pass

    def commit(self, success, note=""):
        pass

    def discard(self):
        pass


class Store:
    def begin_episode(self, **kw):
        return Writer()


class Spy:
    """Records every observer call."""

    def __init__(self):
        self.calls = []

    def on_episode_start(self, obs, info):
        self.calls.append(("start", info.seed))

    def on_tick(self, obs, action_sent, step, timing, source_label):
        self.calls.append(("tick", source_label, float(action_sent[0])))

    def on_episode_end(self, result):
        self.calls.append(("end", result.outcome))

    def on_event(self, text):
        self.calls.append(("event", text))

    def events(self):
        return [c[1] for c in self.calls if c[0] == "event"]


def test_observers_see_every_tick_and_the_stop_without_save_reason():
    spy = Spy()
    loop = ControlLoop(ArmEnv(), Script({3: [TeleopEvent.STOP]}), StoreRecorder(Store(), ["state"]),
                       LoopConfig(realtime=False, max_steps=50), observers=[spy])
    res = loop.run_episode(seed=4)
    assert res.outcome is Outcome.STOPPED and res.steps == 3 and not res.saved
    kinds = [c[0] for c in spy.calls]
    assert kinds == ["start", "event", "tick", "tick", "tick", "event", "end"]
    assert spy.calls[2] == ("tick", "teleop", 0.25)
    assert spy.events() == [
        "episode started (seed 4): recording",
        "stopped by the operator after 3 ticks: not saved (not a success: pass --keep-failed to keep it)",
    ]


def test_events_for_wait_discard_save_and_intervention():
    spy = Spy()
    src = Script({0: [TeleopEvent.START], 2: [TeleopEvent.DISCARD]})
    loop = ControlLoop(ArmEnv(), src, StoreRecorder(Store(), ["state"]),
                       LoopConfig(realtime=False, max_steps=50, wait_for_start=True), observers=[spy],
                       sleep=lambda dt: None)
    loop.run_episode(seed=1)
    assert spy.events() == ["waiting for the operator to start (seed 1)", "episode started (seed 1): recording",
                            "discarded by the operator after 1 ticks: re-recording the same scene; nothing saved"]

    spy = Spy()
    operator = Script({1: [TeleopEvent.INTERVENE], 3: [TeleopEvent.INTERVENE]})
    loop = ControlLoop(ArmEnv(), Script(), StoreRecorder(Store(), ["state"], keep_failed=True),
                       LoopConfig(realtime=False, max_steps=5), operator=operator, observers=[spy],
                       source_kind="policy")
    res = loop.run_episode(seed=2)
    labels = [c[1] for c in spy.calls if c[0] == "tick"]
    assert labels == ["policy", "intervention", "intervention", "policy", "policy"]
    assert spy.events()[1:] == ["intervention: the operator has control",
                                "intervention over: policy has control again",
                                "time limit reached (5 ticks): saved (failed, kept)"]
    assert res.intervened


def fake_clock():
    now = [0.0]
    return now, (lambda: now[0])


def test_status_line_redraws_in_place_on_a_tty_at_most_refresh_hz():
    env = ArmEnv()
    out = io.StringIO()
    now, clock = fake_clock()
    status = StatusLine(total=3, done=1, body_spec=env.body_spec, ee_position=lambda: env.ee_pos,
                        stream=out, tty=True, refresh_hz=10.0, clock=clock)

    class Paced(Script):
        def get_action(self, obs):  # each tick takes 20 ms of the injected clock
            now[0] += 0.02
            return super().get_action(obs)

    loop = ControlLoop(env, Paced(), StoreRecorder(Store(), ["state"]), LoopConfig(realtime=False, max_steps=30),
                       observers=[status])
    res = loop.run_episode(seed=0)
    assert res.outcome is Outcome.MAX_STEPS and res.steps == 30  # the shoulder stops at 0.5: no success
    text = out.getvalue()
    assert text.count(CLEAR_LINE) >= 3
    # 30 ticks of 20 ms = 0.6 s at 10 Hz: about 6 timed redraws plus forced ones at start/end/events, not 30.
    assert status.lines_drawn < 15
    assert "[ep 2/3] episode started (seed 0): recording\n" in text
    last = text.rsplit(CLEAR_LINE, 1)[-1]
    assert "ep 2/3" in last and "WAIT" in last and "gripper open 100%" in last and "saved 1/3" in last
    assert "ee [+0.050 +0.000 +0.200] m" in last


def test_status_line_prints_plain_event_lines_off_a_tty():
    out = io.StringIO()
    status = StatusLine(total=2, body_spec=ArmEnv().body_spec, stream=out, tty=False)
    loop = ControlLoop(ArmEnv(), Script({2: [TeleopEvent.STOP]}), StoreRecorder(Store(), ["state"]),
                       LoopConfig(realtime=False, max_steps=10), observers=[status])
    loop.run_episode(seed=0)
    assert "\x1b" not in out.getvalue() and "\r" not in out.getvalue()
    assert out.getvalue().splitlines() == [
        "[ep 1/2] episode started (seed 0): recording",
        "[ep 1/2] stopped by the operator after 2 ticks: not saved (not a success: pass --keep-failed to keep it)",
    ]


def read_rrd(path):
    import rerun.dataframe as rdf

    rec = rdf.load_recording(str(path))
    entities = {c.entity_path for c in rec.schema().component_columns()}
    return rec, entities


def test_rerun_stream_written_to_rrd_is_read_back_by_rerun(tmp_path):
    env = ArmEnv()
    path = tmp_path / "live.rrd"
    logger = RerunLogger(open_recording(save=path), env.body_spec, ee_position=lambda: env.ee_pos, image_every=2)
    operator = Hold({2: [TeleopEvent.INTERVENE]})  # polled from tick 0: takes over at tick 2
    loop = ControlLoop(env, Script(), StoreRecorder(Store(), ["state"], keep_failed=True),
                       LoopConfig(realtime=False, max_steps=5), operator=operator, observers=[logger],
                       source_kind="policy")
    loop.run_episode(seed=0)
    logger.close()
    rec, entities = read_rrd(path)
    assert {"/cameras/front", "/joints/shoulder/measured", "/joints/shoulder/commanded", "/joints/gripper/measured",
            "/joints/gripper/commanded", "/ee/position", "/events", "/status"} <= entities
    cmd = rec.view(index="tick", contents={"/joints/shoulder/commanded": ["rerun.components.Scalar"]})
    table = cmd.select().read_all().to_pydict()
    assert table["tick"] == [0, 1, 2, 3, 4]
    assert [v[0] for v in table["/joints/shoulder/commanded:Scalar"]] == [0.25, 0.5, -1.0, -1.0, -1.0]
    images = rec.view(index="tick", contents={"/cameras/front": ["rerun.components.ImageBuffer"]})
    assert images.select().read_all().to_pydict()["tick"] == [0, 2, 4]  # image_every=2
    events = rec.view(index="log_tick", contents={"/events": ["rerun.components.Text"]})
    texts = [v[0] for v in events.select().read_all().to_pydict()["/events:Text"]]
    assert texts == ["episode started (seed 0): recording", "intervention: the operator has control",
                     "time limit reached (5 ticks): saved (failed, kept)"]


def test_rerun_connect_streams_to_a_listening_viewer_port():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    received = bytearray()

    def accept():
        server.settimeout(15)
        for _ in range(3):  # open_recording first probes the port, then rerun connects for real
            try:
                conn, _ = server.accept()
            except TimeoutError:
                return
            conn.settimeout(10)
            try:
                while len(received) < 1000:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    received.extend(chunk)
            except TimeoutError:
                pass
            conn.close()
            if received:
                return

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    env = ArmEnv()
    rec = open_recording(connect=f"127.0.0.1:{server.getsockname()[1]}")
    logger = RerunLogger(rec, env.body_spec)
    logger.on_episode_start(env.reset()[0], type("Info", (), {"seed": 0, "source": "teleop"})())
    step = type("Step", (), {"success": False})()
    for k in range(20):
        logger.on_tick(env._obs(), np.array([0.1 * k, 1.0], np.float32), step, TickTiming(k * 0.02, 0.02, 0.001, False, 0),
                       "teleop")
    logger.close()
    t.join(15)
    server.close()
    assert len(received) >= 1000  # the 20 ticks (8x8 images, 4 scalars each) reached the socket


def test_open_recording_needs_a_destination_and_an_rrd_suffix(tmp_path):
    with pytest.raises(ValueError, match="--rerun-save"):
        open_recording()
    with pytest.raises(ValueError, match=r"\.rrd"):
        open_recording(save=tmp_path / "x.txt")


def test_view_flags_resolve_and_user_mistakes_are_one_line_errors(monkeypatch):
    import argparse

    from robot.cli.liveview import ViewError, add_view_arguments, make_observers, resolve_view

    parser = argparse.ArgumentParser()
    add_view_arguments(parser)

    def args(*argv):
        return parser.parse_args(list(argv))

    monkeypatch.setenv("DISPLAY", ":99")
    assert resolve_view(args(), interactive=True) == "viewer"
    assert resolve_view(args(), interactive=False) == "none"  # a scripted expert needs no window
    assert resolve_view(args("--rerun-save", "x.rrd"), interactive=True) == "rerun"
    assert resolve_view(args("--view", "viewer", "--rerun-save", "x.rrd"), interactive=False) == "viewer+rerun"
    monkeypatch.delenv("DISPLAY")
    assert resolve_view(args(), interactive=True) == "none"
    with pytest.raises(ViewError, match="--rerun-save run.rrd"):
        resolve_view(args("--view", "rerun"), interactive=False)
    with pytest.raises(ViewError, match="contradicts"):
        resolve_view(args("--view", "none", "--rerun-connect", "h:1"), interactive=False)
    with pytest.raises(ViewError, match="DISPLAY is not set"):
        make_observers(args("--view", "viewer"), ArmEnv())
    with pytest.raises(ViewError, match="--rerun-images-every"):
        make_observers(args("--rerun-images-every", "0"), ArmEnv())
    observers = make_observers(args(), ArmEnv(), total=3)
    assert [type(o).__name__ for o in observers] == ["StatusLine"]


def test_rerun_connect_to_a_port_nobody_listens_on_says_to_start_rerun():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    with pytest.raises(ConnectionError, match="start one there with `rerun`"):
        open_recording(connect=f"127.0.0.1:{port}")
    with pytest.raises(ValueError, match="HOST:PORT"):
        open_recording(connect="localhost")


def test_status_line_counts_every_episode_for_deploy_and_only_saved_successes_for_collection():
    from types import SimpleNamespace

    from robot.runtime.status import StatusLine

    failed = SimpleNamespace(saved=False, success=False)
    for count_all, want in ((True, ["ep 1/3", "ep 2/3", "ep 3/3"]), (False, ["ep 1/3", "ep 1/3", "ep 1/3"])):
        line = StatusLine(total=3, count_all=count_all, stream=io.StringIO(), tty=False)
        labels = []
        for _ in range(3):
            labels.append(line.text().split(" ")[0] + " " + line.text().split(" ")[1])
            line.on_episode_end(failed)
        assert labels == want
