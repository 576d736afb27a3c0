"""One request must not poison what everyone else gets: unkeyed headers and parameters, the
Host, GET bodies, odd request targets, ambiguous keys (issue 18, items 4, 6, 7, 8)."""

from __future__ import annotations

import json

import pytest
from attack_harness import (
    ALL,
    CROSS,
    PARSERS,
    Server,
    assert_not_leaked,
    build_request,
    combo_id,
)

# -- item 6: routing headers the app reads without listing them in Vary -----------------------

ROUTING_ATTACKS = {
    "x-forwarded-host": "evil-{t}.example",
    "x-forwarded-scheme": "evil-{t}",
    "x-forwarded-proto": "evil-{t}",
    "x-forwarded-port": "evil-{t}",
    "x-forwarded-prefix": "/evil-{t}",
    "x-forwarded-server": "evil-{t}.example",
    "x-host": "evil-{t}.example",
    "forwarded": "host=evil-{t}.example;proto=https",
    "x-original-url": "/admin/evil-{t}",
    "x-rewrite-url": "/admin/evil-{t}",
}


@pytest.mark.parametrize("server", ALL, ids=combo_id, indirect=True)
@pytest.mark.parametrize("header", list(ROUTING_ATTACKS))
def test_attack_unkeyed_routing_header_poisons_page(
    server: Server, token: str, header: str
) -> None:
    """The page renders what the routing header says (as apps behind a proxy do) and sends
    no Vary: the next visitor must not get the attacker's rendering."""
    page = f"/reflect/{token}"
    value = ROUTING_ATTACKS[header].format(t=token)
    attacker = server.get(page, headers={header: value})
    assert attacker.json()[header] == value
    victim = server.get(page)
    assert victim.status_code == 200
    assert victim.json()[header] is None
    assert_not_leaked(victim, f"evil-{token}")


@pytest.mark.parametrize("server", CROSS, ids=combo_id, indirect=True)
@pytest.mark.parametrize("header", ["X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override"])
def test_attack_method_override_header_poisons_page(
    server: Server, token: str, header: str
) -> None:
    """The app honours method overrides: a GET that says DELETE runs the DELETE handler,
    whose answer must not become the page everyone gets."""
    page = f"/item/{token}"
    attacker = server.get(page, headers={header: "DELETE"})
    assert attacker.text == f"item {token} deleted"
    for headers in ({"cache-control": "max-stale"}, {}):
        victim = server.get(page, headers=headers)
        assert (victim.status_code, victim.text) == (200, f"item {token}")


# -- unkeyed query parameters, parameter cloaking -------------------------------------------

CLOAKED_QUERIES = [
    "q=a;q=evil-{t}",
    "q=a&q=evil-{t}",
    "q=evil-{t}&q=a",
    "q=a&utm_content=evil-{t}",
    "q=a&q=a%26q%3Devil-{t}",
    "q=a&callback=evil-{t}",
    "q=a#evil-{t}",
]


@pytest.mark.parametrize("server", CROSS, ids=combo_id, indirect=True)
@pytest.mark.parametrize("query", CLOAKED_QUERIES)
def test_attack_parameter_cloaking_poisons_page(server: Server, token: str, query: str) -> None:
    page = f"/reflect/{token}"
    server.raw_get(f"{page}?{query.format(t=token)}")
    victim = server.get(page + "?q=a")
    assert victim.json()["params"] == [["q", "a"]]
    assert_not_leaked(victim, f"evil-{token}")


@pytest.mark.parametrize("server", CROSS, ids=combo_id, indirect=True)
def test_attack_utm_parameter_poisons_page_without_query(server: Server, token: str) -> None:
    page = f"/reflect/{token}"
    server.get(page, params={"utm_source": f"evil-{token}"})
    victim = server.get(page)
    assert victim.json()["params"] == []
    assert_not_leaked(victim, f"evil-{token}")


# -- item 7: fat GET --------------------------------------------------------------------------


@pytest.mark.parametrize("server", [*PARSERS, ("h11", "redis")], ids=combo_id, indirect=True)
@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_attack_fat_get_body_poisons_page(server: Server, token: str, framing: str) -> None:
    """A GET whose body the app reads must not leave its answer for bodiless GETs."""
    page = f"/fatget/{token}?q=shoes"
    body = f"evil-{token}".encode()
    if framing == "chunked":
        headers = [("Transfer-Encoding", "chunked")]
        payload = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
    else:
        headers = [("Content-Length", str(len(body)))]
        payload = body
    attacker = server.raw_get(page, headers, payload)
    assert attacker.status == 200 and f"evil-{token}" in attacker.text
    victim = server.get(page)
    assert victim.text == "results for 'shoes'"


# -- item 4: two Host lines -------------------------------------------------------------------


