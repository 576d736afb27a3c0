"""Starlette: examples/starlette_inmemory.py through its TestClient; each endpoint builds
``Cachette(request)``, so Cache-Control is honoured."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from .scenario import load_example, run


async def test_example_put_fetch_clear_and_cache_control() -> None:
    with TestClient(load_example("starlette_inmemory").app) as client:

        async def send(
            method: str, path: str, body: Any, headers: dict[str, str] | None
        ) -> tuple[int, str]:
            response = client.request(method, path, json=body, headers=headers)
            return response.status_code, response.text

        await run(send)
