"""Stampede protection: a cold or expiring key is computed once, not once per caller.

Two layers, see docs/stampede.md:

- In the process, concurrent misses for one key (per event loop) await one computation: the
  first caller starts it as a task and every caller, the first included, awaits that task
  through ``asyncio.shield`` (cancelling one caller never cancels the others' computation).
- Across processes and hosts, the computation holds a lock stored in the backend itself under
  ``LOCK_PREFIX + key``: taken with ``Backend.add`` (store only if absent) and a random token,
  released with ``Backend.clear_if_equal`` (only by its owner). Callers that find the lock
  taken poll the key while the lock is held, until the value appears, the lock frees up or
  expires (they take it), or ``max(lock_timeout, lock_ttl)`` passes (they compute
  themselves, rather than hang).

Early refresh and stale-if-error read the entry's remaining time to live: an entry is written
to live ``ttl + stale_if_error`` seconds and is *fresh* for its first ``ttl`` seconds. Within
``refresh_ahead`` seconds of the end of freshness one caller refreshes it in the background
while every caller gets the current value; past freshness, callers wait for a recomputation
and, if it raises, get the stale value instead until the entry expires.

``run_once`` offers the coalescing and the lock without the value storage, for callers that
store and serve their results themselves: the HTTP response cache (``cachette.http``) runs on it.
``memoize`` (``cachette.memo``, with the keys it builds) wraps a function in ``get_or_set``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final, TypeVar

from cachette.exceptions import CachetteError, CachetteValueError, CodecError
from cachette.memo import memoize  # the decorator lives with its keys; kept importable here
from cachette.validation import MAX_TTL, seconds

if TYPE_CHECKING:
    from cachette.backends import Backend
    from cachette.core import Cachette, _Runtime

__all__ = ["LOCK_PREFIX", "Policy", "get_or_set", "memoize", "stats"]


T = TypeVar("T")

#: Lock keys are ``LOCK_PREFIX + key``. The ASCII unit separator (0x1F) never appears in keys
#: built from text, URLs or identifiers, and no namespace clear of a user namespace
#: (``"name:"``) can match a key that starts with it.
LOCK_PREFIX: Final = "\x1fcachette-lock\x1f"

_FIRST_POLL = 0.005  # seconds; the poll interval grows by half each time up to _LAST_POLL
_LAST_POLL = 0.025
_MISSING: Final = object()
_log = logging.getLogger("cachette")

#: Awaits an operation on the backend, answering ``fallback`` when its caller fails open.
Guard = Callable[[Awaitable[Any], Any], Awaitable[Any]]


class _Counters:
    __slots__ = (
        "coalesced_waits",
        "early_refreshes",
        "lock_timeouts",
        "lock_waits",
        "stale_serves",
        "store_failures",
    )

    def __init__(self) -> None:
        self.coalesced_waits = 0  # callers that awaited a computation another caller started
        self.lock_waits = 0  # computations that found the backend lock taken and waited
        self.lock_timeouts = 0  # ... and gave up after lock_timeout and computed themselves
        self.early_refreshes = 0  # background refreshes started near the end of freshness
        self.stale_serves = 0  # stale values returned because a recomputation raised
        self.store_failures = 0  # computed values returned but not stored: the store failed


_counters = _Counters()


def stats() -> dict[str, int]:
    """This process's stampede counters (merged into ``Cachette.stats()``)."""
    c = _counters
    return {
        "coalesced_waits": c.coalesced_waits,
        "lock_waits": c.lock_waits,
        "lock_timeouts": c.lock_timeouts,
        "early_refreshes": c.early_refreshes,
        "stale_serves": c.stale_serves,
        "store_failures": c.store_failures,
    }


#: At most one warning of each kind (see _STORE_FAILURE_MESSAGES) per this many seconds.
STORE_FAILURE_LOG_INTERVAL = 60.0

#: What a store failure cost, by the write that failed (see _report_store_failure).
_STORE_FAILURE_MESSAGES = {
    "value": "could not store the value of %r; it is returned, not stored",
    "lock": "could not take the lock of %r; computing without it",
    "release": "could not release the lock of %r; it expires after lock_ttl",
}


class _RateLimit:
    __slots__ = ("last", "unlogged")

    def __init__(self) -> None:
        self.last = -STORE_FAILURE_LOG_INTERVAL  # monotonic time of the last warning
        self.unlogged = 0  # failures counted since, not logged


