"""``HttpCache``: a shared HTTP cache (RFC 9111, RFC 5861) as ASGI middleware.

Wrap any ASGI app (FastAPI, Starlette, Litestar, BlackSheep, a reverse proxy) or a single
ASGI endpoint. Responses are stored in the backend configured with ``Cachette.load_config``,
so every worker and host behind that backend shares them. See docs/http-caching.md.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit

from cachette._core import DEFAULT_LOCK_TIMEOUT
from cachette.backends import Backend
from cachette.exceptions import CachetteValueError
from cachette.http.entry import Entry
from cachette.http.exchange import Exchange, body_etag
from cachette.http.freshness import Decision, RequestDirectives, decide, stale_if_error_allows
from cachette.http.health import REQUEST_BUDGET, Budget
from cachette.http.invalidate import invalidate_namespace, invalidate_path, invalidate_url
from cachette.http.keys import (
    ROUTING_FIELDS,
    RoutingPolicy,
    Screened,
    request_path,
    scope_key,
    screen,
    screened_key,
)
from cachette.http.route import RouteOptions, current_route_slot, new_slot
from cachette.http.serve import Headers, Message, Request, Send, send_status, serve
from cachette.http.store import (
    GENERATION_TTL,
    ResponseStore,
    canonical_path,
    key_prefix,
    primary_key,
)
from cachette.http.store import generation_keys as store_generation_keys
from cachette.stampede import run_once

__all__ = ["HttpCache", "body_etag"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_CONDITIONALS = (b"if-none-match", b"if-modified-since")
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})

log = logging.getLogger("cachette.http")


async def _peek_body(receive: Receive) -> tuple[Receive, bool]:
    """Reads the request's first messages, up to one with body bytes or the last: whether
    there is a body, and a ``receive`` that gives those messages again before the rest."""
    held: list[Message] = []
    has_body = False
    while True:
        message = await receive()
        held.append(message)
        if message.get("type") != "http.request" or message.get("body"):
            has_body = message.get("type") == "http.request"
            break
        if not message.get("more_body"):
            break

    async def replay() -> Message:
        if held:
            return held.pop(0)
        return await receive()

    return replay, has_body


class HttpCache:
    """Caches the responses of ``app`` by the rules of a shared HTTP cache.

    More than one worker process (``uvicorn --workers 2``, gunicorn, several hosts) needs a
    shared backend (Redis, Valkey, Memcached; the file store within one host): with the
    in-memory default each process keeps its own entries, and a write invalidates only the
    process that answered it; the others go on serving the old page until it expires.

    Args:
        app: the ASGI application (or endpoint) to cache.
        namespace: prefix of every key, for invalidation of a whole app at once.
        ttl: seconds of freshness for responses that carry none (None: such responses are
            cached only by RFC 9111's heuristics). Never sent to clients.
        cache_control: a Cache-Control value added to responses that have none.
        etag: add a strong ETag, derived from the body, to 200 responses stored without one.
        stale_while_revalidate / stale_if_error: RFC 5861 windows (seconds) for responses
            that do not set them.
        set_cookie: ``"bypass"`` never stores a response with Set-Cookie; ``"strip"`` stores
            it without its Set-Cookie fields; ``"store"`` stores it whole (RFC 9111).
        credentialed: ``"strict"`` stores a response to a request with Cookie or
            Authorization only when it says ``public`` or ``s-maxage``; ``"rfc9111"``
            follows RFC 9111 §3.5 (Authorization only; ``must-revalidate`` also allows).
        max_body_size: larger responses are streamed through and not stored.
        retain_stale: seconds a stale entry is kept for revalidation and ``max-stale``.
        shared: behave as a shared cache (``private`` and ``s-maxage`` apply).
        key_host: include the Host in keys (turn off only when one app answers the same
            content for many names and never reflects the Host: see docs/http-caching.md).
        routing_headers: requests that carry a routing-override field (``X-Forwarded-Host``,
            ``Forwarded``, ``X-Original-URL``, ``X-HTTP-Method-Override``...): ``"key"``
            keys those fields as if every response named them in Vary; ``"bypass"`` sends
            such requests to the app uncached; ``"ignore"`` keys them like any other.
        coalesce: one origin request per key at a time in this process.
        lock_across_processes: also across processes (a backend lock); default: on for
            network backends.
        fail_open: on backend errors, log and serve the app's response (True) or raise.
        surrogate: a device token: when set, the cache acts as a surrogate (Edge
            Architecture 1.0): it advertises itself in Surrogate-Capability, obeys the
            Surrogate-Control directives meant for all surrogates or for this token in place
            of Cache-Control, and removes Surrogate-Control from responses.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        namespace: str = "default",
        ttl: float | None = None,
        cache_control: str | None = None,
        etag: bool = True,
        stale_while_revalidate: float = 0.0,
        stale_if_error: float = 0.0,
        set_cookie: Literal["bypass", "strip", "store"] = "bypass",
        credentialed: Literal["strict", "rfc9111"] = "strict",
        max_body_size: int = 1 << 20,
        retain_stale: float = 600.0,
        shared: bool = True,
        key_host: bool = True,
        coalesce: bool = True,
        lock_across_processes: bool | None = None,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
        heuristic_fraction: float = 0.1,
        heuristic_max: float = 86400.0,
        fail_open: bool = True,
        surrogate: str | None = None,
        routing_headers: RoutingPolicy = "key",
    ) -> None:
        if routing_headers not in ("key", "bypass", "ignore"):
            raise CachetteValueError('routing_headers must be "key", "bypass" or "ignore"')
        if set_cookie not in ("bypass", "strip", "store"):
            raise CachetteValueError('set_cookie must be "bypass", "strip" or "store"')
        if not isinstance(namespace, str) or not namespace:
            raise CachetteValueError("namespace must be a non-empty str")
        if max_body_size < 0 or retain_stale < 0 or lock_timeout <= 0:
            raise CachetteValueError("max_body_size, retain_stale and lock_timeout must be >= 0")
        self.app = app
        self.namespace = namespace
        self.defaults = RouteOptions(ttl, cache_control, stale_while_revalidate, stale_if_error)
        self.etag = etag
        self.set_cookie = set_cookie
        if credentialed not in ("strict", "rfc9111"):
            raise CachetteValueError('credentialed must be "strict" or "rfc9111"')
        self.credentialed = credentialed
        self.max_body_size = max_body_size
        self.retain_stale = retain_stale
        self.shared = shared
        self.key_host = key_host
        self.coalesce = coalesce
        self.heuristic_fraction = heuristic_fraction
        self.heuristic_max = heuristic_max
        self.routing_headers = routing_headers
        self._key_prefix = key_prefix(namespace)
        self.store = ResponseStore(fail_open, ROUTING_FIELDS if routing_headers == "key" else ())
        self.surrogate = surrogate
        self._capability = (
            (b"surrogate-capability", f'{surrogate}="Surrogate/1.0"'.encode("latin-1"))
            if surrogate
            else None
        )
        self._lock_across = lock_across_processes
        self.lock_timeout = lock_timeout
        self._background: set[asyncio.Task[None]] = set()
        self._revalidating: set[str] = set()

    # -- public API ------------------------------------------------------------------------

    async def invalidate_url(self, url: str) -> int:
        """Removes the stored response of an absolute URL (every variant)."""
        return await invalidate_url(url, namespace=self.namespace, key_host=self.key_host)

    async def invalidate_path(self, path: str) -> int:
        """Removes the stored responses of ``path`` for every host and query string."""
        return await invalidate_path(path, namespace=self.namespace)

    async def invalidate_all(self) -> int:
        """Removes every stored response of this cache's namespace."""
        return await invalidate_namespace(self.namespace)

    def stats(self) -> dict[str, int]:
        """What this cache did because of its backend: ``backend_errors``,
        ``backend_timeouts``, ``budget_skips`` (calls not waited for, their request having
        waited its share), ``breaker_opens``, ``breaker_skips`` (requests sent straight to
        the app while the breaker was open), ``warnings_logged``, ``warnings_suppressed``."""
        return self.store.counters.as_dict()

    # -- ASGI ------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        screened = screen(scope["headers"])
        if screened.refused:  # RFC 9112 §3.2: several Host lines, or an invalid one
            await send_status(send, 400)
            return
        method = scope["method"]
        cached = method == "GET" or method == "HEAD"
        body = screened.body
        if cached and screened.unsafe and self.routing_headers != "ignore":
            cached = False  # X-HTTP-Method-Override: DELETE: the app does a DELETE
        elif not cached and method in _SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        elif cached and not body and scope.get("http_version", "1.1")[0] != "1":
            # HTTP/2 and 3 need no Content-Length for a body: look at the first message
            receive, body = await _peek_body(receive)
        if cached and (body or (screened.routed and self.routing_headers == "bypass")):
            await self.app(scope, receive, send)  # a body, or a field the key leaves out
            return
        store = self.store
        budget = store.budget()  # one bound on this request's waits for the backend
        breaker = store.breaker
        if breaker.open_until and not breaker.allow(store.timeout()):  # it keeps timing out
            if cached:
                store.counters.breaker_skips += 1
                await self.app(scope, receive, send)
                return
            budget = Budget(store.timeout(), 0.0)  # invalidations are sent, not waited for
        if budget is None:
            if cached:
                await self._cached(scope, receive, send, method, screened)
            else:
                await self._unsafe(scope, receive, send, screened)
            return
        budget_token = REQUEST_BUDGET.set(budget)
        try:
            if cached:
                await self._cached(scope, receive, send, method, screened)
            else:
                await self._unsafe(scope, receive, send, screened)
        finally:
            REQUEST_BUDGET.reset(budget_token)

    def _key(self, path: str, scheme: str, host: str, query: str) -> str:
        return primary_key(self.namespace, path, scheme, host if self.key_host else "", query)

    async def _cached(
        self, scope: Scope, receive: Receive, send: Send, method: str, screened: Screened
    ) -> None:
        headers: Headers = scope["headers"]
        request = Request(headers)
        directives = request.directives
        key = screened_key(self._key_prefix, scope, screened.key_host, self.key_host)
        routed = screened.routed and self.routing_headers == "key"
        entry, flight_key = await self.store.lookup(key, headers, routed)
        if entry is not None:
            decision = decide(entry, time.time(), directives)
            if decision is Decision.FRESH or decision is Decision.STALE:
                await serve(entry, request, send, method)
                return
            if decision is Decision.STALE_REVALIDATE:
                self._revalidate_later(scope, key, flight_key, entry)
                await serve(entry, request, send, method)
                return
        if directives.only_if_cached:
            await send_status(send, 504)
            return
        if not self.coalesce or directives.no_cache or directives.no_store:
            await self._origin(scope, receive, send, key, entry, request)
            return

        async def lead() -> bool:
            return await self._origin(scope, receive, send, key, entry, request) is not None

        async def follow() -> bool:
            fresh = await self._usable(key, headers, directives, routed)
            if fresh is None:
                return False
            await serve(fresh, request, send, method)
            return True

        # keyed on the variant once the vary index is known: variants never wait for each other
        await run_once(
            flight_key,
            lead,
            follow,
            backend=self._lock_backend(),
            guard=self.store.lock_guard,
            lock_timeout=self.lock_timeout,
            may_lead=method == "GET",  # HEAD responses are not stored: nothing to share
        )

    def _lock_backend(self) -> Backend | None:
        """The backend whose lock makes a computation once per key across processes."""
        if self._lock_across is None:  # decided on first use: the backend is set up lazily
            self._lock_across = self.store.backend().local_store is None
        return self.store.backend() if self._lock_across else None

    async def _usable(
        self, key: str, headers: Headers, directives: RequestDirectives, routed: bool
    ) -> Entry | None:
        entry, _ = await self.store.lookup(key, headers, routed)
        if entry is None:
            return None
        decision = decide(entry, time.time(), directives)
        return entry if decision in (Decision.FRESH, Decision.STALE) else None

    # -- answering from the cache ----------------------------------------------------------
    # -- asking the origin -----------------------------------------------------------------

    async def _origin(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        key: str,
        entry: Entry | None,
        request: Request,
    ) -> Entry | None:
        """Calls the app (conditionally when ``entry`` has a validator), stores what may be
        stored and answers the client; returns the entry stored, if any."""
        method = scope["method"]
        directives = request.directives
        validating = entry is not None and entry.has_validator
        upstream_headers: Headers = scope["headers"]
        if validating or (method == "GET" and request.conditional) or self._capability:
            upstream_headers = [(k, v) for k, v in upstream_headers if k not in _CONDITIONALS]
            if validating:
                assert entry is not None
                etag = entry.header(b"etag")
                if etag is not None:
                    upstream_headers.append((b"if-none-match", etag))
                modified = entry.header(b"last-modified")
                if modified is not None:
                    upstream_headers.append((b"if-modified-since", modified))
            if self._capability:
                upstream_headers.append(self._capability)
            upstream: Scope = dict(scope)
            upstream["headers"] = upstream_headers
        else:
            upstream = scope
        # writes win: the generations this response depends on, read before the app is
        # asked (only when it may store something: GET, or a 304 that freshens an entry)
        generation_keys = tokens = None
        if not directives.no_store and (method == "GET" or validating):
            generation_keys = store_generation_keys(self.namespace, request_path(scope), key)
            tokens = await self.store.generations(generation_keys)
        asked = time.monotonic()
        slot = new_slot()
        slot_token = current_route_slot().set(slot)
        request_time = time.time()
        exchange = Exchange(
            self, send, key, entry, request, method, request_time, slot, scope["headers"]
        )
        try:
            await self.app(upstream, receive, exchange.send)
        except Exception:
            if (
                not exchange.started
                and entry is not None
                and stale_if_error_allows(entry, time.time(), directives, self._sie(slot))
            ):
                log.warning("http cache: the app failed; serving a stale response", exc_info=True)
                await serve(entry, request, send, method)
                return None
            if exchange.stored is not None:
                await self._keep_if_current(key, generation_keys, tokens, asked)
            raise
        finally:
            current_route_slot().reset(slot_token)
        await exchange.close()
        if exchange.stored is not None and not await self._keep_if_current(
            key, generation_keys, tokens, asked
        ):
            return None
        return exchange.stored

    async def _keep_if_current(
        self,
        key: str,
        generation_keys: list[str] | None,
        tokens: list[bytes | None] | None,
        asked: float,
    ) -> bool:
        """After a store: True when no invalidation of ``key`` began since ``tokens`` were
        read; otherwise removes what was stored (the URL's entry, every variant)."""
        if (
            generation_keys is not None
            and tokens is not None
            and time.monotonic() - asked < GENERATION_TTL / 2
            and await self.store.generations(generation_keys) == tokens
        ):
            return True
        await self.store.remove(key)
        return False

    def _sie(self, slot: Any) -> float:
        options = slot.options
        if options is not None and options.stale_if_error is not None:
            return float(options.stale_if_error)
        return float(self.defaults.stale_if_error or 0.0)

    def _revalidate_later(self, scope: Scope, key: str, flight_key: str, entry: Entry) -> None:
        """RFC 5861 stale-while-revalidate: one background revalidation per variant."""
        if flight_key in self._revalidating:
            return
        self._revalidating.add(flight_key)
        background = dict(scope)
        background["method"] = "GET"
        background["headers"] = [
            (k, v) for k, v in scope["headers"] if k not in (b"cache-control", b"pragma")
        ]
        task = asyncio.get_running_loop().create_task(
            self._revalidate(background, key, flight_key, entry)
        )
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _revalidate(self, scope: Scope, key: str, flight_key: str, entry: Entry) -> None:
        REQUEST_BUDGET.set(self.store.budget())  # its own, not the request's that started it
        finished = asyncio.Event()
        requested = False

        async def receive() -> Message:
            nonlocal requested
            if not requested:
                requested = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await finished.wait()
            return {"type": "http.disconnect"}

        async def discard(message: Message) -> None:
            return None

        request = Request(scope["headers"])

        async def lead() -> bool:
            return await self._origin(scope, receive, discard, key, entry, request) is not None

        async def follow() -> bool:  # someone else revalidated it meanwhile
            routed = self.routing_headers == "key" and screen(scope["headers"]).routed
            found = await self._usable(key, scope["headers"], request.directives, routed)
            return found is not None

        try:
            await run_once(
                flight_key,
                lead,
                follow,
                backend=self._lock_backend(),
                guard=self.store.lock_guard,
                lock_timeout=self.lock_timeout,
            )
        except Exception:
            log.warning("http cache: background revalidation failed", exc_info=True)
        finally:
            finished.set()
            self._revalidating.discard(flight_key)

    # -- unsafe methods --------------------------------------------------------------------

    async def _unsafe(self, scope: Scope, receive: Receive, send: Send, screened: Screened) -> None:
        """RFC 9111 §4.4: a non-error response to an unsafe method invalidates the target
        URI and the same-origin URIs in Location and Content-Location."""

        async def send_after_invalidating(message: Message) -> None:
            if message["type"] == "http.response.start" and 200 <= message["status"] < 400:
                await self._invalidate_for(scope, screened, message.get("headers") or [])
            await send(message)

        await self.app(scope, receive, send_after_invalidating)

    async def _invalidate_for(
        self, scope: Scope, screened: Screened, response_headers: Headers
    ) -> None:
        key = scope_key(self.namespace, scope, screened.host, self.key_host)
        await self.store.invalidate_key(key)
        host = screened.host
        if host is None:
            server = scope.get("server")
            host = f"{server[0]}:{server[1]}" if server else ""
        scheme = scope.get("scheme", "http")
        base = f"{scheme}://{host}{request_path(scope)}"
        for k, v in response_headers:
            if k.lower() in (b"location", b"content-location"):  # an app may send `Location`
                target = urlsplit(urljoin(base, v.decode("latin-1")))
                if target.netloc == host and target.scheme == scheme:
                    path = canonical_path(target.path or "/")
                    other = self._key(path, scheme, host, target.query)
                    if other != key:
                        await self.store.invalidate_key(other)
