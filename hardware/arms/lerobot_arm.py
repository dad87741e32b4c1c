"""SO-100 / SO-101 / Koch followers through lerobot's own robot and motor classes, in twin units.

`LeRobotArm` implements `robot.interfaces.Robot` plus `hold / safe_stop /
faults`. It drives lerobot 0.3.2's unmodified `SO101Follower` /
`SO100Follower` / `KochFollower` (imported lazily; extra `lerobot`) and maps
their units onto the SO-101 twin's (see `hardware.arms.units`), so a policy
trained on the twin runs unchanged: state and action (6,) float32 rad in the
order shoulder_pan, shoulder_lift, elbow_flex, wrist_flex, wrist_roll, gripper,
limits = the twin's actuator ranges.

Connect checks, in order, each failing with one actionable error: the port
exists and is not held by another connection; the calibration file exists
where lerobot keeps it (`<calibration_dir or $HF_LEROBOT_CALIBRATION/robots/
<type>>/<id>.json`); every servo answers; the servos' calibration registers
match the file (else the file is from another arm). Then the goal of every
servo is set to its present position before torque comes on, so nothing moves.

Safety on the arm itself (the runtime's safety layer and watchdog sit above):
commands are clipped to the joint limits and rate-limited to
`max_step_rad` per tick from the previous command, derated when servos run
hot; a fatal fault (servo health, silent servo, repeated read failures)
latches `safe_stop()`, after which `send_action` only holds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from hardware.arms.arm_config import (
    ARM_TYPES,
    HEALTH_REGISTERS,
    ArmFault,
    LeRobotArmConfig,
    build_lerobot_robot,
    set_reply_timeout,
)
from hardware.arms.calibration import (
    LEROBOT_NAMES,
    CalibrationError,
    check_bus_calibration,
    load_calibration_file,
)
from hardware.arms.ports import PortLock
from hardware.arms.servo_health import ServoHealthConfig, ServoHealthMonitor
from hardware.arms.units import JOINTS, JointMap, twin_body_spec, twin_joint_limits
from robot import keys as K
from robot.interfaces import Observation

__all__ = ["ARM_TYPES", "HEALTH_REGISTERS", "LEROBOT_NAMES", "ArmFault", "CalibrationError", "LeRobotArm",
           "LeRobotArmConfig", "build_lerobot_robot", "set_reply_timeout"]


class LeRobotArm:
    """A lerobot follower as a `Robot` in the twin's units, with health monitoring and safe stop.

    cameras: optional `{name: Camera}` (hardware.cameras) read with `read_latest()` into `images.<name>`;
      each camera needs a `shape` (H, W, C) attribute for the body spec.
    robot: an already built lerobot robot (tests); default builds one from `config`.
    """

    def __init__(self, config: LeRobotArmConfig | None = None, cameras: Mapping[str, Any] | None = None,
                 robot: Any | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config or LeRobotArmConfig()
        if cameras is None and self.config.cameras:
            from hardware.cameras import make_camera

            cameras = {name: make_camera(spec["kind"], name, **{k: v for k, v in spec.items() if k != "kind"})
                       for name, spec in self.config.cameras.items()}
        self.cameras = dict(cameras or {})
        self.body_spec = twin_body_spec(self.config.kind, self.config.fps,
                                        {n: tuple(c.shape) for n, c in self.cameras.items()})
        low, high = twin_joint_limits()
        self.map = JointMap(low, high, self.config.use_degrees, self.config.signs, self.config.offsets_rad)
        self.low, self.high = np.asarray(low), np.asarray(high)
        self._robot = robot
        self._clock = clock
        self._lock = PortLock(self.config.port, self.device)
        self._connected = False
        self._stopped = False
        self.health: ServoHealthMonitor | None = None
        self._faults: dict[str, str] = {}
        self._last_state: np.ndarray | None = None
        self._last_time = 0.0
        self._last_goal: np.ndarray | None = None
        self._fk: Callable[[np.ndarray], np.ndarray] | None = None

    @property
    def device(self) -> str:
        """How errors name this arm: kind, id and port."""
        return f"{self.config.kind} arm {self.config.id!r} on {self.config.port}"

    @property
    def is_connected(self) -> bool:
        """Whether the bus is open."""
        return self._connected

    # ------------------------------------------------------------- connect
    def connect(self) -> None:
        """Check port and calibration, open the bus, configure the servos and hold the present pose."""
        if self._connected:
            return
        self._lock.acquire()
        try:
            file_cal = load_calibration_file(self.config, self.device)
            if self._robot is None:
                self._robot = build_lerobot_robot(self.config)
            for attempt in range(self.config.connect_attempts):
                try:
                    self._open_bus(file_cal)
                    break
                except ArmFault:
                    if attempt + 1 == self.config.connect_attempts:
                        raise
            try:
                for cam in self.cameras.values():
                    cam.connect()
            except BaseException:
                for cam in self.cameras.values():
                    cam.disconnect()
                self._close_bus()
                raise
        except BaseException:
            self._lock.release()
            raise
        motors = {m: self._robot.bus.motors[m].id for m in JOINTS}
        health_cfg = self.config.health or ServoHealthConfig(registers=HEALTH_REGISTERS[self.config.kind],
                                                             max_read_failures=self.config.max_read_failures)
        self.health = ServoHealthMonitor(motors, self._read_health_register, health_cfg)
        self._connected, self._stopped, self._faults = True, False, {}
        self._last_state = None  # nothing from an earlier connection may pass for a measurement
        for attempt in range(self.config.max_read_failures):
            try:
                self.get_observation()
                break
            except ArmFault:
                if attempt + 1 == self.config.max_read_failures:
                    self.disconnect()
                    raise

    def _open_bus(self, file_cal: Mapping[str, Mapping[str, int]]) -> None:
        """Handshake, check the servos' calibration, hold the present pose, configure (lerobot's own steps)."""
        bus = self._robot.bus
        try:
            bus.connect()
        except (ConnectionError, RuntimeError) as e:
            if bus.port_handler.is_open:  # lerobot leaves it open when the handshake fails
                bus.port_handler.closePort()
            cause = f" ({e.__cause__})" if e.__cause__ else ""
            hint = (" A servo that is unplugged, or in protection (overload / over-temperature answers every "
                    "packet with an error, which lerobot counts as missing), looks like this: check its cable, "
                    "let it cool, power-cycle the arm.") if "Missing motor" in str(e) else ""
            raise ArmFault(f"{self.device}: cannot open the servo bus: {str(e).strip()}{cause}{hint}") from None
        try:
            check_bus_calibration(self._robot.bus, file_cal, self.config, self.device)
            self._hold_present()  # goal = present before torque comes on
            self._robot.configure()
        except (ConnectionError, RuntimeError) as e:
            bus.disconnect(disable_torque=False)
            if isinstance(e, CalibrationError):
                raise
            raise ArmFault(f"{self.device}: configuring the servos failed: {str(e).strip()}") from None

    def disconnect(self) -> None:
        """Stop the cameras and close the bus (torque off, as lerobot does); never raises on a dead bus."""
        if not self._connected:
            return
        for cam in self.cameras.values():
            cam.disconnect()
        self._close_bus()
        self._connected = False
        self._lock.release()

    def _close_bus(self) -> None:
        """Torque off and close the port, as lerobot does; a servo in protection must not keep it open."""
        bus = self._robot.bus
        try:
            bus.disconnect(disable_torque=True)
        except (ConnectionError, RuntimeError, OSError):
            # A servo in protection answers writes with an error; close the port anyway.
            if bus.port_handler.is_open:
                bus.port_handler.closePort()

    def __enter__(self) -> LeRobotArm:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.disconnect()

    # ------------------------------------------------------------ bus helpers
    def _drain(self) -> None:
        """Drop stale input: scservo_sdk does not, so a reply that came after its timeout would be
        taken as the answer to the next read (e.g. a late Present_Load reply read as positions)."""
        ser = getattr(self._robot.bus.port_handler, "ser", None)
        if ser is not None:
            ser.reset_input_buffer()

    def _read_health_register(self, register: str) -> dict[str, int]:
        self._drain()
        return self._robot.bus.sync_read(register, normalize=False)

    def _hold_present(self) -> None:
        raw = self._robot.bus.sync_read("Present_Position", normalize=False)
        self._robot.bus.sync_write("Goal_Position", raw, normalize=False)
        self._last_goal = None

    def _silent_joints(self) -> list[str]:
        """Ping every servo (after a failed read) to find the ones that stopped answering."""
        silent = []
        for joint in JOINTS:
            motor = self._robot.bus.motors[joint]
            if self._robot.bus.ping(motor.id) is None:
                silent.append(f"servo '{joint}' (id {motor.id})")
        return silent

    # ------------------------------------------------------------- running
    def _servo_faults(self) -> list[str]:
        own = list(self._faults.values())
        return own + (self.health.faults() if self.health is not None else [])

    def faults(self) -> list[str]:
        """Current faults, each naming the joint or device (empty: healthy); cheap, cached.

        Servo faults latch a safe stop here; camera faults (no frames) are reported for the watchdog.
        """
        cams = [f for cam in self.cameras.values() for f in getattr(cam, "faults", list)()]
        return self._servo_faults() + cams

    def _fault(self, key: str, message: str) -> None:
        self._faults.setdefault(key, message)

    def get_observation(self) -> tuple[Observation, float]:
        """`state` (6,) rad (+ `images.<cam>`) and its capture time; on a failed read the last one, stale."""
        if not self._connected:
            raise RuntimeError(f"{self.device} is not connected: call connect() first")
        now = self._clock()
        try:
            self._drain()
            reading = self._robot.get_observation()
        except (ConnectionError, RuntimeError) as e:
            # A lost or corrupted reply is retried on the next tick (the observation goes stale);
            # after max_read_failures in a row, ping each servo to name the ones at fault, and stop.
            self.health.record_read(False, "position read")
            if self.health.read_failures >= self.health.config.max_read_failures and not self._stopped:
                bad = self._silent_joints()
                who = ", ".join(bad) if bad else self.device
                self._fault("read", f"{who}: no valid reply (silent or corrupted packets) on {self.config.port} "
                                    f"after {self.health.read_failures} failed reads: {str(e).strip()}")
            if self._servo_faults():
                self.safe_stop()
            if self._last_state is None:
                raise ArmFault(f"{self.device}: first position read failed: {str(e).strip()}") from None
            return self._observation(self._last_state), self._last_time
        self.health.record_read(True)
        state = self.map.to_twin(reading)
        if not self._stopped:
            self.health.track(self._last_goal, state, now, JOINTS)
            if self._servo_faults():
                self.safe_stop()
        self._last_state, self._last_time = state, now
        return self._observation(state), now

    def _observation(self, state: np.ndarray) -> Observation:
        obs: Observation = {K.STATE: state.copy()}
        for name, cam in self.cameras.items():
            obs[K.image_key(name)] = cam.read_latest()[0]
        return obs

    def send_action(self, action: np.ndarray) -> np.ndarray:
        """Clip to the joint limits, rate-limit (derated when hot), send; returns the (6,) rad sent.

        After a safe stop nothing is sent and the held position is returned.
        """
        if not self._connected:
            raise RuntimeError(f"{self.device} is not connected: call connect() first")
        if self._stopped:
            return self._held()
        target = np.clip(np.asarray(action, dtype=np.float64).reshape(6), self.low, self.high)
        if not np.all(np.isfinite(target)):
            raise ValueError(f"{self.device}: non-finite action {action}")
        ref = self._last_goal if self._last_goal is not None else self._last_state.astype(np.float64)
        step = self.config.max_step_rad * self.health.speed_factor()
        goal = np.clip(target, ref - step, ref + step)
        sent = self._robot.send_action(self.map.to_lerobot(goal))
        self._last_goal = self.map.to_twin(sent).astype(np.float64)
        sent_rad = self._last_goal.astype(np.float32)
        self._poll_health()  # may safe-stop; what was sent stays what was sent
        return sent_rad

    def _poll_health(self) -> None:
        """A due health read, after the tick's command went out: it costs slack time, not command latency."""
        self.health.poll(self._clock())
        if self._servo_faults():
            self.safe_stop()

    def _held(self) -> np.ndarray:
        return (self._last_state if self._last_state is not None else np.zeros(6)).astype(np.float32)

    def hold(self) -> None:
        """Command the measured position (stop moving, torque stays on); health keeps being read."""
        if not self._connected:
            return
        try:
            self._hold_present()
        except (ConnectionError, RuntimeError):
            return  # a silent bus cannot be told to hold; the caller escalates to safe_stop
        if not self._stopped:
            self._poll_health()

    def safe_stop(self) -> None:
        """Enter the configured safe state (hold or torque off) and latch it; idempotent, never raises."""
        if self._stopped or not self._connected:
            self._stopped = True
            return
        self._stopped = True
        if self.config.safe_stop == "torque_off":
            for joint in JOINTS:  # one by one: a silent servo must not keep the others powered
                try:
                    self._robot.bus.disable_torque(joint, num_retry=1)
                except (ConnectionError, RuntimeError, OSError):
                    pass  # in protection or off the bus: it dropped torque already or cannot hear us
            return
        try:
            self._hold_present()
        except (ConnectionError, RuntimeError, OSError):
            # A servo does not answer the position read: hold the others at the last measured pose
            # (a sync write needs no reply).
            if self._last_state is not None:
                try:
                    self._robot.send_action(self.map.to_lerobot(self._last_state))
                except (ConnectionError, RuntimeError, OSError):
                    pass

    def forward_kinematics(self, q: np.ndarray) -> np.ndarray:
        """(3,) gripper-frame position (m, robot base frame) at joints `q` (>= 5,) rad, on the twin's model."""
        if self._fk is None:
            from hardware.teleop.arm_ik import arm_ik_for

            self._fk = arm_ik_for(None)[0]
        return self._fk(np.asarray(q, dtype=np.float64)[:5])

    @property
    def stopped(self) -> bool:
        """Whether a safe stop is latched (reconnect to clear it)."""
        return self._stopped
