"""The in-memory backend: the engine's sharded SIEVE store, private to this process."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from cachette import _core
from cachette.backends.base import LocalBackend

if TYPE_CHECKING:
    from cachette.config import CachetteConfig


class MemoryBackend(LocalBackend):
    """The store is private to the process, so the lock primitives need only be atomic
    among its threads (several event loops may share it): one mutex covers both."""

    def __init__(self, store: _core.MemoryStore) -> None:
        super().__init__(store)
        self._mutex = threading.Lock()

    async def add(self, key: str, value: bytes, ttl_ms: int) -> bool:
        store = self._store
        with self._mutex:
            if store.get(key) is not None:
                return False
            store.put(key, value, ttl_ms)
            return True

    async def clear_if_equal(self, key: str, value: bytes) -> bool:
        store = self._store
        with self._mutex:
            if store.get(key) != value:
                return False
            return store.erase(key) > 0


def create(config: CachetteConfig) -> LocalBackend:
    return MemoryBackend(_core.MemoryStore(max_memory=config.max_memory))
