"""Stubs of the C++ engine module (bindings/python). Private: use the cachette package."""

import asyncio
from collections.abc import Callable

ERROR_CODES: tuple[str, ...]

# Defaults of include/cachette/options.hpp, the one place each is written.
DEFAULT_TTL: int
DEFAULT_MAX_MEMORY: int
DEFAULT_MEMORY_SHARDS: int
DEFAULT_TIMEOUT: float
DEFAULT_CONNECT_TIMEOUT: float
DEFAULT_POOL_SIZE: int
DEFAULT_LOCK_TIMEOUT: float
DEFAULT_FILE_MAX_SIZE: int
DEFAULT_FILE_INITIAL_MAP_SIZE: int
DEFAULT_DATABASE_NAME: str
DEFAULT_TABLE_NAME: str

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
    def text_reader(self) -> Callable[[str], str | None]:
        """A function of one key returning get_text(key), without a method call's dispatch."""
    def bytes_reader(self) -> Callable[[str], bytes | None]:
        """A function of one key returning get(key), without a method call's dispatch."""
    def text_writer(self) -> Callable[[str, str, int], None]:
        """A function (key, value, ttl_ms) doing put_text, without a method call's dispatch."""

class MemoryStore(Store):
    def __init__(self, max_memory: int = ..., shards: int = ...) -> None: ...

class FileStore(Store):
    """The LMDB file store at ``path`` (lock file: ``path + "-lock"``), shared by processes.
    Raises CachetteStorageError when the path cannot be used, holds a foreign file, could
    have been written by another user, or (with ``strict``) is damaged."""

    def __init__(
        self, path: str, max_size: int = ..., initial_map_size: int = ..., strict: bool = False
    ) -> None: ...
    def add(self, key: str, value: bytes, ttl_ms: int) -> bool:
        """Stores the entry only when ``key`` holds no live entry, in one write transaction
        (atomic across processes); True when it stored."""
    def erase_if_equal(self, key: str, value: bytes) -> bool:
        """Removes ``key`` only while its live entry holds exactly ``value``, in one write
        transaction; True when it removed."""
    @property
    def map_size(self) -> int:
        """Bytes currently mapped by this process; the map grows as the store fills."""
    @property
    def recovery_note(self) -> str:
        """What opening did with a damaged store (moved aside, fresh store); "" otherwise."""

def bridge_channels() -> int:
    """Event loops with a live completion channel (for tests)."""

class NetworkClient:
    """One network backend's engine client (Redis, Valkey, memcached, MongoDB), running every
    operation whole in the engine. Each call returns a future of the running event loop; errors
    arrive as cachette exceptions. Built by redis_client(), memcached_client() or mongo_client()."""

    def get(self, key: str) -> asyncio.Future[bytes | None]: ...
    def get_text(self, key: str) -> asyncio.Future[str | None]:
        """get(), the value decoded as the vanilla codec does (str)."""
    def get_with_ttl(self, key: str) -> asyncio.Future[tuple[int, bytes] | None]:
        """(remaining ttl in ms or -1 for no expiry, value), or None."""
    def set(self, key: str, value: bytes, ttl_ms: int) -> asyncio.Future[None]: ...
    def add(self, key: str, value: bytes, ttl_ms: int) -> asyncio.Future[int]:
        """1 when stored, 0 when the key already existed (nothing written)."""
    def delete(self, key: str) -> asyncio.Future[int]: ...
    def delete_if_equal(self, key: str, value: bytes) -> asyncio.Future[int]:
        """1 when the key held exactly ``value`` and was removed, atomically; else 0."""
    def get_many(self, keys: list[str]) -> asyncio.Future[list[bytes | None]]:
        """The values of ``keys`` in order, None where absent; one round trip per server."""
    def get_many_text(self, keys: list[str]) -> asyncio.Future[list[str | None]]:
        """get_many(), the values decoded as the vanilla codec does (str)."""
    def set_many(self, items: list[tuple[str, bytes]], ttl_ms: int) -> asyncio.Future[None]: ...
    def clear_prefix(self, prefix: str) -> asyncio.Future[int]:
        """Removes every key starting with ``prefix``; how many were removed."""
    def flush(self) -> asyncio.Future[int]:
        """Removes every entry; how many there were just before."""
    def flush_expired(self) -> asyncio.Future[int]:
        """0: these servers expire entries themselves."""
    def command(self, *args: str | bytes) -> asyncio.Future[object]:
        """Redis and Valkey only: any command; integers, bytes, None, or (0, [bytes...])."""
    def layout(self) -> dict[str, object]:
        """Cluster clients: what discovery found (shards, covered_slots, standalone, primary,
        refreshes)."""
    def probe(self, wait: float) -> dict[str, object] | None:
        """Cluster clients: blocks up to ``wait`` seconds for the first map: its layout, None
        when nothing answered in time; raises the cachette error when discovery failed."""
    def close(self) -> None: ...
    @property
    def name(self) -> str: ...
    def stats(self) -> dict[str, int]: ...

def redis_client(
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
) -> NetworkClient:
    """A Redis or Valkey client; connections open in the background at once."""

def cluster_client(
    kind: str,
    seeds: list[tuple[str, int]],
    sentinel_service: str,
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
    read_from_replicas: bool,
) -> NetworkClient:
    """A Redis Cluster / Valkey cluster client over seed nodes, or a Sentinel-following one
    when sentinel_service is set; it starts reading the slot map at once."""

def memcached_client(
    servers: list[tuple[str, int, str, str, str, bool]],
    timeout: float,
    connect_timeout: float,
    pool_size: int,
    tls_ca_file: str = "",
    tls_cert_file: str = "",
    tls_key_file: str = "",
) -> NetworkClient:
    """A memcached client over (host, port, unix_path, user, password, tls) servers."""

def mongo_check_url(url: str) -> str:
    """ "" when libmongoc accepts the MongoDB URL, else the problem (never the password)."""

def mongo_display_hosts(url: str) -> str:
    """The URL's host:port list (or SRV name) without credentials; "" when it is invalid."""

def mongo_client(
    url: str,
    database: str,
    collection: str,
    tls_ca_file: str = "",
    tls_cert_file: str = "",
    tls_key_file: str = "",
    timeout: float = ...,
    connect_timeout: float = ...,
    pool_size: int = ...,
) -> NetworkClient:
    """A MongoDB client on libmongoc: ``pool_size`` worker threads, one connection each, that
    batch waiting reads into one ``find`` and writes into one bulk write."""
