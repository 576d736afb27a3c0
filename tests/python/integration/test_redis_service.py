"""Redis backend under load, restarts and in a FastAPI app."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest
from fastapi import Depends, FastAPI
from fastapi.responses import PlainTextResponse
from fastapi.testclient import TestClient
from pydantic import BaseModel

from cachette import Cachette
from cachette.backends.redis import RedisBackend, create
from cachette.config import CachetteConfig
from cachette.exceptions import CachetteConnectionError, CachetteTimeoutError

from .redis_env import require_env

pytestmark = pytest.mark.integration


class PrivateRedis:
    """A redis-server of this test's own, on the spare port, that the test may kill."""

    def __init__(self) -> None:
        self.server = require_env("CACHETTE_TEST_REDIS_SERVER")
        self.port = int(require_env("CACHETTE_TEST_REDIS_SPARE_PORT"))
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.server,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--loglevel",
                "warning",
            ],
            stdout=subprocess.DEVNULL,
        )
        # Listening before the backend starts: a backend that finds nobody at start uses the
        # cluster client (docs/redis.md, detection), and these tests are about the standalone one.
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), 0.1),
            ):
                return
            time.sleep(0.02)
        pytest.fail(f"redis-server did not listen on {self.port}")

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()
        self.process = None


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis()
    server.start()
    yield server
    if server.process is not None:
        server.kill()


async def until_ok(backend: RedisBackend) -> None:
    """Retries until the server answers; the guard only stops a broken engine hanging CI."""
    for _ in range(400):
        try:
            await backend.put("probe", b"1", 10_000)
            return
        except (CachetteConnectionError, CachetteTimeoutError):
            await asyncio.sleep(0.05)
    pytest.fail("the backend never reconnected")


async def test_server_killed_and_restarted(private_redis: PrivateRedis) -> None:
    backend = create(
        CachetteConfig(
            backend="redis", redis_url=f"redis://127.0.0.1:{private_redis.port}/0", timeout=0.5
        )
    )
    assert isinstance(backend, RedisBackend)
    await until_ok(backend)
    await backend.put("k", b"before", 60_000)
    private_redis.kill()
    for _ in range(3):
        with pytest.raises((CachetteConnectionError, CachetteTimeoutError)):
            await asyncio.wait_for(backend.fetch("k"), 30)  # the guard is not the assertion
    private_redis.start()
    await until_ok(backend)
    assert await backend.fetch("k") is None  # a fresh server: the old value is gone
    await backend.put("k", b"after", 60_000)
    assert await backend.fetch("k") == b"after"
    await backend.close()


async def test_fail_open_turns_a_dead_server_into_misses(private_redis: PrivateRedis) -> None:
    url = f"redis://127.0.0.1:{private_redis.port}/0"
    Cachette.load_config(
        lambda: [("backend", "redis"), ("redis_url", url), ("fail_open", True), ("timeout", 0.5)]
    )
    private_redis.kill()
    assert await Cachette().fetch("k") is None


async def test_thousands_of_concurrent_tasks() -> None:
    backend = create(
        CachetteConfig(backend="redis", redis_url=require_env("CACHETTE_TEST_REDIS_URL"))
    )
    assert isinstance(backend, RedisBackend)

    async def one(i: int) -> bytes | None:
        await backend.put(f"task:{i}", str(i).encode(), 60_000)
        return await backend.fetch(f"task:{i}")

    results = await asyncio.gather(*(one(i) for i in range(5000)))
    assert results == [str(i).encode() for i in range(5000)]
    await backend.close()


# The seed README's Redis example, verbatim apart from the URL (set in the test).
app = FastAPI()


class Payload(BaseModel):
    key: str
    value: str


@app.post("/", response_class=PlainTextResponse)
async def setter(payload: Payload, cachette: Cachette = Depends()) -> str:
    await cachette.put(payload.key, payload.value)
    return "OK"


@app.get("/{key}", response_class=PlainTextResponse, status_code=200)
async def getter(key: str, cachette: Cachette = Depends()) -> str:
    value: str = await cachette.fetch(key)
    return value


def test_seed_redis_example_with_fastapi_testclient() -> None:
    url = require_env("CACHETTE_TEST_REDIS_URL")

    @Cachette.load_config
    def get_cachette_config() -> list[tuple[str, str]]:
        return [("backend", "redis"), ("redis_url", url)]

    with TestClient(app) as client:
        assert client.post("/", json={"key": "seed", "value": "cachette"}).text == "OK"
        response = client.get("/seed")
        assert response.status_code == 200
        assert response.text == "cachette"
    # A second client is a second event loop: the engine serves it too.
    with TestClient(app) as client:
        assert client.get("/seed").text == "cachette"
