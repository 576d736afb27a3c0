"""Answering from the cache: what the cache reads from a request, and the response it sends
from a stored entry (whole, 304 to a conditional, or one byte range)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from cachette.http.directives import etag_matches, parse_etag_list
from cachette.http.directives import parse_http_date as _parse_date
from cachette.http.entry import Entry
from cachette.http.freshness import RequestDirectives

__all__ = ["NOT_MODIFIED_FIELDS", "Request", "byte_range", "not_modified", "send_status", "serve"]

Message = MutableMapping[str, Any]
Send = Callable[[Message], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

_PLAIN = RequestDirectives()
#: Most digits a byte position in a Range may have (10**18 bytes is far beyond any entry).
_POSITION_DIGITS = 18
#: Fields of a 304 answered from the cache (RFC 9110 §15.4.5).
NOT_MODIFIED_FIELDS = frozenset(
    {b"cache-control", b"content-location", b"date", b"etag", b"expires", b"vary", b"last-modified"}
)


class Request:
    """What the cache reads from one request's headers, in one pass."""

    __slots__ = (
        "authorization",
        "conditional",
        "directives",
        "host",
        "if_modified_since",
        "if_none_match",
        "range",
    )

    def __init__(self, headers: Headers) -> None:
        cache_control: list[str] = []
        pragma: list[str] = []
        self.authorization = False
        self.host = ""
        self.if_none_match: bytes | None = None  # every line, joined
        self.if_modified_since: str | None = None
        self.range: str | None = None
        if_range = False
        for k, v in headers:
            if k == b"host":
                self.host = v.decode("latin-1")
            elif k == b"cache-control":
                cache_control.append(v.decode("latin-1"))
            elif k == b"pragma":
                pragma.append(v.decode("latin-1"))
            elif k == b"authorization":
                self.authorization = True
            elif k == b"if-none-match":
                previous: bytes | None = self.if_none_match
                self.if_none_match = v if previous is None else previous + b", " + v
            elif k == b"if-modified-since":
                self.if_modified_since = v.decode("latin-1")
            elif k == b"range":
                self.range = v.decode("latin-1")
            elif k == b"if-range":
                if_range = True
        if if_range:
            self.range = None  # ignoring Range is always allowed; If-Range is not evaluated
        self.conditional = self.if_none_match is not None or self.if_modified_since is not None
        self.directives = (
            RequestDirectives.parse(cache_control, pragma) if cache_control or pragma else _PLAIN
        )


async def serve(entry: Entry, request: Request, send: Send, method: str) -> None:
    """Answers ``request`` from the stored ``entry``: a 304 to a matching conditional, a
    206 to a single satisfiable byte range, else the whole response (no body for HEAD)."""
    age = str(int(entry.age(time.time()))).encode()
    if request.conditional and 200 <= entry.status < 300 and not_modified(entry, request):
        fields = [(k, v) for k, v in entry.headers if k in NOT_MODIFIED_FIELDS]
        fields.append((b"age", age))
        await send({"type": "http.response.start", "status": 304, "headers": fields})
        await send({"type": "http.response.body", "body": b""})
        return
    headers = entry.headers.copy()
    headers.append((b"age", age))
    body = entry.body
    status = entry.status
    if request.range is not None and status == 200:
        span = byte_range(request.range, len(body))
        if span is not None:
            first, last = span
            status = 206
            headers = [(k, v) for k, v in headers if k != b"content-length"]
            headers.append((b"content-range", f"bytes {first}-{last}/{len(body)}".encode()))
            headers.append((b"content-length", str(last - first + 1).encode()))
            body = body[first : last + 1]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if method == "HEAD" else body})


def not_modified(entry: Entry, request: Request) -> bool:
    """RFC 9110 §13.2.2: If-None-Match decides when present, else If-Modified-Since."""
    raw = request.if_none_match
    if raw is not None:
        tag = entry.header(b"etag")
        if tag is not None and raw == tag:
            return True  # the common case: the client sends back the one tag it was given
        tags = parse_etag_list(raw.decode("latin-1"))
        if tags is None or tags:
            return tag is not None and etag_matches(tag.decode("latin-1"), tags)
        # no valid entity-tag at all: as if If-None-Match were absent
    since = _parse_date(request.if_modified_since)
    if since is None:
        return False
    modified = entry.header(b"last-modified") or entry.header(b"date")
    when = _parse_date(modified.decode("latin-1")) if modified is not None else None
    return when is not None and when <= since


def byte_range(spec: str, size: int) -> tuple[int, int] | None:
    """The (first, last) byte of a single satisfiable range (RFC 9110 §14.1.2); None for
    anything else (several ranges, bad syntax, unsatisfiable): the full response is sent."""
    unit, _, ranges = spec.partition("=")
    if unit.strip().lower() != "bytes" or "," in ranges or size == 0:
        return None
    first_s, dash, last_s = ranges.strip().partition("-")
    if not dash:
        return None
    first_s, last_s = first_s.strip(), last_s.strip()
    if len(first_s) > _POSITION_DIGITS or len(last_s) > _POSITION_DIGITS:
        return None  # no stored body is that large; int() of thousands of digits would raise
    if not first_s:
        if not last_s.isdigit() or int(last_s) == 0:
            return None
        return max(0, size - int(last_s)), size - 1
    if not first_s.isdigit() or (last_s and not last_s.isdigit()):
        return None
    first = int(first_s)
    last = min(int(last_s), size - 1) if last_s else size - 1
    if first > last or first >= size:
        return None
    return first, last


async def send_status(send: Send, status: int) -> None:
    await send(
        {"type": "http.response.start", "status": status, "headers": [(b"content-length", b"0")]}
    )
    await send({"type": "http.response.body", "body": b""})
