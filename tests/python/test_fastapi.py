"""FastAPI through TestClient: the seed's examples, verbatim, and Cache-Control."""

from __future__ import annotations

import textwrap
from types import ModuleType
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.responses import PlainTextResponse
from fastapi.testclient import TestClient

from cachette import Cachette

# The seed README's first example, exactly as users copy it.
SEED_INMEMORY = textwrap.dedent(
    """
    from cachette import Cachette
    from fastapi import FastAPI, Depends
    from fastapi.responses import PlainTextResponse
    from pydantic import BaseModel
    app = FastAPI()
    ### Routing ###
    class Payload(BaseModel):
      key: str
      value: str
    @app.post('/', response_class=PlainTextResponse)
    async def setter(payload: Payload, cachette: Cachette = Depends()):
      await cachette.put(payload.key, payload.value)
      return 'OK'
    @app.get('/{key}', response_class=PlainTextResponse, status_code=200)
    async def getter(key: str, cachette: Cachette = Depends()):
      value: str = await cachette.fetch(key)
      return value
    """
)


def run_module(source: str) -> Any:
    module = ModuleType("seed_example")
    exec(compile(source, "seed_example.py", "exec"), module.__dict__)
    return module


def test_seed_inmemory_example() -> None:
    app = run_module(SEED_INMEMORY).app
    with TestClient(app) as client:
        assert client.get("/a").text == ""
        assert client.post("/", json={"key": "a", "value": "b"}).text == "OK"
        assert client.get("/a").text == "b"


def cache_control_app() -> FastAPI:
    app = FastAPI()

    @app.put("/{key}/{value}", response_class=PlainTextResponse)
    async def put(key: str, value: str, cachette: Cachette = Depends()) -> str:
        await cachette.put(key, value)
        return "OK"

    @app.get("/{key}", response_class=PlainTextResponse)
    async def get(key: str, cachette: Cachette = Depends()) -> str:
        return str(await cachette.fetch(key))

    return app


def test_cache_control_no_store_neither_reads_nor_writes() -> None:
    with TestClient(cache_control_app()) as client:
        client.put("/k/v1")
        assert client.get("/k", headers={"Cache-Control": "no-store"}).text == "None"
        client.put("/k/v2", headers={"Cache-Control": "no-store"})
        assert client.get("/k").text == "v1"


def test_cache_control_no_cache_skips_reads_but_writes() -> None:
    with TestClient(cache_control_app()) as client:
        client.put("/k/v1")
        assert client.get("/k", headers={"Cache-Control": "no-cache"}).text == "None"
        client.put("/k/v2", headers={"Cache-Control": "no-cache"})
        assert client.get("/k").text == "v2"


def test_cache_control_max_age(monkeypatch: Any) -> None:
    import time

    with TestClient(cache_control_app()) as client:
        client.put("/k/v1")
        time.sleep(1.1)
        assert client.get("/k", headers={"Cache-Control": "max-age=5"}).text == "v1"
        assert client.get("/k", headers={"Cache-Control": "max-age=1"}).text == "None"
        assert client.get("/k", headers={"Cache-Control": "max-age=0"}).text == "None"
        assert client.get("/k").text == "v1"


def test_attack_client_cache_control_cannot_skip_a_lockout_counter_when_turned_off() -> None:
    """An app that keeps a failed-login counter in the cache: a client sending
    ``Cache-Control: no-store`` (or ``no-cache``) would have its own increments skipped or
    its reads miss, and never be locked out. ``request_cache_control=False`` makes the
    request's header irrelevant to the cache."""
    Cachette.load_config(lambda: [("request_cache_control", False)])
    app = FastAPI()

    @app.post("/login", response_class=PlainTextResponse)
    async def login(cachette: Cachette = Depends()) -> str:
        failures = int(await cachette.fetch("failures:alice") or 0)
        if failures >= 3:
            return "locked"
        await cachette.put("failures:alice", failures + 1)
        return "wrong password"

    with TestClient(app) as client:
        answers = [
            client.post("/login", headers={"Cache-Control": directive}).text
            for directive in ("no-store", "no-cache", "max-age=0", "no-store", "no-cache")
        ]
    assert answers == ["wrong password"] * 3 + ["locked"] * 2


def test_request_cache_control_is_honoured_by_default() -> None:
    """The contract (docs/frameworks.md): by default the request's header is honoured, so the
    same exchange as above is never locked out; this is what the option turns off."""
    assert Cachette.config().request_cache_control is True
    with TestClient(cache_control_app()) as client:
        client.put("/k/v1")
        assert client.get("/k", headers={"Cache-Control": "no-cache"}).text == "None"


def test_request_cache_control_must_be_a_boolean() -> None:
    import pydantic
    import pytest

    with pytest.raises(pydantic.ValidationError, match="request_cache_control"):
        Cachette.load_config(lambda: [("request_cache_control", "maybe")])
