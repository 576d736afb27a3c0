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
from urllib.parse import quote

import cachette.core as _core_module
from cachette.backends import Backend
from cachette.http.entry import Entry, VaryIndex, decode_record, encode_entry, encode_vary_index

__all__ = [
    "ResponseStore",
    "canonical_path",
    "encode_path",
    "escape",
    "escape_authority",
    "primary_key",
]

log = logging.getLogger("cachette.http")
T = TypeVar("T")
Headers = list[tuple[bytes, bytes]]


#: Characters a path keeps unencoded in a key (RFC 3986 pchar and "/", without "%").
_PATH_SAFE = "/!$&'()*+,;=:@-._~"


def escape(part: str) -> str:
    """A key component with the separator escaped (``%`` first, so the mapping is 1:1)."""
    if "%" in part or ":" in part:
        return part.replace("%", "%25").replace(":", "%3A")
    return part


def escape_authority(part: str) -> str:
    """A scheme or host with every character that ends it in a key escaped: the key reads
    ``<scheme>//<host>?<query>``, so neither may hold ``/`` or ``?`` as themselves."""
    if "%" in part or ":" in part or "/" in part or "?" in part:
        return part.replace("%", "%25").replace(":", "%3A").replace("/", "%2F").replace("?", "%3F")
    return part


def encode_path(decoded: str) -> str:
    """A decoded path (ASGI ``path``) percent-encoded, ``%`` and ``?`` included, for servers
    that give no ``raw_path``: ``/a%3Fb`` and ``/a?b`` never meet as one path."""
    return quote(decoded, safe=_PATH_SAFE)


def canonical_path(path: str) -> str:
    """A path given to an invalidation, as clients send it: what is already
    percent-encoded stays, other characters outside pchar are encoded (UTF-8)."""
    return quote(path, safe=_PATH_SAFE + "%")


def primary_key(namespace: str, path: str, scheme: str, host: str, query: str) -> str:
    """``http:<namespace>:<path>:<scheme>//<host>?<query>``: ``:`` is escaped in every part
    and ``/`` and ``?`` in scheme and host, so the parts are read back at the first ``:``,
    ``:``, ``//`` and ``?``; variants append ``:<generation>:<digest>``, after the only
    unescaped ``:`` past the query's start."""
    return (
        f"http:{escape(namespace)}:{escape(path)}:"
        f"{escape_authority(scheme)}//{escape_authority(host)}?{escape(query)}"
    )


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
        value = combined.encode("latin-1")
        # lengths first: no value can pass for the end of one field and the next field
        h.update(b"%d:%d:" % (len(raw), len(value)) + raw + value + (b"\1" if values else b"\2"))
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

    def __init__(self, fail_open: bool = True, routing_fields: tuple[str, ...] = ()) -> None:
        self.fail_open = fail_open
        # Request fields keyed as if every response named them in Vary, when a request
        # carries any of them (see cachette.http.keys.ROUTING_FIELDS).
        self.routing_names = frozenset(routing_fields)
        self._routing_bytes = frozenset(n.encode("latin-1") for n in routing_fields)

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

    async def lookup(
        self, key: str, request_headers: Headers, routed: bool = False
    ) -> tuple[Entry | None, str]:
        """The stored response for this request, and the key it lives (or would live) under:
        the variant's key once the URL's vary index is known. A ``routed`` request (one that
        carries a routing field) is answered only by a variant keyed on those fields."""
        record = await self._read(key)
        if isinstance(record, VaryIndex):
            if routed and not self.routing_names <= set(record.names):
                return None, key
            variant = f"{key}:{record.generation}:{vary_digest(record.names, request_headers)}"
            found = await self._read(variant)
            return (found if isinstance(found, Entry) else None), variant
        if routed:
            return None, key
        return record, key

    async def save(
        self, key: str, entry: Entry, request_headers: Headers, ttl_seconds: float
    ) -> str | None:
        """Stores ``entry`` for the request; returns the key used (None for ``Vary: *``)."""
        names = vary_names(entry.headers)
        if names is None:
            return None
        routing = self.routing_names
        if routing and any(k in self._routing_bytes for k, _ in request_headers):
            names = tuple(sorted(routing.union(names)))
        ttl_ms = max(1000, int(ttl_seconds * 1000))
        backend = self.backend()
        if names or routing:
            current = await self._read(key)
            generation: int | None = None
            if isinstance(current, VaryIndex) and (
                current.names == names
                # an index that already keys the routing fields keeps them for every variant
                # (a direct request does not orphan the proxied ones, nor they it)
                or (routing and set(current.names) == routing.union(names))
            ):
                names = current.names
                generation = current.generation
            elif names:
                generation = random.getrandbits(63)
                index = encode_vary_index(VaryIndex(names, generation))
                await self._guard(backend.put(key, index, ttl_ms), None, "write")
            if generation is not None:
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
