"""Remote inference: a policy server and a client that is itself a policy, over websockets.

    server = PolicyServer(policy, ServerConfig(port=8765)); server.serve_forever()   # `robot serve`
    client = RemotePolicy("ws://127.0.0.1:8765", token=...)   # has .spec and .predict_chunk
    source = PolicySource(client, cfg)                          # plugs into the async worker

Messages are msgpack maps; numpy arrays travel as raw bytes with their dtype
and shape (numeric dtypes only); nothing is pickled, so a message can never
run code. Requests: {"type": "spec"}, {"type": "reset"},
{"type": "predict", "obs": {...}, "noise": array | None, "kwargs": {...}};
replies {"type": "spec"|"ok"|"chunk"|"error", ...}.

Security: the server binds 127.0.0.1 by default. Bound to any other address it
refuses to start without a token; with a token, every connection must send
`Authorization: Bearer <token>` (compared in constant time) or it is rejected
with HTTP 401 before any message is read.
"""

from __future__ import annotations

import hmac
import http
import ipaddress
import threading
from dataclasses import dataclass
from typing import Any

import msgpack
import numpy as np

from robot.specs import ArraySpec, PolicySpec

MAX_MESSAGE_BYTES = 64 * 2**20
PREDICT_KWARGS = frozenset(
    {"steps", "prefix", "prefix_delay", "prefix_schedule", "max_guidance_weight", "prefix_method"}
)
_ND = "__ndarray__"


class RemoteInferenceError(RuntimeError):
    """The policy server is unreachable, rejected us, or failed; the message says which and what to do."""


# -- serialization --------------------------------------------------------------------------------
def _encode(obj: Any) -> Any:
    if hasattr(obj, "detach") and hasattr(obj, "cpu"):  # torch tensor, without importing torch
        obj = obj.detach().cpu().numpy()
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind not in "biuf":
            raise TypeError(f"cannot send a numpy array of dtype {obj.dtype}: numeric arrays only")
        arr = np.ascontiguousarray(obj)
        return {_ND: True, "dtype": arr.dtype.str, "shape": list(arr.shape), "data": arr.tobytes()}
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"cannot serialize {type(obj).__name__}")


def _decode(obj: dict) -> Any:
    if obj.get(_ND) is True:
        dtype = np.dtype(obj["dtype"])
        if dtype.kind not in "biuf":
            raise ValueError(f"refusing array of dtype {dtype}: numeric arrays only")
        return np.frombuffer(obj["data"], dtype=dtype).reshape(obj["shape"]).copy()
    return obj


def pack(message: Any) -> bytes:
    """msgpack bytes of a message; numpy arrays / tensors become {dtype, shape, raw bytes}."""
    return msgpack.packb(message, default=_encode, use_bin_type=True)


def unpack(data: bytes) -> Any:
    """Inverse of `pack`; never executes code (no pickle, numeric dtypes only)."""
    return msgpack.unpackb(data, object_hook=_decode, raw=False)


def spec_to_dict(spec: PolicySpec) -> dict[str, Any]:
    """PolicySpec -> plain dict for the wire."""
    return {
        "observations": {k: v.to_dict() for k, v in spec.observations.items()},
        "action_dim": spec.action_dim, "n_obs_steps": spec.n_obs_steps, "horizon": spec.horizon,
        "n_action_steps": spec.n_action_steps, "fps": spec.fps, "uses_instruction": spec.uses_instruction,
        "extra": dict(spec.extra),
    }


def spec_from_dict(d: dict[str, Any]) -> PolicySpec:
    """Inverse of `spec_to_dict`."""
    d = dict(d)
    d["observations"] = {k: ArraySpec.from_dict(v) for k, v in d["observations"].items()}
    return PolicySpec(**d)


