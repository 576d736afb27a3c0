"""The rules of RFC 9111 and RFC 5861 as plain functions: what may be stored, for how long
it is fresh, and what a request may be answered with. No I/O; the middleware applies them."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from cachette.http.directives import (
    MAX_DELTA,
    CacheControl,
    parse_cache_control,
    parse_delta,
    parse_http_date,
)
from cachette.http.entry import MUST_REVALIDATE, NO_CACHE, Entry, Headers

__all__ = [
    "HEURISTIC_STATUSES",
    "Decision",
    "FreshnessFacts",
    "Refusal",
    "RequestDirectives",
    "decide",
    "may_store",
    "refusal",
    "response_facts",
    "stale_if_error_allows",
    "ttl_applies",
]

#: Status codes a cache may give a heuristic lifetime (RFC 9110 §15.1).
HEURISTIC_STATUSES = frozenset({200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501})
#: Status codes whose semantics we fully implement (must-understand, RFC 9111 §5.2.2.3).
UNDERSTOOD_STATUSES = frozenset(
    {200, 203, 204, 300, 301, 302, 303, 307, 308, 404, 405, 410, 414, 500, 501, 502, 503, 504}
)


def _values(headers: Headers, name: bytes) -> list[str]:
    return [v.decode("latin-1") for k, v in headers if k == name]


def _first(headers: Headers, name: bytes) -> str | None:
    for k, v in headers:
        if k == name:
            return v.decode("latin-1")
    return None


@dataclass(slots=True)
class RequestDirectives:
    """What a request's Cache-Control (and Pragma) asks of the cache (RFC 9111 §5.2.1)."""

    no_store: bool = False
    no_cache: bool = False
    max_age: int | None = None
    max_stale: int | None = None  # -1: any staleness
    min_fresh: int | None = None
    only_if_cached: bool = False
    stale_if_error: int | None = None

    @classmethod
    def parse(cls, cache_control: list[str], pragma: list[str]) -> RequestDirectives:
        cc = parse_cache_control(cache_control)
        out = cls()
        if not cc:
            # Pragma: no-cache counts only without Cache-Control (RFC 9111 §5.4).
            if any("no-cache" in p.lower() for p in pragma):
                out.no_cache = True
            return out
        out.no_store = "no-store" in cc
        out.no_cache = "no-cache" in cc
        out.only_if_cached = "only-if-cached" in cc
        if "max-age" in cc:
            out.max_age = parse_delta(cc["max-age"])
            if out.max_age is None:
                out.max_age = 0  # an invalid limit is the strictest one
        if "max-stale" in cc:
            arg = cc["max-stale"]
            out.max_stale = -1 if arg is None else parse_delta(arg)
        if "min-fresh" in cc:
            out.min_fresh = parse_delta(cc["min-fresh"])
        if "stale-if-error" in cc:
            out.stale_if_error = parse_delta(cc["stale-if-error"])
        return out


class Refusal(enum.Enum):
    """Why a response is not stored: the storage policy of the cache, one state per rule
    (docs/http-caching.md, "How responses are chosen, stored and reused")."""

    METHOD = "only responses to GET are stored"
    STATUS = "1xx, 206, 304 and codes beyond 599 are never stored as such"
    NO_STORE = "no-store (response or request), or must-understand with a status not understood"
    PRIVATE = "private: for one user only"
    CREDENTIALS = "the request carried Cookie or Authorization and the response is not public"
    SET_COOKIE = "Set-Cookie, with set_cookie='bypass'"
    EVENT_STREAM = "text/event-stream is streamed, never held"
    VARY_STAR = "Vary: * never matches a later request"
    NOT_REUSABLE = "no freshness and no validator from the origin: nothing could reuse it"
    MALFORMED_FIELD = "a field name or value the HTTP grammar forbids (CR, LF, NUL...)"


def ttl_applies(status: int) -> bool:
    """May the cache's own ``ttl`` give this status a lifetime? Only the statuses a cache may
    give a heuristic lifetime (RFC 9110 §15.1): an error is never made storable by a default."""
    return status in HEURISTIC_STATUSES


