"""Zarr episode store, recorder, sampler, normalization stats and store operations.

    from data import EpisodeStore, SequenceDataset
    store = EpisodeStore.create("demo.zarr", fps=50, robot="so101", keys={...})
"""

from data.errors import (
    CorruptStoreError,
    DataError,
    FrameError,
    NotAStoreError,
    SchemaVersionError,
    SpecMismatchError,
    StoreError,
    WriterBusyError,
)
from data.store import SCHEMA_VERSION, EpisodeStore
from data.writer import SOURCES, EpisodeWriter, begin_episode

__all__ = [
    "SCHEMA_VERSION", "SOURCES", "CorruptStoreError", "DataError", "EpisodeStore", "EpisodeWriter",
    "FrameError", "NotAStoreError", "SchemaVersionError", "SequenceDataset", "SpecMismatchError",
    "StoreError", "WriterBusyError", "begin_episode",
]


def __getattr__(name: str):
    # The sampler imports torch: load it only when asked for, so recording stays light.
    if name == "SequenceDataset":
        from data.sampler import SequenceDataset

        return SequenceDataset
    raise AttributeError(name)
