"""HttpCache end to end through httpx's ASGI transport, on the in-memory backend."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

import cachette.core as core
from cachette import Cachette
from cachette.exceptions import CachetteValueError
from cachette.http import (
    HttpCache,
    body_etag,
    cache_response,
    invalidate_namespace,
    invalidate_path,
)
from cachette.http.store import primary_key
from cachette.stampede import LOCK_PREFIX

Handler = Callable[[Request], Any]


class Origin:
    """A tiny ASGI app whose responses the tests script, counting the requests it sees."""

    def __init__(self, respond: Handler) -> None:
        self.respond = respond
        self.calls = 0
        self.requests: list[Request] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        request = Request(scope, receive)
        self.calls += 1
        self.requests.append(request)
        result = self.respond(request)
        if asyncio.iscoroutine(result):
            result = await result
        await result(scope, receive, send)


def text(body: str = "hello", status: int = 200, **headers: str) -> Response:
    return PlainTextResponse(
        body, status_code=status, headers={k.replace("_", "-"): v for k, v in headers.items()}
    )


def client_for(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


@pytest.fixture
async def cached() -> AsyncIterator[Callable[..., tuple[Origin, httpx.AsyncClient]]]:
    clients: list[httpx.AsyncClient] = []

    def make(respond: Handler, **options: Any) -> tuple[Origin, httpx.AsyncClient]:
        origin = Origin(respond)
        client = client_for(HttpCache(origin, **options))
        clients.append(client)
        return origin, client

    yield make
    for c in clients:
        await c.aclose()


async def test_a_fresh_response_is_served_from_the_cache_with_its_age(cached: Any) -> None:
    origin, client = cached(lambda r: text("v1", cache_control="max-age=60"))
    first = await client.get("/a")
    second = await client.get("/a")
    assert first.text == second.text == "v1"
    assert origin.calls == 1
    assert second.headers["age"] == "0"
    assert second.headers["cache-control"] == "max-age=60"


async def test_query_strings_and_hosts_are_separate_entries(cached: Any) -> None:
    origin, client = cached(lambda r: text(str(r.url), cache_control="max-age=60"))
    await client.get("/a?x=1")
    await client.get("/a?x=2")
    await client.get("/a?x=1", headers={"host": "other.example"})
    assert (await client.get("/a?x=1")).text == "http://testserver/a?x=1"
    assert origin.calls == 3


@pytest.mark.parametrize("cc", ["no-store", "private, max-age=60", "max-age=0, no-store"])
async def test_responses_that_forbid_storage_are_not_stored(cached: Any, cc: str) -> None:
    origin, client = cached(lambda r: text(cache_control=cc))
    await client.get("/a")
    await client.get("/a")
    assert origin.calls == 2


async def test_responses_without_freshness_are_not_reused_unless_a_ttl_is_given(
    cached: Any,
) -> None:
    origin, client = cached(lambda r: text())
    await client.get("/a")
    await client.get("/a")
    assert origin.calls == 2
    origin, client = cached(lambda r: text(), ttl=30)
    await client.get("/a")
    reply = await client.get("/a")
    assert origin.calls == 1
    assert "cache-control" not in reply.headers  # the ttl is the cache's own, never sent


async def test_the_generated_etag_is_derived_from_the_body_and_answers_304(cached: Any) -> None:
    origin, client = cached(lambda r: text("same body", cache_control="max-age=60"))
    _, other_worker = cached(lambda r: text("same body", cache_control="max-age=60"))
    tag = (await client.get("/a")).headers["etag"]
    assert tag == body_etag(b"same body").decode()
    assert tag.startswith('"') and not tag.startswith("W/")
    assert (await other_worker.get("/b")).headers["etag"] == tag
    reply = await client.get("/a", headers={"if-none-match": tag})
    assert reply.status_code == 304
    assert reply.content == b""
    assert reply.headers["etag"] == tag
    assert origin.calls == 1


async def test_if_modified_since_is_answered_from_the_cache(cached: Any) -> None:
    lm = "Wed, 01 Jan 2020 00:00:00 GMT"
    origin, client = cached(lambda r: text(cache_control="max-age=60", last_modified=lm))
    await client.get("/a")
    reply = await client.get("/a", headers={"if-modified-since": lm})
    assert reply.status_code == 304
    older = await client.get("/a", headers={"if-modified-since": "Tue, 31 Dec 2019 00:00:00 GMT"})
    assert older.status_code == 200
    assert origin.calls == 1


async def test_a_stale_entry_is_revalidated_and_a_304_updates_it(cached: Any) -> None:
    def respond(r: Request) -> Response:
        if r.headers.get("if-none-match") == '"v1"':
            return Response(status_code=304, headers={"etag": '"v1"', "x-version": "2"})
        # Age beyond max-age: stale as soon as it is stored
        return text("body", cache_control="max-age=10", etag='"v1"', age="20", x_version="1")

    origin, client = cached(respond)
    assert (await client.get("/a")).headers["x-version"] == "1"
    second = await client.get("/a")
    assert origin.calls == 2
    assert origin.requests[1].headers["if-none-match"] == '"v1"'
    assert second.status_code == 200
    assert second.text == "body"
    assert second.headers["x-version"] == "2"  # the 304's headers replace the stored ones
    third = await client.get("/a")  # freshened by the 304 (no Age on it)
    assert origin.calls == 2
    assert third.headers["x-version"] == "2"


async def test_vary_keeps_one_entry_per_request_variant(cached: Any) -> None:
    origin, client = cached(
        lambda r: text(
            r.headers.get("accept-language", "none"),
            cache_control="max-age=60",
            vary="Accept-Language",
        )
    )
    assert (await client.get("/a", headers={"accept-language": "en"})).text == "en"
    assert (await client.get("/a", headers={"accept-language": "fr"})).text == "fr"
    assert (await client.get("/a", headers={"accept-language": "en"})).text == "en"
    assert (await client.get("/a")).text == "none"
    assert origin.calls == 3


async def test_vary_star_is_never_reused(cached: Any) -> None:
    origin, client = cached(lambda r: text(cache_control="max-age=60", vary="*"))
    await client.get("/a")
    await client.get("/a")
    assert origin.calls == 2


async def test_unsafe_methods_invalidate_the_target_and_location(cached: Any) -> None:
    def respond(r: Request) -> Response:
        if r.method == "POST":
            return text("created", status=201, location="/b")
        return text(r.url.path, cache_control="max-age=60")

    origin, client = cached(respond)
    for path in ("/a", "/b", "/a", "/b"):
        await client.get(path)
    assert origin.calls == 2
    await client.post("/a")
    await client.get("/a")
    await client.get("/b")
    assert origin.calls == 5


async def test_failed_unsafe_requests_do_not_invalidate(cached: Any) -> None:
    origin, client = cached(
        lambda r: text(status=500) if r.method == "DELETE" else text(cache_control="max-age=60")
    )
    await client.get("/a")
    await client.delete("/a")
    await client.get("/a")
    assert origin.calls == 2


async def test_request_directives(cached: Any) -> None:
    origin, client = cached(lambda r: text(cache_control="max-age=60"))
    assert (await client.get("/a", headers={"cache-control": "only-if-cached"})).status_code == 504
    await client.get("/a")
    await client.get("/a", headers={"cache-control": "no-cache"})
    assert origin.calls == 2
    await client.get("/a", headers={"cache-control": "max-age=0"})
    assert origin.calls == 3
    reply = await client.get("/a", headers={"cache-control": "only-if-cached"})
    assert reply.status_code == 200
    assert origin.calls == 3


async def test_head_is_answered_from_a_stored_get(cached: Any) -> None:
    origin, client = cached(lambda r: text("twelve bytes", cache_control="max-age=60"))
    await client.get("/a")
    reply = await client.head("/a")
    assert reply.status_code == 200
    assert reply.content == b""
    assert reply.headers["content-length"] == "12"
    assert origin.calls == 1


async def test_a_single_byte_range_is_cut_from_a_stored_response(cached: Any) -> None:
    origin, client = cached(lambda r: text("0123456789", cache_control="max-age=60"))
    await client.get("/a")
    reply = await client.get("/a", headers={"range": "bytes=2-4"})
    assert reply.status_code == 206
    assert reply.text == "234"
    assert reply.headers["content-range"] == "bytes 2-4/10"
    assert (await client.get("/a", headers={"range": "bytes=-3"})).text == "789"
    assert (await client.get("/a", headers={"range": "bytes=1-2,4-5"})).status_code == 200
    assert origin.calls == 1


async def test_set_cookie_policies(cached: Any) -> None:
    def respond(r: Request) -> Response:
        return text(cache_control="max-age=60", set_cookie="session=secret")

    origin, client = cached(respond)  # default: bypass
    await client.get("/a")
    await client.get("/a")
    assert origin.calls == 2
    origin, client = cached(respond, set_cookie="strip")
    first = await client.get("/a")
    second = await client.get("/a")
    assert origin.calls == 1
    assert first.headers["set-cookie"] == "session=secret"
    assert "set-cookie" not in second.headers


async def test_authorization_requests_are_stored_only_when_the_response_allows(
    cached: Any,
) -> None:
    origin, client = cached(lambda r: text(cache_control="max-age=60"))
    auth = {"authorization": "Bearer x"}
    await client.get("/a", headers=auth)
    await client.get("/a", headers=auth)
    assert origin.calls == 2
    origin, client = cached(lambda r: text(cache_control="max-age=60, public"))
    await client.get("/a", headers=auth)
    await client.get("/a", headers=auth)
    assert origin.calls == 1


async def test_stale_if_error_serves_the_stale_entry_when_the_app_fails(cached: Any) -> None:
    calls = 0

    def respond(r: Request) -> Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            return text("good", cache_control="max-age=1, stale-if-error=600", age="5")
        if calls == 2:
            return text("broken", status=503)
        raise RuntimeError("the app crashed")

    origin, client = cached(respond)
    await client.get("/a")
    assert (await client.get("/a")).text == "good"
    assert (await client.get("/a")).text == "good"
    assert origin.calls == 3


async def test_errors_pass_through_without_stale_if_error(cached: Any) -> None:
    calls = 0

    def respond(r: Request) -> Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            return text("good", cache_control="max-age=1", age="5")
        return text("broken", status=503)

    _, client = cached(respond)
    await client.get("/a")
    assert (await client.get("/a")).status_code == 503


async def test_stale_while_revalidate_answers_at_once_and_refreshes_behind() -> None:
    calls = 0

    def respond(r: Request) -> Response:
        nonlocal calls
        calls += 1
        return text(f"v{calls}", cache_control="max-age=1, stale-while-revalidate=600", age="5")

    origin = Origin(respond)
    cache = HttpCache(origin)
    async with client_for(cache) as client:
        assert (await client.get("/a")).text == "v1"
        assert (await client.get("/a")).text == "v1"  # stale, served at once
        for _ in range(500):  # the background revalidation runs and stores v2
            if origin.calls == 2 and not cache._background:
                break
            await asyncio.sleep(0.01)
        assert origin.calls == 2
        assert (await client.get("/a")).text == "v2"


async def test_concurrent_misses_reach_the_app_once(cached: Any) -> None:
    async def respond(r: Request) -> Response:
        await asyncio.sleep(0.05)
        return text("slow", cache_control="max-age=60")

    origin, client = cached(respond)
    before = Cachette.stats()["coalesced_waits"]
    replies = await asyncio.gather(*(client.get("/a") for _ in range(20)))
    assert {r.text for r in replies} == {"slow"}
    assert origin.calls == 1
    assert Cachette.stats()["coalesced_waits"] - before == 19  # on the shared stampede counters


async def test_waiters_ask_the_app_themselves_when_the_response_was_not_stored(
    cached: Any,
) -> None:
    async def respond(r: Request) -> Response:
        await asyncio.sleep(0.05)
        return text("private", cache_control="no-store")

    origin, client = cached(respond)
    replies = await asyncio.gather(*(client.get("/a") for _ in range(5)))
    assert {r.text for r in replies} == {"private"}
    assert origin.calls == 5


def lock_counters() -> dict[str, int]:
    stats = Cachette.stats()
    return {name: stats[name] for name in ("coalesced_waits", "lock_waits", "lock_timeouts")}


async def test_a_response_lock_held_elsewhere_is_waited_for_then_times_out() -> None:
    Cachette.load_config(lambda: [("backend", "inmemory")])
    backend = core._runtime.start()
    lock_key = LOCK_PREFIX + primary_key("held", "/a", "http", "testserver", "")
    assert await backend.add(lock_key, b"another-worker", 60_000)
    origin = Origin(lambda r: text("mine", cache_control="max-age=60"))
    cache = HttpCache(origin, namespace="held", lock_across_processes=True, lock_timeout=0.1)
    before = lock_counters()
    async with client_for(cache) as client:
        assert (await client.get("/a")).text == "mine"
    assert origin.calls == 1
    after = lock_counters()
    assert after["lock_waits"] - before["lock_waits"] == 1
    assert after["lock_timeouts"] - before["lock_timeouts"] == 1
    # only its owner's token releases the foreign lock
    assert await backend.clear_if_equal(lock_key, b"another-worker")


async def test_a_lock_waiter_serves_what_the_lock_holder_stores() -> None:
    Cachette.load_config(lambda: [("backend", "inmemory")])
    backend = core._runtime.start()
    lock_key = LOCK_PREFIX + primary_key("w", "/a", "http", "testserver", "")
    assert await backend.add(lock_key, b"another-worker", 60_000)
    waiting = Origin(lambda r: text("mine", cache_control="max-age=60"))
    holding = Origin(lambda r: text("theirs", cache_control="max-age=60"))
    waiter = HttpCache(waiting, namespace="w", lock_across_processes=True)
    holder = HttpCache(holding, namespace="w", coalesce=False)  # the other worker's fetch

    async def other_worker() -> None:
        await asyncio.sleep(0.05)
        async with client_for(holder) as client:
            await client.get("/a")
        await backend.clear_if_equal(lock_key, b"another-worker")

    async with client_for(waiter) as client:
        reply, _ = await asyncio.gather(client.get("/a"), other_worker())
    assert reply.text == "theirs"
    assert (waiting.calls, holding.calls) == (0, 1)
    assert await backend.add(lock_key, b"free", 1000)  # the waiter took no lock it kept


async def test_large_responses_stream_through_unstored(cached: Any) -> None:
    origin, client = cached(
        lambda r: text("x" * 2000, cache_control="max-age=60"), max_body_size=1000
    )
    assert len((await client.get("/a")).content) == 2000
    assert len((await client.get("/a")).content) == 2000
    assert origin.calls == 2


async def test_invalidation_from_code(cached: Any) -> None:
    origin = Origin(lambda r: text(cache_control="max-age=60"))
    cache = HttpCache(origin, namespace="app")
    async with client_for(cache) as client:
        for path in ("/a?x=1", "/a?x=2", "/a:b", "/c"):
            await client.get(path)
        assert origin.calls == 4
        assert await cache.invalidate_path("/a") == 2
        assert await cache.invalidate_url("http://testserver/c") == 1
        for path in ("/a?x=1", "/a?x=2", "/a:b", "/c"):
            await client.get(path)
        assert origin.calls == 7  # /a:b was not under /a
        assert await invalidate_path("/c", namespace="app") == 1  # from anywhere, by namespace
        assert await cache.invalidate_all() >= 3
        assert await invalidate_namespace("app") == 0
    with pytest.raises(CachetteValueError):
        await cache.invalidate_path("no-slash")
    with pytest.raises(CachetteValueError):
        await cache.invalidate_url("/relative")


async def test_backend_errors_fail_open(cached: Any, caplog: pytest.LogCaptureFixture) -> None:
    # A Redis address where nothing listens: every backend call fails fast.
    Cachette.load_config(
        lambda: [("backend", "redis"), ("redis_url", "redis://127.0.0.1:9/0"), ("timeout", 0.5)]
    )
    origin, client = cached(lambda r: text("fresh", cache_control="max-age=60"))
    assert (await client.get("/a")).text == "fresh"
    assert (await client.get("/a")).text == "fresh"
    assert origin.calls == 2
    failures = [r for r in caplog.records if r.name == "cachette.http"]
    assert failures and all("failed" in r.getMessage() for r in failures)


def test_bad_options_are_refused() -> None:
    with pytest.raises(CachetteValueError):
        HttpCache(Origin(lambda r: text()), set_cookie="keep")  # type: ignore[arg-type]
    with pytest.raises(CachetteValueError):
        HttpCache(Origin(lambda r: text()), namespace="")
    with pytest.raises(CachetteValueError):
        cache_response(ttl=-1)


# -- the per-endpoint decorator on FastAPI ---------------------------------------------------


async def test_cache_response_sets_defaults_for_one_endpoint() -> None:
    app = FastAPI()
    counts = {"decorated": 0, "plain": 0, "own": 0}

    @app.get("/decorated")
    @cache_response(ttl=30, cache_control="public, max-age=5")
    async def decorated() -> dict[str, int]:
        counts["decorated"] += 1
        return {"n": counts["decorated"]}

    @app.get("/plain")
    def plain() -> dict[str, int]:
        counts["plain"] += 1
        return {"n": counts["plain"]}

    @app.get("/own")
    @cache_response(ttl=30)
    def own(response: Response) -> dict[str, int]:
        counts["own"] += 1
        response.headers["cache-control"] = "no-store"
        return {"n": counts["own"]}

    async with client_for(HttpCache(app)) as client:
        first = await client.get("/decorated")
        assert first.headers["cache-control"] == "public, max-age=5"
        assert (await client.get("/decorated")).json() == {"n": 1}
        await client.get("/plain")
        assert (await client.get("/plain")).json() == {"n": 2}
        await client.get("/own")
        assert (await client.get("/own")).json() == {"n": 2}  # the handler's no-store wins


async def test_cache_response_on_litestar_and_starlette_handlers() -> None:
    from litestar import Litestar, get
    from starlette.applications import Starlette
    from starlette.routing import Route

    counts = {"litestar": 0, "starlette": 0}

    @get("/l", sync_to_thread=False)
    @cache_response(ttl=30)
    def litestar_handler() -> str:
        counts["litestar"] += 1
        return f"l{counts['litestar']}"

    @cache_response(ttl=30)
    async def starlette_handler(request: Request) -> Response:
        counts["starlette"] += 1
        return PlainTextResponse(f"s{counts['starlette']}")

    litestar_app = Litestar(route_handlers=[litestar_handler])
    starlette_app = Starlette(routes=[Route("/s", starlette_handler)])
    for app, path in ((litestar_app, "/l"), (starlette_app, "/s")):
        async with client_for(HttpCache(app)) as client:
            first = await client.get(path)
            second = await client.get(path)
            assert first.status_code == 200
            assert second.text == first.text
            assert second.headers["age"] == "0"
    assert counts == {"litestar": 1, "starlette": 1}


async def test_incomplete_responses_are_not_stored(cached: Any) -> None:
    async def truncated(scope: Any, receive: Any, send: Any) -> None:
        headers = [(b"cache-control", b"max-age=60"), (b"content-length", b"10")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"01234", "more_body": True})
        # returns without finishing the body

    origin = Origin(lambda r: truncated)
    async with client_for(HttpCache(origin)) as client:
        assert (await client.get("/a")).content == b"01234"
        assert (await client.get("/a")).content == b"01234"
    assert origin.calls == 2
