"""One validation of keys and ttls for every operation (python/cachette/validation.py).

Each operation, given each bad input, raises ``CachetteValueError`` (never ``TypeError``,
``UnicodeEncodeError`` or ``OverflowError``) and writes nothing: ``put_many`` checks every key
and the ttl before its first write, ``get_or_set`` before it runs the factory."""

from __future__ import annotations

import math
import pathlib
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from backends import BACKEND_PARAMS, BackendSpec

from cachette import Cachette, CachetteValueError, core, memoize
from cachette.exceptions import CachetteValueTooLargeError
from cachette.validation import MAX_TTL

LONE_SURROGATE = "bad\ud800key"
BAD_KEYS = [
    pytest.param(LONE_SURROGATE, id="lone-surrogate"),
    pytest.param(123, id="int"),
    pytest.param(b"bytes", id="bytes"),
    pytest.param(None, id="none"),
]
BAD_TTLS = [
    pytest.param(math.inf, id="inf"),
    pytest.param(-math.inf, id="-inf"),
    pytest.param(math.nan, id="nan"),
    pytest.param(-1, id="negative"),
    pytest.param(-0.5, id="negative-float"),
    pytest.param(MAX_TTL + 1, id="over-30-days"),
    pytest.param(10**20, id="10**20"),
    pytest.param(1e300, id="1e300"),
    pytest.param("60", id="str"),
]

KeyOp = Callable[[Cachette, Any], Awaitable[Any]]
TtlOp = Callable[[Cachette, str, Any], Awaitable[Any]]


async def _factory() -> str:
    raise AssertionError("the factory ran although the arguments were refused")


async def _memoized_with_key(key: Any) -> None:
    @memoize(key=lambda: key)
    async def f() -> str:
        return await _factory()

    await f()


async def _memoized_with_ttl(ttl: Any) -> None:
    # refused when decorating or at the first call: either way before the function runs
    @memoize(ttl=ttl, namespace="validation-ttl")
    async def f() -> str:
        return await _factory()

    await f()


KEY_OPS: dict[str, KeyOp] = {
    "fetch": lambda c, k: c.fetch(k),
    "fetch_with_ttl": lambda c, k: c.fetch_with_ttl(k),
    "fetch_many": lambda c, k: c.fetch_many(["good", k]),
    "put": lambda c, k: c.put(k, "v"),
    "put_many": lambda c, k: c.put_many([("good-before", "v"), (k, "v"), ("good-after", "v")]),
    "get_or_set": lambda c, k: c.get_or_set(k, _factory),
    "memoize": lambda c, k: _memoized_with_key(k),
    "clear_key": lambda c, k: c.clear(key=k),
    "clear_namespace": lambda c, k: c.clear(namespace=k),
}

TTL_OPS: dict[str, TtlOp] = {
    "put": lambda c, k, t: c.put(k, "v", ttl=t),
    "put_many": lambda c, k, t: c.put_many({k: "v", k + "-2": "w"}, ttl=t),
    "get_or_set": lambda c, k, t: c.get_or_set(k, _factory, ttl=t),
    "memoize": lambda c, k, t: _memoized_with_ttl(t),
}


@pytest.mark.parametrize("op", KEY_OPS)
@pytest.mark.parametrize("key", BAD_KEYS)
@pytest.mark.parametrize("backend", ["inmemory", "pickle"])
async def test_bad_key_raises_cachette_value_error_for_every_operation(
    backend: str, key: Any, op: str, tmp_path: pathlib.Path
) -> None:
    if op.startswith("clear") and key is None:
        pytest.skip("clear(key=None) / clear(namespace=None) mean 'not given' (0.1.x)")
    settings: list[tuple[str, object]] = [("backend", backend)]
    if backend == "pickle":
        settings.append(("pickle_path", str(tmp_path / "cache.lmdb")))
    Cachette.load_config(lambda: settings)
    cache = Cachette()
    with pytest.raises(CachetteValueError):
        await KEY_OPS[op](cache, key)
    if op == "put_many":  # nothing was written, not even the good keys before the bad one
        assert await cache.fetch_many(["good-before", "good-after"]) == [None, None]


@pytest.mark.parametrize("op", TTL_OPS)
@pytest.mark.parametrize("ttl", BAD_TTLS)
async def test_bad_ttl_raises_cachette_value_error_for_every_operation(ttl: Any, op: str) -> None:
    cache = Cachette()
    key = f"ttl-{op}"
    with pytest.raises(CachetteValueError):
        await TTL_OPS[op](cache, key, ttl)
    assert await cache.fetch_many([key, key + "-2"]) == [None, None]