_store_failure_logs = {what: _RateLimit() for what in _STORE_FAILURE_MESSAGES}


def _report_store_failure(key: str, error: BaseException, what: str) -> None:
    """Counts a write the store refused or failed (``store_failures``) and logs it, at most
    once per STORE_FAILURE_LOG_INTERVAL for each kind of write: a full store refuses every
    write, and a log line per request would bury everything else."""
    _counters.store_failures += 1
    limit = _store_failure_logs[what]
    now = time.monotonic()
    if now - limit.last < STORE_FAILURE_LOG_INTERVAL:
        limit.unlogged += 1
        return
    more = limit.unlogged
    limit.last, limit.unlogged = now, 0
    _log.warning(
        _STORE_FAILURE_MESSAGES[what] + " (%s: %s)%s",
        key,
        type(error).__name__,
        error,
        f"; {more} more since the last such warning" if more else "",
    )


class Policy:
    """How one ``get_or_set`` call computes and keeps its value, in milliseconds."""

    __slots__ = (
        "lock",
        "lock_timeout",
        "lock_ttl_ms",
        "lock_wait",
        "refresh_ahead_ms",
        "stale_ms",
        "ttl",
    )

    def __init__(
        self,
        ttl: float,
        *,
        lock: bool,
        lock_timeout: float,
        lock_ttl: float | None,
        refresh_ahead: float | None,
        stale_if_error: float | None,
    ) -> None:
        self.ttl = ttl  # seconds of freshness (checked by the caller: validation.ttl_ms)
        self.lock = lock
        self.lock_timeout = seconds("lock_timeout", lock_timeout, allow_zero=True)
        self.lock_ttl_ms = max(1, int(1000 * seconds("lock_ttl", lock_ttl or lock_timeout or 1)))
        # How long a caller waits while another holds the lock: while the lock is held it
        # waits for the owner's value, since the owner may hold it up to lock_ttl; so at
        # most max(lock_timeout, lock_ttl), lock_ttl defaulting to lock_timeout.
        self.lock_wait = max(self.lock_timeout, self.lock_ttl_ms / 1000 if lock_ttl else 0.0)
        self.refresh_ahead_ms = int(
            1000 * seconds("refresh_ahead", refresh_ahead or 0, allow_zero=True)
        )
        self.stale_ms = int(1000 * seconds("stale_if_error", stale_if_error or 0, allow_zero=True))
        if self.refresh_ahead_ms >= ttl * 1000:
            raise CachetteValueError(
                f"refresh_ahead ({refresh_ahead}) must be shorter than the ttl ({ttl})"
            )
        if ttl * 1000 + self.stale_ms > MAX_TTL * 1000:
            # the entry is written to live ttl + stale_if_error: the same bound as any ttl
            raise CachetteValueError(
                f"ttl + stale_if_error ({ttl} + {stale_if_error}) must be at most {MAX_TTL} "
                "seconds (30 days)"
            )

    @property
    def reads_ttl(self) -> bool:
        return self.refresh_ahead_ms > 0 or self.stale_ms > 0


# One table of running computations per event loop: a task belongs to its loop.
_inflight: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Task[Any]]]
_inflight = weakref.WeakKeyDictionary()

F = TypeVar("F", bound=asyncio.Future[Any])


def _table(
    registry: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, F]],
    loop: asyncio.AbstractEventLoop,
) -> dict[str, F]:
    table = registry.get(loop)
    if table is None:
        table = registry[loop] = {}
    return table


def _decode(rt: _Runtime, raw: bytes) -> Any:
    try:
        return rt.decode(raw)
    except Exception:
        return rt.codec.decode(raw)  # the complete decoder, or CodecError


