"""Servers that are full (issue 19, item 5): Redis and Valkey at `maxmemory` with `noeviction`,
memcached without eviction (-M, 2 MB) and out of memory. A refused write is a CachetteStoreFullError
(a CachetteStorageError), and reads, removals and flush still work, so the cache can be
emptied. Each server is a private one on the spare port, filled through the cache itself."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest

from cachette import Cachette, CachetteStorageError, CachetteStoreFullError

from .redis_env import require_env

pytestmark = pytest.mark.integration

VALUE = "v" * 2000


def wait_listening(port: int) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.1):
            return
        time.sleep(0.05)
    pytest.fail(f"the private server on port {port} never listened")


@contextlib.contextmanager
def private_server(argv: list[str], port: int) -> Iterator[None]:
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_listening(port)
        yield
    finally:
        process.kill()
        process.wait()


def command(port: int, *args: str) -> bytes:
    """One command to the private server; its raw reply."""
    request = f"*{len(args)}\r\n" + "".join(f"${len(a)}\r\n{a}\r\n" for a in args)
    with socket.create_connection(("127.0.0.1", port), 2) as connection:
        connection.sendall(request.encode())
        time.sleep(0.05)
        return connection.recv(65536)


@pytest.fixture(params=["redis", "valkey"])
def full_redis(request: pytest.FixtureRequest) -> Iterator[str]:
    """A Redis or Valkey server with a small maxmemory and noeviction; yields the backend."""
    kind = request.param
    server = require_env(f"CACHETTE_TEST_{kind.upper()}_SERVER")
    port = int(require_env("CACHETTE_TEST_REDIS_SPARE_PORT"))
    argv = [server, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    argv += ["--appendonly", "no", "--maxmemory-policy", "noeviction"]
    with private_server(argv, port):
        # What an empty server uses differs between servers and versions: the limit is set
        # 500 KB above it, room for a hundred entries or more.
        used = int(command(port, "INFO", "memory").split(b"used_memory:")[1].split()[0])
        command(port, "CONFIG", "SET", "maxmemory", str(used + 500_000))
        url = f"{kind}://127.0.0.1:{port}/0"
        Cachette.load_config(lambda: [("backend", kind), (f"{kind}_url", url)])
        yield kind


async def fill(cache: Cachette, prefix: str) -> int:
    """Puts until the server refuses; returns how many it took."""
    for i in range(5_000):
        try:
            await cache.put(f"{prefix}:{i}", VALUE)
        except CachetteStoreFullError as error:
            assert isinstance(error, CachetteStorageError)
            assert "OOM" in str(error)
            return i
    pytest.fail("the server never filled")


async def test_full_redis_refuses_writes_as_store_full_and_still_reads_and_flushes(
    full_redis: str,
) -> None:
    cache = Cachette()
    stored = await fill(cache, "k")
    assert stored > 20
    assert await cache.fetch("k:0") == VALUE
    # fetch_with_ttl was MULTI/EXEC, which a full server refuses whole.
    ttl, value = await cache.fetch_with_ttl("k:1")
    assert value == VALUE and 0 < ttl <= 60
    assert await cache.fetch_with_ttl("absent") == (-1, None)
    assert await cache.fetch_many(["k:2", "absent"]) == [VALUE, None]
    assert await cache.clear(key="k:0") == 1
    assert await cache.clear(namespace="k") == stored - 1
    # Filled again, flush (also MULTI/EXEC) empties it, and writes work again.
    again = await fill(cache, "j")
    assert again > 20
    assert await cache.flush() == again
    await cache.put("after", VALUE)
    assert await cache.fetch("after") == VALUE


def test_full_memcached_refuses_writes_as_store_full() -> None:
    port = int(require_env("CACHETTE_TEST_MEMCACHED_SPARE_PORT"))
    user = ["-u", "root"] if os.geteuid() == 0 else []
    argv = [require_env("CACHETTE_TEST_MEMCACHED_SERVER"), "-l", "127.0.0.1", "-U", "0"]
    argv += ["-p", str(port), "-m", "2", "-M", *user]
    with private_server(argv, port):
        Cachette.load_config(
            lambda: [("backend", "memcached"), ("memcached_host", f"127.0.0.1:{port}")]
        )

        async def scenario() -> None:
            cache = Cachette()
            with pytest.raises(CachetteStoreFullError, match="out of memory"):
                for i in range(20_000):
                    await cache.put(f"k:{i}", VALUE * 10)
            assert await cache.fetch("k:0") == VALUE * 10
            assert await cache.flush() >= 0
            await cache.put("after", VALUE)
            assert await cache.fetch("after") == VALUE

        asyncio.run(scenario())


async def test_full_redis_cluster_still_reads_and_flushes() -> None:
    """The cluster client on nodes at maxmemory (noeviction): fetch_with_ttl and flush, sent
    as MULTI/EXEC, fall back to the fixed scripts per node. The shared test cluster is limited
    for this test only and emptied and unlimited again afterwards."""
    url = require_env("CACHETTE_TEST_REDIS_CLUSTER_URL")
    ports = [int(p) for p in require_env("CACHETTE_TEST_REDIS_CLUSTER_PORTS").split(",")]
    Cachette.load_config(lambda: [("backend", "redis"), ("redis_url", url)])
    cache = Cachette()
    await cache.flush()
    try:
        for port in ports:
            used = int(command(port, "INFO", "memory").split(b"used_memory:")[1].split()[0])
            command(port, "CONFIG", "SET", "maxmemory-policy", "noeviction")
            command(port, "CONFIG", "SET", "maxmemory", str(used + 300_000))
        with pytest.raises(CachetteStoreFullError):
            for i in range(20_000):
                await cache.put(f"k:{i}", VALUE)
        ttl, value = await cache.fetch_with_ttl("k:0")
        assert value == VALUE and 0 < ttl <= 60
        assert await cache.fetch_with_ttl("absent") == (-1, None)
        assert await cache.flush() > 0
        await cache.put("after", VALUE)
        assert await cache.fetch("after") == VALUE
    finally:
        for port in ports:
            command(port, "CONFIG", "SET", "maxmemory", "0")
        await cache.flush()
