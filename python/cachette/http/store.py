"""Where responses live: cache keys, the vary index, and reads and writes on the process's
configured backend (the one ``Cachette.load_config`` set up), failing open.

Keys are ``http:<namespace>:<path>:<scheme>://<host>?<query>``, with ``:`` escaped inside
each part, so ``clear_namespace("http:<ns>:<path>")`` removes one path (every host and query)
and ``clear_namespace("http:<ns>")`` a whole namespace. A response with ``Vary`` leaves a
vary index at that key and its variants at ``<key>:<generation>:<digest of the request's
varying fields>``; invalidating the key orphans every variant at once (they expire unseen).
"""

from __future__ import annotations

import hashlib
import logging
import random
from collections.abc import Awaitable
from typing import TypeVar

import cachette.core as _core_module
from cachette.backends import Backend
from cachette.http.entry import Entry, VaryIndex, decode_record, encode_entry, encode_vary_index

__all__ = ["ResponseStore", "escape", "primary_key"]

log = logging.getLogger("cachette.http")
T = TypeVar("T")
Headers = list[tuple[bytes, bytes]]


def escape(part: str) -> str:
    """A key component with the separator escaped (``%`` first, so the mapping is 1:1)."""
    if "%" in part or ":" in part:
        return part.replace("%", "%25").replace(":", "%3A")
    return part


def primary_key(namespace: str, path: str, scheme: str, host: str, query: str) -> str:
    return f"http:{escape(namespace)}:{escape(path)}:{scheme}//{escape(host)}?{escape(query)}"


def path_prefix(namespace: str, path: str) -> str:
    return f"http:{escape(namespace)}:{escape(path)}"


def vary_digest(names: tuple[str, ...], request_headers: Headers) -> str:
    """A digest of the request's values of the fields ``names`` (RFC 9111 §4.1: values are
    combined per field and compared after whitespace normalisation)."""
    h = hashlib.blake2b(digest_size=12)
    for name in names:
        raw = name.encode("latin-1")
        values = [v.decode("latin-1").strip() for k, v in request_headers if k == raw]
        combined = ",".join(" ".join(part.split()) for v in values for part in v.split(","))
        h.update(raw + b"\0" + combined.encode("latin-1") + (b"\1" if values else b"\2"))
    return h.hexdigest()


def vary_names(entry_headers: Headers) -> tuple[str, ...] | None:
    """Sorted lower-case field names of the response's Vary; None for ``Vary: *``."""
    names: set[str] = set()
    for k, v in entry_headers:
        if k == b"vary":
            for part in v.decode("latin-1").split(","):
                part = part.strip().lower()
                if part == "*":
                    return None
                if part:
                    names.add(part)
    return tuple(sorted(names))


class ResponseStore:
    """Reads and writes entries; backend errors are logged and count as misses."""

    def __init__(self, fail_open: bool = True) -> None:
        self.fail_open = fail_open

    @staticmethod
    def backend() -> Backend:
        return _core_module._runtime.start()

    async def _guard(self, pending: Awaitable[T], fallback: T, what: str) -> T:
        try:
            return await pending
        except Exception as exc:
            if not self.fail_open:
                raise
            log.warning("http cache: %s failed (%s: %s)", what, type(exc).__name__, exc)
            return fallback

    async def _read(self, key: str) -> Entry | VaryIndex | None:
        rt = _core_module._runtime
        store = rt.store
        if store is not None:
            try:
                raw = store.get(key)
            except Exception as exc:
                if not self.fail_open:
                    raise
                log.warning("http cache: read failed (%s: %s)", type(exc).__name__, exc)
                return None
        else:
            raw = await self._guard(rt.start().fetch(key), None, "read")
        return None if raw is None else decode_record(raw)

    async def lookup(self, key: str, request_headers: Headers) -> tuple[Entry | None, str]:
        """The stored response for this request, and the key it lives (or would live) under."""
        record = await self._read(key)
        if isinstance(record, VaryIndex):
            variant = f"{key}:{record.generation}:{vary_digest(record.names, request_headers)}"
            found = await self._read(variant)
            return (found if isinstance(found, Entry) else None), variant
        return record, key

    async def save(
        self, key: str, entry: Entry, request_headers: Headers, ttl_seconds: float
    ) -> str | None:
        """Stores ``entry`` for the request; returns the key used (None for ``Vary: *``)."""
        names = vary_names(entry.headers)
        if names is None:
            return None
        ttl_ms = max(1000, int(ttl_seconds * 1000))
        backend = self.backend()
        if names:
            current = await self._read(key)
            if isinstance(current, VaryIndex) and current.names == names:
                generation = current.generation
            else:
                generation = random.getrandbits(63)
                index = encode_vary_index(VaryIndex(names, generation))
                await self._guard(backend.put(key, index, ttl_ms), None, "write")
            key = f"{key}:{generation}:{vary_digest(names, request_headers)}"
        await self._guard(backend.put(key, encode_entry(entry), ttl_ms), None, "write")
        return key

    async def invalidate_key(self, key: str) -> int:
        return await self._guard(self.backend().clear_key(key), 0, "invalidate")

    async def invalidate_prefix(self, prefix: str) -> int:
        return await self._guard(self.backend().clear_namespace(prefix), 0, "invalidate")

    async def lock_guard(self, pending: Awaitable[T], fallback: T) -> T:
        """Awaits a lock operation of the stampede machinery, failing open like reads."""
        return await self._guard(pending, fallback, "lock")
