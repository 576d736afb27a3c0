"""The interface every backend implements. Values are bytes; the codec lives above."""

from __future__ import annotations

import abc
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cachette._core import Store


class Backend(abc.ABC):
    """A configured store. Methods return awaitables; network backends return futures
    resolved by the engine, local backends finish synchronously."""

    #: Local backends expose their synchronous engine store here so that the facade can
    #: call it directly, with no coroutine or thread hop. Network backends leave it None.
    local_store: Store | None = None

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


class ClientBackend(Backend):
    """A network backend over an engine client whose ``get``, ``get_with_ttl``, ``set`` and
    ``delete`` return futures resolved by the engine. Those four are bound to the client per
    instance, so the hot operations run no Python frame of ours."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.fetch = client.get  # type: ignore[method-assign]
        self.fetch_with_ttl = client.get_with_ttl  # type: ignore[method-assign]
        self.put = client.set  # type: ignore[method-assign]
        self.clear_key = client.delete  # type: ignore[method-assign]

    # The bound client methods above shadow these; they state the interface.
    def fetch(self, key: str) -> Awaitable[bytes | None]:
        result: Awaitable[bytes | None] = self._client.get(key)
        return result

    def fetch_with_ttl(self, key: str) -> Awaitable[tuple[int, bytes] | None]:
        result: Awaitable[tuple[int, bytes] | None] = self._client.get_with_ttl(key)
        return result

    def put(self, key: str, value: bytes, ttl_ms: int) -> Awaitable[None]:
        result: Awaitable[None] = self._client.set(key, value, ttl_ms)
        return result

    def clear_key(self, key: str) -> Awaitable[int]:
        result: Awaitable[int] = self._client.delete(key)
        return result
