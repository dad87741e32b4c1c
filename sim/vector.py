"""Batched envs for evaluation and RL: B envs of one task behind one (B, ...) API.

No auto-reset: an env that terminates or truncates is frozen (its last
observation is repeated, its reward is 0) until it is reset, so an evaluation
reads each episode to its own end; `done` is the (B,) mask of frozen envs and
`reset(indices=...)` restarts some of them (what RL rollouts need).

Stop on success (`settle_ticks=k`, opt-in): `succeeded` marks envs whose
`info["success"]` has held for k ticks after its first one (or that terminated
on it), as `robot collect` requires of a demo; with `stop_on_success` such an
env is frozen like a finished one. Evaluation and RL read episodes the same way.

Two back ends with the same API: `VectorEnv` steps the envs one after another
in this process (right on a 2-core machine: no pickling, no IPC), and
`SubprocVectorEnv` runs each env in a worker process (for many cores or slow
renders). Use `make_vector_env(name, n_envs, ...)` for either.
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from robot import keys


def _seeds(seed: int | Sequence[int | None] | None, n: int) -> list[int | None]:
    """Per-env seeds: None -> None each, int s -> s, s+1, ..., list -> as given (length n)."""
    if seed is None:
        return [None] * n
    if isinstance(seed, (int, np.integer)):
        return [int(seed) + i for i in range(n)]
    seeds = list(seed)
    if len(seeds) != n:
        raise ValueError(f"reset: got {len(seeds)} seeds for {n} envs")
    return [None if s is None else int(s) for s in seeds]


def stack_obs(obs_list: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """List of B per-env observation dicts -> dict of (B, ...) arrays (`instruction`: list of B str)."""
    out: dict[str, Any] = {}
    for key in obs_list[0]:
        values = [o[key] for o in obs_list]
        out[key] = values if key == keys.INSTRUCTION else np.stack(values)
    return out


class _VectorBase:
    """Bookkeeping shared by both back ends: seeds, done masks, frozen envs."""

    num_envs: int
    body_spec: Any
    settle_ticks: int | None = None
    stop_on_success: bool = False

    def _init_masks(self) -> None:
        self.done = np.zeros(self.num_envs, dtype=bool)
        self.streak = np.zeros(self.num_envs, dtype=np.int64)  # consecutive ticks of success
        self.succeeded = np.zeros(self.num_envs, dtype=bool)  # success held settle_ticks (or ended on it)
        self.reached = np.zeros(self.num_envs, dtype=bool)  # success seen at least once
        self._last_obs: list[dict[str, Any] | None] = [None] * self.num_envs
        self._last_info: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]

    def reset(self, seed: int | Sequence[int | None] | None = None, options: dict | None = None,
              indices: Sequence[int] | None = None) -> tuple[dict[str, Any], list[dict]]:
        """Reset all envs (or `indices`) -> (obs with a leading B axis, list of B infos).

        seed: None, an int (env i gets seed + i) or one seed per reset env.
        """
        idx = list(range(self.num_envs)) if indices is None else [int(i) for i in indices]
        for i in idx:
            if not 0 <= i < self.num_envs:
                raise IndexError(f"reset: env index {i} out of range for {self.num_envs} envs")
        results = self._reset_some(idx, _seeds(seed, len(idx)), options)
        for i, (obs, info) in zip(idx, results, strict=True):
            self._last_obs[i], self._last_info[i] = obs, info
            self.done[i] = self.succeeded[i] = self.reached[i] = False
            self.streak[i] = 0
        missing = [i for i, o in enumerate(self._last_obs) if o is None]
        if missing:
            raise RuntimeError(f"envs {missing} were never reset; call reset() without indices first")
        return stack_obs(self._last_obs), [dict(i) for i in self._last_info]

    def step(self, actions: np.ndarray) -> tuple[dict[str, Any], np.ndarray, np.ndarray, np.ndarray, list[dict]]:
        """Step every live env with its row of `actions` (B, Da).

        Returns obs (B, ...), rewards (B,) float32, terminated (B,), truncated (B,)
        and B infos. Frozen envs (`done`) are not stepped: they repeat their last
        observation with reward 0, terminated/truncated False and info["frozen"] True.
        """
        actions = np.asarray(actions)
        if actions.ndim != 2 or actions.shape[0] != self.num_envs:
            raise ValueError(f"step: actions must be (B={self.num_envs}, Da), got {actions.shape}")
        if any(o is None for o in self._last_obs):
            raise RuntimeError("step before reset: call reset() first")
        live = [i for i in range(self.num_envs) if not self.done[i]]
        rewards = np.zeros(self.num_envs, dtype=np.float32)
        terminated = np.zeros(self.num_envs, dtype=bool)
        truncated = np.zeros(self.num_envs, dtype=bool)
        infos = [dict(self._last_info[i], frozen=True) for i in range(self.num_envs)]
        for i, (obs, rew, term, trunc, info) in zip(live, self._step_some(live, actions[live]), strict=True):
            self._last_obs[i], self._last_info[i] = obs, info
            rewards[i], terminated[i], truncated[i] = rew, term, trunc
            infos[i] = dict(info, frozen=False)
            self.done[i] = bool(term or trunc)
            if self.settle_ticks is not None:
                ok = bool(info.get("success", False))
                self.streak[i] = self.streak[i] + 1 if ok else 0
                self.reached[i] |= ok
                self.succeeded[i] |= self.streak[i] > self.settle_ticks or (ok and bool(term))
                self.done[i] |= self.stop_on_success and self.succeeded[i]
        return stack_obs(self._last_obs), rewards, terminated, truncated, infos

    @property
    def success(self) -> np.ndarray:
        """(B,) bool: `info["success"]` of each env's latest step."""
        return np.array([bool(info.get("success", False)) for info in self._last_info])

    def __enter__(self) -> _VectorBase:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class VectorEnv(_VectorBase):
    """B envs stepped sequentially in this process; `envs[i]` stays reachable (experts read it).

    settle_ticks: track `succeeded` (success held that many ticks after its first);
    stop_on_success: freeze an env once it has succeeded (needs settle_ticks).
    """

    def __init__(self, envs: Sequence[Any], *, settle_ticks: int | None = None,
                 stop_on_success: bool = False) -> None:
        if not envs:
            raise ValueError("VectorEnv needs at least one env")
        if stop_on_success and settle_ticks is None:
            raise ValueError("VectorEnv: stop_on_success needs settle_ticks (0: the first tick of success)")
        self.envs = list(envs)
        self.num_envs = len(self.envs)
        self.settle_ticks, self.stop_on_success = settle_ticks, stop_on_success
        first = self.envs[0]
        self.body_spec = getattr(first, "body_spec", None)
        self.single_action_space = getattr(first, "action_space", None)
        self.single_observation_space = getattr(first, "observation_space", None)
        self._init_masks()

    def _reset_some(self, idx: list[int], seeds: list[int | None], options: dict | None) -> list[tuple]:
        kw = {} if options is None else {"options": options}  # minimal envs take only a seed
        return [self.envs[i].reset(seed=s, **kw) for i, s in zip(idx, seeds, strict=True)]

    def _step_some(self, idx: list[int], actions: np.ndarray) -> list[tuple]:
        return [self.envs[i].step(a) for i, a in zip(idx, actions, strict=True)]

    def render(self, camera: str | None = None, **kwargs: Any) -> np.ndarray:
        """(B, H, W, 3) uint8: every env rendered from `camera`."""
        return np.stack([env.render(camera, **kwargs) for env in self.envs])

    def close(self) -> None:
        """Close every env."""
        for env in self.envs:
            env.close()


