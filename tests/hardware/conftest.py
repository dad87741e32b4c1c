"""Fixtures shared by the teleop device tests."""

import os

import pytest


@pytest.fixture
def pty_pair():
    """A pseudo-terminal: (master fd the test writes keys to, slave tty path the device opens)."""
    master, slave = os.openpty()
    yield master, os.ttyname(slave)
    os.close(master)
    os.close(slave)
