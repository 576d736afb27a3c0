"""Asking the origin: one request to the app, whose response is streamed through, or held
to be stored, to freshen a stored entry from a 304, or to be replaced by a stale entry."""

from __future__ import annotations

import base64
import enum
import hashlib
import re
import time
from typing import TYPE_CHECKING, Any

from cachette.http.directives import parse_cache_control, surrogate_directives
from cachette.http.entry import Entry
from cachette.http.freshness import (
    Refusal,
    refusal,
    response_facts,
    stale_if_error_allows,
    ttl_applies,
)
from cachette.http.route import RouteOptions
from cachette.http.serve import (
    NOT_MODIFIED_FIELDS,
    Headers,
    Message,
    Request,
    Send,
    not_modified,
    serve,
)
from cachette.http.store import vary_names

if TYPE_CHECKING:
    from cachette.http.middleware import HttpCache

__all__ = ["Exchange", "body_etag", "malformed_fields"]

_HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"te",
        b"transfer-encoding",
        b"upgrade",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"trailer",
    }
)
#: Fields a 304 never overwrites in the stored response (RFC 9111 §3.2).
_NOT_UPDATED = _HOP_BY_HOP | {
    b"age",
    b"content-encoding",
    b"content-length",
    b"content-md5",
    b"content-range",
    b"etag",
}
#: Origin statuses a stale entry may replace (RFC 5861 stale-if-error).
_ERROR_STATUSES = frozenset({500, 502, 503, 504})
#: Refusals of a 304's update that withdraw the stored response itself: the entry is removed.
#: The others (credentials in the request, a malformed field) leave it unmerged and in place.
_WITHDRAWN = frozenset(
    {Refusal.NO_STORE, Refusal.PRIVATE, Refusal.SET_COOKIE, Refusal.EVENT_STREAM, Refusal.VARY_STAR}
)
#: A field name (RFC 9110 §5.1: a token; lower case by then).
_FIELD_NAME = re.compile(rb"[!#$%&'*+\-.^_`|~0-9a-z]+")
#: What a field value may not hold (RFC 9110 §5.5): controls other than HTAB, among them CR,
#: LF and NUL, which would end the field (and the stored form's separators).
_FIELD_VALUE_FORBIDDEN = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")


def malformed_fields(headers: Headers) -> bool:
    """True when a field name is not a token or a value holds a control character: the
    server would refuse to send such a response, and storing it could replay the attacker's
    fields to the next visitor (response splitting), so it is never stored."""
    return any(
        _FIELD_NAME.fullmatch(k) is None or _FIELD_VALUE_FORBIDDEN.search(v) is not None
        for k, v in headers
    )


def body_etag(body: bytes) -> bytes:
    """A strong entity tag derived from the body alone: equal in every worker and host."""
    digest = hashlib.blake2b(body, digest_size=16).digest()
    return b'"' + base64.urlsafe_b64encode(digest).rstrip(b"=") + b'"'


class Mode(enum.Enum):
    """What an exchange does with the app's response, decided when the response starts."""

    START = "start"  # no response yet
    PASS = "pass"  # stream it to the client as it comes (it will not be stored)
    STORE = "store"  # hold it, store it when complete, then answer the client
    UPDATE = "update"  # a 304 to our conditional request: freshen the stored entry from it
    ERROR = "error"  # an error a stale entry replaces (stale-if-error)
    DONE = "done"  # answered


def _storable_fields(headers: Headers, response_cc: Any, *, strip_set_cookie: bool) -> Headers:
    """The fields of a response a stored entry keeps (RFC 9111 §3.1): not hop-by-hop or named
    in Connection, not Age, not those named by ``no-cache="..."`` or ``private="..."``, and not
    Set-Cookie when the cache strips it."""
    excluded = set(_HOP_BY_HOP) | {b"age"}
    for k, v in headers:
        if k == b"connection":
            excluded.update(n.strip().lower().encode() for n in v.decode("latin-1").split(","))
    if strip_set_cookie:
        excluded.add(b"set-cookie")
    for name in ("no-cache", "private"):
        fields = response_cc.get(name)
        if fields:
            excluded.update(n.strip().lower().encode() for n in fields.split(","))
    return [(k, v) for k, v in headers if k not in excluded]


