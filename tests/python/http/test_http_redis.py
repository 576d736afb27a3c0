"""HttpCache on a real Redis: two caches (two workers) share entries, coalescing across
processes goes through the backend lock, and path invalidation reaches every worker."""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from cachette import Cachette
from cachette.http import HttpCache

pytestmark = pytest.mark.integration


def redis_url() -> str:
    url = os.environ.get("CACHETTE_TEST_REDIS_URL")
    if not url:
        pytest.fail(
            "CACHETTE_TEST_REDIS_URL is not set: run the tests through scripts/with-services.sh"
        )
    return url


class Origin:
    def __init__(self, body: str, delay: float = 0.0, **headers: str) -> None:
        self.body = body
        self.delay = delay
        self.headers = headers
        self.calls = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.calls += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        request = Request(scope, receive)
        response: Response = PlainTextResponse(
            f"{self.body} {request.url.path}", headers=self.headers
        )
        await response(scope, receive, send)


def client_for(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


@pytest.fixture
def namespace() -> str:
    Cachette.load_config(lambda: [("backend", "redis"), ("redis_url", redis_url())])
    return f"t{uuid.uuid4().hex}"  # the server is shared: keys of our own


async def test_two_workers_share_entries_and_etags(namespace: str) -> None:
    first = Origin("w1", **{"cache-control": "max-age=60"})
    second = Origin("w2", **{"cache-control": "max-age=60"})
    async with (
        client_for(HttpCache(first, namespace=namespace)) as one,
        client_for(HttpCache(second, namespace=namespace)) as two,
    ):
        stored = await one.get("/item")
        shared = await two.get("/item")
        assert shared.text == stored.text == "w1 /item"
        assert shared.headers["etag"] == stored.headers["etag"]
        assert (first.calls, second.calls) == (1, 0)
        not_modified = await two.get("/item", headers={"if-none-match": stored.headers["etag"]})
        assert not_modified.status_code == 304
        await HttpCache(first, namespace=namespace).invalidate_all()


async def test_vary_and_invalidation_by_path(namespace: str) -> None:
    origin = Origin("v", **{"cache-control": "max-age=60", "vary": "accept"})
    cache = HttpCache(origin, namespace=namespace)
    async with client_for(cache) as client:
        for accept in ("a/b", "c/d", "a/b", "c/d"):
            await client.get("/p?q=1", headers={"accept": accept})
        assert origin.calls == 2
        assert await cache.invalidate_path("/p") >= 1
        await client.get("/p?q=1", headers={"accept": "a/b"})
        assert origin.calls == 3
        await cache.invalidate_all()


async def test_misses_coalesce_in_a_worker_then_across_workers_through_the_backend_lock(
    namespace: str,
) -> None:
    """Three workers, each its own event loop in its own thread (in-process coalescing is
    per loop, so only the backend lock stands between them), three requests each."""
    origins = [Origin(f"w{i}", delay=0.3, **{"cache-control": "max-age=60"}) for i in range(3)]
    start = threading.Barrier(3)
    texts: list[str] = []

    async def worker(origin: Origin) -> None:
        async with client_for(HttpCache(origin, namespace=namespace)) as client:
            replies = await asyncio.gather(*(client.get("/slow") for _ in range(3)))
            texts.extend(r.text for r in replies)

    def run(origin: Origin) -> None:
        start.wait()
        asyncio.run(worker(origin))

    before = Cachette.stats()
    threads = [threading.Thread(target=run, args=(o,)) for o in origins]
    try:
        for t in threads:
            t.start()
    finally:
        for t in threads:
            t.join(timeout=30)
    after = Cachette.stats()
    assert len(texts) == 9 and len(set(texts)) == 1
    assert sum(o.calls for o in origins) == 1
    assert after["coalesced_waits"] - before["coalesced_waits"] == 6  # 2 per worker
    assert after["lock_waits"] - before["lock_waits"] == 2  # the two workers that did not lead
    assert after["lock_timeouts"] == before["lock_timeouts"]
    await HttpCache(origins[0], namespace=namespace).invalidate_all()