def refusal(
    method: str,
    status: int,
    response_cc: CacheControl,
    request: RequestDirectives,
    *,
    has_authorization: bool,
    has_explicit_freshness: bool,
    heuristic_allowed: bool,
    has_validator: bool,
    has_cookie: bool = False,
    has_set_cookie: bool = False,
    event_stream: bool = False,
    vary_star: bool = False,
    shared: bool = True,
    set_cookie: str = "store",
    credentialed: str = "strict",
) -> Refusal | None:
    """The storage policy: None when the response may be stored, else the first rule that
    forbids it. RFC 9111 §3 and §3.5, made stricter where a shared cache in front of an app
    could hand one user's response to another:

    - ``has_validator`` counts only the origin's ``ETag`` / ``Last-Modified``, never the tag
      the cache derives from the body; ``has_explicit_freshness`` includes ``ttl`` only where
      ``ttl_applies``.
    - ``credentialed="strict"``: a request with ``Cookie`` or ``Authorization`` is stored only
      with ``public`` or ``s-maxage``; ``"rfc9111"``: §3.5 exactly (``Authorization`` also with
      ``must-revalidate``; ``Cookie`` is not a credential).
    - A response that must be revalidated before every use (``no-cache``) and that has no
      validator is not stored: each use would fetch it whole again.
    """
    if method != "GET":
        return Refusal.METHOD
    if status < 200 or status in (206, 304) or status >= 600:
        return Refusal.STATUS  # partial content and 304s are never stored as such
    if "must-understand" in response_cc:
        if status not in UNDERSTOOD_STATUSES:
            return Refusal.NO_STORE
    elif "no-store" in response_cc:
        return Refusal.NO_STORE
    if request.no_store:
        return Refusal.NO_STORE
    if shared and "private" in response_cc and response_cc["private"] is None:
        return Refusal.PRIVATE
    if shared and (has_authorization or has_cookie):
        # a malformed s-maxage does not vouch for sharing
        shareable = "public" in response_cc or parse_delta(response_cc.get("s-maxage")) is not None
        if credentialed == "rfc9111":
            shareable = not has_authorization or shareable or "must-revalidate" in response_cc
        if not shareable:
            return Refusal.CREDENTIALS
    if has_set_cookie and set_cookie == "bypass":
        return Refusal.SET_COOKIE
    if event_stream:
        return Refusal.EVENT_STREAM
    if vary_star:
        return Refusal.VARY_STAR
    if "no-cache" in response_cc and response_cc["no-cache"] is None and not has_validator:
        return Refusal.NOT_REUSABLE
    if not (
        has_explicit_freshness or heuristic_allowed or has_validator or "public" in response_cc
    ):
        return Refusal.NOT_REUSABLE
    return None


def may_store(
    method: str,
    status: int,
    response_cc: CacheControl,
    request: RequestDirectives,
    *,
    has_authorization: bool,
    has_explicit_freshness: bool,
    heuristic_allowed: bool,
    has_validator: bool,
    shared: bool = True,
) -> bool:
    """RFC 9111 §3 as this cache reads it: may this response be stored? (``refusal`` is None.)"""
    return (
        refusal(
            method,
            status,
            response_cc,
            request,
            has_authorization=has_authorization,
            has_explicit_freshness=has_explicit_freshness,
            heuristic_allowed=heuristic_allowed,
            has_validator=has_validator,
            shared=shared,
        )
        is None
    )


@dataclass(slots=True)
class FreshnessFacts:
    """What the stored entry needs to know about its response (see ``Entry``)."""

    lifetime: float
    explicit: bool  # freshness came from s-maxage, max-age or Expires
    heuristic: bool  # a heuristic lifetime applies
    flags: int
    stale_while_revalidate: float
    stale_if_error: float
    initial_age: float
    #: the s-maxage or max-age that decides is not delta-seconds: no explicit freshness, no
    #: heuristic and no ``ttl`` (stale, RFC 9111 §4.2.1), so it is stored only with a
    #: validator or ``public``
    malformed: bool = False


