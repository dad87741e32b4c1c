"""Errors of the episode store: all are `ValueError`s whose message names the
store, array, episode or key at fault and says what to do."""

from __future__ import annotations

from robot.errors import UserError


class StoreError(UserError, ValueError):
    """Something is wrong with an episode store or with how it is used."""


DataError = StoreError
"""Alias: the brief and older call sites say `DataError`."""


class NotAStoreError(StoreError):
    """The path holds no episode store (missing, not Zarr, or not written by `EpisodeStore`)."""


class SchemaVersionError(StoreError):
    """The store was written by a newer schema than this code reads."""


class CorruptStoreError(StoreError):
    """A chunk or metadata file cannot be decoded, or the arrays disagree with `episode_ends`."""


class SpecMismatchError(StoreError):
    """Two stores (or a store and a request) disagree on keys, shapes, dtypes, fps or robot."""


class FrameError(StoreError):
    """A frame passed to `EpisodeWriter.append` has a missing/unknown key, wrong shape or dtype."""


class WriterBusyError(StoreError):
    """Another writer (in this or another process) is recording into the store."""
