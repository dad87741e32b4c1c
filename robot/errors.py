"""Errors a user can cause and fix, apart from bugs.

The `robot` command prints a `UserError` as one line and exits 2; anything else
is an internal error (one line, exit 1, the traceback only with `--debug`).
Modules raise a `UserError` (or a subclass: `ConfigError`, `data.StoreError`,
`UnknownNameError`, `CheckpointError`) when the user named something wrong: a
task, a store, a checkpoint folder, a key. The message says what was wrong,
with which file or key, and what to do.
"""

from __future__ import annotations


class UserError(Exception):
    """A mistake in what the user asked for (a name, a path, a value); the message says how to fix it."""


class UnknownNameError(UserError, KeyError):
    """A registry lookup of a name the user typed (task, robot, expert, teleop) that is not registered.

    A KeyError too, so callers that catch KeyError keep working; `str()` is the
    message itself, not KeyError's quoted repr.
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class CheckpointError(UserError, ValueError):
    """A folder given as a checkpoint is not one, or does not fit the policy or run it is used with."""
