"""Remote inference over loopback: round trip, token, server down, safe serialization, `robot serve`."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from robot.runtime.policy_source import PolicySource, PolicySourceConfig
from robot.runtime.remote import (
    PolicyServer,
    RemoteInferenceError,
    RemotePolicy,
    ServerConfig,
    pack,
    unpack,
)

sys.path.insert(0, str(Path(__file__).parent.parent / "policies"))
from test_rtc import DA, TA, tiny_policy  # noqa: E402


@pytest.fixture(scope="module")
def served():
    policy = tiny_policy(steps=3)
    server = PolicyServer(policy, ServerConfig(port=0, token="s3cret")).start()
    yield policy, server
    server.shutdown()


def test_round_trip_equals_local_predict_with_the_same_noise(served):
    policy, server = served
    client = RemotePolicy(server.url, token="s3cret")
    assert client.spec == policy.spec and client.supports_rtc
    obs = {"state": np.random.default_rng(0).normal(size=(2, 2, 3)).astype(np.float32)}
    noise = torch.randn(2, TA, DA)
    remote = client.predict_chunk(obs, noise=noise)
    local = policy.predict_chunk(obs, noise=noise).numpy()
    np.testing.assert_allclose(remote, local, rtol=0, atol=1e-6)
    # RTC arguments travel too.
    prefix = np.full((2, 5, DA), 0.5, np.float32)
    remote = client.predict_chunk(obs, noise=noise, prefix=prefix, prefix_delay=2)
    local = policy.predict_chunk(obs, noise=noise, prefix=prefix, prefix_delay=2).numpy()
    np.testing.assert_allclose(remote, local, rtol=0, atol=1e-5)
    client.reset()
    client.close()


def test_remote_policy_plugs_into_the_policy_source(served):
    _policy, server = served
    client = RemotePolicy(server.url, token="s3cret")
    src = PolicySource(client, PolicySourceConfig(mode="stepped", delay_ticks=1))
    obs = {"state": np.zeros(3, np.float32)}
    src.reset(obs)
    actions = [src.get_action(obs).action for _ in range(6)]
    assert actions[0] is None and all(a is not None and np.isfinite(a).all() for a in actions[1:])
    src.close()
    client.close()


def test_bad_or_missing_token_is_rejected(served):
    _policy, server = served
    for token in ("wrong", ""):
        with pytest.raises(RemoteInferenceError, match="token is missing or wrong"):
            RemotePolicy(server.url, token=token)


def test_server_errors_reach_the_client(served):
    _policy, server = served
    client = RemotePolicy(server.url, token="s3cret")
    with pytest.raises(RemoteInferenceError, match="observation lacks"):
        client.predict_chunk({"other": np.zeros((1, 2, 3), np.float32)})
    with pytest.raises(TypeError, match="unsupported arguments"):
        client.predict_chunk({}, temperature=2.0)
    client.close()


def test_server_down_gives_a_clear_error():
    server = PolicyServer(tiny_policy(steps=2), ServerConfig(port=0)).start()
    url = server.url
    client = RemotePolicy(url)
    server.shutdown()
    with pytest.raises(RemoteInferenceError, match="policy server"):
        client.predict_chunk({"state": np.zeros((1, 2, 3), np.float32)})
    with pytest.raises(RemoteInferenceError, match="cannot reach the policy server.*robot serve"):
        RemotePolicy(url, timeout=2.0)


def test_exposed_server_requires_a_token():
    with pytest.raises(ValueError, match="without a token"):
        ServerConfig(host="0.0.0.0", port=0)
    assert ServerConfig(host="0.0.0.0", port=0, token="t").token == "t"


def test_serialization_is_numeric_only_and_exact():
    arr = np.arange(12, dtype=np.float64).reshape(3, 4)
    out = unpack(pack({"a": arr, "s": "text", "n": None}))
    assert out["a"].dtype == np.float64 and np.array_equal(out["a"], arr) and out["s"] == "text"
    with pytest.raises(TypeError, match="numeric arrays only"):
        pack({"a": np.array([object()], dtype=object)})
    forged = pack({"__ndarray__": True, "dtype": "|O", "shape": [1], "data": b"\x00" * 8})
    with pytest.raises(ValueError, match="numeric arrays only"):
        unpack(forged)


def test_robot_serve_refuses_a_public_address_without_token(capsys, monkeypatch):
    from robot.cli import main

    monkeypatch.delenv("ROBOT_SERVE_TOKEN", raising=False)
    assert main(["serve", "--policy", "nowhere", "--host", "0.0.0.0"]) == 2
    assert "without a token" in capsys.readouterr().err
    assert main(["serve", "--policy", "/nonexistent/ckpt"]) == 2
    assert "/nonexistent/ckpt does not exist" in capsys.readouterr().err


def test_robot_serve_serves_a_saved_checkpoint(tmp_path):
    import os
    import subprocess

    from policies.checkpoint import save_policy

    policy = tiny_policy(steps=2)
    ckpt = save_policy(policy, tmp_path / "ckpt")
    env = {**os.environ, "ROBOT_SERVE_TOKEN": "tok", "PYTHONPATH": str(Path(__file__).parents[2])}
    proc = subprocess.Popen([sys.executable, "-m", "robot.cli", "serve", "--policy", str(ckpt), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline()
        assert "serving" in line, (line, proc.stderr.read() if proc.poll() is not None else "")
        url = line.split(" on ")[1].split()[0]
        client = RemotePolicy(url, token="tok", timeout=30.0)
        obs = {"state": np.zeros((1, 2, 3), np.float32)}
        noise = torch.randn(1, TA, DA)
        np.testing.assert_allclose(client.predict_chunk(obs, noise=noise),
                                   policy.predict_chunk(obs, noise=noise).numpy(), atol=1e-5)
        client.close()
    finally:
        proc.terminate()
        proc.wait(30)
