"""Stubs of the C++ engine module (bindings/python). Private: use the cachette package."""

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
