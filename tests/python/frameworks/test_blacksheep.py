"""BlackSheep: examples/blacksheep_inmemory.py through its TestClient. ``add_scoped(Cachette)``
resolves with or without ``cachette.asgi.blacksheep.setup(app)``; with it, Cache-Control is
honoured."""

from __future__ import annotations

import json
from typing import Any

from blacksheep import Application, JSONContent, Router, text
from blacksheep.testing import TestClient

from cachette import Cachette
from cachette.asgi.blacksheep import setup

from .scenario import load_example, run


async def test_example_put_fetch_clear_and_cache_control() -> None:
    app = load_example("blacksheep_inmemory").app
    await app.start()
    client = TestClient(app)

    async def send(
        method: str, path: str, body: Any, headers: dict[str, str] | None
    ) -> tuple[int, str]:
        # bytes, as a server passes them (the test simulator keeps str headers as str)
        header_list = [(k.encode(), v.encode()) for k, v in headers.items()] if headers else None
        if method == "GET":
            response = await client.get(path, headers=header_list)
        elif method == "POST":
            response = await client.post(path, headers=header_list, content=JSONContent(body))
        else:
            response = await client.delete(path, headers=header_list)
        return response.status, (await response.text()) or ""

    await run(send)
    await app.stop()


async def test_without_setup_rodi_builds_a_plain_cachette() -> None:
    """A 0.1.x app calls add_scoped(Cachette) and nothing else: rodi sees an __init__ of no
    parameter (tests/python/frameworks/test_original_examples.py serves such apps)."""
    app = Application(router=Router())
    app.services.add_scoped(Cachette)
    assert isinstance(app.services.build_provider().get(Cachette), Cachette)


async def test_setup_outside_a_request_builds_a_plain_cachette() -> None:
    app = Application(router=Router())
    setup(app)
    app.services.add_scoped(Cachette)

    @app.router.get("/")
    async def handler(cachette: Cachette) -> Any:
        await cachette.put("k", {"a": 1})
        return text(json.dumps(await cachette.fetch("k")))

    await app.start()
    response = await TestClient(app).get("/")
    assert await response.text() == json.dumps("{'a': 1}")
    provider = app.services.build_provider()
    assert isinstance(provider.get(Cachette), Cachette)
    await app.stop()
