"""The MuJoCo twin of the SO-101 as a real-time `Robot`, with sim cameras as `Camera`s.

The twin wraps a registered SO-101 task (default `so101_lift`, built by
`sim.registry.make_env`) and gives the control loop hardware timing:

- a physics thread advances the simulation in step with the wall clock
  (every `physics_dt` s it steps until sim time catches up), so the loop sees
  an arm that keeps moving while it computes;
- `get_observation()` returns the newest joint state with its capture time
  (time.monotonic) and the newest camera frames;
- `send_action(a)` clips to the joint limits and writes the position targets
  that the next physics step applies; it returns the command sent;
- each camera renders on its own thread at its own fps (`SimCamera`) and is
  read with `read_latest()` -> (frame, capture time), never blocking.

Observations hold the joint state and the cameras only. Privileged sim state
(object poses appended to `state`) only with `privileged_state=True`, which
logs a warning: a policy that needs it cannot run on the real arm. The twin
scores episodes with `success()` (sim-only), resets its scene with
`reset_episode(seed)`, and provides the safety layer's defaults
(`safety_config()`) and forward kinematics (`forward_kinematics(q)`).

Faults are first-class test inputs: `cameras[name].pause()` freezes a camera,
`set_unresponsive(True)` makes reads and writes time out, `inject_fault(text)`
adds a hardware fault to `faults()`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import mujoco
import numpy as np

from hardware.twin_camera import SimCamera
from robot import keys as K
from robot.config import ConfigError
from robot.runtime.safety import SafetyConfig
from robot.specs import ArraySpec, BodySpec
from sim.registry import make_env

log = logging.getLogger(__name__)

SAFE_STATES = ("hold", "torque_off")


@dataclass(frozen=True)
class TwinConfig:
    """Settings of the twin.

    task: registered SO-101 task whose scene the twin simulates.
    fps: control rate the twin advertises (0: the task's).
    physics_dt: wall seconds between physics updates (each catches sim time up to the wall clock).
    cameras: sim cameras to render ((): joint state only); camera_fps: their frame rate, Hz.
    image_size: (H, W) of camera frames, pixels.
    privileged_state: append the task's object features to `state` (sim-only policies).
    safe_state: what `safe_stop()` does: "hold" the measured position, or "torque_off".
    max_step / max_velocity / workspace_low / workspace_high: safety-layer defaults
      (rad per tick from the measured position; rad/s; end-effector box in m).
    """

    task: str = "so101_lift"
    fps: float = 0.0
    physics_dt: float = 0.004
    cameras: tuple[str, ...] = ("front", "wrist")
    camera_fps: float = 30.0
    image_size: tuple[int, int] = (96, 96)
    privileged_state: bool = False
    safe_state: str = "hold"
    max_step: tuple[float, ...] = (0.6, 0.6, 0.6, 0.6, 0.6, 2.0)
    max_velocity: tuple[float, ...] = (6.0, 6.0, 6.0, 6.0, 6.0, 30.0)
    workspace_low: tuple[float, ...] = (-0.05, -0.30, 0.005)
    workspace_high: tuple[float, ...] = (0.40, 0.30, 0.40)

    def __post_init__(self) -> None:
        if self.safe_state not in SAFE_STATES:
            raise ConfigError(f"twin.safe_state must be one of {SAFE_STATES}, got {self.safe_state!r}")
        if not 0 < self.physics_dt <= 0.05:
            raise ConfigError(f"twin.physics_dt must be in (0, 0.05] s, got {self.physics_dt}")
        if not self.camera_fps > 0:
            raise ConfigError(f"twin.camera_fps must be > 0, got {self.camera_fps}")


class Twin:
    """The SO-101 MuJoCo twin as a `robot.interfaces.Robot` (see the module doc)."""

    def __init__(self, config: TwinConfig | None = None, env_overrides: dict[str, Any] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config = c = config or TwinConfig()
        overrides = {**dict(env_overrides or {}), "cameras": (), "privileged_state": c.privileged_state}
        self.env = make_env(c.task, overrides)
        if not hasattr(self.env, "joint_positions"):
            raise ConfigError(f"twin.task {c.task!r} is not an SO-101 task; pick one of so101_lift, so101_place, "
                              "so101_multi, peg_insert")
        missing = [cam for cam in c.cameras if cam not in self.env.camera_names]
        if missing:
            raise ConfigError(f"twin.cameras {missing} not in the scene; available: {list(self.env.camera_names)}")
        if c.privileged_state:
            log.warning("twin: privileged_state=True - `state` carries true object poses the real arm cannot "
                        "observe; use it only for sim-only policies")
        self._clock = clock
        self.lock = threading.Lock()
        self.body_spec = self._make_spec()
        self.cameras = {cam: SimCamera(cam, self, c.camera_fps, c.image_size) for cam in c.cameras}
        m = self.env.model
        self._act = self.env._act
        self._qadr = self.env._qadr
        self._nominal_gains = (m.actuator_gainprm[self._act].copy(), m.actuator_biasprm[self._act].copy())
        self._fk_data = mujoco.MjData(m)
        self._state = np.zeros(self.body_spec.observations[K.STATE].shape, np.float32)
        self._state_time = 0.0
        self._thread: threading.Thread | None = None
        self._running = threading.Event()
        self._connected = False
        self._stopped = False
        self._unresponsive = False
        self._faults: list[str] = []
        self.physics_overruns = 0

    def _make_spec(self) -> BodySpec:
        es = self.env.body_spec
        h, w = self.config.image_size
        obs = {K.STATE: es.observations[K.STATE]}
        for cam in self.config.cameras:
            obs[K.image_key(cam)] = ArraySpec((h, w, 3), "uint8", "pixel")
        return BodySpec(name="so101_twin", observations=obs, action=es.action,
                        fps=float(self.config.fps or es.fps), action_low=es.action_low,
                        action_high=es.action_high, instructions=es.instructions)

    # ------------------------------------------------------------ lifecycle
    @property
    def is_connected(self) -> bool:
        """Physics and cameras running."""
        return self._connected

    def connect(self, seed: int | None = 0) -> None:
        """Reset the scene, start physics and cameras; returns once every camera has a frame."""
        if self._connected:
            return
        with self.lock:
            self.env.reset(seed=seed)
            self._publish_state()
        self._running.set()
        self._thread = threading.Thread(target=self._physics, name="twin-physics", daemon=True)
        self._thread.start()
        try:
            for cam in self.cameras.values():
                cam.connect()
        except BaseException:
            self.disconnect()
            raise
        self._connected = True

    def disconnect(self) -> None:
        """Stop cameras and physics (idempotent)."""
        for cam in self.cameras.values():
            cam.disconnect()
        self._running.clear()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None
        self._connected = False

    def close(self) -> None:
        """Disconnect and free the env."""
        self.disconnect()
        self.env.close()

    def __enter__(self) -> Twin:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -------------------------------------------------------------- physics
    def _publish_state(self) -> None:
        self._state = np.asarray(self.env._get_state(), np.float32).copy()
        self._state_time = self._clock()

    def _physics(self) -> None:
        m, d = self.env.model, self.env.data
        dt = self.config.physics_dt
        wall0, sim0 = self._clock(), d.time
        next_t = wall0
        while self._running.is_set():
            now = self._clock()
            with self.lock:
                if d.time < sim0 - 1e-9:  # the scene was reset: re-anchor sim time to now
                    wall0, sim0 = now, d.time
                n = int((now - wall0 - (d.time - sim0)) / m.opt.timestep)
                if n > 0:
                    mujoco.mj_step(m, d, nstep=min(n, 200))
                    if n > 200:  # more than 0.4 s behind: drop the backlog instead of racing
                        wall0, sim0 = now, d.time
                        self.physics_overruns += 1
                self._publish_state()
            next_t += dt
            delay = next_t - self._clock()
            if delay < -10 * dt:
                next_t = self._clock()
            elif delay > 0:
                time.sleep(delay)

    # ------------------------------------------------------------ Robot API
    def _check_answering(self, what: str) -> None:
        if not self._connected:
            raise RuntimeError(f"twin: {what} while disconnected; call connect() first")
        if self._unresponsive:
            raise TimeoutError(f"twin: no answer to {what} (the body stopped answering)")

    def get_observation(self) -> tuple[dict[str, Any], float]:
        """Newest observation (`state` (Ds,), `images.<cam>` (H, W, 3)) and the state's capture time."""
        self._check_answering("get_observation")
        with self.lock:
            obs: dict[str, Any] = {K.STATE: self._state.copy()}
            t = self._state_time
            if self.env.instruction is not None:
                obs[K.INSTRUCTION] = self.env.instruction
        for name, cam in self.cameras.items():
            obs[K.image_key(name)] = cam.read_latest()[0]
        return obs, t

    def send_action(self, action: np.ndarray) -> np.ndarray:
        """Clip (Da,) joint targets (rad) to the limits; the next physics step applies them."""
        self._check_answering("send_action")
        if self._stopped:
            raise RuntimeError("twin: send_action after safe_stop(); reset_episode() or reconnect first")
        a = np.asarray(action, dtype=np.float64).reshape(-1)
        if a.shape != (len(self._act),) or not np.all(np.isfinite(a)):
            raise ValueError(f"twin: action must be {len(self._act)} finite values, got {a}")
        sent = np.clip(a, self.env.action_low, self.env.action_high)
        with self.lock:
            self.env.data.ctrl[self._act] = sent
        return sent.astype(np.float32)

    def hold(self) -> None:
        """Command the measured joint positions (torque on)."""
        with self.lock:
            self._torque(True)
            self.env.data.ctrl[self._act] = self.env.data.qpos[self._qadr]

    def safe_stop(self) -> None:
        """Hold or torque off, per `config.safe_state`; idempotent, never raises."""
        if self.config.safe_state == "hold":
            self.hold()
        else:
            with self.lock:
                self._torque(False)
        self._stopped = True

    def faults(self) -> list[str]:
        """Injected faults, plus a dead physics thread."""
        out = list(self._faults)
        if self._connected and (self._thread is None or not self._thread.is_alive()):
            out.append("twin physics thread stopped")
        return out

    def frame_times(self) -> dict[str, float]:
        """Camera name -> capture time of its newest frame."""
        return {name: cam.read_latest()[1] for name, cam in self.cameras.items()}

    def _torque(self, on: bool) -> None:
        m = self.env.model
        gain, bias = self._nominal_gains
        m.actuator_gainprm[self._act] = gain if on else 0.0
        m.actuator_biasprm[self._act] = bias if on else 0.0

    # ------------------------------------------------------- twin extras
    def reset_episode(self, seed: int | None = None) -> None:
        """Reset the sim scene (objects, arm at home) with `seed`; waits for fresh camera frames."""
        self._check_answering("reset_episode")
        with self.lock:
            self._torque(True)
            self.env.reset(seed=seed)
            self._publish_state()
            t_reset = self._clock()
        self._stopped = False
        deadline = time.monotonic() + 5.0
        for cam in self.cameras.values():
            while cam.read_latest()[1] <= t_reset and time.monotonic() < deadline:
                time.sleep(0.002)

    def success(self) -> bool:
        """Sim-only task success at the current physics state."""
        with self.lock:
            return bool(self.env._evaluate()[1])

    def safety_config(self) -> SafetyConfig:
        """The safety layer's defaults for this arm."""
        c = self.config
        return SafetyConfig(max_step=c.max_step, max_velocity=c.max_velocity,
                            workspace_low=c.workspace_low, workspace_high=c.workspace_high)

    # For the live view (sim/viewer.py, robot/cli/liveview.py): the sim the twin runs, read under `lock`.
    @property
    def model(self) -> Any:
        """The MuJoCo model of the simulated task."""
        return self.env.model

    @property
    def data(self) -> Any:
        """The MuJoCo data the physics thread steps (hold `lock` to read a consistent state)."""
        return self.env.data

    def goal_markers(self) -> Any:
        """The task's goal markers, drawn by the viewer."""
        return self.env.goal_markers()

    @property
    def ee_pos(self) -> np.ndarray:
        """End-effector position (3,) m in the world frame."""
        with self.lock:
            return np.array(self.env.ee_pos, dtype=np.float64)

    def forward_kinematics(self, q: np.ndarray) -> np.ndarray:
        """(3,) position (m) of the gripper frame at joint positions `q` (Da,) rad; the live sim is untouched."""
        d = self._fk_data
        d.qpos[self._qadr] = np.asarray(q, dtype=np.float64)[: len(self._qadr)]
        mujoco.mj_kinematics(self.env.model, d)
        return d.site_xpos[self.env.ee_site].copy()

    def set_unresponsive(self, on: bool = True) -> None:
        """Fault injection: reads and writes raise TimeoutError while on."""
        self._unresponsive = on

    def inject_fault(self, text: str) -> None:
        """Fault injection: report `text` from `faults()` until `clear_faults()`."""
        self._faults.append(text)

    def clear_faults(self) -> None:
        """Remove injected faults."""
        self._faults.clear()

