"""The memcached backend against real servers started by scripts/services.sh.

A missing server address fails the test (never a skip): run through scripts/with-services.sh.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
import uuid
from collections.abc import Iterator

import pytest
from fastapi import Depends, FastAPI
from fastapi.responses import PlainTextResponse
from fastapi.testclient import TestClient

from cachette import Cachette
from cachette.exceptions import (
    CachetteAuthError,
    CachetteConnectionError,
    CachetteTimeoutError,
    CachetteValueTooLargeError,
)

pytestmark = pytest.mark.integration


def env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: run the tests through scripts/with-services.sh")
    return value


def use(host: str, *extra: tuple[str, object]) -> None:
    Cachette.load_config(
        lambda: [("backend", "memcached"), ("memcached_host", host), ("ttl", 120), *extra]
    )


def unique(stem: str) -> str:
    return f"{stem}{uuid.uuid4().hex}"


AWKWARD_KEYS = [
    "plain",
    "with space",
    "nul\0byte",
    "tab\tnew\nline\r",
    "unicode-é€😀",
    "k" * 250,
    "k" * 251,
    "é" * 200,
    "x" * 10_000,
    "~#looks-hashed",
]


@pytest.fixture
def plain() -> Iterator[str]:
    host = env("CACHETTE_TEST_MEMCACHED_HOST")
    use(host)
    yield host


async def test_every_operation_with_exact_ttl(plain: str) -> None:
    cache = Cachette()
    key = unique("py:ops:")
    assert await cache.fetch(key) is None
    assert await cache.fetch_with_ttl(key) == (-1, None)
    await cache.put(key, "value", ttl=1000)
    assert await cache.fetch(key) == "value"
    ttl, value = await cache.fetch_with_ttl(key)
    assert value == "value" and 999 <= ttl <= 1000  # whole seconds; at most one tick passed
    await cache.put(key, 123)
    ttl, value = await cache.fetch_with_ttl(key)
    assert value == "123" and 119 <= ttl <= 120  # the configured ttl
    assert await cache.clear(key=key) == 1
    assert await cache.clear(key=key) == 0
    assert await cache.fetch(key) is None
    assert await cache.flush_expired() == 0


async def test_any_key_round_trips(plain: str) -> None:
    cache = Cachette()
    stem = unique("py:keys:")
    keys = [stem + k for k in AWKWARD_KEYS] + [""]
    for i, key in enumerate(keys):
        await cache.put(key, f"value-{i}")
    for i, key in enumerate(keys):
        assert await cache.fetch(key) == f"value-{i}", repr(key[:40])
    assert await cache.clear(key="") == 1


async def test_namespace_clear_counts_mapped_keys_across_servers() -> None:
    use(env("CACHETTE_TEST_MEMCACHED_CLUSTER"))
    cache = Cachette()
    ns = unique("py-ns-")
    inside = [f"{ns}:{i}" for i in range(300)] + [f"{ns}:{k}" for k in AWKWARD_KEYS]
    outside = [ns, f"{ns}x:1", f"x{ns}:1", f"{ns};1"]
    await asyncio.gather(*(cache.put(k, "in") for k in inside))
    await asyncio.gather(*(cache.put(k, "out") for k in outside))
    assert await cache.clear(namespace=ns) == len(inside)
    assert await asyncio.gather(*(cache.fetch(k) for k in inside)) == [None] * len(inside)
    assert await asyncio.gather(*(cache.fetch(k) for k in outside)) == ["out"] * len(outside)
    assert await cache.clear(namespace=ns) == 0


async def test_concurrent_namespace_clears_share_the_crawler() -> None:
    use(env("CACHETTE_TEST_MEMCACHED_CLUSTER"))
    cache = Cachette()
    namespaces = [unique("py-par-") for _ in range(4)]
    await asyncio.gather(*(cache.put(f"{ns}:{i}", i) for ns in namespaces for i in range(20)))
    counts = await asyncio.gather(*(cache.clear(namespace=ns) for ns in namespaces))
    assert counts == [20] * 4


async def test_value_over_the_item_limit() -> None:
    use(env("CACHETTE_TEST_MEMCACHED_SMALL_HOST"), ("codec", "pickle"))
    limit = int(env("CACHETTE_TEST_MEMCACHED_SMALL_ITEM_LIMIT"))
    cache = Cachette()
    key = unique("py:large:")
    await cache.put(key, b"old")
    with pytest.raises(CachetteValueTooLargeError, match="item size limit"):
        await cache.put(key, b"v" * (limit + 1))
    assert await cache.fetch(key) is None  # neither half-written nor the stale old value
    await cache.put(key, b"v" * (limit // 2))
    assert await cache.fetch(key) == b"v" * (limit // 2)


async def test_authentication() -> None:
    use(env("CACHETTE_TEST_MEMCACHED_AUTH_HOST"))
    cache = Cachette()
    key = unique("py:auth:")
    await cache.put(key, "ok")
    assert await cache.fetch(key) == "ok"
    wrong = env("CACHETTE_TEST_MEMCACHED_AUTH_WRONG_HOST")
    use(wrong)
    with pytest.raises(CachetteAuthError) as info:
        await Cachette().fetch(key)
    password = wrong.split("@")[0].rsplit(":", 1)[1]
    assert password not in str(info.value)
    # fail_open hides outages, never refused credentials.
    use(wrong, ("fail_open", True))
    with pytest.raises(CachetteAuthError):
        await Cachette().fetch(key)


async def test_unix_socket_and_tls() -> None:
    use(env("CACHETTE_TEST_MEMCACHED_UNIX_HOST"))
    key = unique("py:unix:")
    await Cachette().put(key, "unix")
    assert await Cachette().fetch(key) == "unix"
    use(
        env("CACHETTE_TEST_MEMCACHED_TLS_HOST"),
        ("tls_ca_file", env("CACHETTE_TEST_MEMCACHED_TLS_CA")),
        ("tls_cert_file", env("CACHETTE_TEST_MEMCACHED_TLS_CERT")),
        ("tls_key_file", env("CACHETTE_TEST_MEMCACHED_TLS_KEY")),
    )
    await Cachette().put(key, "tls")
    assert await Cachette().fetch_with_ttl(key) == (120, "tls")


async def test_thousands_of_concurrent_tasks(plain: str) -> None:
    cache = Cachette()
    stem = unique("py:many:")
    n = 5000
    await asyncio.gather(*(cache.put(f"{stem}{i}", i) for i in range(n)))
    got = await asyncio.gather(*(cache.fetch(f"{stem}{i}") for i in range(n)))
    assert got == [str(i) for i in range(n)]


class SpareServer:
    def __init__(self, port: int) -> None:
        self.port = port
        self.pidfile = f"/tmp/cachette-mc-pytest-{port}.pid"

    def start(self) -> None:
        user = ["-u", "root"] if os.geteuid() == 0 else []
        subprocess.run(
            [
                env("CACHETTE_TEST_MEMCACHED_SERVER"),
                "-d",
                "-l",
                "127.0.0.1",
                "-U",
                "0",
                "-m",
                "32",
                "-p",
                str(self.port),
                "-P",
                self.pidfile,
                *user,
            ],
            check=True,
        )
        # Generous: a shared 2-core machine under load can take seconds to start a process.
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if os.path.exists(self.pidfile) and open(self.pidfile).read().strip():
                return
            time.sleep(0.01)
        pytest.fail("the spare memcached did not start within 15 s")

    def stop(self) -> None:
        if os.path.exists(self.pidfile):
            os.kill(int(open(self.pidfile).read()), 9)
            os.remove(self.pidfile)
            time.sleep(0.1)


async def test_a_dead_server_fails_only_its_keys_and_recovers() -> None:
    spare = SpareServer(int(env("CACHETTE_TEST_MEMCACHED_SPARE_PORT")))
    spare.start()
    try:
        cluster = env("CACHETTE_TEST_MEMCACHED_CLUSTER").split(",")
        hosts = ",".join([*cluster[:2], f"127.0.0.1:{spare.port}"])
        use(hosts, ("timeout", 0.5), ("connect_timeout", 0.3))
        cache = Cachette()
        stem = unique("py:dead:")
        keys = [f"{stem}{i}" for i in range(300)]
        await asyncio.gather(*(cache.put(k, k) for k in keys))
        spare.stop()
        results = await asyncio.gather(*(cache.fetch(k) for k in keys), return_exceptions=True)
        failed = [r for r in results if isinstance(r, BaseException)]
        assert failed, "some keys live on the stopped server"
        assert all(isinstance(r, (CachetteConnectionError, CachetteTimeoutError)) for r in failed)
        assert all(
            r == k for r, k in zip(results, keys, strict=True) if not isinstance(r, BaseException)
        )
        assert len(failed) < len(keys)
        # fail_open: the same outage reads as misses.
        use(hosts, ("timeout", 0.5), ("connect_timeout", 0.3), ("fail_open", True))
        cache = Cachette()
        lost = [k for r, k in zip(results, keys, strict=True) if isinstance(r, BaseException)]
        misses = await asyncio.gather(*(cache.fetch(k) for k in keys))
        assert [k for r, k in zip(misses, keys, strict=True) if r is None] == lost
        spare.start()
        for _ in range(100):
            try:
                await cache.put(lost[0], "back")
                if await cache.fetch(lost[0]) == "back":
                    break
            except (CachetteConnectionError, CachetteTimeoutError):
                pass
            await asyncio.sleep(0.05)
        else:
            pytest.fail("no recovery after the server came back")
    finally:
        spare.stop()


async def test_flush_counts_what_it_removed() -> None:
    spare = SpareServer(int(env("CACHETTE_TEST_MEMCACHED_SPARE_PORT")))
    spare.start()
    try:
        use(f"127.0.0.1:{spare.port}")
        cache = Cachette()
        await asyncio.gather(*(cache.put(f"f{i}", i) for i in range(40)))
        assert await cache.flush() == 40
        assert await cache.fetch("f1") is None
        assert await cache.flush() == 0
    finally:
        spare.stop()


def test_fastapi_testclient(plain: str) -> None:
    app = FastAPI()

    @app.put("/{key}", response_class=PlainTextResponse)
    async def setter(key: str, value: str, cachette: Cachette = Depends()) -> str:
        await cachette.put(key, value)
        return "OK"

    @app.get("/{key}", response_class=PlainTextResponse)
    async def getter(key: str, cachette: Cachette = Depends()) -> str:
        ttl, value = await cachette.fetch_with_ttl(key)
        return f"{ttl}:{value}"

    key = unique("py-fastapi-")
    with TestClient(app) as client:
        assert client.put(f"/{key}", params={"value": "hello"}).text == "OK"
        assert client.get(f"/{key}").text in ("120:hello", "119:hello")
        assert client.get(f"/{key}x").text == "-1:None"
