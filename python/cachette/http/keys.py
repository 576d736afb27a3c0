"""What a request's key is made of, read in one pass over its header fields: the Host (one,
valid, or the request is refused), routing-override fields an app may read without naming
them in ``Vary``, and whether a GET carries a body. See "Keys" in docs/http-caching.md."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final, Literal

from cachette.http.store import build_key, encode_path, escape_authority, key_prefix

__all__ = [
    "ROUTING_FIELDS",
    "RoutingPolicy",
    "Screened",
    "request_path",
    "scope_key",
    "screen",
    "screened_key",
]

RoutingPolicy = Literal["key", "bypass", "ignore"]

#: Request fields that frameworks and proxy helpers read to change the scheme, host, path or
#: method the app sees. They are keyed when present (``routing_headers="key"``).
#: ``X-Forwarded-For`` is left out on purpose: it names the client, not the resource, and
#: keying it would give every client behind a proxy its own entries.
ROUTING_FIELDS: Final = (
    "forwarded",
    "x-forwarded-host",
    "x-forwarded-port",
    "x-forwarded-prefix",
    "x-forwarded-proto",
    "x-forwarded-scheme",
    "x-host",
    "x-http-method",
    "x-http-method-override",
    "x-method-override",
    "x-original-url",
    "x-rewrite-url",
)
_ROUTING_BYTES = frozenset(n.encode() for n in ROUTING_FIELDS)
#: Fields that make an app treat a GET as another method (a GET that deletes must
#: invalidate like a DELETE, and must not be stored).
_METHOD_OVERRIDES = frozenset({b"x-http-method", b"x-http-method-override", b"x-method-override"})
_OTHER_SCREENED = _ROUTING_BYTES | {b"content-length", b"transfer-encoding"}
_SCREENED = _OTHER_SCREENED | {b"host"}

#: host [":" port] of RFC 9110 §7.2 (RFC 3986 §3.2.2): an IP literal or a reg-name.
_VALID_HOST = re.compile(
    rb"(?:\[[0-9A-Fa-f:.]+(?:%[0-9A-Za-z._~-]+)?\]|[A-Za-z0-9._~!$&'()*+,;=%-]*)(?::[0-9]*)?"
)


class Screened:
    """One request's screening: ``host`` is None when no Host field came (the server's
    address stands in, as frameworks do); ``refused`` when the cache must answer 400;
    ``unsafe`` when a method-override field names a method other than GET or HEAD."""

    __slots__ = ("body", "host", "key_host", "refused", "routed", "unsafe")

    def __init__(
        self,
        host: str | None,
        key_host: str | None,
        refused: bool,
        routed: bool,
        body: bool,
        unsafe: bool,
    ) -> None:
        self.host = host
        self.key_host = key_host  # host through escape_authority
        self.refused = refused
        self.routed = routed
        self.body = body
        self.unsafe = unsafe


def screen(headers: list[tuple[bytes, bytes]]) -> Screened:
    """Reads the Host field(s), the routing fields and the body framing.

    More than one Host, or one that is not ``host[:port]``, is refused (RFC 9112 §3.2 asks a
    server to answer 400): servers disagree on which line counts, and the app and the key
    must never see two different hosts. A body is announced by ``Transfer-Encoding`` or a
    ``Content-Length`` other than 0."""
    fields = dict(headers)  # (in C: the common request is settled without a Python loop)
    if len(fields) == len(headers) and _OTHER_SCREENED.isdisjoint(fields):
        # one line per field, one Host, no routing or body field: the Host alone decides
        host = fields.get(b"host")
        if host is not None:
            plain = _plain_hosts.get(host)
            if plain is not None:
                return plain
    return _screen_lines(headers)


def _screen_lines(headers: list[tuple[bytes, bytes]]) -> Screened:
    host: bytes | None = None
    refused = routed = body = unsafe = False
    for k, v in headers:
        if k not in _SCREENED:  # most fields: one set lookup
            continue
        if k == b"host":
            if host is not None:
                refused = True
            host = v
        elif k in _ROUTING_BYTES:
            routed = True
            if k in _METHOD_OVERRIDES and v.strip().upper() not in (b"GET", b"HEAD"):
                unsafe = True
        elif k == b"content-length":
            if v.strip() != b"0":
                body = True
        elif k == b"transfer-encoding":
            body = True
    if host is None:
        return Screened(None, None, refused, routed, body, unsafe)
    text = host.decode("latin-1")
    if _VALID_HOST.fullmatch(host) is None:
        return Screened(text, None, True, routed, body, unsafe)
    screened = Screened(text, escape_authority(text), refused, routed, body, unsafe)
    if not (refused or routed or body):
        if len(_plain_hosts) >= 1024:  # (many names: start over rather than grow)
            _plain_hosts.clear()
        _plain_hosts[host] = screened
    return screened


#: The screening of a request whose only screened field is one valid Host, per Host value:
#: a site sees few names, each checked once. (Screened objects are never modified.)
_plain_hosts: dict[bytes, Screened] = {}


def request_path(scope: Mapping[str, Any]) -> str:
    """The path as the client sent it (``raw_path``), else the decoded path percent-encoded
    again, so that an encoded ``?`` (``%3F``) stays part of the path."""
    raw = scope.get("raw_path")
    if raw:
        path: str = raw.decode("latin-1")
        return path.partition("?")[0] if "?" in path else path  # a server that left the query
    return encode_path(scope["path"])


def scope_key(namespace: str, scope: Mapping[str, Any], host: str | None, key_host: bool) -> str:
    """The primary key of a request: its path (``request_path``), the host the app sees (the
    Host field, else the server's address, as frameworks build URLs), the query as sent."""
    escaped = None if host is None else escape_authority(host)
    return screened_key(key_prefix(namespace), scope, escaped, key_host)


def screened_key(
    prefix: str, scope: Mapping[str, Any], escaped_host: str | None, key_host: bool
) -> str:
    """``scope_key`` with the namespace as a ``key_prefix`` and the host escaped already."""
    if not key_host:
        escaped_host = ""
    elif escaped_host is None:
        server = scope.get("server")
        escaped_host = escape_authority(f"{server[0]}:{server[1]}" if server else "")
    query = scope.get("query_string") or b""
    return build_key(
        prefix,
        request_path(scope),
        scope.get("scheme", "http"),
        escaped_host,
        query.decode("latin-1"),
    )
