"""The in-memory backend: the engine's sharded SIEVE store, private to this process."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cachette import _core
from cachette.backends.base import LocalBackend

if TYPE_CHECKING:
    from cachette.config import CachetteConfig


def create(config: CachetteConfig) -> LocalBackend:
    return LocalBackend(_core.MemoryStore(max_memory=config.max_memory))
