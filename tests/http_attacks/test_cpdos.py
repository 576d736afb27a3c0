"""Cache-poisoned denial of service: one request must not make the cache replay an error to
every later visitor (issue 18, item 5; header oversize, meta characters, method override)."""

from __future__ import annotations

import httpx
import pytest
from attack_harness import CROSS, PARSERS, Server, combo_id

#: ``guarded``: default options, the page is explicitly fresh and the errors say nothing;
#: ``ttl``: ``@cache_response(ttl=60)`` on the route; ``appttl``: ``HttpCache(ttl=60)``.
ROUTES = ["guarded", "ttl", "appttl"]
#: Errors a request can provoke. 404, 405, 410, 414 and 501 are left out on purpose: RFC 9110
#: lets a cache give them a lifetime of its own (negative caching), and ``ttl`` may.
PROVOKED = ["500", "502", "503", "504", "400", "403", "raise"]


def assert_page(server: Server, route: str, token: str) -> None:
    victim = server.get(f"/{route}/{token}")
    assert (victim.status_code, victim.text) == (200, f"page {token}"), victim.text


@pytest.mark.parametrize("server", CROSS, ids=combo_id, indirect=True)
@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("status", PROVOKED)
def test_attack_provoked_error_is_replayed_to_everyone(
    server: Server, token: str, route: str, status: str
) -> None:
    """The attacker makes the app fail through a header the cache does not key on (or an
    exception): ``ttl`` must not make that error fresh for everyone."""
    attacker = server.get(f"/{route}/{token}", headers={"x-status": status})
    assert attacker.status_code == (500 if status == "raise" else int(status))
    assert_page(server, route, token)


@pytest.mark.parametrize("server", PARSERS, ids=combo_id, indirect=True)
@pytest.mark.parametrize("route", ROUTES)
def test_attack_header_oversize_cpdos(server: Server, token: str, route: str) -> None:
    """HHO: a header bigger than the app accepts (but small enough for uvicorn) gets a 400
    from the app; that 400 must not be stored for the page."""
    attacker = server.raw_get(f"/{route}/{token}", [("X-Oversized", "a" * 12000)])
    assert attacker.status == 400
    assert_page(server, route, token)


@pytest.mark.parametrize("server", PARSERS, ids=combo_id, indirect=True)
@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("char", [b"\x01", b"\x1b", b"\x7f", b"\x00", b"\r", b"\x80"])
def test_attack_meta_character_cpdos(server: Server, token: str, route: str, char: bytes) -> None:
    """HMC: a control character in a header value; whoever rejects it (the parser or the
    app), the rejection must not be stored for the page."""
    server.raw_get(f"/{route}/{token}", [(b"X-Meta", b"a" + char + b"b")])
    assert_page(server, route, token)


@pytest.mark.parametrize("server", CROSS, ids=combo_id, indirect=True)
@pytest.mark.parametrize("method", ["POST", "PUT", "TRACE", "NONSENSE"])
def test_attack_method_override_cpdos(server: Server, token: str, method: str) -> None:
    """HMO: the app honours X-HTTP-Method-Override, so a GET that says POST is answered 405
    by the framework; with ``ttl`` on the app, that 405 must not become the page."""
    page = f"/appttl-item/{token}"
    attacker = server.get(page, headers={"x-http-method-override": method})
    assert attacker.status_code == 405
    victim = server.get(page)
    assert (victim.status_code, victim.text) == (200, f"item {token}")


@pytest.mark.parametrize("server", CROSS, ids=combo_id, indirect=True)
@pytest.mark.parametrize("method", ["POST", "DELETE", "PUT"])
def test_attack_rejected_unsafe_request_evicts_page(
    server: Server, token: str, method: str
) -> None:
    """An unsafe request the app refuses (405) invalidates nothing: an attacker cannot empty
    the cache of a page by sending it requests that fail."""
    page = f"/lang/{token}"
    first = server.get(page, headers={"accept-language": "fr"})
    assert first.text == f"{token} in fr #1"
    refused = httpx.request(method, server.url(page), timeout=15.0)
    assert refused.status_code == 405
    again = server.get(page, headers={"accept-language": "fr"})
    assert again.text == first.text, "the page was evicted by a refused request"
