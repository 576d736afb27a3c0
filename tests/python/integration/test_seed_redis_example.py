"""The seed README's Redis example, verbatim except for the server address: tests never use
the machine's default port, so `redis://localhost:6379` becomes the private test server."""

from __future__ import annotations

import textwrap
from types import ModuleType

from fastapi.testclient import TestClient

from .redis_env import require_env

SEED_REDIS = textwrap.dedent(
    """
    from cachette import Cachette
    from fastapi import FastAPI, Depends
    from fastapi.responses import PlainTextResponse
    from pydantic import BaseModel
    app = FastAPI()
    @Cachette.load_config
    def get_cachette_config():
      return [('backend', 'redis'), ('redis_url', 'redis://localhost:6379')]
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


def test_seed_redis_example_runs_against_a_real_server() -> None:
    url = require_env("CACHETTE_TEST_REDIS_URL")
    source = SEED_REDIS.replace("redis://localhost:6379", url)
    assert source.count(url) == 1
    module = ModuleType("seed_redis_example")
    exec(compile(source, "seed_redis_example.py", "exec"), module.__dict__)
    with TestClient(module.app) as client:
        assert client.get("/seed-key").text == ""
        assert client.post("/", json={"key": "seed-key", "value": "b"}).text == "OK"
        assert client.get("/seed-key").text == "b"
