"""get_or_set, memoize, fetch_many/put_many and the stampede counters, on the local backends
(in-memory and the file store). Cross-process locking through the file store is in
test_stampede_processes.py; network backends in integration/test_stampede_network.py."""

from __future__ import annotations

import asyncio
import pathlib
from typing import Any

import pytest

from cachette import Cachette, CachetteValueError, core, memoize
from cachette.stampede import LOCK_PREFIX, run_once


def load(*pairs: tuple[str, Any]) -> None:
    Cachette.load_config(lambda: list(pairs))


@pytest.fixture(params=["inmemory", "pickle"])
def local_backend(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> str:
    if request.param == "pickle":
        load(("backend", "pickle"), ("pickle_path", str(tmp_path / "c.lmdb")))
    else:
        load(("codec", "pickle"))
    return str(request.param)


def counters() -> dict[str, int]:
    stats = Cachette.stats()
    names = ("coalesced_waits", "lock_waits", "lock_timeouts", "early_refreshes", "stale_serves")
    return {name: stats[name] for name in names}


def delta(before: dict[str, int]) -> dict[str, int]:
    after = counters()
    return {name: after[name] - before[name] for name in after if after[name] != before[name]}


async def test_concurrent_misses_run_the_factory_once(local_backend: str) -> None:
    runs = 0

    async def factory() -> dict[str, int]:
        nonlocal runs
        runs += 1
        await asyncio.sleep(0.05)
        return {"answer": 42}

    before = counters()
    results = await asyncio.gather(*(Cachette().get_or_set("k", factory) for _ in range(50)))
    assert runs == 1
    assert all(r == {"answer": 42} for r in results)
    assert delta(before) == {"coalesced_waits": 49}
    # stored: the next call is a hit and runs nothing
    assert await Cachette().get_or_set("k", factory) == {"answer": 42}
    assert runs == 1
    assert await Cachette().fetch("k") == {"answer": 42}


async def test_lock_is_released_and_never_collides_with_user_keys(local_backend: str) -> None:
    async def factory() -> str:
        return "v"

    await Cachette().get_or_set("user:1", factory)
    store = Cachette.stats()
    assert store["entries"] == 1  # the value only; the lock key is gone
    assert await Cachette().fetch(LOCK_PREFIX + "user:1") is None
    assert await Cachette().clear(namespace="user") == 1


async def test_factory_error_reaches_every_waiter_and_stores_nothing(local_backend: str) -> None:
    runs = 0

    async def factory() -> str:
        nonlocal runs
        runs += 1
        await asyncio.sleep(0.02)
        raise RuntimeError("backend of record is down")

    results = await asyncio.gather(
        *(Cachette().get_or_set("bad", factory) for _ in range(10)), return_exceptions=True
    )
    assert runs == 1
    assert all(isinstance(r, RuntimeError) and "down" in str(r) for r in results)
    assert await Cachette().fetch("bad") is None
    assert Cachette.stats()["entries"] == 0  # neither value nor lock left behind

    async def good() -> str:
        return "ok"

    assert await Cachette().get_or_set("bad", good) == "ok"  # the next call computes anew


async def test_cancelling_one_waiter_leaves_the_computation_to_the_others(
    local_backend: str,
) -> None:
    async def factory() -> str:
        await asyncio.sleep(0.05)
        return "done"

    first = asyncio.ensure_future(Cachette().get_or_set("c", factory))
    second = asyncio.ensure_future(Cachette().get_or_set("c", factory))
    await asyncio.sleep(0.01)
    first.cancel()
    assert await second == "done"
    assert first.cancelled()
    assert await Cachette().fetch("c") == "done"


async def test_none_is_returned_but_not_stored(local_backend: str) -> None:
    runs = 0

    async def factory() -> None:
        nonlocal runs
        runs += 1

    assert await Cachette().get_or_set("n", factory) is None
    assert await Cachette().get_or_set("n", factory) is None
    assert runs == 2


async def test_ttl_applies_to_the_stored_value(local_backend: str) -> None:
    async def factory() -> str:
        return "v"

    await Cachette().get_or_set("t", factory, ttl=7)
    assert await Cachette().fetch_with_ttl("t") == (7, "v")


async def test_early_refresh_serves_current_value_while_one_caller_refreshes(
    local_backend: str,
) -> None:
    version = 0

    async def factory() -> int:
        nonlocal version
        version += 1
        await asyncio.sleep(0.03)
        return version

    cache = Cachette()
    assert await cache.get_or_set("e", factory, ttl=0.3, refresh_ahead=0.25) == 1
    await asyncio.sleep(0.1)  # now within 0.25 s of the end of the ttl
    before = counters()
    got = await asyncio.gather(
        *(cache.get_or_set("e", factory, ttl=0.3, refresh_ahead=0.25) for _ in range(20))
    )
    assert got == [1] * 20  # nobody waited for the refresh
    assert delta(before) == {"early_refreshes": 1}
    await asyncio.sleep(0.06)
    assert version == 2
    assert await cache.fetch("e") == 2


async def test_stale_value_is_served_when_the_recomputation_fails(local_backend: str) -> None:
    fail = False

    async def factory() -> str:
        if fail:
            raise RuntimeError("boom")
        return "old"

    cache = Cachette()
    assert await cache.get_or_set("s", factory, ttl=0.1, stale_if_error=0.3) == "old"
    await asyncio.sleep(0.15)  # past the ttl, within the stale window
    fail = True
    before = counters()
    assert await cache.get_or_set("s", factory, ttl=0.1, stale_if_error=0.3) == "old"
    assert delta(before) == {"stale_serves": 1}
    await asyncio.sleep(0.3)  # past the stale window: the error surfaces
    with pytest.raises(RuntimeError, match="boom"):
        await cache.get_or_set("s", factory, ttl=0.1, stale_if_error=0.3)


async def test_stale_value_is_replaced_when_the_recomputation_succeeds(local_backend: str) -> None:
    version = 0

    async def factory() -> int:
        nonlocal version
        version += 1
        return version

    cache = Cachette()
    assert await cache.get_or_set("r", factory, ttl=0.1, stale_if_error=5) == 1
    assert await cache.get_or_set("r", factory, ttl=0.1, stale_if_error=5) == 1
    await asyncio.sleep(0.15)
    assert await cache.get_or_set("r", factory, ttl=0.1, stale_if_error=5) == 2


async def test_a_lock_held_elsewhere_is_waited_for_then_times_out(local_backend: str) -> None:
    backend = core._runtime.start()
    assert await backend.add(LOCK_PREFIX + "held", b"someone-else", 60_000)
    runs = 0

    async def factory() -> str:
        nonlocal runs
        runs += 1
        return "mine"

    before = counters()
    assert await Cachette().get_or_set("held", factory, lock_timeout=0.1) == "mine"
    assert runs == 1
    assert delta(before) == {"lock_waits": 1, "lock_timeouts": 1}
    # the foreign lock is untouched: only its owner's token releases it
    assert await backend.clear_if_equal(LOCK_PREFIX + "held", b"someone-else")


async def test_a_waiter_takes_the_value_another_holder_stores(local_backend: str) -> None:
    backend = core._runtime.start()
    assert await backend.add(LOCK_PREFIX + "w", b"other", 60_000)
    runs = 0

    async def factory() -> str:
        nonlocal runs
        runs += 1
        return "mine"

    async def other_holder() -> None:
        await asyncio.sleep(0.05)
        await Cachette().put("w", "theirs")
        await backend.clear_if_equal(LOCK_PREFIX + "w", b"other")

    got, _ = await asyncio.gather(Cachette().get_or_set("w", factory), other_holder())
    assert got == "theirs"
    assert runs == 0


async def test_cache_control_no_store_and_no_cache(local_backend: str) -> None:
    class Req:
        def __init__(self, value: str) -> None:
            self.headers = {"cache-control": value}

    runs = 0

    async def factory() -> int:
        nonlocal runs
        runs += 1
        return runs

    await Cachette().put("cc", 100)
    assert await Cachette(Req("no-store")).get_or_set("cc", factory) == 1  # type: ignore[arg-type]
    assert await Cachette().fetch("cc") == 100  # no-store wrote nothing
    assert await Cachette(Req("no-cache")).get_or_set("cc", factory) == 2  # type: ignore[arg-type]
    assert await Cachette().fetch("cc") == 2  # no-cache stored the fresh value


async def test_bad_arguments_raise_typed_errors(local_backend: str) -> None:
    async def factory() -> int:
        return 1

    with pytest.raises(CachetteValueError):
        await Cachette().get_or_set(5, factory)  # type: ignore[arg-type]
    with pytest.raises(CachetteValueError, match="ttl"):
        await Cachette().get_or_set("k", factory, ttl=-1)
    with pytest.raises(CachetteValueError, match="lock_timeout"):
        await Cachette().get_or_set("k", factory, lock_timeout=-1)
    with pytest.raises(CachetteValueError, match="refresh_ahead"):
        await Cachette().get_or_set("k", factory, ttl=5, refresh_ahead=10)


async def test_memoize_coalesces_and_keys_by_arguments(local_backend: str) -> None:
    calls: list[tuple[int, str]] = []

    @memoize(ttl=30, namespace="stampede-lookup")
    async def lookup(user: int, field: str = "name") -> str:
        calls.append((user, field))
        await asyncio.sleep(0.02)
        return f"{user}-{field}"

    got = await asyncio.gather(lookup(1), lookup(1), lookup(user=1), lookup(2), lookup(1, "age"))
    assert got == ["1-name", "1-name", "1-name", "2-name", "1-age"]
    assert sorted(calls) == [(1, "age"), (1, "name"), (2, "name")]
    assert await lookup(1) == "1-name"
    assert len(calls) == 3
    namespace = "stampede-lookup"
    assert await Cachette().clear(namespace=namespace) == 3


async def test_memoize_with_a_key_function(local_backend: str) -> None:
    @memoize(key=lambda a, b: f"sum:{a}+{b}")
    async def add(a: int, b: int) -> int:
        return a + b

    assert await add(2, 3) == 5
    assert await Cachette().fetch("sum:2+3") == 5


def test_memoize_refuses_sync_functions() -> None:
    with pytest.raises(TypeError, match="async"):
        memoize()(lambda: 1)  # type: ignore[arg-type,return-value]


async def test_fetch_many_and_put_many(local_backend: str) -> None:
    cache = Cachette()
    await cache.put_many({"a": 1, "b": [2], "c": {"x": 3}}, ttl=30)
    assert await cache.fetch_many(["a", "zz", "b", "c"]) == [1, None, [2], {"x": 3}]
    await cache.put_many([("d", b"\x00")])
    assert await cache.fetch_many(["d"]) == [b"\x00"]
    assert await cache.fetch_with_ttl("a") == (30, 1)
    assert await cache.fetch_many([]) == []
    with pytest.raises(CachetteValueError):
        await cache.fetch_many(["a", 3])  # type: ignore[list-item]


async def test_put_many_stores_nothing_when_one_value_is_refused() -> None:
    load(("codec", "json"))
    cache = Cachette()
    with pytest.raises(Exception, match="json"):
        await cache.put_many({"ok": 1, "bad": object()})
    assert await cache.fetch("ok") is None


async def test_fetch_many_vanilla_codec_returns_strings() -> None:
    cache = Cachette()
    await cache.put_many({"n": 123, "s": "x"})
    assert await cache.fetch_many(["n", "s", "m"]) == ["123", "x", None]


async def test_a_failed_early_refresh_keeps_the_current_value_and_is_logged(
    local_backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    fail = False

    async def factory() -> str:
        if fail:
            raise RuntimeError("refresh failed")
        return "current"

    cache = Cachette()
    assert await cache.get_or_set("f", factory, ttl=0.3, refresh_ahead=0.25) == "current"
    await asyncio.sleep(0.1)
    fail = True
    assert await cache.get_or_set("f", factory, ttl=0.3, refresh_ahead=0.25) == "current"
    await asyncio.sleep(0.02)  # the background refresh ran and failed
    assert "refreshing 'f' failed" in caplog.text
    assert await cache.fetch("f") == "current"


async def test_max_age_callers_do_not_take_an_older_value_after_the_lock(
    local_backend: str,
) -> None:
    class Req:
        def __init__(self) -> None:
            self.headers = {"cache-control": "max-age=0"}

    runs = 0

    async def factory() -> int:
        nonlocal runs
        runs += 1
        return runs

    await Cachette().put("m", 100)
    assert await Cachette(Req()).get_or_set("m", factory) == 1  # type: ignore[arg-type]
    assert runs == 1


async def test_fail_open_computes_when_the_server_is_down() -> None:
    """With fail_open, a backend that cannot be reached neither locks nor stores: every
    call computes, and none raises."""
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    load(
        ("backend", "redis"),
        ("redis_url", f"redis://127.0.0.1:{port}"),
        ("fail_open", True),
        ("connect_timeout", 0.2),
        ("timeout", 0.2),
    )
    runs = 0

    async def factory() -> str:
        nonlocal runs
        runs += 1
        return "computed"

    assert await Cachette().get_or_set("down", factory) == "computed"
    assert await Cachette().get_or_set("down", factory) == "computed"
    assert runs == 2


async def test_run_once_leads_once_and_waiters_follow_or_lead_themselves(
    local_backend: str,
) -> None:
    """run_once, the machinery under the HTTP response cache: one lead per key; waiters
    follow a shared result, and lead themselves when none was left or they cannot use it."""
    backend = core._runtime.start()
    leads = 0
    shared = True
    usable = True

    async def lead() -> bool:
        nonlocal leads
        leads += 1
        await asyncio.sleep(0.05)
        return shared

    async def follow() -> bool:
        return usable

    async def run(key: str) -> None:
        await run_once(key, lead, follow, backend=backend, guard=_no_guard, lock_timeout=5.0)

    before = counters()
    await asyncio.gather(*(run("k1") for _ in range(5)))
    assert leads == 1
    assert delta(before) == {"coalesced_waits": 4}
    assert await backend.add(LOCK_PREFIX + "k1", b"free", 1000)  # released by its owner

    leads, shared = 0, False  # the lead stored nothing: each waiter does its own work
    await asyncio.gather(*(run("k2") for _ in range(5)))
    assert leads == 5

    leads, shared, usable = 0, True, False  # stored, but not usable for these waiters
    await asyncio.gather(*(run("k3") for _ in range(3)))
    assert leads == 3


async def test_run_once_follows_a_result_left_just_before_the_lock_was_released(
    local_backend: str,
) -> None:
    """Another process holds the lock; it stores its result and releases the lock between
    this caller's poll and its next try for the lock. The caller gets the lock, but must
    use that result rather than compute it again."""
    backend = core._runtime.start()
    lock_key = LOCK_PREFIX + "late"
    assert await backend.add(lock_key, b"other-process", 60_000)
    stored = False
    polls = 0
    leads = 0

    async def lead() -> bool:
        nonlocal leads
        leads += 1
        return True

    async def follow() -> bool:
        nonlocal stored, polls
        polls += 1
        if stored:
            return True
        # The other process finishes right after this look: result stored, lock released.
        stored = True
        assert await backend.clear_if_equal(lock_key, b"other-process")
        return False

    await run_once("late", lead, follow, backend=backend, guard=_no_guard, lock_timeout=5.0)
    assert leads == 0
    assert polls == 2
    assert await backend.add(lock_key, b"free", 1000)  # and the lock was let go


async def test_run_once_waiters_of_a_failed_lead_lead_themselves(local_backend: str) -> None:
    attempts = 0

    async def lead() -> bool:
        nonlocal attempts
        attempts += 1
        await asyncio.sleep(0.05)
        if attempts == 1:
            raise RuntimeError("origin down")
        return True

    async def follow() -> bool:
        return True

    async def run() -> None:
        await run_once("f", lead, follow, backend=None, guard=_no_guard, lock_timeout=5.0)

    results = await asyncio.gather(run(), run(), run(), return_exceptions=True)
    assert [type(r) for r in results].count(RuntimeError) == 1
    assert attempts == 3  # the two waiters could not follow a failure: they led


async def _no_guard(pending: Any, fallback: Any) -> Any:
    return await pending
