"""The asyncio bridge: several loops, closed loops, uvloop, cancellation, fork."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
import time

import pytest
import uvloop

from cachette import _core
from cachette.backends.redis import RedisBackend, create
from cachette.config import CachetteConfig

from .redis_env import require_env

pytestmark = pytest.mark.integration


def make_backend() -> RedisBackend:
    backend = create(
        CachetteConfig(backend="redis", redis_url=require_env("CACHETTE_TEST_REDIS_URL"))
    )
    assert isinstance(backend, RedisBackend)
    return backend


def test_several_loops_in_threads_at_once() -> None:
    backend = make_backend()
    errors: list[BaseException] = []

    async def work(tag: int) -> None:
        for i in range(300):
            key = f"loop{tag}:{i}"
            await backend.put(key, key.encode(), 60_000)
            assert await backend.fetch(key) == key.encode()

    def run(tag: int) -> None:
        try:
            asyncio.run(work(tag))
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_closed_loops_are_dropped() -> None:
    backend = make_backend()

    async def once() -> None:
        await backend.put("closed-loop", b"v", 10_000)

    for _ in range(20):
        asyncio.run(once())
    assert _core.bridge_channels() <= 2


def test_requests_held_by_a_loop_closed_before_its_flush_still_go_out() -> None:
    # The second put joins the loop's submission batch (the first is in flight), whose flush
    # the loop would run in its next iteration; the loop stops first and is closed. Dropping
    # its channel (any later call on another loop sweeps closed ones) sends what it held. The
    # value is read through another client: a later request on the same pool would carry the
    # held one along by itself.
    backend, other = make_backend(), make_backend()
    key = f"held:{os.getpid()}:{id(backend)}"
    loop = asyncio.new_event_loop()
    futures: list[object] = []  # kept alive, never awaited

    def submit() -> None:
        futures.append(backend.put(key + ":0", b"first", 60_000))
        time.sleep(0.1)  # the I/O thread takes the first: the second cannot ride along
        futures.append(backend.put(key + ":1", b"held", 60_000))
        loop.stop()

    loop.call_soon(submit)
    loop.run_forever()
    loop.close()

    async def read_back() -> bytes | None:
        for _ in range(200):
            value = await other.fetch(key + ":1")
            if value is not None:
                return value
            await asyncio.sleep(0.01)
        return None

    assert asyncio.run(read_back()) == b"held"


def test_uvloop() -> None:
    backend = make_backend()

    async def work() -> list[bytes | None]:
        await backend.put("uv", b"loop", 10_000)
        return list(await asyncio.gather(*(backend.fetch("uv") for _ in range(1000))))

    assert uvloop.run(work()) == [b"loop"] * 1000


async def test_cancelled_requests_keep_the_connection_in_sync() -> None:
    backend = make_backend()
    await asyncio.gather(*(backend.put(f"c:{i}", str(i).encode(), 60_000) for i in range(500)))
    futures = [asyncio.ensure_future(backend.fetch(f"c:{i}")) for i in range(500)]
    await asyncio.sleep(0)
    for f in futures[::2]:
        f.cancel()
    results = await asyncio.gather(*futures, return_exceptions=True)
    for i, r in enumerate(results):
        if i % 2 == 0:
            assert isinstance(r, asyncio.CancelledError)
        else:
            assert r == str(i).encode()
    # Every later reply still matches its request.
    for i in range(0, 500, 7):
        assert await backend.fetch(f"c:{i}") == str(i).encode()
    # Futures cancelled before the engine even saw them.
    raw = [backend.fetch(f"c:{i}") for i in range(100)]
    for f in raw:
        f.cancel()  # type: ignore[attr-defined]
    assert await backend.fetch("c:42") == b"42"


async def test_timeout_inside_wait_for_cancels_cleanly() -> None:
    backend = make_backend()
    await backend.put("wf", b"v", 10_000)
    for _ in range(50):
        try:
            await asyncio.wait_for(backend.fetch("wf"), 0)
        except asyncio.TimeoutError:
            pass
    assert await backend.fetch("wf") == b"v"


def _child(url: str, queue: multiprocessing.Queue[object]) -> None:
    async def work() -> bytes | None:
        backend = create(CachetteConfig(backend="redis", redis_url=url))
        await backend.put("fork:child", str(os.getpid()).encode(), 10_000)
        return await backend.fetch("fork:child")

    queue.put(asyncio.run(work()))


async def test_forked_child_gets_a_fresh_engine() -> None:
    backend = make_backend()
    await backend.put("fork:parent", b"p", 10_000)  # the parent's engine is running
    context = multiprocessing.get_context("fork")
    queue: multiprocessing.Queue[object] = context.Queue()
    child = context.Process(target=_child, args=(require_env("CACHETTE_TEST_REDIS_URL"), queue))
    child.start()
    result = queue.get(timeout=30)
    child.join(30)
    assert child.exitcode == 0
    assert result == str(child.pid).encode()
    assert await backend.fetch("fork:parent") == b"p"
