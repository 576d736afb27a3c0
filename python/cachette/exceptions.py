"""Exceptions raised by cachette.

Every error the engine or a backend raises is a ``CachetteError``; the subclasses tell
what went wrong so that callers can react (retry on a timeout, fix a value, ...).
"""

from __future__ import annotations

__all__ = [
    "BackendNotAvailableError",
    "CachetteAuthError",
    "CachetteConnectionError",
    "CachetteError",
    "CachetteProtocolError",
    "CachetteStorageError",
    "CachetteStoreFullError",
    "CachetteTimeoutError",
    "CachetteValueError",
    "CachetteValueTooLargeError",
    "CodecError",
]


class CachetteError(Exception):
    """Base class of every error raised by cachette."""


class CachetteValueError(CachetteError, ValueError):
    """A key, value or argument that cachette cannot accept."""


class CachetteValueTooLargeError(CachetteValueError):
    """A value over the backend's size limit; nothing was written."""


class CodecError(CachetteValueError):
    """The configured codec cannot encode or decode a value."""


class CachetteConnectionError(CachetteError, ConnectionError):
    """The server could not be reached, or the connection dropped."""


class CachetteTimeoutError(CachetteError, TimeoutError):
    """The server did not answer within the configured timeout."""


class CachetteProtocolError(CachetteError):
    """The server answered with an error or with bytes we cannot parse."""


class CachetteAuthError(CachetteError, PermissionError):
    """The server refused the configured credentials (never hidden by ``fail_open``)."""


class CachetteStorageError(CachetteError, OSError):
    """Where the entries are kept failed: the file store's file (I/O error, a corrupt,
    foreign or truncated file) or, through ``CachetteStoreFullError``, any store or server
    that has no room left."""


class CachetteStoreFullError(CachetteStorageError):
    """The store refused a write because it is full: Redis or Valkey at ``maxmemory`` with
    ``noeviction`` (``-OOM``), memcached out of memory (``SERVER_ERROR out of memory``), or
    the file store on a full disk. Nothing was written; reads and removals (``fetch``,
    ``clear``, ``flush``) still work, so the store can be emptied."""


class BackendNotAvailableError(CachetteError):
    """The configured backend is not built into this version of cachette."""