@pytest.mark.parametrize(
    "argument",
    ["lock_timeout", "lock_ttl", "refresh_ahead", "stale_if_error"],
)
@pytest.mark.parametrize("value", [math.inf, math.nan, -1, MAX_TTL + 1], ids=str)
async def test_bad_stampede_durations_raise_before_the_factory_runs(
    argument: str, value: float
) -> None:
    with pytest.raises(CachetteValueError, match=argument):
        await Cachette().get_or_set("k", _factory, ttl=10, **{argument: value})


async def test_ttl_plus_stale_if_error_over_30_days_is_refused() -> None:
    with pytest.raises(CachetteValueError, match="stale_if_error"):
        await Cachette().get_or_set("k", _factory, ttl=MAX_TTL - 10, stale_if_error=60)


async def test_put_many_and_get_or_set_accept_what_put_accepts() -> None:
    cache = Cachette()
    for ttl in (None, 0, 1, 0.5, MAX_TTL, float(MAX_TTL)):
        await cache.put("p", "v", ttl=ttl)
        await cache.put_many({"pm": "v"}, ttl=ttl)

        async def make() -> str:
            return "v"

        assert await cache.get_or_set(f"g{ttl}", make, ttl=ttl) == "v"
    assert await cache.fetch_many(["p", "pm"]) == ["v", "v"]


@pytest.mark.parametrize("backend", BACKEND_PARAMS, ids=str)
async def test_attack_put_many_with_a_lone_surrogate_key_writes_nothing(
    backend: BackendSpec, tmp_path: pathlib.Path
) -> None:
    """The keys before the bad one used to be written, then a raw TypeError raised."""
    settings = backend.settings(tmp_path)
    Cachette.load_config(lambda: settings)
    cache = Cachette()
    prefix = uuid.uuid4().hex
    items = [
        (f"{prefix}:a", "1"),
        (f"{prefix}:b", "2"),
        (LONE_SURROGATE, "3"),
        (f"{prefix}:c", "4"),
    ]
    with pytest.raises(CachetteValueError, match="lone surrogate"):
        await cache.put_many(items)
    assert await cache.fetch_many([k for k, _ in items if k != LONE_SURROGATE]) == [None] * 3
    with pytest.raises(CachetteValueError, match="lone surrogate"):
        await cache.fetch_many([f"{prefix}:a", LONE_SURROGATE])
    await cache.put_many(items[:2])  # the same call without the bad key writes
    assert await cache.fetch_many([f"{prefix}:a", f"{prefix}:b"]) == ["1", "2"]
    await cache.clear(namespace=prefix)


def _local_settings(backend: str, tmp_path: pathlib.Path) -> list[tuple[str, object]]:
    if backend == "inmemory":
        return [("backend", "inmemory"), ("max_memory", "4MB")]
    return [
        ("backend", "pickle"),
        ("pickle_path", str(tmp_path / "c.db")),
        ("pickle_max_size", "4MB"),
    ]


@pytest.mark.parametrize("backend", ["inmemory", "pickle"])
async def test_attack_put_many_with_a_too_large_value_writes_nothing(
    backend: str, tmp_path: pathlib.Path
) -> None:
    Cachette.load_config(lambda: _local_settings(backend, tmp_path))
    cache = Cachette()
    with pytest.raises(CachetteValueTooLargeError):
        await cache.put_many([("a", "first"), ("b", "x" * (6 << 20)), ("c", "third")], ttl=60)
    assert await cache.fetch_many(["a", "b", "c"]) == [None, None, None]


@pytest.mark.parametrize("backend", ["inmemory", "pickle"])
async def test_put_many_size_check_agrees_with_the_engine_at_the_limit(
    backend: str, tmp_path: pathlib.Path
) -> None:
    """The check before the first write mirrors the engine's limit: find the largest value
    the store takes, then put_many must take it and refuse one byte more."""
    Cachette.load_config(lambda: _local_settings(backend, tmp_path))
    store = core._runtime.store
    assert store is not None
    low, high = 0, 8 << 20
    while low < high:  # the largest value size the engine accepts under key "k"
        mid = (low + high + 1) // 2
        try:
            store.put("k", b"x" * mid, 60_000)
            low = mid
        except CachetteValueTooLargeError:
            high = mid - 1
    check = core._entry_too_large(core._runtime)
    check("k", b"x" * low)  # what the engine takes, put_many takes
    with pytest.raises(CachetteValueTooLargeError):
        check("k", b"x" * (low + 1))  # and one byte more it refuses before writing


@pytest.mark.parametrize("items", ["ab", [("k",)], [("k", 1, 2)], None, 5], ids=repr)
async def test_attack_put_many_of_no_pairs_raises_typed(items: Any) -> None:
    with pytest.raises(CachetteValueError, match="put_many"):
        await Cachette().put_many(items)


@pytest.mark.parametrize("keys", ["abc", None, [b"k"], [1]], ids=repr)
async def test_attack_fetch_many_of_no_key_list_raises_typed(keys: Any) -> None:
    with pytest.raises(CachetteValueError):
        await Cachette().fetch_many(keys)