async def get_or_set(
    cache: Cachette,
    rt: _Runtime,
    key: str,
    factory: Callable[[], Awaitable[Any]],
    policy: Policy,
) -> Any:
    """See ``Cachette.get_or_set``."""
    if cache._no_write and cache._no_read:  # Cache-Control: no-store
        return await factory()
    stale: Any = _MISSING
    if not cache._no_read:
        if not policy.reads_ttl:
            value = await cache.fetch(key)
            if value is not None:
                return value
        else:
            remaining_ms, raw = await cache._fetch_fresh(rt, key)
            if raw is not None:
                value = _decode(rt, raw)
                if remaining_ms < 0:  # written without expiry by someone else: always fresh
                    return value
                fresh_ms = remaining_ms - policy.stale_ms
                if fresh_ms > policy.refresh_ahead_ms:
                    return value
                if fresh_ms > 0:
                    _start(rt, key, factory, policy, fresh_ms=policy.refresh_ahead_ms, early=True)
                    return value
                stale = value
    loop = asyncio.get_running_loop()
    table = _table(_inflight, loop)
    task = table.get(key)
    if task is None:
        # Callers under no-cache or max-age accept no value they did not see computed;
        # others accept any fresh value, e.g. one another process stored while they waited.
        task = _start(rt, key, factory, policy, fresh_ms=0, accept=cache._plain_read)
    else:
        _counters.coalesced_waits += 1
    try:
        return await asyncio.shield(task)
    except Exception:
        if stale is _MISSING:
            raise
        _counters.stale_serves += 1
        return stale


def _start(
    rt: _Runtime,
    key: str,
    factory: Callable[[], Awaitable[Any]],
    policy: Policy,
    *,
    fresh_ms: int,
    accept: bool = True,
    early: bool = False,
) -> asyncio.Task[Any]:
    table = _table(_inflight, asyncio.get_running_loop())
    running = table.get(key)
    if running is not None:
        return running
    if early:
        _counters.early_refreshes += 1
    task = asyncio.ensure_future(_compute(rt, key, factory, policy, fresh_ms, accept))
    table[key] = task

    def finished(done: asyncio.Task[Any]) -> None:
        if table.get(key) is done:
            del table[key]
        if done.cancelled():
            return
        error = done.exception()  # retrieved: callers (if any) received it through shield
        if error is not None and early:  # nobody awaits a background refresh: say it failed
            _log.warning("refreshing %r failed; serving the current value", key, exc_info=error)

    task.add_done_callback(finished)
    return task


async def _compute(
    rt: _Runtime,
    key: str,
    factory: Callable[[], Awaitable[Any]],
    policy: Policy,
    fresh_ms: int,
    accept: bool,
) -> Any:
    from cachette.core import Cachette  # the facade imports this module

    guard: Guard = functools.partial(Cachette._guard, rt)
    backend = rt.start()
    lock_key = LOCK_PREFIX + key
    token = secrets.token_bytes(16)
    owned = False
    if policy.lock:
        # fail-open: when the backend cannot be reached, act as the owner (compute); the
        # release is attempted and its failure ignored likewise
        poll = functools.partial(_read_fresh, rt, key, policy, fresh_ms) if accept else None
        # recheck_at_once: the previous owner may have stored the value just before
        # releasing the lock, after this caller's miss
        found = await _take_lock(
            backend,
            guard,
            lock_key,
            token,
            policy.lock_ttl_ms,
            policy.lock_wait,
            poll,
            recheck_at_once=True,
        )
        if isinstance(found, tuple):
            return found[0]
        owned = found
    try:
        value = await factory()
        if value is not None:
            try:
                await _store(rt, key, value, int(policy.ttl * 1000) + policy.stale_ms)
            except CodecError:
                raise  # the value itself cannot be stored: the caller must see it
            except CachetteError as error:
                # The store refused the write (full, value too large) or failed: the value
                # is computed, so the caller gets it; the failure is counted and logged.
                _report_store_failure(key, error, "value")
        return value
    finally:
        if owned:
            try:
                await guard(backend.clear_if_equal(lock_key, token), False)
            except CachetteError as error:  # the lock then expires after lock_ttl
                _report_store_failure(key, error, "release")


async def _store(rt: _Runtime, key: str, value: Any, ttl_ms: int) -> None:
    from cachette.core import Cachette

    try:
        data = rt.encode(value)
    except Exception:
        data = rt.codec.encode(value)  # the complete encoder, or CodecError: nothing stored
    store = rt.store
    if store is not None:
        store.put(key, data, max(1, ttl_ms))
    else:
        await Cachette._guard(rt, rt.start().put(key, data, max(1, ttl_ms)), None)