class Exchange:
    """One request to the app: decides at the response's start whether to stream it through
    or to hold it (to store it, to answer from a 304, or to replace an error by a stale
    response), and finishes that when the body is complete."""

    def __init__(
        self,
        cache: HttpCache,
        client: Send,
        key: str,
        entry: Entry | None,
        request: Request,
        method: str,
        request_time: float,
        slot: Any,
        request_headers: Headers,
    ) -> None:
        self.cache = cache
        self.request_headers = request_headers
        self.client = client
        self.key = key
        self.entry = entry
        self.request = request
        self.method = method
        self.request_time = request_time
        self.slot = slot
        self.mode = Mode.START
        self.started = False  # anything sent to the client
        self.status = 0
        self.headers: Headers = []
        self.stored_headers: Headers = []
        self.chunks: list[bytes] = []
        self.size = 0
        self.facts: Any = None
        self.response_time = 0.0
        self.stored: Entry | None = None
        self.refusal: Refusal | None = None  # why the response was not stored, when it was not

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            await self._start(message)
        elif kind == "http.response.body":
            if self.mode is Mode.PASS:
                await self.client(message)
                return
            body = message.get("body", b"")
            if body:
                self.chunks.append(body)
                self.size += len(body)
            if self.mode is Mode.STORE and self.size > self.cache.max_body_size:
                await self._stream_held(message.get("more_body", False))
                return
            if not message.get("more_body", False):
                await self._finish()
        elif self.mode is Mode.PASS:
            await self.client(message)

    async def _start(self, message: Message) -> None:
        cache = self.cache
        self.status = status = message["status"]
        # field names are case-insensitive, and BlackSheep or a raw ASGI app sends them as
        # written (`Vary`, `Set-Cookie`, `Cache-Control`): every rule below compares lower
        # case, so they are lowered once here (the miss path only; a hit reads stored fields,
        # lowered when they were stored)
        self.headers = headers = [(k.lower(), v) for k, v in message.get("headers") or ()]
        self.response_time = time.time()
        entry = self.entry
        if status == 304 and entry is not None and entry.has_validator:
            self.mode = Mode.UPDATE
            return
        options = self.slot.options or cache.defaults
        defaults = cache.defaults
        cc_values = [v.decode("latin-1") for k, v in headers if k == b"cache-control"]
        default_cc = options.cache_control or defaults.cache_control
        if not cc_values and default_cc and ttl_applies(status):
            # like ttl, the default never makes an error storable (here or downstream)
            headers.append((b"cache-control", default_cc.encode("latin-1")))
            cc_values = [default_cc]
        response_cc = parse_cache_control(cc_values)
        if cache.surrogate:
            targeted = [v.decode("latin-1") for k, v in headers if k == b"surrogate-control"]
            if targeted:
                response_cc = surrogate_directives(targeted, cache.surrogate)
                headers = self.headers = [(k, v) for k, v in headers if k != b"surrogate-control"]
        if (
            status in _ERROR_STATUSES
            and entry is not None
            and stale_if_error_allows(
                entry, self.response_time, self.request.directives, cache._sie(self.slot)
            )
        ):
            self.mode = Mode.ERROR
            return
        if self.method == "GET" and self._storable(status, headers, response_cc, options):
            self.mode = Mode.STORE
            return
        self.mode = Mode.PASS
        await self._send_start(status, headers)

    def _storable(
        self, status: int, headers: Headers, response_cc: Any, options: RouteOptions
    ) -> bool:
        cache = self.cache
        facts = response_facts(
            status,
            headers,
            response_cc,
            self.request_time,
            self.response_time,
            shared=cache.shared,
            heuristic_fraction=cache.heuristic_fraction,
            heuristic_max=cache.heuristic_max,
        )
        ttl = options.ttl if options.ttl is not None else cache.defaults.ttl
        explicit = facts.explicit
        if not explicit and not facts.malformed and ttl is not None and ttl_applies(status):
            facts.lifetime = float(ttl)
            facts.heuristic = False
            explicit = True
        defaults = cache.defaults
        if not facts.stale_while_revalidate:
            facts.stale_while_revalidate = float(
                options.stale_while_revalidate or defaults.stale_while_revalidate or 0.0
            )
        if not facts.stale_if_error:
            facts.stale_if_error = float(options.stale_if_error or defaults.stale_if_error or 0.0)
        has_set_cookie = any(k == b"set-cookie" for k, _ in headers)
        self.refusal = self._refusal(
            status,
            headers,
            response_cc,
            explicit=explicit,
            heuristic=facts.heuristic,
            # the origin's validators only: the tag derived from the body is no reason to store
            has_validator=any(k in (b"etag", b"last-modified") for k, _ in headers),
            has_set_cookie=has_set_cookie,
        )
        if self.refusal is None and malformed_fields(headers):
            self.refusal = Refusal.MALFORMED_FIELD  # checked last: only what would be stored
        if self.refusal is not None:
            return False
        self.facts = facts
        self.stored_headers = _storable_fields(
            headers, response_cc, strip_set_cookie=cache.set_cookie == "strip"
        )
        return True

    def _refusal(
        self,
        status: int,
        headers: Headers,
        response_cc: Any,
        *,
        explicit: bool,
        heuristic: bool,
        has_validator: bool,
        has_set_cookie: bool,
    ) -> Refusal | None:
        """The storage policy (``freshness.refusal``) applied to this exchange."""
        cache = self.cache
        content_type = next((v for k, v in headers if k == b"content-type"), b"")
        return refusal(
            "GET",
            status,
            response_cc,
            self.request.directives,
            has_authorization=self.request.authorization,
            has_cookie=any(k == b"cookie" for k, _ in self.request_headers),
            has_explicit_freshness=explicit,
            heuristic_allowed=heuristic,
            has_validator=has_validator,
            has_set_cookie=has_set_cookie,
            event_stream=content_type.split(b";", 1)[0].strip().lower() == b"text/event-stream",
            vary_star=vary_names(headers) is None,
            shared=cache.shared,
            set_cookie=cache.set_cookie,
            credentialed=cache.credentialed,
        )

    async def _send_start(self, status: int, headers: Headers) -> None:
        self.started = True
        await self.client({"type": "http.response.start", "status": status, "headers": headers})

    async def _stream_held(self, more_body: bool) -> None:
        """Too large to store: send what was held and stream the rest."""
        self.mode = Mode.PASS
        await self._send_start(self.status, self.headers)
        body = b"".join(self.chunks)
        self.chunks = []
        await self.client({"type": "http.response.body", "body": body, "more_body": more_body})

    async def _finish(self) -> None:
        mode = self.mode
        self.mode = Mode.DONE
        cache = self.cache
        request = self.request
        body = b"".join(self.chunks)
        self.chunks = []
        if mode is Mode.UPDATE:
            assert self.entry is not None
            answer, updated = self._updated_entry(self.entry)
            if updated is not None:
                await self._save(updated)
            elif not request.directives.no_store and self.refusal in _WITHDRAWN:
                # the 304 makes the response itself one we would not store (no-store,
                # private, Set-Cookie under "bypass", Vary: *): stop serving it. A refusal
                # about this request (credentials) or a malformed 304 leaves the entry as it
                # was, unmerged: anyone could send Cookie with no-cache to evict it
                await cache.store.invalidate_key(self.key)
            await serve(answer, request, self.client, self.method)
            return
        if mode is Mode.ERROR:
            assert self.entry is not None
            self.started = True
            await serve(self.entry, request, self.client, self.method)
            return
        # Mode.STORE
        headers = self.headers
        declared = next((v for k, v in headers if k == b"content-length"), None)
        if declared is not None and declared.strip() != str(len(body)).encode():
            # a body that disagrees with its Content-Length is incomplete: never stored
            await self._send_start(self.status, headers)
            await self.client({"type": "http.response.body", "body": body})
            return
        if self.status == 200 and cache.etag and not any(k == b"etag" for k, _ in headers):
            tag = body_etag(body)
            headers.append((b"etag", tag))
            self.stored_headers.append((b"etag", tag))
        facts = self.facts
        entry = Entry(
            self.status,
            self.stored_headers,
            body,
            self.request_time,
            self.response_time,
            facts.initial_age,
            facts.lifetime,
            facts.flags,
            facts.stale_while_revalidate,
            facts.stale_if_error,
        )
        await self._save(entry)
        self.started = True
        if request.conditional and not_modified(entry, request):
            fields = [(k, v) for k, v in headers if k in NOT_MODIFIED_FIELDS]
            await self.client({"type": "http.response.start", "status": 304, "headers": fields})
            await self.client({"type": "http.response.body", "body": b""})
            return
        await self.client(
            {"type": "http.response.start", "status": self.status, "headers": headers}
        )
        await self.client({"type": "http.response.body", "body": body})

    async def _save(self, entry: Entry) -> None:
        cache = self.cache
        remaining = entry.lifetime - entry.age(time.time())
        keep = max(cache.retain_stale, entry.stale_while_revalidate, entry.stale_if_error)
        ttl = max(0.0, remaining) + keep
        if ttl <= 0:
            return
        if await cache.store.save(self.key, entry, self.request_headers, ttl) is not None:
            self.stored = entry

    def _updated_entry(self, entry: Entry) -> tuple[Entry, Entry | None]:
        """The stored response freshened by a 304 (RFC 9111 §4.3.4): the response for this
        client, and the entry to store in place of the old one, or None when the updated
        response may not be stored (the storage policy applies to updates as to new
        responses). The 304 answers the validators of this very entry, so it selects it; its
        own ETag does not replace ours."""
        cache = self.cache
        skipped = set(_NOT_UPDATED)
        for k, v in self.headers:
            if k == b"connection":
                skipped.update(n.strip().lower().encode() for n in v.decode("latin-1").split(","))
        updates = [(k, v) for k, v in self.headers if k not in skipped]
        replaced = {k for k, _ in updates}
        merged = [(k, v) for k, v in entry.headers if k not in replaced]
        merged.extend(updates)
        cc = parse_cache_control([v.decode("latin-1") for k, v in merged if k == b"cache-control"])
        ages = [(k, v) for k, v in self.headers if k == b"age"]
        facts = response_facts(
            entry.status,
            merged + ages,
            cc,
            self.request_time,
            self.response_time,
            shared=cache.shared,
            heuristic_fraction=cache.heuristic_fraction,
            heuristic_max=cache.heuristic_max,
        )
        lifetime = facts.lifetime
        explicit = facts.explicit
        if not facts.explicit and not facts.heuristic and not facts.malformed:
            options = self.slot.options or cache.defaults
            ttl = options.ttl if options.ttl is not None else cache.defaults.ttl
            explicit = ttl is not None and ttl_applies(entry.status)
            lifetime = float(ttl) if ttl is not None and explicit else 0.0
        swr = facts.stale_while_revalidate or entry.stale_while_revalidate
        sie = facts.stale_if_error or entry.stale_if_error

        def build(headers: Headers) -> Entry:
            return Entry(
                entry.status,
                headers,
                entry.body,
                self.request_time,
                self.response_time,
                facts.initial_age,
                lifetime,
                facts.flags,
                swr,
                sie,
            )

        answer = build(merged)
        if malformed_fields(self.headers):
            # never merged (it would be stored, then replayed split); the stored entry is
            # left as it was: nothing in it is withdrawn
            self.refusal = Refusal.MALFORMED_FIELD
            return answer, None
        self.refusal = self._refusal(
            entry.status,
            merged,
            cc,
            explicit=explicit,
            heuristic=facts.heuristic,
            has_validator=True,  # the 304 has just validated it
            has_set_cookie=any(k == b"set-cookie" for k, _ in merged),
        )
        if self.refusal is not None:
            return answer, None
        kept = _storable_fields(merged, cc, strip_set_cookie=cache.set_cookie == "strip")
        return answer, build(kept)

    async def close(self) -> None:
        """The app returned: finish a response it left incomplete (never storing it)."""
        if self.mode is Mode.STORE:
            await self._stream_held(False)
        elif self.mode is Mode.UPDATE or self.mode is Mode.ERROR:
            await self._finish()
