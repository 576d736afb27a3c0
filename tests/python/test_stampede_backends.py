"""get_or_set and the bulk operations on every backend (tests/python/backends.py), network
servers included: one computation for concurrent misses, the lock released and never left
behind, errors stored nowhere, a foreign lock waited for and then timed out, fetch_many and
put_many round trips. Keys live in a namespace unique to each test."""

from __future__ import annotations

import asyncio
import pathlib
import uuid
from collections.abc import AsyncIterator

import pytest
from backends import BACKENDS, BackendSpec

from cachette import Cachette, core
from cachette.stampede import LOCK_PREFIX

PARAMS = [
    pytest.param(spec, marks=[pytest.mark.integration] if spec.shared else [], id=str(spec))
    for spec in BACKENDS
]


@pytest.fixture(params=PARAMS)
async def prefix(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> AsyncIterator[str]:
    spec: BackendSpec = request.param
    settings = spec.settings(tmp_path)
    Cachette.load_config(lambda: [*settings, ("codec", "pickle"), ("ttl", 600)])
    namespace = f"stampede-{uuid.uuid4().hex}"
    yield namespace + ":"
    await Cachette().clear(namespace=namespace)


async def test_concurrent_misses_compute_once(prefix: str) -> None:
    runs = 0

    async def factory() -> dict[str, object]:
        nonlocal runs
        runs += 1
        await asyncio.sleep(0.05)
        return {"n": 1, "b": b"\x00"}

    key = prefix + "k"
    got = await asyncio.gather(*(Cachette().get_or_set(key, factory) for _ in range(30)))
    assert runs == 1
    assert got == [{"n": 1, "b": b"\x00"}] * 30
    assert await Cachette().fetch(key) == {"n": 1, "b": b"\x00"}
    assert await Cachette().fetch(LOCK_PREFIX + key) is None  # released


async def test_errors_store_nothing_and_release_the_lock(prefix: str) -> None:
    async def factory() -> str:
        await asyncio.sleep(0.01)
        raise ValueError("no")

    key = prefix + "e"
    results = await asyncio.gather(
        *(Cachette().get_or_set(key, factory) for _ in range(5)), return_exceptions=True
    )
    assert all(isinstance(r, ValueError) for r in results)
    assert await Cachette().fetch(key) is None
    assert await Cachette().fetch(LOCK_PREFIX + key) is None


async def test_a_foreign_lock_is_waited_for_then_timed_out(prefix: str) -> None:
    backend = core._runtime.start()
    key = prefix + "held"
    assert await backend.add(LOCK_PREFIX + key, b"foreign", 60_000)
    assert not await backend.add(LOCK_PREFIX + key, b"mine", 60_000)

    async def factory() -> str:
        return "computed"

    assert await Cachette().get_or_set(key, factory, lock_timeout=0.2) == "computed"
    assert await Cachette().fetch(key) == "computed"
    # our token never releases the foreign lock; the foreign token does
    assert not await backend.clear_if_equal(LOCK_PREFIX + key, b"mine")
    assert await backend.clear_if_equal(LOCK_PREFIX + key, b"foreign")


async def test_a_waiter_gets_the_value_the_lock_holder_stores(prefix: str) -> None:
    backend = core._runtime.start()
    key = prefix + "w"
    assert await backend.add(LOCK_PREFIX + key, b"other", 60_000)

    async def factory() -> str:
        raise AssertionError("the holder computes, not us")

    async def holder() -> None:
        await asyncio.sleep(0.1)
        await Cachette().put(key, "theirs")
        await backend.clear_if_equal(LOCK_PREFIX + key, b"other")

    got, _ = await asyncio.gather(Cachette().get_or_set(key, factory), holder())
    assert got == "theirs"


async def test_fetch_many_and_put_many_round_trip(prefix: str) -> None:
    cache = Cachette()
    values = {prefix + str(i): {"i": i} for i in range(50)}
    await cache.put_many(values, ttl=60)
    keys = [*values, prefix + "absent"]
    assert await cache.fetch_many(keys) == [*values.values(), None]
    ttl, value = await cache.fetch_with_ttl(prefix + "0")
    assert value == {"i": 0} and 0 < ttl <= 60