async def _take_lock(
    backend: Backend,
    guard: Guard,
    lock_key: str,
    token: bytes,
    ttl_ms: int,
    timeout: float,
    poll: Callable[[], Awaitable[Any]] | None,
    *,
    recheck_at_once: bool = False,
) -> bool | tuple[Any]:
    """Takes the backend lock: True once it is ours, ``(found,)`` as soon as ``poll`` finds
    a result (anything but _MISSING) while waiting, False when ``timeout`` passes. After
    taking a lock it waited for (or any lock, with ``recheck_at_once``) it polls once more:
    the owner before may have left its result just before letting the lock go. A result
    found then lets the lock go again and comes back as ``(found,)``."""

    async def recheck() -> bool | tuple[Any]:
        if poll is not None:
            found = await poll()
            if found is not _MISSING:
                await guard(backend.clear_if_equal(lock_key, token), False)
                return (found,)
        return True

    async def take() -> bool | None:
        """True once the lock is ours, False while another holds it, None when the store
        refuses to write it (full, read-only): then the caller computes without it."""
        try:
            taken: bool = await guard(backend.add(lock_key, token, ttl_ms), True)
        except CachetteValueError:
            raise
        except CachetteError as error:
            _report_store_failure(lock_key[len(LOCK_PREFIX) :], error, "lock")
            return None
        return taken

    taken = await take()
    if taken is None:
        return False
    if taken:
        return await recheck() if recheck_at_once else True
    _counters.lock_waits += 1
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    delay = _FIRST_POLL
    while True:
        left = deadline - loop.time()
        if left <= 0:
            _counters.lock_timeouts += 1
            return False
        await asyncio.sleep(min(delay, left))
        delay = min(delay * 1.5, _LAST_POLL)
        if poll is not None:
            found = await poll()
            if found is not _MISSING:
                return (found,)
        taken = await take()
        if taken is None:
            return False
        if taken:
            return await recheck()


async def _read_fresh(rt: _Runtime, key: str, policy: Policy, fresh_ms: int) -> Any:
    """The decoded value when the entry has more than ``fresh_ms`` of freshness, else
    _MISSING (the caller's Cache-Control does not apply: this reads what was computed)."""
    from cachette.core import Cachette

    remaining_ms, raw = await Cachette()._fetch_fresh(rt, key)
    if raw is None:
        return _MISSING
    if remaining_ms >= 0 and remaining_ms - policy.stale_ms <= fresh_ms:
        return _MISSING
    return _decode(rt, raw)


# -- one run per key for callers that keep their own results (the HTTP response cache) -------

_flights: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Future[Any]]]
_flights = weakref.WeakKeyDictionary()


async def run_once(
    key: str,
    lead: Callable[[], Awaitable[bool]],
    follow: Callable[[], Awaitable[bool]],
    *,
    backend: Backend | None,
    guard: Guard,
    lock_timeout: float,
    may_lead: bool = True,
) -> None:
    """Runs ``lead`` for at most one caller per key at a time, in this process and, given a
    ``backend``, across processes (the same lock as ``get_or_set``), for callers that store
    and serve their results themselves.

    ``lead`` does the work and says whether it left a result others can use (stored it);
    ``follow`` uses a result someone else left and says whether there was one usable for
    its caller. A caller that finds a run in progress waits for it (at most
    ``lock_timeout``), then follows, or leads without the lock when it cannot follow. While
    the backend lock is taken elsewhere, the caller follows as soon as it can, and leads
    when the lock frees up or ``lock_timeout`` passes. With ``may_lead=False`` the caller
    never makes others wait for it (its work leaves nothing to share).
    """
    loop = asyncio.get_running_loop()
    table = _table(_flights, loop)
    running = table.get(key)
    if running is not None:
        _counters.coalesced_waits += 1
        try:
            shared = await asyncio.wait_for(asyncio.shield(running), lock_timeout)
        except asyncio.TimeoutError:
            _counters.lock_timeouts += 1
            shared = False
        if not (shared and await follow()):
            await lead()
        return
    if not may_lead:
        await lead()
        return
    flight: asyncio.Future[bool] = loop.create_future()
    table[key] = flight
    shared = False
    owned = False
    lock_key = LOCK_PREFIX + key
    token = secrets.token_bytes(16)
    try:
        if backend is not None:

            async def poll() -> Any:
                return True if await follow() else _MISSING

            ttl_ms = max(1, int(lock_timeout * 1000))
            found = await _take_lock(backend, guard, lock_key, token, ttl_ms, lock_timeout, poll)
            if isinstance(found, tuple):
                shared = True
                return
            owned = found
        shared = await lead()
    finally:
        if table.get(key) is flight:
            del table[key]
        flight.set_result(shared)
        if owned:
            assert backend is not None
            await guard(backend.clear_if_equal(lock_key, token), False)
