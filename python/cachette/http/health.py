"""How long a request may wait for the backend, and what the cache does when the backend
stops answering: one bound per request on the total wait (about one backend ``timeout``,
whatever the number of calls), a circuit breaker after repeated timeouts, and warnings that
are counted and rate-limited. See "Invalidation and failures" in docs/http-caching.md."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Awaitable
from typing import Any, Final

__all__ = ["REQUEST_BUDGET", "Breaker", "Budget", "HealthCounters", "RateLimitedLog", "discard"]

#: Consecutive timeouts that open the breaker.
BREAKER_THRESHOLD: Final = 3
#: Seconds an open breaker stays open before one request probes the backend: at least this,
#: at least two backend timeouts.
BREAKER_COOLDOWN: Final = 1.0
#: Seconds between two warnings of one kind; those in between are counted, not logged.
WARNING_INTERVAL: Final = 10.0
#: A request's calls are cut short by the cache (not only by the engine's own timeout) once
#: it has spent this share of its budget: below it, each call's own timeout bounds it.
_SLACK: Final = 0.1


class Budget:
    """The seconds one request may still spend waiting for the backend."""

    __slots__ = ("left", "timeout")

    def __init__(self, timeout: float, left: float | None = None) -> None:
        self.timeout = timeout
        self.left = timeout if left is None else left


#: The budget of the request (or background revalidation) running in this context.
REQUEST_BUDGET: contextvars.ContextVar[Budget | None] = contextvars.ContextVar(
    "cachette_http_budget", default=None
)


class HealthCounters:
    """What the cache did because of the backend, since the ``HttpCache`` was made."""

    __slots__ = (
        "backend_errors",
        "backend_timeouts",
        "breaker_opens",
        "breaker_skips",
        "budget_skips",
        "warnings_logged",
        "warnings_suppressed",
    )

    def __init__(self) -> None:
        self.backend_errors = 0  # failed backend calls, timeouts included
        self.backend_timeouts = 0  # ... of which timeouts (the engine's or the budget's)
        self.budget_skips = 0  # calls not waited for: their request had spent its budget
        self.breaker_opens = 0  # times the breaker opened
        self.breaker_skips = 0  # requests sent straight to the app while it was open
        self.warnings_logged = 0
        self.warnings_suppressed = 0  # warnings counted but not logged (rate limit)

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__slots__}


class RateLimitedLog:
    """At most one warning per kind per ``WARNING_INTERVAL``; the next one says how many
    were left out meanwhile."""

    def __init__(self, logger: logging.Logger, counters: HealthCounters) -> None:
        self.logger = logger
        self.counters = counters
        self.last: dict[str, float] = {}
        self.suppressed: dict[str, int] = {}

    def warning(self, kind: str, message: str, *args: Any) -> None:
        now = time.monotonic()
        last = self.last.get(kind)
        if last is not None and now - last < WARNING_INTERVAL:
            self.suppressed[kind] = self.suppressed.get(kind, 0) + 1
            self.counters.warnings_suppressed += 1
            return
        self.last[kind] = now
        left_out = self.suppressed.pop(kind, 0)
        self.counters.warnings_logged += 1
        if left_out:
            message += " (%d similar warnings in the last %.0f s not logged)"
            args = (*args, left_out, now - last if last is not None else 0.0)
        self.logger.warning(message, *args)


class Breaker:
    """Closed: every request uses the cache. After ``BREAKER_THRESHOLD`` consecutive
    timeouts it opens: requests skip the cache. Once the cooldown has passed, one request
    probes (half open): a success closes it, a timeout opens it again."""

    __slots__ = ("counters", "failures", "open_until", "probing_since")

    def __init__(self, counters: HealthCounters) -> None:
        self.counters = counters
        self.failures = 0
        self.open_until = 0.0  # 0: closed
        self.probing_since = 0.0  # 0: no probe in flight

    def allow(self, timeout: float) -> bool:
        """May a request use the cache now? (The one that finds the cooldown over probes.)"""
        if not self.open_until:
            return True
        now = time.monotonic()
        if now < self.open_until:
            return False
        if self.probing_since and now - self.probing_since < 2 * timeout + 1.0:
            return False  # one probe at a time (a probe that never reported is replaced)
        self.probing_since = now
        return True

    @property
    def is_open(self) -> bool:
        return bool(self.open_until) and time.monotonic() < self.open_until

    def succeeded(self) -> None:
        self.failures = 0
        self.open_until = 0.0
        self.probing_since = 0.0

    def timed_out(self, timeout: float) -> bool:
        """Counts a timeout; True when it opened the breaker."""
        self.failures += 1
        if self.probing_since or (not self.open_until and self.failures >= BREAKER_THRESHOLD):
            self.open_until = time.monotonic() + max(BREAKER_COOLDOWN, 2 * timeout)
            self.probing_since = 0.0
            self.counters.breaker_opens += 1
            return True
        return False


def discard(pending: Awaitable[Any]) -> None:
    """Lets go of an operation nobody will wait for, without a 'never retrieved' or 'never
    awaited' warning: a write already sent still reaches the server."""
    if asyncio.isfuture(pending):
        pending.add_done_callback(_retrieve)
    elif asyncio.iscoroutine(pending):
        pending.close()


def _retrieve(done: asyncio.Future[Any]) -> None:
    if not done.cancelled():
        done.exception()


def needs_cut(budget: Budget) -> bool:
    """Whether the next call must be cut short at ``budget.left`` by the cache."""
    return budget.left < budget.timeout * (1.0 - _SLACK)
