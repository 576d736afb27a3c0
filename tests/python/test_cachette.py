"""The public API on the default in-memory backend."""

from __future__ import annotations

import asyncio
import os
import pickle
from typing import Any

import pytest

from cachette import Cachette, CachetteValueError, CachetteValueTooLargeError


def load(*pairs: tuple[str, Any]) -> None:
    Cachette.load_config(lambda: list(pairs))


async def test_fetch_absent_is_none() -> None:
    assert await Cachette().fetch("nope") is None
    assert await Cachette().fetch_with_ttl("nope") == (-1, None)


async def test_put_fetch_vanilla_converts_to_str() -> None:
    cache = Cachette()
    await cache.put("n", 123)
    assert await cache.fetch("n") == "123"
    await cache.put("s", "héllo")
    assert await cache.fetch("s") == "héllo"


async def test_json_and_pickle_codecs_keep_types() -> None:
    load(("codec", "json"))
    await Cachette().put("k", {"a": [1, 2.5, None, "x"]})
    assert await Cachette().fetch("k") == {"a": [1, 2.5, None, "x"]}
    load(("codec", "pickle"))
    value = {"b": b"\x00\xff", "t": (1, 2), "s": {3}}
    await Cachette().put("k", value)
    assert await Cachette().fetch("k") == value


async def test_fetch_with_ttl_reports_remaining_seconds() -> None:
    load(("ttl", 30))
    cache = Cachette()
    await cache.put("a", "x")
    await cache.put("b", "y", ttl=5)
    assert await cache.fetch_with_ttl("a") == (30, "x")
    assert await cache.fetch_with_ttl("b") == (5, "y")


async def test_entries_expire() -> None:
    cache = Cachette()
    await cache.put("short", "v", ttl=0.05)
    assert await cache.fetch("short") == "v"
    await asyncio.sleep(0.08)
    assert await cache.fetch("short") is None
    assert await cache.fetch_with_ttl("short") == (-1, None)


async def test_flush_expired_counts_swept_entries() -> None:
    cache = Cachette()
    for i in range(5):
        await cache.put(f"gone:{i}", "v", ttl=0.02)
    await cache.put("stays", "v")
    await asyncio.sleep(0.05)
    assert await cache.flush_expired() == 5
    assert await cache.flush_expired() == 0
    assert await cache.fetch("stays") == "v"


async def test_clear_key_and_namespace() -> None:
    cache = Cachette()
    for key in ("user:1", "user:2", "user:3", "users:9", "user", "other:1"):
        await cache.put(key, "v")
    assert await cache.clear(key="other:1") == 1
    assert await cache.clear(key="other:1") == 0
    assert await cache.clear(namespace="user") == 3
    assert await cache.fetch("users:9") == "v"
    assert await cache.fetch("user") == "v"
    assert await cache.clear() == 0


async def test_namespace_glob_characters_are_literal() -> None:
    cache = Cachette()
    await cache.put("a*:1", "v")
    await cache.put("ab:x", "v")
    assert await cache.clear(namespace="a*") == 1
    assert await cache.fetch("ab:x") == "v"


async def test_flush_removes_everything() -> None:
    cache = Cachette()
    for i in range(10):
        await cache.put(str(i), i)
    assert await cache.flush() == 10
    assert await cache.fetch("3") is None


async def test_overwrite_replaces_value_and_ttl() -> None:
    cache = Cachette()
    await cache.put("k", "a", ttl=100)
    await cache.put("k", "b", ttl=10)
    assert await cache.fetch_with_ttl("k") == (10, "b")


async def test_bad_keys_and_ttls_raise_typed_errors() -> None:
    cache = Cachette()
    with pytest.raises(CachetteValueError):
        await cache.put(b"bytes-key", "v")  # type: ignore[arg-type]
    with pytest.raises(CachetteValueError):
        await cache.fetch(42)  # type: ignore[arg-type]
    with pytest.raises(CachetteValueError):
        await cache.put("k", "v", ttl=-1)
    with pytest.raises(CachetteValueError):
        await cache.clear(key=3)  # type: ignore[arg-type]
    assert await cache.fetch("k") is None


async def test_any_string_key_round_trips() -> None:
    cache = Cachette()
    keys = ["", " ", "with space", "\x00nul", "ключ", "🙂" * 100, "k" * 5000]
    for i, key in enumerate(keys):
        await cache.put(key, str(i))
    for i, key in enumerate(keys):
        assert await cache.fetch(key) == str(i)


async def test_value_over_budget_fails_and_keeps_old_value() -> None:
    load(("max_memory", "1MiB"), ("codec", "pickle"))
    cache = Cachette()
    await cache.put("k", b"small")
    with pytest.raises(CachetteValueTooLargeError):
        await cache.put("k", b"x" * (2 * 1024 * 1024))
    assert await cache.fetch("k") == b"small"


async def test_budget_evicts_instead_of_growing() -> None:
    load(("max_memory", "2MiB"))
    cache = Cachette()
    for i in range(20_000):
        await cache.put(f"k{i}", "v" * 200)
    stats = Cachette.stats()
    assert stats["bytes"] <= stats["capacity"] == 2 * 1024 * 1024
    assert stats["evictions"] > 0
    assert await cache.fetch("k19999") == "v" * 200


async def test_stats_count_hits_and_misses() -> None:
    cache = Cachette()
    await cache.put("k", "v")
    await cache.fetch("k")
    await cache.fetch("missing")
    stats = Cachette.stats()
    assert stats["hits"] == 1
    assert stats["misses"] == 1
    assert stats["entries"] == 1


async def test_reconfiguring_starts_a_new_cache() -> None:
    await Cachette().put("k", "v")
    load(("ttl", 10))
    assert await Cachette().fetch("k") is None


def test_forked_child_gets_a_fresh_store() -> None:
    asyncio.run(Cachette().put("parent", "v"))
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: must not reuse the parent's store, and must work
        try:

            async def child() -> tuple[Any, Any]:
                await Cachette().put("child", "c")
                return await Cachette().fetch("parent"), await Cachette().fetch("child")

            os.write(write, pickle.dumps(asyncio.run(child())))
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        result = pickle.loads(pipe.read())
    os.waitpid(pid, 0)
    assert result == (None, "c")
    assert asyncio.run(Cachette().fetch("parent")) == "v"
