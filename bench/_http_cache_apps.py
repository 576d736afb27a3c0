"""The ASGI apps bench/bench_http_cache.py serves with uvicorn, one per subject, all with the
same endpoint: GET /item/{id} returning a ~1 KB JSON document built by the handler.

    uvicorn _http_cache_apps:plain | ours | cashews_app | fastapi_cache2_app
Each cache reads its Redis address from BENCH_REDIS_URL. `ours` reads its namespace from
BENCH_NAMESPACE (two builds side by side keep apart on one Redis) and prints the file its
`cachette` package came from, so that the bench can check which build a server runs.
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6399/0")


def document(item_id: int) -> dict[str, Any]:
    return {
        "id": item_id,
        "name": f"item {item_id}",
        "tags": [f"tag-{n}" for n in range(8)],
        "rows": [{"n": n, "label": f"row {n}", "price": n * 1.25} for n in range(16)],
    }


def _plain() -> FastAPI:
    app = FastAPI()

    @app.get("/item/{item_id}")
    async def item(item_id: int) -> dict[str, Any]:
        return document(item_id)

    return app


def _ours() -> Any:
    import cachette
    from cachette import Cachette, _core
    from cachette.http import HttpCache, cache_response

    print(f"BENCH cachette={cachette.__file__} core={_core.__file__}", file=sys.stderr, flush=True)

    Cachette.load_config(lambda: [("backend", "redis"), ("redis_url", REDIS_URL)])
    app = FastAPI()

    @app.get("/item/{item_id}")
    @cache_response(ttl=600)
    async def item(item_id: int) -> dict[str, Any]:
        return document(item_id)

    return HttpCache(app, namespace=os.environ.get("BENCH_NAMESPACE", "bench"))


def _cashews() -> FastAPI:
    from cashews import cache

    cache.setup(REDIS_URL, client_side=False)
    app = FastAPI()

    @app.get("/item/{item_id}")
    @cache(ttl="10m")
    async def item(item_id: int) -> dict[str, Any]:
        return document(item_id)

    return app


def _fastapi_cache2() -> FastAPI:
    from fastapi_cache import FastAPICache
    from fastapi_cache.backends.redis import RedisBackend
    from fastapi_cache.decorator import cache
    from redis import asyncio as aioredis

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        FastAPICache.init(RedisBackend(aioredis.from_url(REDIS_URL)), prefix="fc2")
        yield

    app = FastAPI(lifespan=lifespan)

    @app.get("/item/{item_id}")
    @cache(expire=600)
    async def item(item_id: int) -> dict[str, Any]:
        return document(item_id)

    return app


def __getattr__(name: str) -> Any:  # uvicorn imports only the subject it serves
    builders = {
        "plain": _plain,
        "ours": _ours,
        "cashews_app": _cashews,
        "fastapi_cache2_app": _fastapi_cache2,
    }
    if name in builders:
        return builders[name]()
    raise AttributeError(name)
