"""Cachette: a cache for ASGI apps with a C++20 engine.

Configure once with ``@Cachette.load_config``; receive a ``Cachette`` in each handler through
dependency injection; ``await cachette.fetch/put/clear(...)``.
"""

from cachette.config import CachetteConfig
from cachette.core import Cachette
from cachette.exceptions import (
    BackendNotAvailableError,
    CachetteAuthError,
    CachetteConnectionError,
    CachetteError,
    CachetteProtocolError,
    CachetteStorageError,
    CachetteStoreFullError,
    CachetteTimeoutError,
    CachetteValueError,
    CachetteValueTooLargeError,
    CodecError,
)
from cachette.stampede import memoize

__version__ = "0.2.0"

__all__ = [
    "BackendNotAvailableError",
    "Cachette",
    "CachetteAuthError",
    "CachetteConfig",
    "CachetteConnectionError",
    "CachetteError",
    "CachetteProtocolError",
    "CachetteStorageError",
    "CachetteStoreFullError",
    "CachetteTimeoutError",
    "CachetteValueError",
    "CachetteValueTooLargeError",
    "CodecError",
    "memoize",
]
