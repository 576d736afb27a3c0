"""Redis and Valkey backends on the C++ network engine (one module serves both).

Each method hands the request to the engine and returns an ``asyncio.Future`` that the engine
resolves on the calling event loop; no coroutine is created on the hot path.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable
from typing import TYPE_CHECKING

from cachette.backends.base import Backend, ClientBackend
from cachette.backends.redis_url import RedisAddress, parse_redis_url

if TYPE_CHECKING:
    from cachette._core import RedisClient
    from cachette.config import CachetteConfig

__all__ = ["RedisBackend", "check", "create"]

SCAN_COUNT = 1000


def _url_key(config: CachetteConfig) -> tuple[str, str]:
    if config.backend == "valkey":
        return "valkey_url", config.valkey_url or ""
    return "redis_url", config.redis_url or ""


def check(config: CachetteConfig) -> None:
    """Validates the URL and TLS files at ``load_config`` time."""
    key, url = _url_key(config)
    parse_redis_url(url, key)
    for name in ("tls_ca_file", "tls_cert_file", "tls_key_file"):
        path = getattr(config, name)
        if path is not None and not os.path.isfile(path):
            raise ValueError(f'The "{name}" value is not a readable file.')


def connect(
    address: RedisAddress,
    *,
    kind: str = "redis",
    timeout: float = 2.0,
    connect_timeout: float = 2.0,
    pool_size: int = 2,
    tls_ca_file: str | None = None,
    tls_cert_file: str | None = None,
    tls_key_file: str | None = None,
) -> RedisClient:
    """An engine client for ``address`` (connections open in the background at once)."""
    from cachette._core import RedisClient

    return RedisClient(
        kind=kind,
        host=address.host,
        port=address.port,
        unix_path=address.unix_path,
        db=address.db,
        username=address.username,
        password=address.password,
        tls=address.tls,
        tls_ca_file=tls_ca_file or "",
        tls_cert_file=tls_cert_file or "",
        tls_key_file=tls_key_file or "",
        timeout=timeout,
        connect_timeout=connect_timeout,
        pool_size=pool_size,
    )


class RedisBackend(ClientBackend):
    """Keys are str (UTF-8 on the wire), values bytes."""

    def __init__(self, client: RedisClient, address: RedisAddress) -> None:
        super().__init__(client)
        self._client: RedisClient = client
        self.address = address

    def __repr__(self) -> str:
        return f"<RedisBackend {self.address.describe()}>"

    async def clear_namespace(self, namespace: str) -> int:
        """SCAN MATCH <escaped namespace>:* in steps of SCAN_COUNT, UNLINK each batch."""
        prefix = namespace + ":"
        removed = 0
        cursor = 0
        while True:
            cursor, keys = await self._client.scan_prefix(cursor, prefix, SCAN_COUNT)
            if keys:
                removed += await self._client.unlink(keys)
            if cursor == 0:
                return removed

    def flush(self) -> Awaitable[int]:
        return self._client.flush()

    def flush_expired(self) -> Awaitable[int]:
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        done.set_result(0)  # the server expires entries itself
        return done

    def stats(self) -> dict[str, int]:
        return self._client.stats()

    async def close(self) -> None:
        self._client.close()


def create(config: CachetteConfig) -> Backend:
    key, url = _url_key(config)
    address = parse_redis_url(url, key)
    client = connect(
        address,
        kind=config.backend if config.backend == "valkey" else "redis",
        timeout=config.timeout,
        connect_timeout=config.connect_timeout,
        pool_size=config.pool_size,
        tls_ca_file=config.tls_ca_file,
        tls_cert_file=config.tls_cert_file,
        tls_key_file=config.tls_key_file,
    )
    return RedisBackend(client, address)
