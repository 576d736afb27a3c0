"""What the HTTP cache stores, probed as an attacker would (issue 18, items 1, 2, 3, 5, 10, 13).

Each test names the attack it stops. Real ASGI apps (FastAPI, Starlette responses) behind
``HttpCache``, driven with httpx: through the ASGI transport, or over a real uvicorn socket on
127.0.0.1 where streaming matters; the in-memory backend, and a real Redis where the backend
matters (``integration``). The storage policy itself is ``cachette.http.freshness.refusal``.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from cachette import Cachette
from cachette.http import HttpCache, cache_response
from cachette.http.freshness import (
    HEURISTIC_STATUSES,
    Refusal,
    RequestDirectives,
    refusal,
    ttl_applies,
)


def client_for(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
        base_url="http://testserver",
    )


def session_app(**route: Any) -> tuple[FastAPI, dict[str, int]]:
    """A FastAPI app whose /account page belongs to the user its request names (a session
    cookie, or an API key header the app does not list in Vary). The page carries no
    Cache-Control, no ETag and no Last-Modified: the usual session page. Without a user the
    app fails (``X-Fail: raise`` raises, anything else answers 503)."""
    app = FastAPI()
    calls = {"n": 0}

    async def account(request: Request) -> Response:
        calls["n"] += 1
        user = request.cookies.get("session") or request.headers.get("x-api-key")
        if user is None:
            if request.headers.get("x-fail") == "raise":
                raise RuntimeError("no session")
            return PlainTextResponse("no session", status_code=503)
        return PlainTextResponse(f"private page of {user}")

    handler = cache_response(**route)(account) if route else account
    app.get("/account")(handler)
    return app, calls


ALICE = [{"cookie": "session=alice"}, {"x-api-key": "alice"}]


# -- item 1: a page without freshness or validator is never stored ---------------------------


@pytest.mark.parametrize("credential", ALICE, ids=["cookie", "unkeyed-header"])
@pytest.mark.parametrize("request_cc", ["max-stale", "max-stale=600", "only-if-cached, max-stale"])
async def test_attack_max_stale_cannot_fetch_another_users_session_page(
    credential: dict[str, str], request_cc: str
) -> None:
    app, calls = session_app()
    async with client_for(HttpCache(app)) as client:
        mine = await client.get("/account", headers=credential)
        assert mine.text == "private page of alice"
        assert "etag" not in mine.headers  # nothing stored, so no tag was derived either
        stolen = await client.get("/account", headers={"cache-control": request_cc})
    assert "alice" not in stolen.text
    if "only-if-cached" in request_cc:
        assert stolen.status_code == 504  # nothing stored: the app is not asked
        assert calls["n"] == 1
    else:
        assert stolen.status_code == 503  # the app answered the attacker itself
        assert calls["n"] == 2


@pytest.mark.parametrize("credential", ALICE, ids=["cookie", "unkeyed-header"])
@pytest.mark.parametrize("failure", ["503", "raise"])
async def test_attack_stale_if_error_with_an_app_failure_cannot_fetch_another_users_page(
    credential: dict[str, str], failure: str
) -> None:
    app, _ = session_app()
    async with client_for(HttpCache(app, stale_if_error=600)) as client:
        assert (await client.get("/account", headers=credential)).status_code == 200
        stolen = await client.get(
            "/account", headers={"cache-control": "stale-if-error=600", "x-fail": failure}
        )
    assert "alice" not in stolen.text
    assert stolen.status_code in (500, 503)


async def test_attack_session_pages_leave_nothing_in_the_backend_for_later_requests() -> None:
    app, calls = session_app()
    async with client_for(HttpCache(app, etag=True)) as client:
        await client.get("/account", headers={"x-api-key": "alice"})
        tag = '"' + "x" * 22 + '"'
        probe = await client.get("/account", headers={"x-api-key": "bob", "if-none-match": tag})
    assert probe.text == "private page of bob"
    assert calls["n"] == 2
    assert Cachette.stats()["entries"] == 0


# -- item 2: Set-Cookie on a 304 never reaches the next user ---------------------------------


class RevalidatedPage:
    """An ASGI origin whose page is stale as soon as it is stored (Age beyond max-age, with
    an ETag), and whose 304 to the cache's revalidation carries ``not_modified`` headers
    (a per-request session cookie, a private directive...)."""

    def __init__(self, not_modified: Callable[[int], dict[str, str]]) -> None:
        self.not_modified = not_modified
        self.calls = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.calls += 1
        request = Request(scope, receive)
        response: Response
        if request.headers.get("if-none-match") == '"v1"':
            response = Response(status_code=304, headers={"etag": '"v1"'})
            response.headers.update(self.not_modified(self.calls))
        else:
            response = PlainTextResponse(
                "shared page", headers={"cache-control": "max-age=10", "etag": '"v1"', "age": "20"}
            )
        await response(scope, receive, send)


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.integration)])
def namespace(request: pytest.FixtureRequest) -> str:
    """A namespace of its own on the in-memory backend, or on the test Redis."""
    if request.param == "redis":
        url = redis_url()
        Cachette.load_config(lambda: [("backend", "redis"), ("redis_url", url)])
    return f"t{uuid.uuid4().hex}"


@pytest.mark.parametrize("set_cookie", ["bypass", "strip"])
async def test_attack_set_cookie_on_304_does_not_reach_next_user(
    set_cookie: str, namespace: str
) -> None:
    origin = RevalidatedPage(lambda n: {"set-cookie": f"session=secret-of-request-{n}"})
    cache = HttpCache(origin, namespace=namespace, set_cookie=set_cookie)  # type: ignore[arg-type]
    async with client_for(cache) as client:
        await client.get("/page")  # stored, stale
        revalidating = await client.get("/page")  # the cache revalidates: 304 + Set-Cookie
        assert revalidating.text == "shared page"
        assert revalidating.headers["set-cookie"] == "session=secret-of-request-2"  # theirs
        next_user = await client.get("/page")
    assert next_user.text == "shared page"
    assert "secret-of-request-2" not in next_user.headers.get("set-cookie", "")
    if set_cookie == "strip":
        assert origin.calls == 2  # freshened without the cookie, and served from the cache
        assert "set-cookie" not in next_user.headers
    else:
        assert origin.calls == 3  # the entry was dropped: the next user asked the app


async def test_set_cookie_on_304_is_merged_only_when_the_cache_stores_cookies() -> None:
    origin = RevalidatedPage(lambda n: {"set-cookie": "theme=dark"})
    async with client_for(HttpCache(origin, set_cookie="store")) as client:
        await client.get("/page")
        await client.get("/page")
        reply = await client.get("/page")
    assert origin.calls == 2
    assert reply.headers["set-cookie"] == "theme=dark"  # RFC 9111 §4.3.4, by explicit choice


# -- item 3: a 304 that says private or no-store ends the sharing ---------------------------


@pytest.mark.parametrize(
    "cc", ["private, max-age=60", "s-maxage=60, private", "max-age=60, no-store"]
)
async def test_attack_private_or_no_store_304_stops_serving_the_entry_to_others(
    cc: str, namespace: str
) -> None:
    origin = RevalidatedPage(lambda n: {"cache-control": cc, "x-user": f"user-{n}"})
    async with client_for(HttpCache(origin, namespace=namespace)) as client:
        await client.get("/page")
        revalidating = await client.get("/page")
        assert revalidating.headers["x-user"] == "user-2"
        assert revalidating.headers["cache-control"] == cc
        next_user = await client.get("/page")
    assert origin.calls == 3  # not served from the cache any more
    assert next_user.headers.get("x-user") != "user-2"


async def test_attack_304_to_a_credentialed_revalidation_is_not_merged_for_others() -> None:
    origin = RevalidatedPage(lambda n: {"x-user": f"user-{n}"})
    async with client_for(HttpCache(origin)) as client:
        await client.get("/page")
        mine = await client.get("/page", headers={"cookie": "session=alice"})
        assert mine.headers["x-user"] == "user-2"
        next_user = await client.get("/page")
    assert next_user.headers.get("x-user") != "user-2"
    assert origin.calls == 3


async def test_a_plain_304_still_freshens_the_entry() -> None:
    origin = RevalidatedPage(lambda n: {"x-version": "2"})
    async with client_for(HttpCache(origin)) as client:
        await client.get("/page")
        await client.get("/page")
        reply = await client.get("/page")
    assert origin.calls == 2
    assert reply.headers["x-version"] == "2"


# -- item 5: ttl and cache_control never make an error storable -----------------------------


def erroring_app(status: int, *, decorate: bool) -> tuple[FastAPI, dict[str, int]]:
    """/item answers ``status`` when the request carries X-Bad (a header the cache does not
    key on: the cache-poisoned DoS), else 200."""
    app = FastAPI()
    calls = {"n": 0}

    async def item(request: Request) -> Response:
        calls["n"] += 1
        if request.headers.get("x-bad"):
            if status == 0:
                raise RuntimeError("the handler failed")
            return PlainTextResponse("error", status_code=status)
        return PlainTextResponse("item")

    handler = cache_response(ttl=60, cache_control="public, max-age=60")(item) if decorate else item
    app.get("/item")(handler)
    return app, calls


@pytest.mark.parametrize(
    "status", [500, 502, 503, 504, 400, 0], ids=lambda s: f"status{s or '-raise'}"
)
@pytest.mark.parametrize("where", ["HttpCache", "cache_response"])
async def test_attack_ttl_does_not_store_an_error_for_every_visitor(
    status: int, where: str
) -> None:
    app, calls = erroring_app(status, decorate=where == "cache_response")
    options: dict[str, Any] = {}
    if where == "HttpCache":
        options = {"ttl": 60, "cache_control": "public, max-age=60"}
    async with client_for(HttpCache(app, **options)) as client:
        poisoned = await client.get("/item", headers={"x-bad": "1"})
        assert poisoned.status_code == (status or 500)
        assert "max-age=60" not in poisoned.headers.get("cache-control", "")  # nor downstream
        victim = await client.get("/item")
        again = await client.get("/item")
    assert victim.status_code == 200
    assert victim.text == "item"
    assert again.text == "item"
    assert calls["n"] == 2  # the 200 is stored by the same ttl


@pytest.mark.parametrize("status", sorted(HEURISTIC_STATUSES - {206}))
async def test_ttl_gives_freshness_to_heuristically_cacheable_statuses(status: int) -> None:
    calls = 0

    async def origin(scope: Any, receive: Any, send: Any) -> None:
        nonlocal calls
        calls += 1
        body = b"" if status == 204 else b"x"
        await Response(body, status_code=status)(scope, receive, send)

    async with client_for(HttpCache(origin, ttl=60)) as client:
        await client.get("/a")
        await client.get("/a")
    assert calls == 1


async def test_an_error_with_its_own_freshness_is_stored_as_the_app_asked() -> None:
    app = FastAPI()
    calls = {"n": 0}

    @app.get("/down")
    async def down() -> Response:
        calls["n"] += 1
        return PlainTextResponse("maintenance", 503, headers={"cache-control": "max-age=30"})

    async with client_for(HttpCache(app, ttl=60)) as client:
        await client.get("/down")
        assert (await client.get("/down")).text == "maintenance"
    assert calls["n"] == 1


# -- item 5: requests with Cookie or Authorization -------------------------------------------


def personal_app(cache_control: str) -> tuple[FastAPI, dict[str, int]]:
    """/me is personalised by the session cookie or the Authorization header, and says
    ``cache_control`` without Vary: the app forgot that a shared cache sits in front."""
    app = FastAPI()
    calls = {"n": 0}

    @app.get("/me")
    async def me(request: Request) -> Response:
        calls["n"] += 1
        user = request.cookies.get("session") or request.headers.get("authorization") or "guest"
        return PlainTextResponse(f"page of {user}", headers={"cache-control": cache_control})

    return app, calls


@pytest.mark.parametrize(
    "credential",
    [{"cookie": "session=alice"}, {"authorization": "Bearer alice"}],
    ids=["cookie", "authorization"],
)
@pytest.mark.parametrize("cc", ["max-age=60", "max-age=60, must-revalidate"])
async def test_attack_credentialed_response_without_public_is_not_shared(
    credential: dict[str, str], cc: str
) -> None:
    app, calls = personal_app(cc)
    async with client_for(HttpCache(app)) as client:
        await client.get("/me", headers=credential)
        other = await client.get("/me")
    assert "alice" not in other.text
    assert calls["n"] == 2


@pytest.mark.parametrize(
    "credential",
    [{"cookie": "session=alice"}, {"authorization": "Bearer alice"}],
    ids=["cookie", "authorization"],
)
@pytest.mark.parametrize("cc", ["public, max-age=60", "s-maxage=60"])
async def test_credentialed_responses_marked_shareable_are_stored(
    credential: dict[str, str], cc: str
) -> None:
    app, calls = personal_app(cc)
    async with client_for(HttpCache(app)) as client:
        await client.get("/me", headers=credential)
        await client.get("/me")
    assert calls["n"] == 1


async def test_credentialed_rfc9111_opts_in_to_the_rfc_rules() -> None:
    cookie_app, cookie_calls = personal_app("max-age=60")
    auth_app, auth_calls = personal_app("max-age=60, must-revalidate")
    plain_auth_app, plain_auth_calls = personal_app("max-age=60")
    for n, app in enumerate((cookie_app, auth_app, plain_auth_app)):
        async with client_for(HttpCache(app, namespace=f"n{n}", credentialed="rfc9111")) as client:
            credential = {"cookie": "session=a"} if app is cookie_app else {"authorization": "x"}
            await client.get("/me", headers=credential)
            await client.get("/me")
    assert (cookie_calls["n"], auth_calls["n"]) == (1, 1)
    assert plain_auth_calls["n"] == 2  # §3.5 still applies to Authorization


def test_bad_credentialed_option_is_refused() -> None:
    from cachette.exceptions import CachetteValueError

    with pytest.raises(CachetteValueError, match="credentialed"):
        HttpCache(FastAPI(), credentialed="always")  # type: ignore[arg-type]


# -- the policy as a function ----------------------------------------------------------------


def test_the_storage_policy_names_each_refusal() -> None:
    plain = RequestDirectives()

    def why(cc: dict[str, str | None], **kw: Any) -> Refusal | None:
        args: dict[str, Any] = {
            "has_authorization": False,
            "has_explicit_freshness": False,
            "heuristic_allowed": False,
            "has_validator": False,
            "set_cookie": "bypass",
        }
        args.update(kw)
        return refusal("GET", 200, cc, plain, **args)

    assert why({}) is Refusal.NOT_REUSABLE
    assert why({}, has_validator=True) is None
    assert why({"no-cache": None}) is Refusal.NOT_REUSABLE
    assert why({"no-cache": None}, has_validator=True) is None
    assert why({"max-age": "60"}, has_explicit_freshness=True, has_cookie=True) is (
        Refusal.CREDENTIALS
    )
    assert why({"max-age": "60"}, has_explicit_freshness=True, has_set_cookie=True) is (
        Refusal.SET_COOKIE
    )
    assert why({"max-age": "60"}, has_explicit_freshness=True, event_stream=True) is (
        Refusal.EVENT_STREAM
    )
    assert not ttl_applies(500) and not ttl_applies(400) and ttl_applies(404)


# -- item 10: uncacheable responses are never written ----------------------------------------

UNCACHEABLE = {
    "no-freshness": {},
    "no-cache": {"cache-control": "no-cache"},
    "private": {"cache-control": "private, max-age=60"},
    "set-cookie": {"cache-control": "max-age=60", "set-cookie": "session=x"},
    "event-stream": {"cache-control": "max-age=60", "content-type": "text/event-stream"},
}


def page(headers: dict[str, str]) -> Any:
    calls = {"n": 0}

    async def origin(scope: Any, receive: Any, send: Any) -> None:
        calls["n"] += 1
        await PlainTextResponse("page", headers=headers)(scope, receive, send)

    origin.calls = calls  # type: ignore[attr-defined]
    return origin


@pytest.mark.parametrize("kind", [*UNCACHEABLE, "control"])
async def test_attack_distinct_urls_of_an_uncacheable_page_leave_no_entries(kind: str) -> None:
    headers = UNCACHEABLE.get(kind, {"cache-control": "max-age=60"})
    origin = page(headers)
    async with client_for(HttpCache(origin)) as client:
        for i in range(300):
            await client.get(f"/u/{i}")
    assert origin.calls["n"] == 300
    entries = Cachette.stats()["entries"]
    assert entries == (300 if kind == "control" else 0)


def redis_url() -> str:
    url = os.environ.get("CACHETTE_TEST_REDIS_URL")
    if not url:
        pytest.fail(
            "CACHETTE_TEST_REDIS_URL is not set: run the tests through scripts/with-services.sh"
        )
    return url


async def redis_call(url: str, *args: str) -> Any:
    """One command to the test Redis over RESP, and its reply (enough for SCAN and INFO)."""
    parts = httpx.URL(url)
    reader, writer = await asyncio.open_connection(parts.host, parts.port)
    try:
        command = f"*{len(args)}\r\n" + "".join(f"${len(a.encode())}\r\n{a}\r\n" for a in args)
        writer.write(command.encode())
        await writer.drain()
        return await _reply(reader)
    finally:
        writer.close()


async def _reply(reader: asyncio.StreamReader) -> Any:
    line = (await reader.readline()).rstrip(b"\r\n")
    kind, rest = line[:1], line[1:]
    if kind in (b"+", b"-"):
        return rest.decode()
    if kind == b":":
        return int(rest)
    if kind == b"$":
        size = int(rest)
        return None if size < 0 else (await reader.readexactly(size + 2))[:-2].decode()
    return [await _reply(reader) for _ in range(int(rest))]


async def redis_keys(url: str, pattern: str) -> int:
    count, cursor = 0, "0"
    while True:
        cursor, keys = await redis_call(url, "SCAN", cursor, "MATCH", pattern, "COUNT", "1000")
        count += len(keys)
        if cursor == "0":
            return count


async def redis_sets(url: str) -> int:
    stats = await redis_call(url, "INFO", "commandstats")
    for line in stats.splitlines():
        if line.startswith("cmdstat_set:"):
            return int(line.split("calls=")[1].split(",")[0])
    return 0


@pytest.mark.integration
@pytest.mark.parametrize("kind", ["no-freshness", "set-cookie", "control"])
async def test_attack_distinct_urls_of_an_uncacheable_page_leave_no_redis_keys(kind: str) -> None:
    url = redis_url()
    Cachette.load_config(lambda: [("backend", "redis"), ("redis_url", url)])
    namespace = f"t{uuid.uuid4().hex}"
    headers = UNCACHEABLE.get(kind, {"cache-control": "max-age=60"})
    origin = page(headers)
    # the backend lock is left out here so that every SET counted is an entry written
    count = HttpCache(origin, namespace=namespace, lock_across_processes=False)
    sets_before = await redis_sets(url)
    async with client_for(count) as client:
        for i in range(200):
            await client.get(f"/u/{i}")
    writes = await redis_sets(url) - sets_before
    # and with the default options (the lock's keys are released, never left behind)
    async with client_for(HttpCache(origin, namespace=namespace + "d")) as client:
        for i in range(100):
            await client.get(f"/u/{i}")
    left = await redis_keys(url, f"*{namespace}*")
    if kind == "control":
        assert writes == 200 and left == 300
    else:
        assert writes == 0 and left == 0
    await HttpCache(origin, namespace=namespace).invalidate_all()
    await HttpCache(origin, namespace=namespace + "d").invalidate_all()


# -- item 13: server-sent events stream at once ----------------------------------------------


@asynccontextmanager
async def uvicorn_server(app: Any) -> AsyncIterator[str]:
    """``app`` served by a real uvicorn on 127.0.0.1 (a free port), in this event loop."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
    try:
        for _ in range(500):
            if server.started:
                break
            await asyncio.sleep(0.01)
        assert server.started
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        sock.close()


@pytest.mark.parametrize("cc", [None, "no-cache", "max-age=60"])
async def test_attack_event_stream_is_not_held_until_the_app_finishes(cc: str | None) -> None:
    release = asyncio.Event()
    finished = asyncio.Event()

    async def events(scope: Any, receive: Any, send: Any) -> None:
        headers = [(b"content-type", b"text/event-stream")]
        if cc is not None:
            headers.append((b"cache-control", cc.encode()))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"data: first\n\n", "more_body": True})
        await release.wait()  # the last event only once the client has the first
        await send({"type": "http.response.body", "body": b"data: last\n\n"})
        finished.set()

    async with (
        uvicorn_server(HttpCache(events)) as base,
        httpx.AsyncClient(base_url=base, trust_env=False) as client,
        client.stream("GET", "/events") as reply,
    ):
        chunks = reply.aiter_raw()
        # a cache that holds the body never sends this before `release`: the wait fails
        first = await asyncio.wait_for(chunks.__anext__(), 5)
        assert first.startswith(b"data: first")
        assert not finished.is_set()
        release.set()
        rest = b"".join([c async for c in chunks])
    assert (first + rest).endswith(b"data: last\n\n")
