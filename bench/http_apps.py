"""The FastAPI apps bench_http.py serves with uvicorn, one per subject.

``BENCH_APP`` names the subject; ``BENCH_REDIS_URL`` the private Redis; ``BENCH_RUNS`` a file
to which every run of a stampede handler appends one line (worker processes share it).
Every hot endpoint answers ``GET /k`` with the same 1 KiB text body.
"""

from __future__ import annotations

import asyncio
import gc
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import PlainTextResponse

from cachette import Cachette
from cachette.asgi.fastapi import CachetteDep, provide

# "<subject>+gcfreeze": the same app, which calls gc.freeze() once it is built (the start-up
# tuning docs/frameworks.md recommends for apps that await network I/O per request).
SUBJECT, _, TUNING = os.environ.get("BENCH_APP", "plain").partition("+")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "")
RUNS = os.environ.get("BENCH_RUNS", "")
BODY = "x" * 1024
KEY = "bench:http:k"

if SUBJECT.endswith("_redis") and SUBJECT.startswith(
    ("inhandler", "dep", "depends", "stampede_ours")
):
    Cachette.load_config(lambda: [("backend", "redis"), ("redis_url", REDIS_URL)])


class Empty:
    """A class dependency that does nothing: what FastAPI's threadpool hop costs alone."""


