"""Stubs of the C++ engine module (bindings/python). Private: use the cachette package."""

import asyncio

ERROR_CODES: tuple[str, ...]

class Store:
    """A synchronous local store; keys are str (UTF-8), values bytes."""

    def get(self, key: str) -> bytes | None: ...
    def get_with_ttl(self, key: str) -> tuple[int, int, bytes] | None:
        """(remaining ttl in ms or -1 for no expiry, age in ms, value), or None."""
    def put(self, key: str, value: bytes, ttl_ms: int) -> None: ...
    def get_text(self, key: str) -> str | None:
        """The value decoded from UTF-8 (invalid bytes become lone surrogates), or None."""
    def put_text(self, key: str, value: str, ttl_ms: int) -> None:
        """Stores ``value`` encoded as UTF-8; raises UnicodeEncodeError for lone surrogates."""
    def erase(self, key: str) -> int: ...
    def erase_prefix(self, prefix: str) -> int: ...
    def flush(self) -> int: ...
    def flush_expired(self) -> int: ...
    def stats(self) -> dict[str, int]: ...

class MemoryStore(Store):
    def __init__(self, max_memory: int = 268435456, shards: int = 16) -> None: ...

class FileStore(Store):
    """The LMDB file store at ``path`` (lock file: ``path + "-lock"``), shared by processes.
    Raises CachetteStorageError when the path cannot be used or holds a foreign file."""

    def __init__(self, path: str, max_size: int = 0, initial_map_size: int = 67108864) -> None: ...
    @property
    def map_size(self) -> int:
        """Bytes currently mapped by this process; the map grows as the store fills."""

def bridge_channels() -> int:
    """Event loops with a live completion channel (for tests)."""

class RedisClient:
    """A Redis/Valkey connection pool on the engine's I/O thread. Every operation returns a
    future of the running event loop; errors arrive as cachette exceptions."""

    def __init__(
        self,
        kind: str,
        host: str,
        port: int,
        unix_path: str,
        db: int,
        username: str,
        password: str,
        tls: bool,
        tls_ca_file: str,
        tls_cert_file: str,
        tls_key_file: str,
        timeout: float,
        connect_timeout: float,
        pool_size: int,
    ) -> None: ...
    def get(self, key: str) -> asyncio.Future[bytes | None]: ...
    def get_with_ttl(self, key: str) -> asyncio.Future[tuple[int, bytes] | None]:
        """(remaining ttl in ms or -1 for no expiry, value), or None; read atomically."""
    def set(self, key: str, value: bytes, ttl_ms: int) -> asyncio.Future[None]: ...
    def delete(self, key: str) -> asyncio.Future[int]: ...
    def scan_prefix(
        self, cursor: int, prefix: str, count: int = 1000
    ) -> asyncio.Future[tuple[int, list[bytes]]]:
        """One SCAN step over keys starting with ``prefix`` (glob characters escaped)."""
    def unlink(self, keys: list[bytes]) -> asyncio.Future[int]: ...
    def flush(self) -> asyncio.Future[int]:
        """FLUSHDB of the configured database; the number of keys it held."""
    def command(self, *args: str | bytes) -> asyncio.Future[object]:
        """Any command; integers, bytes, None, or (0, [bytes...]) for aggregates."""
    def close(self) -> None: ...
    @property
    def name(self) -> str: ...
    def stats(self) -> dict[str, int]: ...

# --- end redis/valkey ---
class MemcachedClient:
    """memcached servers on the engine's I/O thread. Calls return futures of the running loop."""

    def __init__(
        self,
        servers: list[tuple[str, int, str, str, str, bool]],
        timeout: float,
        connect_timeout: float,
        pool_size: int,
        tls_ca_file: str = "",
        tls_cert_file: str = "",
        tls_key_file: str = "",
    ) -> None:
        """servers: (host, port, unix_path, username, password, tls) each."""
    def get(self, key: str) -> asyncio.Future[bytes | None]: ...
    def get_with_ttl(self, key: str) -> asyncio.Future[tuple[int, bytes] | None]:
        """(remaining ms or -1 when the item never expires, value), or None."""
    def set(self, key: str, value: bytes, ttl_ms: int) -> asyncio.Future[None]: ...
    def delete(self, key: str) -> asyncio.Future[int]: ...
    def dump_prefix(
        self, server: int, prefix: str
    ) -> asyncio.Future[tuple[int, list[bytes]] | None]:
        """(0, stored keys on one server that start with prefix); None while its crawler is
        busy. The pair's shape is the bridge's for every key listing."""
    def dump_count(self, server: int) -> asyncio.Future[int | None]:
        """Live items on one server; None while its crawler is busy."""
    def delete_stored(self, server: int, keys: list[bytes]) -> asyncio.Future[int]: ...
    def flush_all(self, server: int) -> asyncio.Future[None]: ...
    @property
    def server_count(self) -> int: ...
    def server_name(self, server: int) -> str: ...
    def server_of(self, key: str) -> int: ...
    def stats(self) -> dict[str, int]: ...
    def close(self) -> None: ...
