"""Litestar: examples/litestar_inmemory.py through its TestClient. ``Provide(Cachette)`` gets
Litestar's own request in ``request``, so Cache-Control is honoured."""

from __future__ import annotations

import warnings
from typing import Any

from litestar import Litestar, get
from litestar.di import Provide
from litestar.testing import TestClient

from cachette import Cachette
from cachette.asgi.litestar import provide

from .scenario import load_example, run


async def test_example_put_fetch_clear_and_cache_control() -> None:
    with TestClient(load_example("litestar_inmemory").app) as client:

        async def send(
            method: str, path: str, body: Any, headers: dict[str, str] | None
        ) -> tuple[int, str]:
            response = client.request(method, path, json=body, headers=headers)
            return response.status_code, response.text

        await run(send)


def reserved_request_warnings(dependency: Provide) -> list[str]:
    """Serves one request through an app using ``dependency``; returns Litestar's warnings
    about the ``request`` parameter's type."""

    @get("/{key:str}")
    async def handler(key: str, cachette: Cachette) -> str:
        await cachette.put(key, "stored")
        return str(await cachette.fetch(key))

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        app = Litestar(route_handlers=[handler], dependencies={"cachette": dependency})
        with TestClient(app) as client:
            assert client.get("/k").text == "stored"
            # no-store: neither written nor read
            assert client.get("/j", headers={"Cache-Control": "no-store"}).text == "None"
            assert client.get("/k", headers={"Cache-Control": "no-cache"}).text == "None"
    return [str(w.message) for w in caught if "Reserved kwarg 'request'" in str(w.message)]


def test_provide_helper_is_forward_compatible() -> None:
    assert reserved_request_warnings(provide) == []
    # Provide(Cachette) works too, but Litestar 2.x warns it will not in 3.0
    assert reserved_request_warnings(Provide(Cachette, sync_to_thread=False)) != []