def _worker(conn: Any, make: Callable[[], Any]) -> None:
    """Subprocess loop: build the env, then answer (command, args) requests until 'close'.

    Every answer is ("ok", result) or ("error", formatted traceback), so a failure in
    a worker surfaces in the parent as an exception naming the env, not as a hang.
    """
    import traceback

    try:
        env = make()
    except Exception:  # noqa: BLE001 - reported to the parent
        conn.send(("error", traceback.format_exc()))
        conn.close()
        return
    try:
        while True:
            cmd, args = conn.recv()
            if cmd == "close":
                break
            try:
                if cmd == "reset":
                    result = env.reset(seed=args[0], options=args[1])
                elif cmd == "step":
                    result = env.step(args)
                elif cmd == "render":
                    result = env.render(args[0], **args[1])
                elif cmd == "spec":
                    result = (env.body_spec, env.action_space, env.observation_space)
                else:
                    raise ValueError(f"unknown command {cmd!r}")
                conn.send(("ok", result))
            except Exception:  # noqa: BLE001 - reported to the parent
                conn.send(("error", traceback.format_exc()))
    finally:
        env.close()
        conn.close()


class _EnvFactory:
    """Picklable `make_env(name, config, **overrides)` closure for worker processes."""

    def __init__(self, name: str, config: Any, overrides: dict[str, Any]) -> None:
        self.name, self.config, self.overrides = name, config, overrides

    def __call__(self) -> Any:
        from sim.registry import make_env

        return make_env(self.name, self.config, **self.overrides)


