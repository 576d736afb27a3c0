"""Redis and Valkey backends against real servers: configuration, operations, auth, TLS."""

from __future__ import annotations

import asyncio
import os

import pytest
from pydantic import ValidationError

from cachette import Cachette
from cachette.backends.redis import RedisBackend, create
from cachette.config import CachetteConfig
from cachette.exceptions import CachetteAuthError

from .redis_env import require_env

pytestmark = pytest.mark.integration


def backend_for(**settings: object) -> RedisBackend:
    backend = create(CachetteConfig(**settings))  # type: ignore[arg-type]
    assert isinstance(backend, RedisBackend)
    return backend


@pytest.fixture
def redis_url() -> str:
    return require_env("CACHETTE_TEST_REDIS_URL")


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://localhost:6379", "must start with"),
        ("redis://localhost:99999", "invalid port"),
        ("redis://localhost:0", "invalid port"),
        ("redis://localhost:6379/x", "database number"),
        ("redis://localhost:6379/-1", "database number"),
        ("redis://localhost:6379/?foo=1", "unsupported query"),
        ("redis://:6379", "needs a host"),
        ("unix://", "socket path"),
    ],
)
@pytest.mark.parametrize(("backend", "key"), [("redis", "redis_url"), ("valkey", "valkey_url")])
def test_bad_urls_fail_at_load_config(url: str, problem: str, backend: str, key: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Cachette.load_config(lambda: [("backend", backend), (key, url)])
    assert f'"{key}"' in str(caught.value)
    assert problem in str(caught.value)


def test_messages_never_show_the_password() -> None:
    with pytest.raises(ValidationError) as caught:
        Cachette.load_config(
            lambda: [("backend", "redis"), ("redis_url", "redis://u:hunter2@host:70000")]
        )
    assert "hunter2" not in str(caught.value)
    # Nobody listens there, so the backend is the cluster client (docs/redis.md: detection).
    backend = create(CachetteConfig(backend="redis", redis_url="redis://u:hunter2@127.0.0.1:1/0"))
    assert "hunter2" not in repr(backend) + repr(getattr(backend, "address", None))


def test_missing_tls_file_fails_at_load_config(redis_url: str) -> None:
    with pytest.raises(ValidationError, match="tls_ca_file"):
        Cachette.load_config(
            lambda: [("backend", "redis"), ("redis_url", redis_url), ("tls_ca_file", "/nope")]
        )


async def test_facade_round_trip_on_redis(redis_url: str) -> None:
    Cachette.load_config(lambda: [("backend", "redis"), ("redis_url", redis_url), ("ttl", 30)])
    cache = Cachette()
    await cache.flush()
    await cache.put("greeting", "hello")
    await cache.put("number", 123)
    assert await cache.fetch("greeting") == "hello"
    assert await cache.fetch("number") == "123"
    ttl, value = await cache.fetch_with_ttl("greeting")
    assert value == "hello"
    assert 0 < ttl <= 30
    assert await cache.fetch_with_ttl("missing") == (-1, None)
    assert await cache.clear(key="greeting") == 1
    assert await cache.clear(key="greeting") == 0
    assert await cache.fetch("greeting") is None
    assert await cache.flush_expired() == 0
    assert await cache.flush() == 1


async def test_namespace_glob_characters_are_escaped(redis_url: str) -> None:
    backend = backend_for(backend="redis", redis_url=redis_url)
    await backend.flush()
    for key in ("a*:x", "a*:y", "ab:x", "a?:x", "a[b]:x", "a\\:x", "a*x"):
        await backend.put(key, b"1", 60_000)
    assert await backend.clear_namespace("a*") == 2
    assert await backend.fetch("ab:x") == b"1"
    assert await backend.fetch("a*x") == b"1"
    assert await backend.clear_namespace("a[b]") == 1
    assert await backend.clear_namespace("a\\") == 1
    assert await backend.fetch("a?:x") == b"1"
    await backend.close()


async def test_namespace_clear_over_many_scan_batches(redis_url: str) -> None:
    backend = backend_for(backend="redis", redis_url=redis_url)
    await backend.flush()
    await asyncio.gather(*(backend.put(f"big:{i}", b"v", 60_000) for i in range(5000)))
    await backend.put("bigger:1", b"v", 60_000)
    assert await backend.clear_namespace("big") == 5000
    assert await backend.fetch("bigger:1") == b"v"
    await backend.close()


async def test_binary_and_one_mebibyte_values(redis_url: str) -> None:
    backend = backend_for(backend="redis", redis_url=redis_url)
    binary = bytes(range(256)) * 4 + b"\r\n$-1\r\n"
    big = os.urandom(1 << 20)
    await backend.put("bin", binary, 60_000)
    await backend.put("big", big, 60_000)
    await backend.put("empty", b"", 60_000)
    assert await backend.fetch("bin") == binary
    assert await backend.fetch("big") == big
    assert await backend.fetch("empty") == b""
    hit = await backend.fetch_with_ttl("big")
    assert hit is not None and hit[1] == big and 0 < hit[0] <= 60_000
    await backend.put("unicode:ключ", b"x", 60_000)
    assert await backend.fetch("unicode:ключ") == b"x"
    await backend.close()


async def test_password_and_acl_user_auth() -> None:
    for url in (
        require_env("CACHETTE_TEST_REDIS_AUTH_URL"),
        require_env("CACHETTE_TEST_REDIS_ACL_URL"),
    ):
        backend = backend_for(backend="redis", redis_url=url)
        await backend.put("auth:k", b"v", 10_000)
        assert await backend.fetch("auth:k") == b"v"
        await backend.close()
    acl = backend_for(backend="redis", redis_url=require_env("CACHETTE_TEST_REDIS_ACL_URL"))
    assert await acl._client.command("ACL", "WHOAMI") == b"cachette"
    await acl.close()


async def test_wrong_password_is_a_clear_auth_error() -> None:
    good = require_env("CACHETTE_TEST_REDIS_AUTH_URL")
    bad = good.replace("cachette-test-secret", "wrong-secret")
    backend = backend_for(backend="redis", redis_url=bad)
    with pytest.raises(CachetteAuthError) as caught:
        await backend.fetch("k")
    assert "authentication failed" in str(caught.value)
    assert "wrong-secret" not in str(caught.value)
    # Again, once the pool knows it is refused: still the same typed error.
    with pytest.raises(CachetteAuthError):
        await backend.fetch("k")
    await backend.close()


async def test_database_selection_and_flush_only_that_database(redis_url: str) -> None:
    base = redis_url.rsplit("/", 1)[0]
    db5 = backend_for(backend="redis", redis_url=f"{base}/5")
    db6 = backend_for(backend="redis", redis_url=f"{base}/6")
    await db5.flush()
    await db6.flush()
    await db5.put("where", b"5", 60_000)
    await db6.put("where", b"6", 60_000)
    await db6.put("other", b"6", 60_000)
    assert await db5.fetch("where") == b"5"
    assert await db5.flush() == 1
    assert await db6.fetch("where") == b"6"
    assert await db6.flush() == 2
    await db5.close()
    await db6.close()


async def test_tls_with_generated_certificates() -> None:
    backend = backend_for(
        backend="redis",
        redis_url=require_env("CACHETTE_TEST_REDIS_TLS_URL"),
        tls_ca_file=require_env("CACHETTE_TEST_REDIS_TLS_CA"),
        tls_cert_file=require_env("CACHETTE_TEST_REDIS_TLS_CERT"),
        tls_key_file=require_env("CACHETTE_TEST_REDIS_TLS_KEY"),
    )
    await backend.put("tls:k", b"secret value", 10_000)
    assert await backend.fetch("tls:k") == b"secret value"
    await backend.close()


async def test_unix_socket() -> None:
    backend = backend_for(backend="redis", redis_url=require_env("CACHETTE_TEST_REDIS_UNIX_URL"))
    await backend.put("unix:k", b"v", 10_000)
    assert await backend.fetch("unix:k") == b"v"
    await backend.close()


async def test_valkey_backend_through_the_facade() -> None:
    url = require_env("CACHETTE_TEST_VALKEY_URL")
    Cachette.load_config(lambda: [("backend", "valkey"), ("valkey_url", url)])
    cache = Cachette()
    await cache.put("valkey:k", "v")
    assert await cache.fetch("valkey:k") == "v"
    assert (await cache.fetch_with_ttl("valkey:k"))[1] == "v"
    await cache.put("ns:1", "a")
    assert await cache.clear(namespace="ns") == 1
    backend = backend_for(backend="valkey", valkey_url=url)
    info = await backend._client.command("INFO", "server")
    assert isinstance(info, bytes) and b"valkey_version" in info
    await backend.close()