async def compute(tag: str) -> str:
    """The slow handler body of the stampede scenario: 100 ms, one line per run."""
    fd = os.open(RUNS, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{tag}\n".encode())
    finally:
        os.close(fd)
    await asyncio.sleep(0.1)
    return BODY


def make_app() -> FastAPI:
    lifespan = None
    if SUBJECT.startswith(("cashews", "stampede_cashews")):
        from cashews import cache as cashews_cache

        cashews_cache.setup(REDIS_URL)
    if SUBJECT.startswith(("fastapi_cache2", "stampede_fastapi_cache2")):
        from fastapi_cache import FastAPICache
        from fastapi_cache.backends.redis import RedisBackend
        from redis import asyncio as aioredis

        @asynccontextmanager
        async def lifespan(_: FastAPI) -> AsyncIterator[None]:
            FastAPICache.init(RedisBackend(aioredis.from_url(REDIS_URL)), prefix="fc2")
            yield

    app = FastAPI(lifespan=lifespan)
    text = PlainTextResponse

    async def cached(cachette: Cachette) -> Any:
        value = await cachette.fetch(KEY)
        if value is None:  # the first request fills the cache
            value = BODY
            await cachette.put(KEY, value)
        return text(value)

    if SUBJECT == "plain":

        @app.get("/k")
        async def plain() -> Any:
            return text(BODY)

    elif SUBJECT == "plain_yield":  # control: what suspending the handler once costs

        @app.get("/k")
        async def plain_yield() -> Any:
            await asyncio.sleep(0)
            return text(BODY)

    elif SUBJECT == "redispy_redis":  # control: one GET with redis-py itself, no cache library
        from redis import asyncio as aioredis

        client = aioredis.from_url(REDIS_URL)

        @app.get("/k")
        async def redispy() -> Any:
            value = await client.get(KEY)
            if value is None:
                await client.set(KEY, BODY)
                value = BODY.encode()
            return text(value.decode())

    elif SUBJECT == "empty_depends":

        @app.get("/k")
        async def empty(_: Empty = Depends()) -> Any:
            return text(BODY)

    elif SUBJECT in ("dep_memory", "dep_redis"):  # the injected form without a thread hop

        @app.get("/k")
        async def dep(cachette: CachetteDep) -> Any:
            return await cached(cachette)

    elif SUBJECT in ("depends_memory", "depends_redis"):  # the 0.1.x idiom

        @app.get("/k")
        async def depends(cachette: Cachette = Depends()) -> Any:
            return await cached(cachette)

    elif SUBJECT == "override_memory":  # Depends() with the async provider as an override
        app.dependency_overrides[Cachette] = provide

        @app.get("/k")
        async def override(cachette: Cachette = Depends()) -> Any:
            return await cached(cachette)

    elif SUBJECT in ("inhandler_memory", "inhandler_redis"):  # the recommended path

        @app.get("/k")
        async def inhandler(request: Request) -> Any:
            return await cached(Cachette(request))

    elif SUBJECT == "cashews_redis":
        from cashews import cache as cashews_cache

        @app.get("/k")
        @cashews_cache(ttl=60, key="bench:http:cashews")
        async def cashews_endpoint() -> str:
            return BODY

    elif SUBJECT == "fastapi_cache2_redis":
        from fastapi_cache.decorator import cache as fc2_cache

        @app.get("/k")
        @fc2_cache(expire=60)
        async def fc2_endpoint() -> str:
            return BODY

    # -- stampede: GET /cold/{tag}, a 100 ms handler behind each library's protection ------
    elif SUBJECT == "stampede_ours_redis":

        @app.get("/cold/{tag}")
        async def ours_cold(tag: str, cachette: CachetteDep) -> Any:
            return text(await cachette.get_or_set(f"cold:{tag}", lambda: compute(tag), ttl=60))

    elif SUBJECT == "stampede_ours_nolock_redis":  # in-process coalescing only

        @app.get("/cold/{tag}")
        async def ours_nolock(tag: str, cachette: CachetteDep) -> Any:
            value = await cachette.get_or_set(f"cold:{tag}", lambda: compute(tag), lock=False)
            return text(value)

    elif SUBJECT == "stampede_ours_plain_redis":  # fetch, miss, compute, put (0.1.x)

        @app.get("/cold/{tag}")
        async def ours_plain(tag: str, cachette: CachetteDep) -> Any:
            value = await cachette.fetch(f"cold:{tag}")
            if value is None:
                value = await compute(tag)
                await cachette.put(f"cold:{tag}", value)
            return text(value)

    elif SUBJECT in ("stampede_cashews_redis", "stampede_cashews_lock_redis"):
        from cashews import cache as cashews_cache

        @app.get("/cold/{tag}")
        @cashews_cache(ttl=60, key="cold:{tag}", lock=SUBJECT == "stampede_cashews_lock_redis")
        async def cashews_cold(tag: str) -> str:
            return await compute(tag)

    elif SUBJECT == "stampede_fastapi_cache2_redis":
        from fastapi_cache.decorator import cache as fc2_cache

        @app.get("/cold/{tag}")
        @fc2_cache(expire=60)
        async def fc2_cold(tag: str) -> str:
            return await compute(tag)

    else:
        raise SystemExit(f"unknown BENCH_APP {SUBJECT!r}")
    return app


if SUBJECT.startswith("litestar"):  # module level: Litestar resolves annotations here
    from litestar import Request as LitestarRequest
    from litestar.response import Response


def make_litestar_app() -> Any:
    from litestar import Litestar, get

    from cachette.asgi.litestar import provide

    async def respond(cachette: Cachette) -> Response[str]:
        value = await cachette.fetch(KEY)
        if value is None:
            value = BODY
            await cachette.put(KEY, value)
        return Response(value, media_type="text/plain")

    if SUBJECT == "litestar_plain":

        @get("/k")
        async def plain() -> Response[str]:
            return Response(BODY, media_type="text/plain")

        return Litestar([plain])
    if SUBJECT == "litestar_provide_memory":

        @get("/k")
        async def provided(cachette: Cachette) -> Response[str]:
            return await respond(cachette)

        return Litestar([provided], dependencies={"cachette": provide})
    if SUBJECT == "litestar_inhandler_memory":

        @get("/k")
        async def inhandler(request: LitestarRequest[Any, Any, Any]) -> Response[str]:
            return await respond(Cachette(request))  # type: ignore[arg-type]

        return Litestar([inhandler])
    raise SystemExit(f"unknown BENCH_APP {SUBJECT!r}")


def make_blacksheep_app() -> Any:
    from blacksheep import Application, Router
    from blacksheep.server.responses import text as bs_text

    from cachette.asgi.blacksheep import setup

    bs = Application(router=Router())
    if SUBJECT == "blacksheep_plain":

        @bs.router.get("/k")
        async def plain() -> Any:
            return bs_text(BODY)

    elif SUBJECT == "blacksheep_scoped_memory":
        setup(bs)
        bs.services.add_scoped(Cachette)

        @bs.router.get("/k")
        async def scoped(cachette: Cachette) -> Any:
            value = await cachette.fetch(KEY)
            if value is None:
                value = BODY
                await cachette.put(KEY, value)
            return bs_text(value)

    else:
        raise SystemExit(f"unknown BENCH_APP {SUBJECT!r}")
    return bs


if SUBJECT.startswith("litestar"):
    app = make_litestar_app()
elif SUBJECT.startswith("blacksheep"):
    app = make_blacksheep_app()
else:
    app = make_app()

if TUNING == "gcfreeze":
    gc.freeze()
elif TUNING:
    raise SystemExit(f"unknown tuning {TUNING!r} in BENCH_APP")
