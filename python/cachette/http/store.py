"""Where responses live: cache keys, the vary index, and reads and writes on the process's
configured backend (the one ``Cachette.load_config`` set up), failing open.

Keys are ``http:<namespace>:<path>:<scheme>://<host>?<query>``, with ``:`` escaped inside
each part, so ``clear_namespace("http:<ns>:<path>")`` removes one path (every host and query)
and ``clear_namespace("http:<ns>")`` a whole namespace. A response with ``Vary`` leaves a
vary index at that key and its variants at ``<key>:<generation>:<digest of the request's
varying fields>``; invalidating the key orphans every variant at once (they expire unseen).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import time
from collections.abc import Awaitable
from typing import Final, TypeVar
from urllib.parse import quote

import cachette.core as _core_module
from cachette.backends import Backend
from cachette.http.entry import Entry, VaryIndex, decode_record, encode_entry, encode_vary_index
from cachette.http.health import (
    BREAKER_COOLDOWN,
    REQUEST_BUDGET,
    Breaker,
    Budget,
    HealthCounters,
    RateLimitedLog,
    discard,
    needs_cut,
)

__all__ = [
    "ResponseStore",
    "build_key",
    "canonical_path",
    "encode_path",
    "escape",
    "escape_authority",
    "key_prefix",
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
    return build_key(key_prefix(namespace), path, scheme, escape_authority(host), query)


def key_prefix(namespace: str) -> str:
    return f"http:{escape(namespace)}:"


def build_key(prefix: str, path: str, scheme: str, escaped_host: str, query: str) -> str:
    """``primary_key`` from a ``key_prefix`` and a host already through
    ``escape_authority`` (the request path computes both once, not per request)."""
    if scheme != "http" and scheme != "https":
        scheme = escape_authority(scheme)
    return f"{prefix}{escape(path)}:{scheme}//{escaped_host}?{escape(query)}"


def path_prefix(namespace: str, path: str) -> str:
    return f"http:{escape(namespace)}:{escape(path)}"


#: Invalidation generations live under this prefix (like the stampede locks, no clear of a
#: namespace reaches them): one per namespace, per path and per primary key, each a random
#: token replaced by every invalidation of its scope *before* it removes anything.
GENERATION_PREFIX: Final = "\x1fcachette-http-gen\x1f"
#: Seconds a generation token lives; a request that asked the app longer ago than half of
#: it cannot tell, and does not keep what it stored.
GENERATION_TTL: Final = 3600.0


def generation_keys(namespace: str, path: str, key: str) -> list[str]:
    """The generations a response to ``key`` depends on: its namespace's, its path's and
    its own (``invalidate_all``, ``invalidate_path`` and the rest change one each)."""
    return [
        f"{GENERATION_PREFIX}n{path_prefix(namespace, '')}",
        f"{GENERATION_PREFIX}p{path_prefix(namespace, path)}",
        f"{GENERATION_PREFIX}k{key}",
    ]


def namespace_generation(namespace: str) -> str:
    return generation_keys(namespace, "", "")[0]


def path_generation(namespace: str, path: str) -> str:
    return generation_keys(namespace, path, "")[1]


def key_generation(key: str) -> str:
    return f"{GENERATION_PREFIX}k{key}"


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
        self.counters = HealthCounters()
        self.breaker = Breaker(self.counters)
        self.log = RateLimitedLog(log, self.counters)

    @staticmethod
    def backend() -> Backend:
        return _core_module._runtime.start()

    @staticmethod
    def timeout() -> float:
        """The backend's per-call timeout (the ``timeout`` setting of ``load_config``)."""
        return float(_core_module._runtime.config.timeout)

    def budget(self) -> Budget | None:
        """A new request's wait budget; None with a local store (it never waits)."""
        if _core_module._runtime.store is not None:
            return None
        return Budget(self.timeout())

    async def _guard(self, pending: Awaitable[T], fallback: T, what: str) -> T:
        budget = REQUEST_BUDGET.get() if self.fail_open else None
        if budget is None:
            try:
                return await pending
            except Exception as exc:
                if not self.fail_open:
                    raise
                self._failed(what, exc, isinstance(exc, TimeoutError), self.timeout())
                return fallback
        if budget.left <= 0:  # this request has waited its share: the call is not awaited
            discard(pending)
            self.counters.budget_skips += 1
            return fallback
        started = time.monotonic()
        try:
            if needs_cut(budget):
                result = await asyncio.wait_for(pending, budget.left)
            else:  # the call's own timeout keeps the total within the budget and its slack
                result = await pending
        except Exception as exc:
            timed_out = isinstance(exc, TimeoutError)
            budget.left = 0.0 if timed_out else budget.left - (time.monotonic() - started)
            self._failed(what, exc, timed_out, budget.timeout)
            return fallback
        budget.left -= time.monotonic() - started
        breaker = self.breaker
        if breaker.failures or breaker.open_until:
            breaker.succeeded()
        return result

    def _failed(self, what: str, exc: Exception, timed_out: bool, timeout: float) -> None:
        counters = self.counters
        counters.backend_errors += 1
        if timed_out:
            counters.backend_timeouts += 1
            if self.breaker.timed_out(timeout):
                self.log.warning(
                    "breaker",
                    "http cache: %d backend timeouts in a row; requests skip the cache for "
                    "%.1f s, then one request probes the backend",
                    self.breaker.failures,
                    max(BREAKER_COOLDOWN, 2 * timeout),
                )
        self.log.warning(what, "http cache: %s failed (%s: %s)", what, type(exc).__name__, exc)

    async def _read(self, key: str) -> Entry | VaryIndex | None:
        rt = _core_module._runtime
        store = rt.store
        if store is not None:
            try:
                raw = store.get(key)
            except Exception as exc:
                if not self.fail_open:
                    raise
                self._failed("read", exc, False, 0.0)
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

    # -- invalidation: writes win ----------------------------------------------------------
    # A response may be stored only if no invalidation of its key began between the moment
    # its request read the generations (before asking the app) and the moment after its
    # store. An invalidation replaces the generation first, then removes entries; a request
    # reads the generations again after it stored and removes what it stored when they
    # changed. A store that lands before the removal is removed by it; one that lands after
    # is seen by the second read. See "Invalidation and failures" in docs/http-caching.md.

    async def generations(self, keys: list[str]) -> list[bytes | None] | None:
        """The current generation tokens, or None when they could not be read."""
        store = _core_module._runtime.store
        if store is not None:
            try:
                return [store.get(k) for k in keys]
            except Exception as exc:
                if not self.fail_open:
                    raise
                self._failed("read", exc, False, 0.0)
                return None
        found: list[bytes | None] | None = await self._guard(
            self.backend().fetch_many(keys), None, "read"
        )
        return found

    async def new_generation(self, generation_key: str) -> None:
        token = random.getrandbits(64).to_bytes(8, "little")
        ttl_ms = int(GENERATION_TTL * 1000)
        await self._guard(self.backend().put(generation_key, token, ttl_ms), None, "invalidate")

    async def invalidate_key(self, key: str) -> int:
        """Removes a URL's entry (every variant), after changing its generation."""
        await self.new_generation(key_generation(key))
        return await self._guard(self.backend().clear_key(key), 0, "invalidate")

    async def remove(self, key: str) -> None:
        """Removes what a request stored under ``key`` (no generation changes)."""
        await self._guard(self.backend().clear_key(key), 0, "invalidate")

    async def invalidate_prefix(self, prefix: str, generation_key: str) -> int:
        """Removes every entry under ``prefix``, after changing ``generation_key``."""
        await self.new_generation(generation_key)
        return await self._guard(self.backend().clear_namespace(prefix), 0, "invalidate")

    async def lock_guard(self, pending: Awaitable[T], fallback: T) -> T:
        """Awaits a lock operation of the stampede machinery, failing open like reads."""
        return await self._guard(pending, fallback, "lock")
