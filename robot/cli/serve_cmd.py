"""`robot serve`: serve a policy checkpoint to remote robots over websockets.

    robot serve --policy runs/lift                       # ws://127.0.0.1:8765, loopback only
    robot serve --policy runs/lift --host 0.0.0.0 --port 8765 --token "$ROBOT_SERVE_TOKEN"

A robot machine then drives the arm with the policy running here through
`robot.runtime.remote.RemotePolicy` (the async worker treats it as any
policy). Bound to a non-loopback address the server needs a token (flag or
ROBOT_SERVE_TOKEN) and refuses to start without one.
"""

from __future__ import annotations

import argparse
import os
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `robot serve`."""
    parser.add_argument("--policy", required=True, help="run folder or checkpoint folder (policy.json)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback only)")
    parser.add_argument("--port", type=int, default=8765, help="TCP port (0: any free port)")
    parser.add_argument("--token", default=None,
                        help="shared secret clients must send (default: $ROBOT_SERVE_TOKEN); required off loopback")
    parser.add_argument("--device", default="cpu", help="torch device for the policy")


def run(args: argparse.Namespace) -> int:
    """Load the checkpoint and serve until Ctrl-C; exit 2 on a user mistake."""
    from robot.runtime.remote import PolicyServer, ServerConfig

    token = args.token if args.token is not None else os.environ.get("ROBOT_SERVE_TOKEN", "")
    try:
        cfg = ServerConfig(host=args.host, port=args.port, token=token)
    except ValueError as e:
        print(f"robot serve: {e}", file=sys.stderr)
        return 2
    from policies.checkpoint import load_policy
    from robot.cli.eval_cmd import resolve_checkpoint

    ckpt, _run = resolve_checkpoint(args.policy)  # a wrong folder is a user error: robot.cli.main, exit 2
    policy = load_policy(ckpt, device=args.device)
    try:
        server = PolicyServer(policy, cfg)
    except OSError as e:
        print(f"robot serve: cannot listen on {cfg.host}:{cfg.port}: {e}", file=sys.stderr)
        return 2
    print(f"serving {ckpt} on {server.url} (token {'required' if token else 'off'}); Ctrl-C stops", flush=True)
    try:
        server.serve_forever()
    finally:
        server.shutdown()
    return 0
