"""What every network backend does the same way, on real servers: the bulk and lock operations
run in the engine, and a stalled server fails whole operations within the timeout.

A missing server address fails the test (never a skip): run through scripts/with-services.sh.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator

import pytest

from cachette.backends.base import NetworkBackend
from cachette.backends.memcached import create as create_memcached
from cachette.backends.redis import create as create_redis
from cachette.config import CachetteConfig
from cachette.exceptions import CachetteConnectionError, CachetteTimeoutError

pytestmark = pytest.mark.integration


def env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: run the tests through scripts/with-services.sh")
    return value


def redis_backend(url: str, **options: object) -> NetworkBackend:
    backend = create_redis(CachetteConfig(backend="redis", redis_url=url, **options))
    assert isinstance(backend, NetworkBackend)
    return backend


def valkey_backend(url: str, **options: object) -> NetworkBackend:
    backend = create_redis(CachetteConfig(backend="valkey", valkey_url=url, **options))
    assert isinstance(backend, NetworkBackend)
    return backend


def memcached_backend(hosts: str, **options: object) -> NetworkBackend:
    backend = create_memcached(CachetteConfig(backend="memcached", memcached_host=hosts, **options))
    assert isinstance(backend, NetworkBackend)
    return backend


BACKENDS: dict[str, Callable[[], NetworkBackend]] = {
    "redis": lambda: redis_backend(env("CACHETTE_TEST_REDIS_URL")),
    "valkey": lambda: valkey_backend(env("CACHETTE_TEST_VALKEY_URL")),
    "memcached": lambda: memcached_backend(env("CACHETTE_TEST_MEMCACHED_HOST")),
    "memcached-cluster": lambda: memcached_backend(env("CACHETTE_TEST_MEMCACHED_CLUSTER")),
}


@pytest.fixture(params=sorted(BACKENDS))
def backend(request: pytest.FixtureRequest) -> NetworkBackend:
    return BACKENDS[request.param]()


async def test_add_stores_only_an_absent_key(backend: NetworkBackend) -> None:
    key = f"lock:{uuid.uuid4().hex}"
    assert await backend.add(key, b"owner-1", 60_000) is True
    assert await backend.add(key, b"owner-2", 60_000) is False
    assert await backend.fetch(key) == b"owner-1"


async def test_clear_if_equal_removes_only_the_owners_value(backend: NetworkBackend) -> None:
    key = f"lock:{uuid.uuid4().hex}"
    assert await backend.clear_if_equal(key, b"owner-1") is False  # absent
    await backend.put(key, b"owner-1", 60_000)
    assert await backend.clear_if_equal(key, b"owner-2") is False
    assert await backend.fetch(key) == b"owner-1"
    assert await backend.clear_if_equal(key, b"owner-1") is True
    assert await backend.fetch(key) is None


async def test_put_many_then_fetch_many_in_order(backend: NetworkBackend) -> None:
    stem = f"bulk:{uuid.uuid4().hex}:"
    items = [(f"{stem}{i}", f"value-{i}".encode()) for i in range(500)]
    await backend.put_many(items, 60_000)
    keys = [f"{stem}missing-a", *(k for k, _ in items), f"{stem}missing-b"]
    values = await backend.fetch_many(keys)
    assert values == [None, *(v for _, v in items), None]
    assert await backend.fetch_many([]) == []
    assert await backend.clear_namespace(stem[:-1]) == len(items)


async def test_text_reads_decode_as_the_vanilla_codec_does(backend: NetworkBackend) -> None:
    # fetch_text/fetch_many_text build str in the engine: UTF-8, and surrogate escapes for
    # bytes that are not UTF-8 (bytes.decode("utf-8", "surrogateescape"), the codec's rule).
    stem = f"text:{uuid.uuid4().hex}:"
    stored = {
        "ascii": b"v" * 1024,
        "utf8": "d\u00e9j\u00e0 vu \u2603 \U0001f600".encode(),
        "broken": b"\xffabc\xc3",
        "empty": b"",
    }
    await backend.put_many([(stem + k, v) for k, v in stored.items()], 60_000)
    assert backend.fetch_text is not None and backend.fetch_many_text is not None
    for name, raw in stored.items():
        assert await backend.fetch_text(stem + name) == raw.decode("utf-8", "surrogateescape")
    keys = [stem + k for k in stored]
    expected = [v.decode("utf-8", "surrogateescape") for v in stored.values()]
    assert await backend.fetch_many_text([stem + "missing", *keys]) == [None, *expected]
    assert await backend.fetch_text(stem + "missing") is None


async def test_requests_made_in_one_loop_iteration_all_complete(backend: NetworkBackend) -> None:
    # Submissions of one iteration of the loop wait for its end and leave in one batch: a
    # request made by a callback, by a task, and after the loop's batch has been flushed
    # all complete, in any mix.
    stem = f"batch:{uuid.uuid4().hex}:"
    await backend.put_many([(f"{stem}{i}", str(i).encode()) for i in range(200)], 60_000)
    loop = asyncio.get_running_loop()
    from_callback: list[asyncio.Future[bytes | None]] = []
    loop.call_soon(lambda: from_callback.append(asyncio.ensure_future(backend.fetch(stem + "7"))))
    first = [backend.fetch(f"{stem}{i}") for i in range(100)]
    await asyncio.sleep(0)  # the batch of `first` has been flushed by now
    second = [backend.fetch(f"{stem}{i}") for i in range(100, 200)]
    values = await asyncio.wait_for(asyncio.gather(*first, *second, *from_callback), 10)
    assert values == [str(i).encode() for i in range(200)] + [b"7"]


async def test_put_many_applies_the_ttl(backend: NetworkBackend) -> None:
    stem = f"bulk-ttl:{uuid.uuid4().hex}:"
    await backend.put_many([(f"{stem}a", b"1"), (f"{stem}b", b"2")], 30_000)
    hit = await backend.fetch_with_ttl(f"{stem}b")
    assert hit is not None and 0 < hit[0] <= 30_000 and hit[1] == b"2"


async def test_flush_expired_is_zero_on_self_expiring_servers(backend: NetworkBackend) -> None:
    assert await backend.flush_expired() == 0


# A stalled server: the process is stopped (SIGSTOP), so connections stay open and nothing
# answers. Each whole operation must fail with CachetteTimeoutError after about one timeout
# per round trip; before the engine ran namespace clears, memcached's took 60 s.

TIMEOUT = 0.5
# Generous: one round trip's timeout, the engine's deadline tick, a loaded machine.
BOUND = 6 * TIMEOUT


class StoppedServer:
    def __init__(self, argv: list[str]) -> None:
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGSTOP)

    def close(self) -> None:
        self.process.send_signal(signal.SIGCONT)
        self.process.kill()
        self.process.wait()


@pytest.fixture
def private_redis() -> Iterator[tuple[StoppedServer, int]]:
    port = int(env("CACHETTE_TEST_REDIS_SPARE_PORT"))
    argv = [env("CACHETTE_TEST_REDIS_SERVER"), "--port", str(port), "--bind", "127.0.0.1"]
    server = StoppedServer([*argv, "--save", "", "--appendonly", "no", "--loglevel", "warning"])
    yield server, port
    server.close()


@pytest.fixture
def private_memcached() -> Iterator[tuple[StoppedServer, int]]:
    port = int(env("CACHETTE_TEST_MEMCACHED_SPARE_PORT"))
    user = ["-u", "root"] if os.geteuid() == 0 else []
    argv = [env("CACHETTE_TEST_MEMCACHED_SERVER"), "-l", "127.0.0.1", "-U", "0", "-m", "32"]
    server = StoppedServer([*argv, "-p", str(port), *user])
    yield server, port
    server.close()


async def until_ready(backend: NetworkBackend) -> None:
    for _ in range(200):
        try:
            await backend.put("stall:probe", b"1", 60_000)
            return
        except (CachetteConnectionError, CachetteTimeoutError):  # still starting
            await asyncio.sleep(0.05)
    pytest.fail("the private server never answered")


async def assert_times_out(operation: Callable[[], object]) -> None:
    start = time.monotonic()
    with pytest.raises(CachetteTimeoutError):
        await operation()  # type: ignore[misc]
    elapsed = time.monotonic() - start
    assert elapsed < BOUND, f"took {elapsed:.2f} s with timeout={TIMEOUT}"


async def stalled_server_fails_within_the_timeout(
    backend: NetworkBackend, server: StoppedServer
) -> None:
    await until_ready(backend)
    for i in range(50):
        await backend.put(f"stall:{i}", b"v", 60_000)
    server.stop()
    await assert_times_out(lambda: backend.clear_namespace("stall"))
    await assert_times_out(lambda: backend.fetch("stall:1"))
    await assert_times_out(lambda: backend.put("stall:1", b"w", 60_000))
    await assert_times_out(lambda: backend.flush())
    await assert_times_out(lambda: backend.fetch_many(["stall:1", "stall:2"]))
    await backend.close()


async def test_stalled_redis_fails_whole_operations_within_the_timeout(
    private_redis: tuple[StoppedServer, int],
) -> None:
    server, port = private_redis
    backend = redis_backend(f"redis://127.0.0.1:{port}/0", timeout=TIMEOUT, connect_timeout=TIMEOUT)
    await stalled_server_fails_within_the_timeout(backend, server)


async def test_stalled_memcached_fails_whole_operations_within_the_timeout(
    private_memcached: tuple[StoppedServer, int],
) -> None:
    server, port = private_memcached
    backend = memcached_backend(f"127.0.0.1:{port}", timeout=TIMEOUT, connect_timeout=TIMEOUT)
    await stalled_server_fails_within_the_timeout(backend, server)
