"""Redis Cluster, Valkey cluster and Sentinel behind redis_url / valkey_url, against the servers
of scripts/services.d/redis-cluster.sh."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import ValidationError

from cachette import Cachette
from cachette.backends.redis import RedisBackend, create
from cachette.backends.redis_cluster import ClusterBackend
from cachette.backends.redis_url import parse_redis_url
from cachette.config import CachetteConfig

from .redis_env import require_env

pytestmark = pytest.mark.integration


def cluster_backend(**settings: object) -> ClusterBackend:
    backend = create(CachetteConfig(**settings))  # type: ignore[arg-type]
    assert isinstance(backend, ClusterBackend)
    return backend


def one_host(url: str) -> str:
    """The first node of a seed-list URL, as a one-host URL."""
    scheme, rest = url.split("://", 1)
    hosts, _, path = rest.partition("/")
    return f"{scheme}://{hosts.split(',')[0]}/{path}"


def test_url_forms() -> None:
    a = parse_redis_url("redis://u:pw@h1:7000,h2,[::1]:7002/0?read_from_replicas=yes")
    assert a.nodes == (("h1", 7000), ("h2", 6379), ("::1", 7002))
    assert a.read_from_replicas
    assert a.password == "pw"
    s = parse_redis_url("valkeys+sentinel://s1:26379,s2:26380/mymaster/3", "valkey_url")
    assert s.sentinel_service == "mymaster"
    assert s.db == 3
    assert s.tls
    assert s.nodes == (("s1", 26379), ("s2", 26380))
    assert "pw" not in repr(a) + a.describe()


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("redis://h1:7000,h2:7001/2", "only has database 0"),
        ("redis://h1:7000,,h2:7001", "empty host"),
        ("redis://h1:7000,h2:99999", "invalid port"),
        ("redis+sentinel://s1:26379", "service name"),
        ("redis+sentinel://s1:26379/svc/x", "database number"),
        ("redis://h1?read_from_replicas=maybe", "read_from_replicas"),
        ("http+sentinel://h/x", "must start with"),
    ],
)
def test_bad_cluster_urls_fail_at_load_config(url: str, problem: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Cachette.load_config(lambda: [("backend", "redis"), ("redis_url", url)])
    assert '"redis_url"' in str(caught.value)
    assert problem in str(caught.value)


@pytest.mark.parametrize(
    ("backend", "key", "variable"),
    [
        ("redis", "redis_url", "CACHETTE_TEST_REDIS_CLUSTER_URL"),
        ("valkey", "valkey_url", "CACHETTE_TEST_VALKEY_CLUSTER_URL"),
    ],
)
async def test_one_host_url_of_a_cluster_is_detected(backend: str, key: str, variable: str) -> None:
    b = cluster_backend(backend=backend, **{key: one_host(require_env(variable))})
    layout = b.layout()
    assert layout["shards"] == 3
    assert layout["covered_slots"] == 16384
    assert not layout["standalone"]
    await b.close()


async def test_a_standalone_server_keeps_the_standalone_client() -> None:
    backend = create(
        CachetteConfig(backend="redis", redis_url=require_env("CACHETTE_TEST_REDIS_URL"))
    )
    assert isinstance(backend, RedisBackend)
    await backend.close()


async def test_facade_round_trip_on_the_cluster() -> None:
    url = require_env("CACHETTE_TEST_REDIS_CLUSTER_URL")
    Cachette.load_config(lambda: [("backend", "redis"), ("redis_url", url), ("ttl", 30)])
    cache = Cachette()
    await cache.flush()
    await asyncio.gather(*(cache.put(f"k{i}", i) for i in range(200)))
    assert await asyncio.gather(*(cache.fetch(f"k{i}") for i in range(200))) == [
        str(i) for i in range(200)
    ]
    ttl, value = await cache.fetch_with_ttl("k7")
    assert value == "7"
    assert 0 < ttl <= 30
    assert await cache.fetch_with_ttl("missing") == (-1, None)
    assert await cache.clear(key="k7") == 1
    assert await cache.flush_expired() == 0
    assert await cache.flush() == 199


async def test_namespace_clear_spans_every_primary_and_escapes_globs() -> None:
    b = cluster_backend(
        backend="valkey", valkey_url=require_env("CACHETTE_TEST_VALKEY_CLUSTER_URL")
    )
    await asyncio.gather(*(b.put(f"n*s:{i}", b"1", 60_000) for i in range(3000)))
    await asyncio.gather(*(b.put(f"nXs:{i}", b"1", 60_000) for i in range(50)))
    assert await b.clear_namespace("n*s") == 3000
    assert await b.clear_namespace("n*s") == 0
    assert await b.clear_namespace("nXs") == 50
    await b.close()


async def test_bulk_and_lock_primitives_across_slots() -> None:
    b = cluster_backend(backend="redis", redis_url=require_env("CACHETTE_TEST_REDIS_CLUSTER_URL"))
    items = [(f"bulk:{i}", f"v{i}".encode()) for i in range(700)]
    await b.put_many(items, 60_000)
    values = await b.fetch_many([k for k, _ in items] + ["bulk:absent"])
    assert values == [v for _, v in items] + [None]
    assert await b.add("lock:a", b"me", 5_000)
    assert not await b.add("lock:a", b"you", 5_000)
    assert not await b.clear_if_equal("lock:a", b"you")
    assert await b.clear_if_equal("lock:a", b"me")
    await b.close()


async def test_sentinel_url_serves_from_the_primary() -> None:
    url = require_env("CACHETTE_TEST_SENTINEL_URL")
    b = cluster_backend(backend="redis", redis_url=url)
    await b.put("sentinel:k", b"v", 60_000)
    assert await b.fetch("sentinel:k") == b"v"
    assert b.layout()["standalone"]
    await b.close()
