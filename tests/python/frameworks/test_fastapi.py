"""FastAPI: examples/fastapi_inmemory.py (the seed's first example plus a delete route) through
its TestClient; ``Depends()`` injects the request, so Cache-Control is honoured."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from cachette import Cachette

from .scenario import load_example, run


async def test_example_put_fetch_clear_and_cache_control() -> None:
    with TestClient(load_example("fastapi_inmemory").app) as client:

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