def response_facts(
    status: int,
    headers: Headers,
    response_cc: CacheControl,
    request_time: float,
    response_time: float,
    *,
    shared: bool = True,
    heuristic_fraction: float = 0.1,
    heuristic_max: float = 86400.0,
) -> FreshnessFacts:
    """Freshness lifetime (§4.2.1, §4.2.2), initial age (§4.2.3) and serving flags."""
    date = parse_http_date(_first(headers, b"date"))
    date_value = date if date is not None else response_time
    explicit = True
    heuristic = False
    malformed = False
    lifetime = 0.0
    governing = "s-maxage" if shared and "s-maxage" in response_cc else "max-age"
    if governing in response_cc:
        delta = parse_delta(response_cc[governing])
        if delta is None:  # `max-age=600; private`, `max-age=abc`: stale, and not explicit
            explicit = False
            malformed = True
        else:
            lifetime = float(delta)
    else:
        expires = _values(headers, b"expires")
        if expires:
            when = parse_http_date(expires[0])
            lifetime = 0.0 if when is None else max(0.0, when - date_value)
        else:
            explicit = False
            if status in HEURISTIC_STATUSES or "public" in response_cc:
                modified = parse_http_date(_first(headers, b"last-modified"))
                if modified is not None and modified < date_value:
                    heuristic = True
                    lifetime = min(heuristic_max, (date_value - modified) * heuristic_fraction)
    flags = 0
    if (
        "must-revalidate" in response_cc
        or (shared and "proxy-revalidate" in response_cc)
        or (shared and "s-maxage" in response_cc)
    ):
        flags |= MUST_REVALIDATE
    if "no-cache" in response_cc and response_cc["no-cache"] is None:
        flags |= NO_CACHE
    swr = float(parse_delta(response_cc.get("stale-while-revalidate")) or 0)
    sie = float(parse_delta(response_cc.get("stale-if-error")) or 0)
    age_values = _values(headers, b"age")
    age_value = 0.0
    if age_values:
        # Age is a singleton: several lines, a list, or anything but delta-seconds makes
        # the response's age unknowable, and we then count it as stale (never as new).
        parsed = parse_delta(age_values[0]) if len(age_values) == 1 else None
        age_value = float(parsed) if parsed is not None else float(MAX_DELTA)
    apparent_age = max(0.0, response_time - date_value)
    response_delay = max(0.0, response_time - request_time)
    initial_age = max(apparent_age, age_value + response_delay)
    return FreshnessFacts(lifetime, explicit, heuristic, flags, swr, sie, initial_age, malformed)


class Decision(enum.Enum):
    FRESH = "fresh"  # serve it
    STALE = "stale"  # serve it although stale (the request allows it)
    STALE_REVALIDATE = "swr"  # serve it stale and revalidate in the background
    REVALIDATE = "revalidate"  # ask the origin (conditionally, when it has a validator)


def decide(entry: Entry, now: float, request: RequestDirectives) -> Decision:
    """May ``entry`` answer this request (RFC 9111 §4, §4.2.4; RFC 5861 §3)?"""
    if request.no_cache or entry.flags & NO_CACHE:
        return Decision.REVALIDATE
    age = entry.age(now)
    lifetime = entry.lifetime
    if request.max_age is not None and age > request.max_age:
        # the client wants it younger than we have it; only max-stale may still accept it
        if request.max_stale is None:
            return Decision.REVALIDATE
    fresh = age < lifetime
    if fresh:
        if request.min_fresh is not None and lifetime - age < request.min_fresh:
            return Decision.REVALIDATE
        if request.max_age is not None and age > request.max_age:
            return Decision.REVALIDATE
        return Decision.FRESH
    if entry.flags & MUST_REVALIDATE:
        return Decision.REVALIDATE
    staleness = age - lifetime
    if request.max_stale is not None and (request.max_stale < 0 or staleness <= request.max_stale):
        return Decision.STALE
    if request.max_age is None and request.min_fresh is None:
        if entry.stale_while_revalidate and staleness <= entry.stale_while_revalidate:
            return Decision.STALE_REVALIDATE
    return Decision.REVALIDATE


def stale_if_error_allows(
    entry: Entry, now: float, request: RequestDirectives, default: float = 0.0
) -> bool:
    """May a stale ``entry`` answer in place of an error (RFC 5861 §4)?"""
    if entry.flags & (MUST_REVALIDATE | NO_CACHE):
        return False
    window = entry.stale_if_error or default
    if request.stale_if_error is not None:
        window = float(request.stale_if_error)
    if window <= 0:
        return False
    return entry.age(now) - entry.lifetime <= window
