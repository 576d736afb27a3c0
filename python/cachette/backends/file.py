"""The file backend (``backend="pickle"``): an LMDB file shared by every process on the host
that names the same ``pickle_path``. Values keep their Python type through the pickle codec
(the default for this backend). See docs/file-backend.md."""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

from cachette import _core
from cachette.backends.base import LocalBackend

if TYPE_CHECKING:
    from cachette.config import CachetteConfig

logger = logging.getLogger("cachette")


def check(config: CachetteConfig) -> None:
    """Refuses paths that cannot name a file; the store itself checks the rest when it
    opens (inside ``load_config``), leaving any foreign file untouched."""
    path = config.pickle_path
    if not path:
        return
    if os.path.isdir(path):
        raise ValueError(f'The "pickle_path" value {path!r} is a directory; name a file.')
    parent = os.path.dirname(path) or "."
    if not os.path.isdir(parent):
        raise ValueError(
            f'The "pickle_path" value {path!r} is in {parent!r}, which is not a directory.'
        )


class FileBackend(LocalBackend):
    """The file store, with the lock primitives of stampede protection done in one LMDB
    write transaction each, so they are atomic across every process on the host."""

    def __init__(self, store: _core.FileStore) -> None:
        super().__init__(store)
        self._file = store

    async def add(self, key: str, value: bytes, ttl_ms: int) -> bool:
        return self._file.add(key, value, ttl_ms)

    async def clear_if_equal(self, key: str, value: bytes) -> bool:
        return self._file.erase_if_equal(key, value)


def create(config: CachetteConfig) -> LocalBackend:
    assert config.pickle_path is not None  # required by the configuration
    store = _core.FileStore(
        config.pickle_path, max_size=config.pickle_max_size, strict=config.pickle_strict
    )
    if store.recovery_note:
        # A damaged store was moved aside: the cache starts empty, which is safe, but an
        # operator wants to know (and may want the damaged file for a post-mortem).
        logger.warning("%s", store.recovery_note)
    return FileBackend(store)