class SubprocVectorEnv(_VectorBase):
    """B envs, one per worker process (spawned, so MuJoCo/GL state is never forked)."""

    def __init__(self, factories: Sequence[Callable[[], Any]]) -> None:
        if not factories:
            raise ValueError("SubprocVectorEnv needs at least one env factory")
        ctx = mp.get_context("spawn")
        self.num_envs = len(factories)
        self._conns, self._procs = [], []
        for make in factories:
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_worker, args=(child, make), daemon=True)
            proc.start()
            child.close()
            self._conns.append(parent)
            self._procs.append(proc)
        self._conns[0].send(("spec", None))
        self.body_spec, self.single_action_space, self.single_observation_space = self._recv(0)
        self._init_masks()

    def _recv(self, i: int) -> Any:
        return self._gather([i])[0]

    def _gather(self, idx: list[int]) -> list[Any]:
        """Answers of workers `idx`; reads every one before raising, so no stale answer stays queued."""
        answers, errors = [], []
        for i in idx:
            try:
                status, result = self._conns[i].recv()
            except (EOFError, ConnectionResetError):
                status, result = "error", f"died (exit code {self._procs[i].exitcode})"
            if status == "error":
                errors.append(f"vector env worker {i} failed:\n{result}")
            answers.append(result)
        if errors:
            raise RuntimeError("\n".join(errors))
        return answers

    def _reset_some(self, idx: list[int], seeds: list[int | None], options: dict | None) -> list[tuple]:
        for i, s in zip(idx, seeds, strict=True):
            self._conns[i].send(("reset", (s, options)))
        return self._gather(idx)

    def _step_some(self, idx: list[int], actions: np.ndarray) -> list[tuple]:
        for i, a in zip(idx, actions, strict=True):
            self._conns[i].send(("step", a))
        return self._gather(idx)

    def render(self, camera: str | None = None, **kwargs: Any) -> np.ndarray:
        """(B, H, W, 3) uint8: every env rendered from `camera`."""
        for conn in self._conns:
            conn.send(("render", (camera, kwargs)))
        return np.stack(self._gather(list(range(self.num_envs))))

    def close(self) -> None:
        """Stop the workers (idempotent)."""
        for conn, proc in zip(self._conns, self._procs, strict=True):
            if proc.is_alive():
                try:
                    conn.send(("close", None))
                except (BrokenPipeError, OSError):
                    pass
            proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()
        self._conns, self._procs = [], []


def make_vector_env(name: str, n_envs: int, config: Any = None, *, subprocess: bool = False,
                    settle_ticks: int | None = None, stop_on_success: bool = False,
                    **overrides: Any) -> VectorEnv | SubprocVectorEnv:
    """B = `n_envs` copies of registry task `name` (or `gym:<id>`), built by `sim.registry.make_env`.

    subprocess: one worker process per env instead of in-process sequential stepping.
    settle_ticks / stop_on_success: see `VectorEnv`.
    """
    if n_envs < 1:
        raise ValueError(f"make_vector_env: n_envs must be >= 1, got {n_envs}")
    if stop_on_success and settle_ticks is None:
        raise ValueError("make_vector_env: stop_on_success needs settle_ticks (0: the first tick of success)")
    factory = _EnvFactory(name, config, dict(overrides))
    if subprocess:
        vec: VectorEnv | SubprocVectorEnv = SubprocVectorEnv([factory] * n_envs)
        vec.settle_ticks, vec.stop_on_success = settle_ticks, stop_on_success
        return vec
    return VectorEnv([factory() for _ in range(n_envs)], settle_ticks=settle_ticks,
                     stop_on_success=stop_on_success)
