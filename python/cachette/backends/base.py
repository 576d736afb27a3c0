"""The interface every backend implements. Values are bytes; the codec lives above."""

from __future__ import annotations

import abc
import os
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cachette._core import NetworkClient, Store
    from cachette.config import CachetteConfig


def check_tls_files(config: CachetteConfig) -> None:
    """Every ``tls_*`` file that is set must be a readable file (checked at load_config)."""
    for name in ("tls_ca_file", "tls_cert_file", "tls_key_file"):
        path = getattr(config, name)
        if path is not None and not os.path.isfile(path):
            raise ValueError(f'The "{name}" value is not a readable file.')


class Backend(abc.ABC):
    """A configured store. Methods return awaitables; network backends return futures
    resolved by the engine, local backends finish synchronously."""

    #: Local backends expose their synchronous engine store here so that the facade can
    #: call it directly, with no coroutine or thread hop. Network backends leave it None.
    local_store: Store | None = None
    #: Network backends whose engine client can decode replies itself, as the vanilla codec
    #: decodes (UTF-8 text, surrogate escapes for other bytes), while it builds the values:
    #: ``fetch`` and ``fetch_many`` giving ``str``. The facade uses them with that codec.
    fetch_text: Callable[[str], Awaitable[str | None]] | None = None
    fetch_many_text: Callable[[list[str]], Awaitable[list[str | None]]] | None = None

    @abc.abstractmethod
    def fetch(self, key: str) -> Awaitable[bytes | None]: ...

    @abc.abstractmethod
    def fetch_with_ttl(self, key: str) -> Awaitable[tuple[int, bytes] | None]:
        """(remaining ttl in ms or -1 when the entry never expires, value), or None."""

    @abc.abstractmethod
    def put(self, key: str, value: bytes, ttl_ms: int) -> Awaitable[None]: ...

    @abc.abstractmethod
    def clear_key(self, key: str) -> Awaitable[int]: ...

    @abc.abstractmethod
    def clear_namespace(self, namespace: str) -> Awaitable[int]:
        """Removes every key that starts with ``namespace + ":"``; returns how many."""

    @abc.abstractmethod
    def flush(self) -> Awaitable[int]: ...

    @abc.abstractmethod
    def flush_expired(self) -> Awaitable[int]: ...

    # Bulk operations and the primitives of cross-process locks (stampede protection). The
    # defaults below are correct but not atomic across processes and not pipelined; backends
    # override them with one engine operation each (include/cachette/net/client.hpp).

    async def fetch_many(self, keys: list[str]) -> list[bytes | None]:
        """The values of ``keys``, in order; None where absent."""
        return [await self.fetch(key) for key in keys]

    async def put_many(self, items: list[tuple[str, bytes]], ttl_ms: int) -> None:
        for key, value in items:
            await self.put(key, value, ttl_ms)

    async def add(self, key: str, value: bytes, ttl_ms: int) -> bool:
        """Stores ``value`` only when ``key`` is absent; True when it was stored."""
        if await self.fetch(key) is not None:
            return False
        await self.put(key, value, ttl_ms)
        return True

    async def clear_if_equal(self, key: str, value: bytes) -> bool:
        """Removes ``key`` only while it holds ``value``; True when it was removed."""
        if await self.fetch(key) != value:
            return False
        return await self.clear_key(key) > 0

    def stats(self) -> dict[str, int]:
        return {}

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Releases connections; the default has nothing to release."""


class LocalBackend(Backend):
    """A backend whose store answers synchronously in microseconds (memory, file)."""

    def __init__(self, store: Store) -> None:
        self.local_store = store
        self._store = store

    async def fetch(self, key: str) -> bytes | None:
        return self._store.get(key)

    async def fetch_with_ttl(self, key: str) -> tuple[int, bytes] | None:
        hit = self._store.get_with_ttl(key)
        return None if hit is None else (hit[0], hit[2])

    async def put(self, key: str, value: bytes, ttl_ms: int) -> None:
        self._store.put(key, value, ttl_ms)

    async def clear_key(self, key: str) -> int:
        return self._store.erase(key)

    async def clear_namespace(self, namespace: str) -> int:
        return self._store.erase_prefix(namespace + ":")

    async def flush(self) -> int:
        return self._store.flush()

    async def flush_expired(self) -> int:
        return self._store.flush_expired()

    def stats(self) -> dict[str, int]:
        return self._store.stats()


class NetworkBackend(Backend):
    """Every network backend: the engine client (``cachette._core.NetworkClient``) runs each
    operation whole, including namespace clears, flushes, bulk calls and the lock primitives.
    The hot calls are bound to the client per instance, so they run no Python frame of ours;
    the subclasses only parse URLs and options."""

    def __init__(self, client: NetworkClient) -> None:
        self._client = client
        self.fetch = client.get  # type: ignore[method-assign]
        self.fetch_with_ttl = client.get_with_ttl  # type: ignore[method-assign]
        self.put = client.set  # type: ignore[method-assign]
        self.clear_key = client.delete  # type: ignore[method-assign]
        self.fetch_text = client.get_text
        self.fetch_many_text = client.get_many_text

    # The bound client methods above shadow these four; they state the interface.
    def fetch(self, key: str) -> Awaitable[bytes | None]:
        return self._client.get(key)

    def fetch_with_ttl(self, key: str) -> Awaitable[tuple[int, bytes] | None]:
        return self._client.get_with_ttl(key)

    def put(self, key: str, value: bytes, ttl_ms: int) -> Awaitable[None]:
        return self._client.set(key, value, ttl_ms)

    def clear_key(self, key: str) -> Awaitable[int]:
        return self._client.delete(key)

    def clear_namespace(self, namespace: str) -> Awaitable[int]:
        return self._client.clear_prefix(namespace + ":")

    def flush(self) -> Awaitable[int]:
        return self._client.flush()

    def flush_expired(self) -> Awaitable[int]:
        return self._client.flush_expired()

    async def fetch_many(self, keys: list[str]) -> list[bytes | None]:
        return await self._client.get_many(keys)

    async def put_many(self, items: list[tuple[str, bytes]], ttl_ms: int) -> None:
        await self._client.set_many(items, ttl_ms)

    async def add(self, key: str, value: bytes, ttl_ms: int) -> bool:
        return await self._client.add(key, value, ttl_ms) == 1

    async def clear_if_equal(self, key: str, value: bytes) -> bool:
        return await self._client.delete_if_equal(key, value) == 1

    def stats(self) -> dict[str, int]:
        return self._client.stats()

    async def close(self) -> None:
        self._client.close()
