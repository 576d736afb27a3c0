"""The RFC 9111 / RFC 5861 rules as plain functions: storage, lifetime, age, reuse."""

from __future__ import annotations

from email.utils import formatdate

import pytest

from cachette.http.directives import parse_cache_control
from cachette.http.entry import (
    MUST_REVALIDATE,
    NO_CACHE,
    Entry,
    VaryIndex,
    decode_record,
    encode_entry,
    encode_vary_index,
)
from cachette.http.freshness import (
    Decision,
    RequestDirectives,
    decide,
    may_store,
    response_facts,
    stale_if_error_allows,
)

NOW = 1_700_000_000.0


def http_date(t: float) -> bytes:
    return formatdate(t, usegmt=True).encode()


def facts(headers: list[tuple[bytes, bytes]], status: int = 200, shared: bool = True):  # type: ignore[no-untyped-def]
    cc = parse_cache_control([v.decode() for k, v in headers if k == b"cache-control"])
    return response_facts(status, headers, cc, NOW, NOW, shared=shared)


def entry(
    lifetime: float, age: float = 0.0, flags: int = 0, swr: float = 0, sie: float = 0
) -> Entry:
    return Entry(200, [], b"x", NOW - age, NOW - age, 0.0, lifetime, flags, swr, sie)


def request(cc: str = "", pragma: str = "") -> RequestDirectives:
    return RequestDirectives.parse([cc] if cc else [], [pragma] if pragma else [])


# -- lifetime and age (RFC 9111 §4.2) -------------------------------------------------------


def test_s_maxage_beats_max_age_beats_expires_in_a_shared_cache() -> None:
    expires = (b"expires", http_date(NOW + 1000))
    date = (b"date", http_date(NOW))
    assert facts([(b"cache-control", b"max-age=10, s-maxage=20"), expires, date]).lifetime == 20
    assert facts([(b"cache-control", b"max-age=10, s-maxage=20")], shared=False).lifetime == 10
    assert facts([(b"cache-control", b"max-age=10"), expires, date]).lifetime == 10
    assert facts([expires, date]).lifetime == 1000


def test_invalid_expires_or_max_age_means_already_stale() -> None:
    assert facts([(b"expires", b"0")]).lifetime == 0
    assert facts([(b"cache-control", b"max-age=ten")]).lifetime == 0


def test_heuristic_lifetime_is_a_tenth_of_the_last_modified_age() -> None:
    headers = [(b"date", http_date(NOW)), (b"last-modified", http_date(NOW - 1000))]
    f = facts(headers)
    assert f.heuristic and not f.explicit
    assert f.lifetime == pytest.approx(100)
    assert not facts(headers, status=201).heuristic  # 201 is not heuristically cacheable


def test_age_header_and_date_make_the_initial_age() -> None:
    assert facts([(b"age", b"30"), (b"date", http_date(NOW))]).initial_age == 30
    assert facts([(b"date", http_date(NOW - 50))]).initial_age == pytest.approx(50)


@pytest.mark.parametrize("age", [b"abc", b"-1", b"1.5", b"0, 0"])
def test_an_unparseable_age_counts_as_stale(age: bytes) -> None:
    f = facts([(b"cache-control", b"max-age=3600"), (b"age", age)])
    assert f.initial_age > f.lifetime


def test_revalidation_flags() -> None:
    assert facts([(b"cache-control", b"max-age=1, must-revalidate")]).flags & MUST_REVALIDATE
    assert facts([(b"cache-control", b"max-age=1, proxy-revalidate")]).flags & MUST_REVALIDATE
    assert facts([(b"cache-control", b"s-maxage=1")]).flags & MUST_REVALIDATE
    assert facts([(b"cache-control", b"no-cache")]).flags & NO_CACHE
    assert not facts([(b"cache-control", b'no-cache="set-cookie"')]).flags & NO_CACHE


# -- storage (RFC 9111 §3) ---------------------------------------------------------------


def storable(cc: str, status: int = 200, method: str = "GET", **kw: bool) -> bool:
    args = {
        "has_authorization": False,
        "has_explicit_freshness": True,
        "heuristic_allowed": False,
        "has_validator": False,
    }
    args.update(kw)
    return may_store(method, status, parse_cache_control(cc), request(), **args)