@pytest.mark.parametrize("server", [*PARSERS, ("httptools", "redis")], ids=combo_id, indirect=True)
@pytest.mark.parametrize("order", ["evil-first", "evil-last"])
def test_attack_two_host_lines_poison_real_host(server: Server, token: str, order: str) -> None:
    """httptools passes both Host lines to the app (h11 refuses them): the cache and the app
    must not disagree about which one the response belongs to."""
    page = f"/reflect/{token}"
    evil = f"evil-{token}.example"
    hosts = [evil, server.host] if order == "evil-first" else [server.host, evil]
    lines: list[tuple[str | bytes, str | bytes]] = [("Host", h) for h in hosts]
    server.raw(build_request("GET", page, lines))
    victim = server.get(page)
    assert victim.json()["host"] == server.host
    assert_not_leaked(victim, f"evil-{token}")


# -- item 8: ambiguous keys ----------------------------------------------------------------------


@pytest.mark.parametrize("server", [*PARSERS, ("httptools", "redis")], ids=combo_id, indirect=True)
def test_attack_question_mark_in_host_forges_another_key(server: Server, token: str) -> None:
    """Host ``real?x=<t>`` with no query, and Host ``real`` with the query ``x=<t>?``,
    are two different requests and must not share an entry."""
    page = f"/reflect/{token}"
    forged_host = f"{server.host}?x={token}"
    server.raw_get(page, host=forged_host)
    victim = server.raw_get(f"{page}?x={token}?")
    assert victim.status == 200
    seen = json.loads(victim.body)
    assert seen["host"] == server.host, "the victim got the page rendered for a forged Host"
    assert seen["query"] == f"x={token}?"


@pytest.mark.parametrize("server", CROSS, ids=combo_id, indirect=True)
@pytest.mark.parametrize("prefix", ["/noraw", "/reflect"])
def test_attack_encoded_question_mark_in_path_forges_another_key(
    server: Server, token: str, prefix: str
) -> None:
    """``/p%3Fx=evil`` is a path with a ``?`` in it, not ``/p`` with a query: it must not
    share an entry with ``/p`` (``/noraw`` is served without ``raw_path``, as some ASGI
    servers and adapters do)."""
    page = f"{prefix}/{token}"
    attacker = server.raw_get(f"{page}%3Fx=evil-{token}")
    assert attacker.status == 200
    victim = server.get(page)
    assert victim.status_code == 200 and victim.json()["path"] == page
    assert_not_leaked(victim, f"evil-{token}")


# -- odd request targets -----------------------------------------------------------------------

ODD_TARGETS = [
    "http://evil-{t}.example/reflect/{t}",  # absolute form, another host
    "//reflect/{t}",
    "/reflect/{t}/",
    "/reflect/%7Bt%7D/../{t}",
    "/reflect/{t}%2F..%2Fevil-{t}",
    "/reflect/{t};evil-{t}",
    "/reflect/{t}?",
    "/reflect/{t}\\evil-{t}",
]


@pytest.mark.parametrize("server", PARSERS, ids=combo_id, indirect=True)
@pytest.mark.parametrize("target", ODD_TARGETS)
def test_attack_odd_request_target_poisons_page(server: Server, token: str, target: str) -> None:
    page = f"/reflect/{token}"
    server.raw_get(target.format(t=token))
    victim = server.get(page)
    assert victim.status_code == 200
    seen = victim.json()
    assert (seen["path"], seen["host"], seen["rest"]) == (page, server.host, token)
    assert_not_leaked(victim, f"evil-{token}")


# -- response splitting through a stored header --------------------------------------------


@pytest.mark.parametrize("server", [*PARSERS, ("h11", "redis")], ids=combo_id, indirect=True)
@pytest.mark.parametrize("separator", ["%0A", "%0D%0A", "%00"])
def test_attack_response_splitting_through_stored_header(
    server: Server, token: str, separator: str
) -> None:
    """The app copies a parameter into a response header. uvicorn refuses to send a value
    with CR, LF or NUL; the cache must not store it in a form that later comes back as a
    header of the attacker's choosing (here a Set-Cookie)."""
    page = f"/echo-header/{token}?v=a{separator}set-cookie%00sid=evil-{token}{separator}x"
    server.raw_get(page)
    victim = server.raw_get(page)
    assert_not_leaked(victim, f"sid=evil-{token}")
    assert not any(f"evil-{token}" in v for v in victim.header_values("set-cookie"))


# -- conditional requests and content codings --------------------------------------------------


@pytest.mark.parametrize("server", CROSS, ids=combo_id, indirect=True)
def test_attack_conditional_request_leaves_304_for_everyone(server: Server, token: str) -> None:
    """The attacker's first request is conditional and the app would answer it 304: what
    is stored must still be the whole page, and a plain request gets the page."""
    page = f"/reval/{token}"
    attacker = server.get(page, headers={"if-none-match": '"v1"'})
    assert attacker.status_code in (200, 304)
    victim = server.get(page)
    assert (victim.status_code, victim.text) == (200, f"shared page {token}")


@pytest.mark.parametrize("server", CROSS, ids=combo_id, indirect=True)
def test_attack_compressed_variant_served_to_client_without_gzip(
    server: Server, token: str
) -> None:
    page = f"/gz/{token}"
    attacker = server.raw_get(page, [("Accept-Encoding", "gzip")])
    assert attacker.header("content-encoding") == "gzip"
    victim = server.raw_get(page)
    assert victim.status == 200 and victim.header("content-encoding") is None
    assert victim.body == ("compressible " * 100 + token).encode()
