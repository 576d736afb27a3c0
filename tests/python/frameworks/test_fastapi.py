"""FastAPI: examples/fastapi_inmemory.py (``Cachette(request)`` in the handler, the fast way),
examples/fastapi_depends.py (the seed's ``Depends()``) and ``CachetteDep`` through the
TestClient; each hands the request to ``Cachette``, so Cache-Control is honoured."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from cachette import Cachette
from cachette.asgi.fastapi import CachetteDep

from .scenario import load_example, run


@pytest.mark.parametrize("example", ["fastapi_inmemory", "fastapi_depends"])
async def test_example_put_fetch_clear_and_cache_control(example: str) -> None:
    with TestClient(load_example(example).app) as client:

        async def send(
            method: str, path: str, body: Any, headers: dict[str, str] | None
        ) -> tuple[int, str]:
            response = client.request(method, path, json=body, headers=headers)
            return response.status_code, response.text

        await run(send)


class User(BaseModel):
    id: int
    name: str


def test_models_typed_out_through_depends() -> None:
    Cachette.load_config(lambda: [("codec", "json")])
    app = FastAPI()

    @app.put("/users")
    async def save(user: User, cachette: Cachette = Depends()) -> str:
        await cachette.put(f"user:{user.id}", user)
        return "OK"

    @app.get("/users/{user_id}")
    async def load(user_id: int, cachette: Cachette = Depends()) -> User | None:
        return await cachette.fetch(f"user:{user_id}", model=User)

    @app.get("/users/{user_id}/ttl")
    async def ttl(user_id: int, cachette: Cachette = Depends()) -> int:
        seconds, user = await cachette.fetch_with_ttl(f"user:{user_id}", model=User)
        assert user is None or isinstance(user, User)
        return seconds

    with TestClient(app) as client:
        assert client.get("/users/1").json() is None
        assert client.put("/users", json={"id": 1, "name": "Ada"}).json() == "OK"
        assert client.get("/users/1").json() == {"id": 1, "name": "Ada"}
        assert client.get("/users/1", headers={"Cache-Control": "no-cache"}).json() is None
        assert 0 < client.get("/users/1/ttl").json() <= 60
        assert client.get("/users/1/ttl", headers={"Cache-Control": "no-store"}).json() == -1


async def test_cachette_dep_honours_cache_control() -> None:
    app = FastAPI()

    @app.put("/{key}/{value}")
    async def put(key: str, value: str, cachette: CachetteDep) -> str:
        await cachette.put(key, value)
        return "OK"

    @app.get("/{key}")
    async def get(key: str, cachette: CachetteDep) -> Any:
        return await cachette.fetch(key)

    with TestClient(app) as client:
        assert client.put("/a/1").json() == "OK"
        assert client.get("/a").json() == "1"
        assert client.get("/a", headers={"Cache-Control": "no-cache"}).json() is None
        assert client.put("/b/2", headers={"Cache-Control": "no-store"}).json() == "OK"
        assert client.get("/b").json() is None


def test_cachette_dep_provider_is_a_coroutine_function() -> None:
    """What makes it fast: FastAPI runs coroutine-function dependencies on the event loop,
    and every other dependency (a class included) in its threadpool."""
    import inspect

    from cachette.asgi.fastapi import provide

    assert inspect.iscoroutinefunction(provide)