def test_what_may_be_stored() -> None:
    assert storable("max-age=60")
    assert not storable("max-age=60, no-store")
    assert not storable("max-age=60, private")
    assert storable('max-age=60, private="x-user"')
    assert not storable("max-age=60", method="POST")
    assert not storable("max-age=60", status=206)
    assert not storable("max-age=60", has_authorization=True)
    assert storable("max-age=60, public", has_authorization=True)
    assert storable("s-maxage=60", has_authorization=True)
    assert not storable("", has_explicit_freshness=False)
    assert storable("", has_explicit_freshness=False, has_validator=True)
    assert storable("max-age=60, no-store, must-understand", status=200)
    assert not storable("max-age=60, must-understand", status=599)


def test_request_no_store_forbids_storing() -> None:
    cc = parse_cache_control("max-age=60")
    assert not may_store(
        "GET",
        200,
        cc,
        request("no-store"),
        has_authorization=False,
        has_explicit_freshness=True,
        heuristic_allowed=False,
        has_validator=False,
    )


# -- reuse (RFC 9111 §4, RFC 5861) -------------------------------------------------------


def test_fresh_and_stale() -> None:
    assert decide(entry(60, age=10), NOW, request()) is Decision.FRESH
    assert decide(entry(60, age=61), NOW, request()) is Decision.REVALIDATE


def test_request_directives_limit_reuse() -> None:
    e = entry(60, age=10)
    assert decide(e, NOW, request("no-cache")) is Decision.REVALIDATE
    assert decide(e, NOW, request(pragma="no-cache")) is Decision.REVALIDATE
    assert decide(e, NOW, request("max-age=5")) is Decision.REVALIDATE
    assert decide(e, NOW, request("max-age=20")) is Decision.FRESH
    assert decide(e, NOW, request("min-fresh=55")) is Decision.REVALIDATE
    assert decide(e, NOW, request("min-fresh=10")) is Decision.FRESH


def test_max_stale_accepts_stale_entries_unless_they_must_be_revalidated() -> None:
    assert decide(entry(60, age=70), NOW, request("max-stale=20")) is Decision.STALE
    assert decide(entry(60, age=90), NOW, request("max-stale=20")) is Decision.REVALIDATE
    assert decide(entry(60, age=9000), NOW, request("max-stale")) is Decision.STALE
    strict = entry(60, age=70, flags=MUST_REVALIDATE)
    assert decide(strict, NOW, request("max-stale")) is Decision.REVALIDATE


def test_no_cache_responses_are_always_revalidated() -> None:
    assert decide(entry(60, flags=NO_CACHE), NOW, request()) is Decision.REVALIDATE


def test_stale_while_revalidate_window() -> None:
    assert decide(entry(60, age=70, swr=30), NOW, request()) is Decision.STALE_REVALIDATE
    assert decide(entry(60, age=100, swr=30), NOW, request()) is Decision.REVALIDATE


def test_stale_if_error_window() -> None:
    assert stale_if_error_allows(entry(60, age=70, sie=30), NOW, request())
    assert not stale_if_error_allows(entry(60, age=100, sie=30), NOW, request())
    assert stale_if_error_allows(entry(60, age=100), NOW, request(), default=60)
    assert stale_if_error_allows(entry(60, age=100), NOW, request("stale-if-error=60"))
    assert not stale_if_error_allows(
        entry(60, age=70, flags=MUST_REVALIDATE, sie=30), NOW, request()
    )


# -- the stored form ---------------------------------------------------------------------


def test_entries_round_trip() -> None:
    e = Entry(
        201,
        [(b"content-type", b"text/plain"), (b"x", b"")],
        b"\n\0body",
        1.5,
        2.5,
        3.0,
        60.0,
        3,
        4.0,
        5.0,
    )
    back = decode_record(encode_entry(e))
    assert isinstance(back, Entry)
    assert (back.status, back.headers, back.body) == (e.status, e.headers, e.body)
    assert (back.request_time, back.response_time, back.initial_age, back.lifetime) == (
        1.5,
        2.5,
        3.0,
        60.0,
    )
    assert (back.flags, back.stale_while_revalidate, back.stale_if_error) == (3, 4.0, 5.0)


def test_vary_index_round_trips_and_foreign_bytes_are_misses() -> None:
    back = decode_record(encode_vary_index(VaryIndex(("accept", "accept-language"), 42)))
    assert back == VaryIndex(("accept", "accept-language"), 42)
    assert decode_record(b"hello") is None
    assert decode_record(b"E\x01") is None