def is_loopback(host: str) -> bool:
    """True for localhost / 127.0.0.0/8 / ::1."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# -- server ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ServerConfig:
    """Where the policy server listens: host (127.0.0.1 default), port (0: any free), token."""

    host: str = "127.0.0.1"
    port: int = 8765
    token: str = ""

    def __post_init__(self) -> None:
        if not is_loopback(self.host) and not self.token:
            raise ValueError(
                f"refusing to serve a policy on {self.host!r} without a token: anyone on the network could "
                "drive the robot; pass --token (or bind 127.0.0.1)"
            )
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be in [0, 65535], got {self.port}")


class PolicyServer:
    """Serves `policy.predict_chunk` to RemotePolicy clients; one call at a time."""

    def __init__(self, policy: Any, config: ServerConfig | None = None) -> None:
        from websockets.sync.server import serve

        self.policy = policy
        self.config = cfg = config or ServerConfig()
        self._lock = threading.Lock()
        self.requests = 0
        self._server = serve(
            self._handle, cfg.host, cfg.port, process_request=self._check_token, max_size=MAX_MESSAGE_BYTES
        )
        self.port = int(self._server.socket.getsockname()[1])
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """ws://host:port the server answers on."""
        return f"ws://{self.config.host}:{self.port}"

    def _check_token(self, connection: Any, request: Any) -> Any:
        if not self.config.token:
            return None
        got = request.headers.get("Authorization", "")
        if hmac.compare_digest(got.encode(), f"Bearer {self.config.token}".encode()):
            return None
        return connection.respond(http.HTTPStatus.UNAUTHORIZED, "missing or wrong token\n")

    def _reply(self, message: dict[str, Any]) -> dict[str, Any]:
        kind = message.get("type")
        if kind == "spec":
            return {"type": "spec", "spec": spec_to_dict(self.policy.spec),
                    "supports_rtc": bool(getattr(self.policy, "supports_rtc", False))}
        if kind == "reset":
            with self._lock:
                if hasattr(self.policy, "reset"):
                    self.policy.reset()
            return {"type": "ok"}
        if kind == "predict":
            kwargs = dict(message.get("kwargs") or {})
            unknown = sorted(set(kwargs) - PREDICT_KWARGS)
            if unknown:
                return {"type": "error", "error": f"unsupported predict_chunk arguments {unknown}"}
            with self._lock:
                self.requests += 1
                chunk = self.policy.predict_chunk(message["obs"], noise=message.get("noise"), **kwargs)
            out = chunk.detach().cpu().numpy() if hasattr(chunk, "detach") else chunk
            return {"type": "chunk", "actions": np.asarray(out, dtype=np.float32)}
        return {"type": "error", "error": f"unknown message type {kind!r}"}

    def _handle(self, ws: Any) -> None:
        for data in ws:
            try:
                reply = self._reply(unpack(data))
            except Exception as e:  # noqa: BLE001 - the client must see the failure, the server keeps serving
                reply = {"type": "error", "error": f"{type(e).__name__}: {e}"}
            ws.send(pack(reply))

    def serve_forever(self) -> None:
        """Block serving requests until `shutdown()`."""
        self._server.serve_forever()

    def start(self) -> PolicyServer:
        """Serve on a daemon thread; returns self."""
        self._thread = threading.Thread(target=self.serve_forever, name="policy-server", daemon=True)
        self._thread.start()
        return self

    def shutdown(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        if self._thread is not None:
            self._thread.join(5.0)


# -- client ---------------------------------------------------------------------------------------
class RemotePolicy:
    """A policy whose `predict_chunk` runs on a PolicyServer; `spec` is fetched on construction.

    url: ws://host:port; token: sent as a bearer token; timeout: seconds to
    connect and to wait for each reply.
    """

    def __init__(self, url: str, token: str = "", timeout: float = 10.0) -> None:
        self.url = url
        self.token = token
        self.timeout = timeout
        self._ws: Any = None
        self._lock = threading.Lock()
        reply = self._call({"type": "spec"})
        self.spec: PolicySpec = spec_from_dict(reply["spec"])
        self.supports_rtc = bool(reply.get("supports_rtc", False))

    def _connect(self) -> Any:
        from websockets.exceptions import InvalidStatus
        from websockets.sync.client import connect

        headers = {"Authorization": f"Bearer {self.token}"} if self.token else None
        try:
            return connect(self.url, additional_headers=headers, open_timeout=self.timeout,
                           max_size=MAX_MESSAGE_BYTES)
        except InvalidStatus as e:
            code = e.response.status_code
            why = "the token is missing or wrong: pass the server's --token" if code == 401 else f"HTTP {code}"
            raise RemoteInferenceError(f"policy server at {self.url} refused the connection: {why}") from None
        except (OSError, TimeoutError) as e:
            raise RemoteInferenceError(
                f"cannot reach the policy server at {self.url} ({type(e).__name__}: {e}); "
                "start it with `robot serve --policy <checkpoint>` and check host and port"
            ) from None

    def _call(self, message: dict[str, Any]) -> dict[str, Any]:
        from websockets.exceptions import ConnectionClosed

        with self._lock:
            if self._ws is None:
                self._ws = self._connect()
            try:
                self._ws.send(pack(message))
                reply = unpack(self._ws.recv(timeout=self.timeout))
            except (ConnectionClosed, OSError, TimeoutError) as e:
                self.close()
                raise RemoteInferenceError(
                    f"lost the policy server at {self.url} ({type(e).__name__}: {e}); is `robot serve` still running?"
                ) from None
        if reply.get("type") == "error":
            raise RemoteInferenceError(f"policy server at {self.url} failed: {reply.get('error')}")
        return reply

    def predict_chunk(self, obs: dict[str, Any], noise: Any | None = None, **kwargs: Any) -> np.ndarray:
        """(B, Ta, Da) float32 robot units, computed by the server; kwargs as the local policy's."""
        unknown = sorted(set(kwargs) - PREDICT_KWARGS)
        if unknown:
            raise TypeError(f"RemotePolicy.predict_chunk got unsupported arguments {unknown}")
        obs_wire = {k: (v if isinstance(v, (str, list)) else np.asarray(v)) for k, v in obs.items()}
        reply = self._call({"type": "predict", "obs": obs_wire, "noise": noise, "kwargs": kwargs})
        return reply["actions"]

    def reset(self) -> None:
        """Reset the served policy's state (episode start)."""
        self._call({"type": "reset"})

    def close(self) -> None:
        """Close the connection (reopened on the next call)."""
        if self._ws is not None:
            try:
                self._ws.close()
            finally:
                self._ws = None
