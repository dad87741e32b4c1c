"""`robot find-port` / `robot find-cameras`."""

from __future__ import annotations

import io

from hardware.arms.ports import find_port_interactive
from robot.cli import main


def test_find_port_names_the_port_that_disappears():
    lists = iter([["/dev/ttyACM0", "/dev/ttyACM1"], ["/dev/ttyACM0"]])
    out = io.StringIO()
    assert find_port_interactive(input_fn=lambda _p: "", list_fn=lambda: next(lists), out=out) == "/dev/ttyACM1"
    assert "/dev/ttyACM1" in out.getvalue()
    same = iter([["/dev/ttyACM0"], ["/dev/ttyACM0"]])
    assert find_port_interactive(input_fn=lambda _p: "", list_fn=lambda: next(same), out=io.StringIO()) is None


def test_find_port_without_a_terminal_is_a_usage_error(capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main(["find-port"]) == 2
    assert "--list" in capsys.readouterr().err
    assert main(["find-port", "--list"]) == 0


def test_find_cameras_runs(capsys):
    assert main(["find-cameras", "--kind", "realsense"]) == 0  # no device here: says so, exit 0
    assert capsys.readouterr().out.strip()
